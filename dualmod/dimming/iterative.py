# SPDX-License-Identifier: BSD-3-Clause
"""Solvers that account for the PSF: Seetzen's and Zerman's iterations, and the least-power LP.

Both use the **LED interaction matrix** A (:func:`led_matrix`):
A[p, j] is the backlight at point p, relative to peak_nits, of LED j at full
level — the exact forward model of :mod:`dualmod.display.backlight`
(truncated PSF, mirror images, centre normalisation) evaluated at points.

References
----------
Seetzen, H. et al. (2004) High dynamic range display systems. ACM TOG 23(3), 760–768.
Zerman, E., Valenzise, G., Dufaux, F. (2016) A dual modulation algorithm for accurate reproduction
of high dynamic range video. IEEE IVMSP Workshop.
Huangfu, Q., Hall, J. A. J. (2018) Parallelizing the dual revised simplex method (HiGHS).
Math. Prog. Comp. 10, 119–142.
"""

from __future__ import annotations

from functools import lru_cache

import numba as nb
import numpy as np

from ..display.backlight import backlight_model
from ..panel import Panel
from .zones import zone_stats

__all__ = ["led_matrix", "seetzen2004", "min_power_lp", "zerman"]


def led_matrix(panel: Panel, xs: np.ndarray, ys: np.ndarray):
    """A[p, j]: relative backlight at points (xs[p], ys[p]) of LED j at level 1 (scipy CSR, float64)."""
    import scipy.sparse as sp
    from scipy.spatial import cKDTree

    model = backlight_model(panel)
    v = model.vleds
    pts = np.stack([np.asarray(xs, float), np.asarray(ys, float)], axis=1)
    r = model.psf.radius * np.sqrt(2.0) + 1e-9  # the square support fits in this circle
    pairs = cKDTree(pts).sparse_distance_matrix(cKDTree(np.stack([v.x, v.y], axis=1)), r, output_type="ndarray")
    p, k = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
    dx, dy = pts[p, 0] - v.x[k], pts[p, 1] - v.y[k]
    if not model.psf.symmetric:  # mirror images of an asymmetric kernel are mirrored kernels
        dx, dy = np.where(v.flip_x[k], -dx, dx), np.where(v.flip_y[k], -dy, dy)
    val = model.psf.evaluate(dx, dy, truncate=True) * v.weight[k] * (model.scale / panel.peak_nits)
    a = sp.csr_matrix((val, (p, v.src[k])), shape=(pts.shape[0], panel.n_leds))
    a.sum_duplicates()
    a.eliminate_zeros()
    return a


@lru_cache(maxsize=8)
def _led_self_matrix(panel: Panel):
    pos = panel.led_positions
    return led_matrix(panel, pos[:, 0], pos[:, 1])


@nb.njit(cache=True)
def _projected_gauss_seidel(indptr, indices, data, d, x, sweeps, omega):
    """x ← argmin ½xᵀAx − dᵀx over 0 ≤ x ≤ 1 by projected Gauss-Seidel sweeps (A symmetric PD)."""
    n = d.shape[0]
    for _ in range(sweeps):
        for i in range(n):
            s = 0.0
            diag = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                j = indices[k]
                if j == i:
                    diag += data[k]
                s += data[k] * x[j]
            if diag > 0:
                x[i] = min(max(x[i] + omega * (d[i] - s) / diag, 0.0), 1.0)
    return x


def seetzen2004(panel: Panel, target: np.ndarray, *, sweeps: int = 8, omega: float = 1.0) -> np.ndarray:
    """√ split of the dynamic range, then PSF deconvolution (``seetzen2004``).

    The desired backlight at each LED is d_i = √(zone max of v) — LED and LCD
    each reproduce about half of the target's dynamic range (in log terms),
    as in Seetzen et al. 2004 — and the LED levels solving A·L = d at the
    LED centres are found by ``sweeps`` projected Gauss-Seidel sweeps
    (0 ≤ L ≤ 1), starting from L = d.

    Parameters
    ----------
    sweeps : int
        Gauss-Seidel sweeps (default 8; Seetzen used "a few").
    omega : float
        Relaxation factor in (0, 2); 1 is plain Gauss-Seidel.
    """
    from . import check_options

    check_options("seetzen2004", sweeps=sweeps, omega=omega)
    d = np.sqrt(zone_stats(panel, target).max)
    a = _led_self_matrix(panel)
    cols = [d] if d.ndim == 1 else [d[:, c] for c in range(d.shape[1])]
    out = [_projected_gauss_seidel(a.indptr, a.indices, a.data, np.ascontiguousarray(c, np.float64),
                                   np.array(c, np.float64), int(sweeps), float(omega)) for c in cols]
    return out[0] if d.ndim == 1 else np.stack(out, axis=1)


seetzen2004.validates_target = True


