# SPDX-License-Identifier: BSD-3-Clause
"""numba kernels of the forward model (private).

The public, documented entry points are in :mod:`dualmod.display.backlight`,
:mod:`dualmod.display.lcd` and :mod:`dualmod.display.simulate`; those
validate inputs and build the tables these kernels read. Every kernel here
has a plain numpy twin in :mod:`dualmod.display.reference`, and the tests
hold them to agreement.

All kernels use ``error_model="numpy"`` (no zero-division checks, so loops
vectorise), ``cache=True`` and parallelise over image rows.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._fastmath import f32_bits, invalid_bits, mul_rounded, or_i32, powf

_JIT = dict(cache=True, error_model="numpy", nogil=True)
# contract: let LLVM fuse a*b+c into FMAs (one rounding instead of two)
_JIT_FMA = dict(_JIT, fastmath={"contract"})


# ---------------------------------------------------------------- backlight
@nb.njit(parallel=True, **_JIT)
def separable_rows(levels, row_ptr, row_members, gx_x0, gx_n, gx_off, gx_vals, width):
    """Stage 1 of the separable backlight: the light of each LED row spread along x.

    R[k, c, r, x] = Σ_{i in row r} levels[i, c] · gx_k(x − x_i)

    levels : (Nv, C) float32, virtual-LED levels (edge weights included)
    row_ptr, row_members : CSR lists of the virtual LEDs of each row
    gx_x0, gx_n, gx_off : (K, Nv) first pixel, length and offset into gx_vals
    gx_vals : float32, the 1-D x factors (term weight and scale folded in)
    Returns R, (K, C, nr, W) float32.
    """
    nterms = gx_x0.shape[0]
    nrows = row_ptr.shape[0] - 1
    nch = levels.shape[1]
    rbuf = np.zeros((nterms, nch, nrows, width), dtype=np.float32)
    for kr in nb.prange(nterms * nrows):
        k = kr // nrows
        r = kr % nrows
        for m in range(row_ptr[r], row_ptr[r + 1]):
            i = row_members[m]
            x0 = gx_x0[k, i]
            n = gx_n[k, i]
            off = gx_off[k, i]
            for c in range(nch):
                lv = levels[i, c]
                if lv != 0.0:
                    dst = rbuf[k, c, r]
                    for u in range(n):
                        dst[x0 + u] += lv * gx_vals[off + u]
    return rbuf


@nb.njit(**_JIT_FMA)
def _separable_row(rbuf, gy, gy_r0, gy_r1, y, acc, orow):
    """Stage 2 for output row y: orow[x, c] = Σ_k Σ_{r in band} gy[k, y, r] · R[k, c, r, x].

    Four LED rows per sweep, so the accumulator is loaded and stored a quarter
    as often. acc : (W,) float32 scratch; orow : (W, C) float32.
    """
    nterms, nch, _, width = rbuf.shape
    for c in range(nch):
        acc[:] = 0.0
        for k in range(nterms):
            r = gy_r0[k, y]
            r1 = gy_r1[k, y]
            g = gy[k, y]
            while r + 4 <= r1:
                w0, w1, w2, w3 = g[r], g[r + 1], g[r + 2], g[r + 3]
                s0, s1, s2, s3 = rbuf[k, c, r], rbuf[k, c, r + 1], rbuf[k, c, r + 2], rbuf[k, c, r + 3]
                for x in range(width):
                    acc[x] += w0 * s0[x] + w1 * s1[x] + w2 * s2[x] + w3 * s3[x]
                r += 4
            while r < r1:
                w0 = g[r]
                s0 = rbuf[k, c, r]
                for x in range(width):
                    acc[x] += w0 * s0[x]
                r += 1
        for x in range(width):
            orow[x, c] = acc[x]


@nb.njit(parallel=True, **_JIT)
def backlight_separable(levels, row_ptr, row_members, gx_x0, gx_n, gx_off, gx_vals, gy, gy_r0, gy_r1,
                        width, out):
    """Backlight of LEDs grouped in horizontal rows with separable PSF terms.

    Stage 1 (:func:`separable_rows`) spreads each LED row along x; stage 2
    makes every output row a short weighted sum of those rows:
        out[y, x, c] = Σ_k Σ_{r in band(k, y)} gy[k, y, r] · R[k, c, r, x].
    gy : (K, H, nr) float32; gy_r0, gy_r1 : (K, H) band of rows per output
    row; out : (H, W, C) float32.
    """
    rbuf = separable_rows(levels, row_ptr, row_members, gx_x0, gx_n, gx_off, gx_vals, width)
    for y in nb.prange(out.shape[0]):
        acc = np.empty(width, dtype=np.float32)
        _separable_row(rbuf, gy, gy_r0, gy_r1, y, acc, out[y])


@nb.njit(parallel=True, **_JIT)
def backlight_patches(levels, led_patch, led_x0, led_y0, patches, out):
    """Backlight as a sum of precomputed PSF patches (any PSF, any layout).

    out[y, x, c] = Σ_i levels[i, c] · patches[led_patch[i], y − led_y0[i], x − led_x0[i]]
    over the part of each patch inside the image. out : (H, W, C) float32.
    """
    height, width, nch = out.shape
    nleds = levels.shape[0]
    ph, pw = patches.shape[1], patches.shape[2]
    for y in nb.prange(height):
        acc = np.zeros((nch, width), dtype=np.float32)
        for i in range(nleds):
            dy = y - led_y0[i]
            if dy < 0 or dy >= ph:
                continue
            x0 = led_x0[i]
            u0 = max(0, -x0)
            u1 = min(pw, width - x0)
            if u1 <= u0:
                continue
            prow = patches[led_patch[i], dy]
            for c in range(nch):
                lv = levels[i, c]
                if lv != 0.0:
                    a = acc[c]
                    for u in range(u0, u1):
                        a[x0 + u] += lv * prow[u]
        orow = out[y]
        for x in range(width):
            for c in range(nch):
                orow[x, c] = acc[c, x]


# ---------------------------------------------------------------------- LCD
@nb.njit(**_JIT)
def _expand_row(brow, width, b3, ib3):
    """Backlight of one row repeated per RGB value (b3) and its reciprocal (0 where B = 0).

    A white backlight takes one (vectorised) division per pixel, not per value.
    """
    if brow.shape[1] == 1:
        ib = np.empty(width, dtype=np.float32)
        for x in range(width):
            b = brow[x, 0]
            ib[x] = np.float32(1.0) / b if b > 0 else np.float32(0.0)
        for x in range(width):
            b = brow[x, 0]
            r = ib[x]
            b3[3 * x], b3[3 * x + 1], b3[3 * x + 2] = b, b, b
            ib3[3 * x], ib3[3 * x + 1], ib3[3 * x + 2] = r, r, r
    else:
        bf = brow.reshape(3 * width)
        for j in range(3 * width):
            b = bf[j]
            b3[j] = b
            ib3[j] = np.float32(1.0) / b if b > 0 else np.float32(0.0)


@nb.njit(**_JIT_FMA)
def gamma_code_x(t, coefs, max_code):
    """The kernel's x = M·t**(1/γ) (powf with pow_coefs(1/γ), scale M) over an array, to measure its error
    (see LcdModel); t is clamped below at 1e-30 as in the kernel."""
    out = np.empty(t.shape, np.float32)
    c1, c3, c5, c7, ig = (np.float32(coefs[0]), np.float32(coefs[1]), np.float32(coefs[2]), np.float32(coefs[3]),
                          np.float32(coefs[4]))
    fm = np.float32(max_code)
    for i in range(t.size):
        out[i] = powf(max(t[i], np.float32(1e-30)), c1, c3, c5, c7, ig, fm)
    return out


@nb.njit(inline="always", **_JIT)
def _gamma_consts(leakage, gamma, max_code, coefs, ambient):
    """The float32 constants of :func:`_lcd_gamma_row`, computed once per frame."""
    f = np.float32
    return (f(leakage), f(1.0 / (1.0 - leakage)), f(1.0 - leakage), f(ambient), f(max_code),
            f((1.0 / max_code) ** gamma), f(coefs[0]), f(coefs[1]), f(coefs[2]), f(coefs[3]), f(coefs[4]),
            f(coefs[5]), f(coefs[6]), f(coefs[7]), f(coefs[8]), f(coefs[9]))


@nb.njit(inline="always", **_JIT_FMA)
def _lcd_gamma_row(trow, b3, ib3, k, crow, drow):
    """One row of :func:`lcd_compensate_gamma` (flattened RGB); returns 1 if a target value is invalid.

    k : the tuple of :func:`_gamma_consts`.
    """
    eps, inv, e1, amb, fm, q1, c1, c3, c5, c7, ig, s0, s1, s2, s3, s4 = k
    one = np.float32(1.0)
    half = np.float32(0.5)
    tiny = np.float32(1e-30)
    bad = np.int32(0)
    for j in range(trow.shape[0]):
        v = trow[j]
        bad = or_i32(bad, invalid_bits(v))
        t = (mul_rounded(v, ib3[j]) - eps) * inv  # as lcd_compensate and the reference round it
        t = min(max(t, tiny), one)
        x = powf(t, c1, c3, c5, c7, ig, fm)  # M·t**(1/γ)
        c = np.floor(x + half)
        u = (c - x) / x
        s = (((s4 * u + s3) * u + s2) * u + s1) * u + s0
        p = (t * u) * s + t
        q = c * q1 if c < np.float32(1.5) else p  # codes 0 and 1 exactly: 0 and τ'(1)
        crow[j] = np.uint16(np.int32(c))
        drow[j] = b3[j] * (eps + e1 * q) + amb
    return np.int32(bad != 0)


@nb.njit(parallel=True, **_JIT_FMA)
def lcd_compensate_gamma(target, backlight, leakage, gamma, max_code, coefs, ambient, codes, displayed, invalid):
    """lcd_compensate for a gamma LCD response, fully vectorised (no table lookups).

    Per value: t as in :func:`lcd_compensate`; x = M·t**(1/γ) by polynomial
    log2/exp2 (:func:`~dualmod.display._fastmath.powf`, relative error
    ~1e-6); code = ⌊x + ½⌋; and τ(code) without a second power:
    (code/M)**γ = t·(1 + u)**γ with u = (code − x)/x ∈ (−0.2, 1/3] for
    code ≥ 2, as t + t·u·s(u) with s a degree-4 least-squares fit of
    ((1 + u)**γ − 1)/u (codes 0 and 1 exactly). ``coefs`` = pow_coefs(1/γ)
    followed by s's five coefficients (see LcdModel). A code can therefore
    differ from the exact round-half-up by one only where t lies within
    γ·(x's error) of a rounding tie.
    """
    height, width, _ = target.shape
    n3 = 3 * width
    k = _gamma_consts(leakage, gamma, max_code, coefs, ambient)
    for y in nb.prange(height):
        b3 = np.empty(n3, dtype=np.float32)
        ib3 = np.empty(n3, dtype=np.float32)
        _expand_row(backlight[y], width, b3, ib3)
        invalid[y] = _lcd_gamma_row(target[y].reshape(n3), b3, ib3, k, codes[y].reshape(n3), displayed[y].reshape(n3))


@nb.njit(parallel=True, **_JIT_FMA)
def simulate_separable_gamma(levels, row_ptr, row_members, gx_x0, gx_n, gx_off, gx_vals, gy, gy_r0, gy_r1,
                             target, leakage, gamma, max_code, coefs, ambient, backlight, codes, displayed, invalid):
    """Separable backlight and gamma-LCD compensation fused row by row.

    Each backlight row is computed (:func:`_separable_row`), stored, and used
    for that row's LCD pass while it is still in cache. Same results as
    :func:`backlight_separable` followed by :func:`lcd_compensate_gamma`.
    """
    height, width, _ = target.shape
    n3 = 3 * width
    k = _gamma_consts(leakage, gamma, max_code, coefs, ambient)
    rbuf = separable_rows(levels, row_ptr, row_members, gx_x0, gx_n, gx_off, gx_vals, width)
    for y in nb.prange(height):
        acc = np.empty(width, dtype=np.float32)
        b3 = np.empty(n3, dtype=np.float32)
        ib3 = np.empty(n3, dtype=np.float32)
        _separable_row(rbuf, gy, gy_r0, gy_r1, y, acc, backlight[y])
        _expand_row(backlight[y], width, b3, ib3)
        invalid[y] = _lcd_gamma_row(target[y].reshape(n3), b3, ib3, k, codes[y].reshape(n3), displayed[y].reshape(n3))


@nb.njit(parallel=True, **_JIT)
def lcd_compensate(target, backlight, leakage, thresholds, bucket_code, bucket_shift, bucket_base, tau,
                   ambient, codes, displayed, invalid):
    """LCD codes that reproduce ``target`` over ``backlight`` and the image shown.

    Per value (DESIGN §3 steps 3–5), in float32:
        t = clip((T / B − ε) / (1 − ε), 0, 1)       (t = 0 where B = 0)
        code = #{c : θ_c ≤ t}                         (exact round-half-up of f⁻¹(t)·M)
        D = B · τ(code) + ambient

    The code search starts from a bucket table indexed by the float32 bit
    pattern of t (a piecewise-logarithmic index): ``bucket_code[j]`` is the
    number of thresholds at or below the start of bucket j, and a short
    forward scan over ``thresholds`` (float32, rounded up, +inf sentinel)
    finishes it. The arithmetic part runs in a separate, vectorised loop.

    target : (H, W, 3) float32 nits; backlight : (H, W, Cb) float32 nits,
    Cb = 1 (white) or 3; codes : (H, W, 3) uint16; displayed : (H, W, 3) float32;
    invalid : (H,) int32, set to 1 for rows holding a NaN, Inf or negative
    target value (input validation folded into the pass).
    """
    height, width, _ = target.shape
    n3 = 3 * width
    eps = np.float32(leakage)
    inv = np.float32(1.0 / (1.0 - leakage))
    amb = np.float32(ambient)
    shift = np.int32(bucket_shift)
    base = np.int32(bucket_base)
    top = np.int32(bucket_code.shape[0] - 1)
    zero = np.int32(0)
    for y in nb.prange(height):
        b3 = np.empty(n3, dtype=np.float32)
        ib3 = np.empty(n3, dtype=np.float32)
        tt = np.empty(n3, dtype=np.float32)
        ix = np.empty(n3, dtype=np.int32)
        _expand_row(backlight[y], width, b3, ib3)
        trow = target[y].reshape(n3)
        crow = codes[y].reshape(n3)
        drow = displayed[y].reshape(n3)
        bad = np.int32(0)
        for j in range(n3):
            v = trow[j]
            bad = or_i32(bad, invalid_bits(v))
            t = (v * ib3[j] - eps) * inv
            t = min(max(t, np.float32(0.0)), np.float32(1.0))
            tt[j] = t
            ix[j] = min(max((f32_bits(t) >> shift) - base, zero), top)
        invalid[y] = np.int32(bad != 0)
        for j in range(n3):
            t = tt[j]
            code = np.int64(bucket_code[np.uint32(ix[j])])
            while t >= thresholds[code]:
                code += 1
            crow[j] = np.uint16(code)
            drow[j] = b3[j] * tau[code] + amb


@nb.njit(parallel=True, **_JIT)
def lcd_show(codes, backlight, tau, ambient, displayed):
    """D = B · τ(code) + ambient for a given LCD frame (codes (H, W, 3) uint16)."""
    height, width, _ = codes.shape
    cb = backlight.shape[2]
    amb = np.float32(ambient)
    for y in nb.prange(height):
        for x in range(width):
            for c in range(3):
                displayed[y, x, c] = backlight[y, x, c if cb == 3 else 0] * tau[codes[y, x, c]] + amb


# ------------------------------------------------------------------ resampling
@nb.njit(parallel=True, **_JIT)
def area_resample(image, out, invalid, acc_dtype):
    """Area average of ``image`` (H, W, C) onto ``out`` (h, w, C): torch's
    ``interpolate(mode="area")`` (adaptive average pooling), whose window for output index i along a
    side of n → m spans ⌊i·n/m⌋ … ⌈(i + 1)·n/m⌉ − 1 (windows overlap where m does not divide n).

    One pass over the image (rows of a window summed, then columns), for targets the solvers
    shrink to their twin's grid on every call, and the CNN to its training size. The rows of a window
    are summed in ``acc_dtype`` (np.float64 for the twin, as torch's sums; np.float32 for the CNN's
    input, a quarter faster, within a few 1e-7 relative). invalid : (h,) int32, set
    non-zero for output rows whose window holds a NaN, ±Inf or negative value (as float32; an average can
    hide a negative one), the check folded into the pass.
    """
    hi, wi, nch = image.shape
    ho, wo, _ = out.shape
    for i in nb.prange(ho):
        y0 = (i * hi) // ho
        y1 = -((-(i + 1) * hi) // ho)
        acc = np.zeros(wi * nch, dtype=acc_dtype)
        bad = np.int32(0)
        for y in range(y0, y1):
            row = image[y].reshape(wi * nch)
            for k in range(wi * nch):
                v = row[k]
                bad = or_i32(bad, invalid_bits(np.float32(v)))
                acc[k] += v
        invalid[i] = bad
        for j in range(wo):
            x0 = (j * wi) // wo
            x1 = -((-(j + 1) * wi) // wo)
            norm = 1.0 / ((y1 - y0) * (x1 - x0))
            if nch == 3:  # RGB: the three sums in one sweep of the window
                s0 = s1 = s2 = 0.0
                for x in range(x0, x1):
                    s0 += acc[3 * x]
                    s1 += acc[3 * x + 1]
                    s2 += acc[3 * x + 2]
                out[i, j, 0] = s0 * norm
                out[i, j, 1] = s1 * norm
                out[i, j, 2] = s2 * norm
                continue
            for c in range(nch):
                s = 0.0
                for x in range(x0, x1):
                    s += acc[x * nch + c]
                out[i, j, c] = s * norm
