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

from ._fastmath import f32_bits

_JIT = dict(cache=True, error_model="numpy", nogil=True)


# ---------------------------------------------------------------- backlight
@nb.njit(parallel=True, **_JIT)
def backlight_separable(levels, row_ptr, row_members, gx_x0, gx_n, gx_off, gx_vals, gy, gy_r0, gy_r1,
                        width, out):
    """Backlight of LEDs grouped in horizontal rows with separable PSF terms.

    For every term k and virtual LED row r (stage 1)
        R[k, c, r, x] = Σ_{i in row r} levels[i, c] · gx_k(x − x_i)
    then for every output row y (stage 2)
        out[y, x, c] = Σ_k Σ_{r in band(k, y)} gy[k, y, r] · R[k, c, r, x].

    levels : (Nv, C) float32, virtual-LED levels (edge weights included)
    row_ptr, row_members : CSR lists of the virtual LEDs of each row
    gx_x0, gx_n, gx_off : (K, Nv) first pixel, length and offset into gx_vals
    gx_vals : float32, the 1-D x factors (term weight and scale folded in)
    gy : (K, H, nr) float32; gy_r0, gy_r1 : (K, H) band of rows per output row
    out : (H, W, C) float32
    """
    nterms = gx_x0.shape[0]
    nrows = row_ptr.shape[0] - 1
    nch = levels.shape[1]
    height = out.shape[0]
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
    for y in nb.prange(height):
        acc = np.empty(width, dtype=np.float32)
        for c in range(nch):
            acc[:] = 0.0
            for k in range(nterms):
                for r in range(gy_r0[k, y], gy_r1[k, y]):
                    w = gy[k, y, r]
                    src = rbuf[k, c, r]
                    for x in range(width):
                        acc[x] += w * src[x]
            orow = out[y]
            for x in range(width):
                orow[x, c] = acc[x]


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
@nb.njit(parallel=True, **_JIT)
def lcd_compensate(target, backlight, leakage, thresholds, bucket_code, bucket_shift, bucket_base, tau,
                   ambient, codes, displayed):
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
    Cb = 1 (white) or 3; codes : (H, W, 3) uint16; displayed : (H, W, 3) float32.
    """
    height, width, _ = target.shape
    cb = backlight.shape[2]
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
        brow = backlight[y]
        for x in range(width):
            for c in range(3):
                b = brow[x, c if cb == 3 else 0]
                b3[3 * x + c] = b
                ib3[3 * x + c] = np.float32(1.0) / b if b > 0 else np.float32(0.0)
        trow = target[y].reshape(n3)
        crow = codes[y].reshape(n3)
        drow = displayed[y].reshape(n3)
        for j in range(n3):
            t = (trow[j] * ib3[j] - eps) * inv
            t = min(max(t, np.float32(0.0)), np.float32(1.0))
            tt[j] = t
            ix[j] = min(max((f32_bits(t) >> shift) - base, zero), top)
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
