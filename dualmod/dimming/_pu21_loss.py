# SPDX-License-Identifier: BSD-3-Clause
"""The PU21 error term of ``optimal``'s loss and its gradient in the backlight, in one numba pass (private).

For a backlight B on the twin's grid (white or RGB), the target T and the continuous LCD of
:class:`~dualmod.display.torch_model.TorchDisplay` (``lcd="continuous"``):

    D_c = clamp(T_c, ε·B_c, B_c) + ambient,   Y = Σ_c w_c·D_c   (Rec.709 weights w)
    E(B) = mean_pixels(((PU21(Y) − PU21(Y_T)) / 256)²)

and ∂E/∂B per pixel: ∂D_c/∂B_c is 1 where the LCD is fully open (T_c ≥ B_c), ε where it is closed
(T_c ≤ ε·B_c) and 0 where it compensates (at B = 0: the derivative from above, 1 under a lit target
and ε under black; the twin's autograd gives ε there, which tells an LED at 0 under a dark, lit-target
region that rising is worth almost nothing); PU21's derivative is taken analytically (0 outside its
luminance clamp). Autograd through the same expression in torch builds ~20 temporaries per pixel and
runs its backward op by op: on ``fald-1080p-576``'s 270 × 480 grid one loss-and-gradient took ~10 ms,
two thirds of it the backward pass; this pass takes a fraction of that, and only the backlight's
synthesis (a few small matrix products) is left to autograd.

PU21 and its slope come from :func:`~dualmod.metrics.pu21.pu21_px_slope`, the expression every PU21 map
of the package is encoded with (polynomial log2/exp2, relative error ~1e-6), for the displayed and the
target luminance alike. Tests hold value and gradient to torch autograd of
the twin's own expression.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ..imaging.colour import REC709_LUMINANCE
from ..metrics.pu21 import PU21_ARRAY, luminance_px, pu21_px_slope

__all__ = ["pu21_error"]

_W = np.asarray(REC709_LUMINANCE, np.float32)


@nb.njit(inline="always")
def _lcd(bc, tc, eps):
    """(D − ambient, ∂D/∂B) of one channel under the continuous LCD, branch-free: closed (T ≤ ε·B; first,
    so that at B = 0 a black target counts as closed), fully open (T ≥ B; at B = 0 under a lit target the
    derivative from above, 1) or compensating (D = T, ∂D/∂B = 0)."""
    lo = eps * bc
    closed = tc <= lo
    opened = tc >= bc
    d = lo if closed else (bc if opened else tc)
    ds = eps if closed else (np.float32(1.0) if opened else np.float32(0.0))
    return d, ds


@nb.njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def _error_rows(b, target, v_target, eps, amb, p, w, grad, rows):
    """rows[i] = Σ_j e², e = (PU21(Y_D) − v_target) / 256 over image row i (float64); grad = ∂(Σ e²)/∂B.

    b, grad : (H, W, C) float32, C = 1 (white backlight) or 3; target : (H, W, 3); v_target : (H, W);
    w : the luminance weights (float32), for the slopes ∂Y/∂B_c. Per row: the LCD and luminance (strided
    reads), then PU21 and its slope on contiguous rows (so LLVM vectorises them), then the gradient.
    """
    h, wd, nc = b.shape
    p1, p2, p3, p4, p5, p6, p7 = p[0], p[1], p[2], p[3], p[4], p[5], p[6]
    w0, w1, w2 = w[0], w[1], w[2]
    k = np.float32(1.0 / 256.0)
    c1, c2 = (1, 2) if nc == 3 else (0, 0)
    for i in nb.prange(h):
        y = np.empty(wd, np.float32)
        sl = np.empty((3, wd), np.float32)
        e = np.empty(wd, np.float32)
        for j in range(wd):
            d0, s0 = _lcd(b[i, j, 0], target[i, j, 0], eps)
            d1, s1 = _lcd(b[i, j, c1], target[i, j, 1], eps)
            d2, s2 = _lcd(b[i, j, c2], target[i, j, 2], eps)
            y[j] = luminance_px(d0 + amb, d1 + amb, d2 + amb)
            sl[0, j], sl[1, j], sl[2, j] = w0 * s0, w1 * s1, w2 * s2
        vt = v_target[i]
        for j in range(wd):
            v, dv = pu21_px_slope(y[j], p1, p2, p3, p4, p5, p6, p7)
            ej = (v - vt[j]) * k
            e[j] = ej
            y[j] = np.float32(2.0) * ej * k * dv       # y now holds ∂(e²)/∂Y
        acc = 0.0
        for j in range(wd):
            acc += np.float64(e[j]) * np.float64(e[j])
        rows[i] = acc
        if nc == 3:
            for j in range(wd):
                grad[i, j, 0] = y[j] * sl[0, j]
                grad[i, j, 1] = y[j] * sl[1, j]
                grad[i, j, 2] = y[j] * sl[2, j]
        else:
            for j in range(wd):
                grad[i, j, 0] = y[j] * (sl[0, j] + sl[1, j] + sl[2, j])


def pu21_error(b: np.ndarray, target: np.ndarray, v_target: np.ndarray, leakage: float,
               ambient: float) -> tuple[float, np.ndarray]:
    """(E(B), ∂E/∂B) of the module docstring for one backlight ``b`` (H, W, C) float32 (C = 1 or 3),
    ``target`` (H, W, 3) float32 and ``v_target`` its :func:`~dualmod.metrics.pu21.pu21_of_rgb`."""
    b = np.ascontiguousarray(b, np.float32)
    grad = np.empty_like(b)
    rows = np.empty(b.shape[0], np.float64)
    _error_rows(b, np.ascontiguousarray(target, np.float32), np.ascontiguousarray(v_target, np.float32),
                np.float32(leakage), np.float32(ambient), PU21_ARRAY, _W, grad, rows)
    n = b.shape[0] * b.shape[1]
    grad *= np.float32(1.0 / n)
    return float(rows.sum() / n), grad