def min_power_lp(panel: Panel, target: np.ndarray, *, tolerance: float = 1e-3, max_rounds: int = 20,
                 grid_step: int = 48) -> np.ndarray:
    """The least LED power that shows the target without clipping (``min_power_lp``).

    Linear program (scipy's HiGHS):  minimise Σ_j L_j  subject to
    (A·L)_p ≥ v_p at constraint points p, 0 ≤ L ≤ 1, where v = max(R, G, B)
    / peak_nits (for RGB backlights each channel is its own LP) and
    A the LED interaction matrix (exact backlight model). The constraint
    points start as every ``grid_step``-th pixel that needs light plus the
    brightest pixel of every zone; after each solve the full-resolution
    backlight is checked and, in every zone that still clips by more than
    ``tolerance`` (relative to peak), its three worst pixels are added (a
    cutting-plane loop, at most ``max_rounds`` rounds). Targets above the
    panel's reach are capped at what all LEDs at 1 give there.

    Parameters
    ----------
    tolerance : float
        Allowed shortfall of the backlight below the target, relative to peak.
    max_rounds : int
    grid_step : int
        Spacing (pixels) of the initial constraint grid.
    """
    import scipy.sparse as sp
    from scipy.optimize import linprog

    from . import check_options
    from .zones import zone_map

    check_options("min_power_lp", tolerance=tolerance, max_rounds=max_rounds, grid_step=grid_step)

    h, w = panel.height, panel.width
    zone_stats(panel, target)  # raises InputError on NaN/Inf/negative values (see validates_target)
    bmodel = backlight_model(panel)
    ch = panel.leds.channels
    planes = [target.max(axis=2)] if ch == 1 else [target[..., c] for c in range(3)]
    labels = zone_map(panel).labels(h, w)
    full = bmodel.render(np.ones((panel.n_leds, 1)))[..., 0] / panel.peak_nits  # reach of the panel
    out = []
    for plane in planes:
        need = np.minimum(plane / panel.peak_nits, full * (1 - 1e-5))  # float32 render vs float64 LP
        yy, xx = np.mgrid[0:h:grid_step, 0:w:grid_step]
        pts = {(int(y), int(x)) for y, x in zip(yy.ravel(), xx.ravel()) if need[y, x] > 0}
        flat = need.ravel()
        order = np.argsort(labels.ravel(), kind="stable")
        lab_sorted = labels.ravel()[order]
        bounds = np.searchsorted(lab_sorted, np.arange(panel.n_leds + 1))
        for z in range(panel.n_leds):
            idx = order[bounds[z]:bounds[z + 1]]
            if idx.size and flat[idx].max() > 0:
                k = idx[np.argmax(flat[idx])]
                pts.add((int(k // w), int(k % w)))
        leds = np.zeros(panel.n_leds)
        rows: list = []
        done: list[tuple[int, int]] = []
        for _ in range(max_rounds):
            new = sorted(pts.difference(done))
            if new:
                q = np.array(new)
                rows.append(led_matrix(panel, q[:, 1].astype(float), q[:, 0].astype(float)))
                done.extend(new)
            if not done:
                break
            p = np.array(done)
            a = sp.vstack(rows, format="csr")
            res = linprog(np.ones(panel.n_leds), A_ub=-a, b_ub=-need[p[:, 0], p[:, 1]], bounds=(0.0, 1.0),
                          method="highs")
            if res.status != 0:
                raise RuntimeError(f"min_power_lp: HiGHS failed ({res.message})")
            leds = np.clip(res.x, 0.0, 1.0)
            b = bmodel.render(leds[:, None])[..., 0] / panel.peak_nits
            short = need - b
            bad = short > tolerance
            if not bad.any():
                break
            worst = np.where(bad, short, -np.inf).ravel()[order]
            added = 0
            for z in range(panel.n_leds):
                seg = worst[bounds[z]:bounds[z + 1]]
                if seg.size and np.isfinite(seg.max()):
                    for i in np.argsort(seg)[::-1][:3]:
                        if not np.isfinite(seg[i]):
                            break
                        k = order[bounds[z] + int(i)]
                        if (int(k // w), int(k % w)) not in pts:
                            pts.add((int(k // w), int(k % w)))
                            added += 1
            if added == 0:
                break
        out.append(leds)
    return out[0] if ch == 1 else np.stack(out, axis=1)


min_power_lp.validates_target = True


def zerman(panel: Panel, target: np.ndarray, *, gain: float = 3.0, max_iter: int = 20,
           pu_tolerance: float = 0.5) -> np.ndarray:
    """3·√target at the LEDs, then multiplicative rescaling through the PSF (``zerman``).

    After Zerman, Valenzise & Dufaux's renderer for the SIM2 HDR47: the
    desired backlight at LED i is d_i = min(1, gain·√m_i), with m_i the zone
    mean of v = max(R, G, B)/peak (the target sampled at the LED over its
    zone); the LED levels are then rescaled, L ← clip(L·d / (A·L), 0, 1)
    with A the LED interaction matrix (the backlight each LED's neighbours add
    at its centre), until the PU21-encoded backlight at the LEDs changes by
    less than ``pu_tolerance`` PU units between iterations (or ``max_iter``).
    This is our reading of the published description; the gain of 3 leaves
    the LCD headroom above the √ split.

    References
    ----------
    Zerman, E., Valenzise, G., Dufaux, F. (2016) A dual modulation algorithm for accurate
    reproduction of high dynamic range video. IEEE IVMSP Workshop.
    """
    from ..metrics.pu21 import pu21_encode
    from . import check_options

    check_options("zerman", gain=gain, max_iter=max_iter, pu_tolerance=pu_tolerance)
    d = np.minimum(1.0, gain * np.sqrt(zone_stats(panel, target).mean))
    a = _led_self_matrix(panel)
    cols = [d] if d.ndim == 1 else [d[:, c] for c in range(d.shape[1])]
    out = []
    for dc in cols:
        x = dc.copy()
        prev = pu21_encode(a @ x * panel.peak_nits)
        for _ in range(int(max_iter)):
            b = a @ x
            x = np.clip(np.where(b > 0, x * dc / np.maximum(b, 1e-12), 0.0), 0.0, 1.0)
            now = pu21_encode(a @ x * panel.peak_nits)
            if np.max(np.abs(now - prev)) < pu_tolerance:
                break
            prev = now
        out.append(x)
    return out[0] if d.ndim == 1 else np.stack(out, axis=1)


zerman.validates_target = True
