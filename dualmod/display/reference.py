# SPDX-License-Identifier: BSD-3-Clause
"""Plain numpy reference of the forward model (DESIGN.md §3), for tests.

Written the obvious way, in float64, sharing nothing with the fast kernels
but the panel description and the PSF/response *definitions*:

- every LED (and, for the ``mirror`` boundary, all eight of its mirror
  images) adds its full, untruncated PSF over the whole image;
- S is evaluated with the untruncated PSF at the exact centre point;
- quantisation uses the inverse response and ``floor(x·M + ½)`` rather than
  threshold tables.

It is slow (O(H·W·N)) and meant for small panels. :func:`straightforward`
is the other obvious version (impulses + ``scipy.signal.fftconvolve``) that
the benchmark times.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import fftconvolve

from ..panel import Panel
from .psf import make_psf
from .response import Response

__all__ = ["simulate", "backlight", "backlight_at", "quantize_leds", "compensate", "straightforward"]


def _images(panel: Panel):
    """(x, y, weight, flip_x, flip_y, source index) of every LED image, untruncated."""
    pos = panel.led_positions
    w, h = panel.width, panel.height
    out = []
    for i, (x, y) in enumerate(pos):
        if panel.psf.boundary == "mirror":
            rho = panel.psf.edge_reflectance
            for mx, xx in ((0, x), (1, -1.0 - x), (1, 2.0 * w - 1.0 - x)):
                for my, yy in ((0, y), (1, -1.0 - y), (1, 2.0 * h - 1.0 - y)):
                    out.append((xx, yy, rho ** (mx + my), bool(mx), bool(my), i))
        else:
            out.append((x, y, 1.0, False, False, i))
    return out


def _norm(panel: Panel) -> float:
    psf = make_psf(panel.psf)
    cx, cy = (panel.width - 1) / 2.0, (panel.height - 1) / 2.0
    return panel.peak_nits / sum(wt * float(psf.evaluate_flipped(cx - x, cy - y, fx, fy))
                                 for x, y, wt, fx, fy, _ in _images(panel))


def quantize_leds(panel: Panel, leds) -> np.ndarray:
    """L_q = g(⌊g⁻¹(L)·M + ½⌋ / M), shape (N, C) float64."""
    a = np.asarray(leds, dtype=np.float64)
    a = a[:, None] if a.ndim == 1 else a
    if a.shape[1] != panel.leds.channels:
        a = np.repeat(a, panel.leds.channels, axis=1)
    r = Response(panel.leds.response, panel.leds.bit_depth, gamma=panel.leds.gamma, lut=panel.leds.lut)
    m = r.max_code
    return r.forward(np.floor(r.inverse(a) * m + 0.5) / m)


def backlight_at(panel: Panel, levels: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Backlight (nits, float64) at points (xs, ys) for quantised levels (N, C); shape xs.shape + (C,)."""
    psf = make_psf(panel.psf)
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    levels = np.asarray(levels, dtype=np.float64).reshape(panel.n_leds, -1)
    out = np.zeros(np.broadcast(xs, ys).shape + (levels.shape[1],))
    for x, y, wt, fx, fy, i in _images(panel):
        if np.any(levels[i] != 0):
            out += (wt * psf.evaluate_flipped(xs - x, ys - y, fx, fy))[..., None] * levels[i]
    return out * _norm(panel)


def backlight(panel: Panel, levels: np.ndarray) -> np.ndarray:
    """Backlight (H, W, C) float64 nits on the pixel grid for quantised levels (N, C)."""
    ys, xs = np.mgrid[0:panel.height, 0:panel.width].astype(np.float64)
    return backlight_at(panel, levels, xs, ys)


def compensate(panel: Panel, target: np.ndarray, b: np.ndarray):
    """(codes int64 (H, W, 3), displayed float64 (H, W, 3)) for target over backlight (H, W, C)."""
    spec = panel.lcd
    r = Response(spec.response, spec.bit_depth, gamma=spec.gamma, lut=spec.lut)
    eps = 1.0 / spec.contrast_ratio
    m = r.max_code
    b = np.broadcast_to(b, target.shape).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip((target / b - eps) / (1.0 - eps), 0.0, 1.0)
    t = np.where(b > 0, t, 0.0)
    codes = np.floor(r.inverse(t) * m + 0.5).astype(np.int64)
    shown = b * (eps + (1.0 - eps) * r.forward(codes / m)) + panel.ambient_nits
    return codes, shown, t


def simulate(panel: Panel, leds, target: np.ndarray) -> dict:
    """The whole model in float64: dict with ``levels``, ``backlight``, ``lcd``, ``displayed``, ``t``."""
    levels = quantize_leds(panel, leds)
    b = backlight(panel, levels)
    codes, shown, t = compensate(panel, np.asarray(target, dtype=np.float64), b)
    return dict(levels=levels, backlight=b, lcd=codes, displayed=shown, t=t)


def straightforward(panel: Panel, leds, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The model as one would first write it: impulses, ``fftconvolve``, numpy LCD with ``**``.

    LEDs are grouped by sub-pixel phase; each group's impulse image is
    convolved with the PSF sampled at that phase, so the result is exact for
    any layout (for grids there is a single phase). Zero boundary only.
    Returns (backlight (H, W) or (H, W, 3), displayed (H, W, 3)) in float32.
    """
    psf = make_psf(panel.psf)
    h, w = panel.height, panel.width
    levels = quantize_leds(panel, leds)
    ch = levels.shape[1]
    rc = int(math.ceil(psf.radius))
    u = np.arange(-rc, rc + 2, dtype=np.float64)
    pos = panel.led_positions
    fx, fy = np.floor(pos[:, 0]), np.floor(pos[:, 1])
    phase = np.round(np.stack([pos[:, 0] - fx, pos[:, 1] - fy], axis=1), 9)
    b = np.zeros((h, w, ch), np.float32)
    for ph in np.unique(phase, axis=0):
        sel = np.all(phase == ph, axis=1)
        kern = psf.evaluate((u - ph[0])[None, :], (u - ph[1])[:, None], truncate=True).astype(np.float32)
        for c in range(ch):
            imp = np.zeros((h + 2 * rc + 2, w + 2 * rc + 2), np.float32)
            np.add.at(imp, (fy[sel].astype(int) + rc, fx[sel].astype(int) + rc), levels[sel, c])
            full = fftconvolve(imp, kern, mode="full")
            b[..., c] += full[2 * rc: 2 * rc + h, 2 * rc: 2 * rc + w]
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    s = float(np.sum(psf.evaluate(cx - pos[:, 0], cy - pos[:, 1], truncate=True)))
    b *= np.float32(panel.peak_nits / s)
    spec = panel.lcd
    eps = np.float32(1.0 / spec.contrast_ratio)
    m = (1 << spec.bit_depth) - 1
    g = np.float32(spec.gamma)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip((target / b - eps) / (1 - eps), 0, 1)
    t[~np.isfinite(t)] = 0
    codes = np.floor(t ** (1 / g) * m + 0.5)
    shown = b * (eps + (1 - eps) * (codes / m) ** g)
    return (b[..., 0] if ch == 1 else b), shown.astype(np.float32)
