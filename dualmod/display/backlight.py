# SPDX-License-Identifier: BSD-3-Clause
"""Backlight synthesis: the light the LEDs put on the LCD (DESIGN.md §3 steps 1–2).

    B(x) = peak_nits · Σ_i L_q,i · psf(x − x_i) / S

with L_q the quantised LED levels, S fixed so that all LEDs at 1 give exactly
``peak_nits`` at the panel centre ((W−1)/2, (H−1)/2), and, for the ``mirror``
boundary, the LED images reflected across the four panel edges (x = −½,
x = W − ½, y = −½, y = H − ½) and the four corners, each reflection
multiplying by ``edge_reflectance``.

Two numba paths compute B on the pixel grid:

- **separable** (``gaussian``, ``gaussian_mixture``; any layout): LEDs are
  grouped by row (equal y); per Gaussian term the light of each row is first
  spread along x, then every output row is a short weighted sum of those row
  profiles (a banded matrix product). Cost ≈ H·W·(rows within the support),
  all of it contiguous, vectorised multiply-adds.
- **patches** (``radial_table``, ``image``): each LED adds a precomputed
  kernel patch (one per distinct sub-pixel phase and mirror flip).

Gaussian terms are truncated at ≈ 5.68σ (see :mod:`dualmod.display.psf`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import DualmodError, InputError
from ..panel import Panel
from . import _kernels
from .psf import PSF, make_psf
from .response import Response

__all__ = ["backlight", "backlight_model", "quantize_leds", "BacklightModel", "VirtualLeds", "virtual_leds",
           "check_leds", "led_response", "MAX_PATCH_BYTES"]

#: Memory limit for the precomputed PSF patches of the general path.
MAX_PATCH_BYTES = 1 << 30


@dataclass(frozen=True)
class VirtualLeds:
    """Light sources after edge reflection: the LEDs and their mirror images.

    Attributes are arrays of shape (Nv,): position ``x``, ``y`` (pixels),
    ``src`` (index of the real LED), ``weight`` (edge_reflectance ** number
    of reflections), ``flip_x``, ``flip_y`` (the image is mirrored).
    """

    x: np.ndarray
    y: np.ndarray
    src: np.ndarray
    weight: np.ndarray
    flip_x: np.ndarray
    flip_y: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])


def virtual_leds(panel: Panel, radius: float = math.inf) -> VirtualLeds:
    """LEDs plus mirror images (``mirror`` boundary) whose support of ``radius`` touches the panel."""
    pos = panel.led_positions
    w, h = panel.width, panel.height
    n = pos.shape[0]
    if panel.psf.boundary == "mirror":
        rho = panel.psf.edge_reflectance
        xs = [(pos[:, 0], 0, False), (-1.0 - pos[:, 0], 1, True), (2.0 * w - 1.0 - pos[:, 0], 1, True)]
        ys = [(pos[:, 1], 0, False), (-1.0 - pos[:, 1], 1, True), (2.0 * h - 1.0 - pos[:, 1], 1, True)]
        parts = [(x, y, np.full(n, rho ** (kx + ky)), fx, fy) for x, kx, fx in xs for y, ky, fy in ys]
        if rho == 0.0:
            parts = parts[:1]
    else:
        parts = [(pos[:, 0], pos[:, 1], np.ones(n), False, False)]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    wt = np.concatenate([p[2] for p in parts])
    fx = np.concatenate([np.full(n, p[3]) for p in parts])
    fy = np.concatenate([np.full(n, p[4]) for p in parts])
    src = np.tile(np.arange(n), len(parts))
    keep = (x + radius >= -0.5) & (x - radius <= w - 0.5) & (y + radius >= -0.5) & (y - radius <= h - 0.5)
    keep &= wt > 0
    return VirtualLeds(x[keep], y[keep], src[keep], wt[keep], fx[keep], fy[keep])


@lru_cache(maxsize=16)
def led_response(panel: Panel) -> Response:
    """The (cached) LED drive → light response of a panel with its drive bit depth.

    Cached so its threshold and level tables (65536 entries at 16 bits) are built once per panel,
    not on every frame.
    """
    leds = panel.leds
    return Response(leds.response, leds.bit_depth, gamma=leds.gamma, lut=leds.lut)


def check_leds(panel: Panel, leds) -> np.ndarray:
    """Validate an LED frame; returns float64 of shape (N, C).

    Accepts (N,) or (N, 1) for white backlights and (N, 3) for RGB ones (an
    (N,) frame on an RGB panel drives the three channels equally). Values
    must be finite and within [0, 1] (a tolerance of 1e-6 is clipped).
    """
    a = np.asarray(leds)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)
                                 or a.dtype == bool):
        raise InputError(f"LED frame must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64)
    n, ch = panel.n_leds, panel.leds.channels
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] != n or a.shape[1] not in (1, ch):
        want = f"({n},)" if ch == 1 else f"({n}, 3) or ({n},)"
        raise InputError(f"LED frame for panel {panel.name!r} must have shape {want}, got {np.shape(leds)}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"LED frame has {int(np.sum(~np.isfinite(a)))} NaN/Inf values")
    if a.min() < -1e-6 or a.max() > 1 + 1e-6:
        raise InputError(f"LED levels must lie in [0, 1], got [{a.min():.6g}, {a.max():.6g}]")
    a = np.clip(a, 0.0, 1.0)
    if a.shape[1] != ch:
        a = np.repeat(a, ch, axis=1)
    return a


def quantize_leds(panel: Panel, leds) -> tuple[np.ndarray, np.ndarray]:
    """LED quantisation in drive space (DESIGN §3 step 1).

    d = round(g⁻¹(L)·(2^b − 1)) (half up), L_q = g(d / (2^b − 1)).

    Returns
    -------
    levels : ndarray of shape (N, C), float64
        L_q, the light fraction each LED emits.
    drive : ndarray of shape (N, C), int64
        d, the drive codes hardware receives.
    """
    a = check_leds(panel, leds)
    resp = led_response(panel)
    drive = resp.quantize(a)
    return resp.levels[drive], drive


class BacklightModel:
    """Precomputed geometry of a panel's backlight (one per panel, cached).

    Parameters
    ----------
    panel : Panel

    Attributes
    ----------
    psf : PSF
    vleds : VirtualLeds
    scale : float
        peak_nits / S, nits per unit of summed relative PSF.
    path : {"separable", "patches"}
    tables : dict
        The arrays the numba kernels of that path read.
    """

    def __init__(self, panel: Panel):
        self.panel = panel
        self.psf: PSF = make_psf(panel.psf)
        self.vleds = virtual_leds(panel, self.psf.radius)
        cx, cy = (panel.width - 1) / 2.0, (panel.height - 1) / 2.0
        v = self.vleds
        s = float(np.sum(v.weight * self.psf.evaluate_flipped(cx - v.x, cy - v.y, False, False, truncate=True)
                         if self.psf.symmetric else
                         [w * self.psf.evaluate_flipped(cx - x, cy - y, bool(fx), bool(fy), truncate=True)
                          for w, x, y, fx, fy in zip(v.weight, v.x, v.y, v.flip_x, v.flip_y)]))
        if not s > 0:
            raise DualmodError(f"panel {panel.name!r}: no LED light reaches the panel centre, so peak_nits "
                               "cannot be normalised (check the PSF size and LED layout)")
        self.scale = panel.peak_nits / s
        self.path = "separable" if self.psf.terms is not None else "patches"
        self.tables = self._separable_tables() if self.path == "separable" else self._patch_tables()

    # -- tables -----------------------------------------------------------------
    def _separable_tables(self):
        p, v = self.panel, self.vleds
        w, h = p.width, p.height
        ry = np.round(v.y, 9)
        row_y, row_of = np.unique(ry, return_inverse=True)
        order = np.argsort(row_of, kind="stable")
        row_ptr = np.concatenate([[0], np.cumsum(np.bincount(row_of, minlength=row_y.size))]).astype(np.int64)
        terms = self.psf.terms
        nk, nv, nr = len(terms), len(v), row_y.size
        x0 = np.zeros((nk, nv), np.int64)
        cnt = np.zeros((nk, nv), np.int64)
        off = np.zeros((nk, nv), np.int64)
        vals = []
        pos = 0
        gy = np.zeros((nk, h, nr), np.float32)
        r0 = np.zeros((nk, h), np.int64)
        r1 = np.zeros((nk, h), np.int64)
        ys = np.arange(h, dtype=np.float64)
        for k, t in enumerate(terms):
            lo = np.clip(np.ceil(v.x - t.radius), 0, w).astype(np.int64)
            hi = np.clip(np.floor(v.x + t.radius) + 1, 0, w).astype(np.int64)
            # every LED's run of columns lo … hi − 1 in one array (a Python loop per LED took 0.14 s on sim2-hdr47)
            n = np.maximum(hi - lo, 0)
            first = np.cumsum(n) - n                             # each LED's first index in this term's values
            led = np.repeat(np.arange(nv), n)
            xs = (np.arange(led.size) - first[led] + lo[led]).astype(np.float64)
            vals.append((t.weight * self.scale * t.profile(xs - v.x[led])).astype(np.float32))
            x0[k], cnt[k], off[k] = lo, n, pos + first
            pos += led.size
            d = ys[:, None] - row_y[None, :]
            inside = np.abs(d) <= t.radius
            gy[k] = np.where(inside, t.profile(d), 0.0)
            any_in = inside.any(axis=1)
            r0[k] = np.where(any_in, inside.argmax(axis=1), 0)
            r1[k] = np.where(any_in, nr - inside[:, ::-1].argmax(axis=1), 0)
        gx_vals = np.concatenate(vals) if vals else np.zeros(0, np.float32)
        return dict(row_ptr=row_ptr, row_members=order.astype(np.int64), gx_x0=x0, gx_n=cnt, gx_off=off,
                    gx_vals=gx_vals, gy=gy, gy_r0=r0, gy_r1=r1, row_y=row_y, row_of=row_of.ravel())

    def _patch_tables(self):
        p, v = self.panel, self.vleds
        rc = int(math.ceil(self.psf.radius))
        size = 2 * rc + 2
        fxp = np.floor(v.x)
        fyp = np.floor(v.y)
        keys = np.stack([np.round(v.x - fxp, 9), np.round(v.y - fyp, 9),
                         v.flip_x.astype(float), v.flip_y.astype(float)], axis=1)
        uniq, which = np.unique(keys, axis=0, return_inverse=True)
        nbytes = uniq.shape[0] * size * size * 4
        if nbytes > MAX_PATCH_BYTES:
            raise DualmodError(f"panel {p.name!r}: the PSF support ({rc} px) and {uniq.shape[0]} distinct LED "
                               f"sub-pixel phases need {nbytes / 2**30:.1f} GiB of kernel patches; use a smaller "
                               "PSF support or a Gaussian PSF model")
        u = np.arange(size, dtype=np.float64) - rc
        patches = np.empty((uniq.shape[0], size, size), np.float32)
        for j, (ph_x, ph_y, flx, fly) in enumerate(uniq):
            dx = (u - ph_x)[None, :]
            dy = (u - ph_y)[:, None]
            patches[j] = self.scale * self.psf.evaluate_flipped(dx, dy, bool(flx), bool(fly))
        return dict(led_patch=which.astype(np.int64).ravel(), led_x0=(fxp - rc).astype(np.int64),
                    led_y0=(fyp - rc).astype(np.int64), patches=patches)

    # -- evaluation ---------------------------------------------------------------
    def virtual_levels(self, levels: np.ndarray) -> np.ndarray:
        """Per-virtual-LED levels (Nv, C) float32 = edge weight · L_q of the source LED."""
        return np.ascontiguousarray(self.vleds.weight[:, None] * levels[self.vleds.src], dtype=np.float32)

    def render(self, levels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Backlight (H, W, C) float32 in nits for quantised levels (N, C)."""
        p = self.panel
        ch = levels.shape[1]
        shape = (p.height, p.width, ch)
        if out is None or out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
            out = np.empty(shape, np.float32)
        lv = self.virtual_levels(levels)
        t = self.tables
        if self.path == "separable":
            _kernels.backlight_separable(lv, t["row_ptr"], t["row_members"], t["gx_x0"], t["gx_n"], t["gx_off"],
                                         t["gx_vals"], t["gy"], t["gy_r0"], t["gy_r1"], p.width, out)
        else:
            _kernels.backlight_patches(lv, t["led_patch"], t["led_x0"], t["led_y0"], t["patches"], out)
        return out


@lru_cache(maxsize=16)
def backlight_model(panel: Panel) -> BacklightModel:
    """The (cached) :class:`BacklightModel` of a panel."""
    return BacklightModel(panel)


def backlight(panel: Panel, leds, *, quantize: bool = True) -> np.ndarray:
    """The backlight in nits for an LED frame.

    Parameters
    ----------
    panel : Panel
    leds : array_like of shape (N,) or (N, 3)
        LED levels in [0, 1] (light as a fraction of each LED's maximum).
    quantize : bool
        Apply the LED drive quantisation first (DESIGN §3 step 1).

    Returns
    -------
    ndarray of shape (H, W) (white backlight) or (H, W, 3) (RGB), float32, cd/m².

    Examples
    --------
    >>> import numpy as np, dualmod as dm
    >>> panel = dm.Panel.load("fald-1080p-576")
    >>> b = backlight(panel, np.ones(panel.n_leds))
    >>> round(float(b[539:541, 959:961].mean()))   # the 4 pixels around the centre point
    1000
    """
    levels = quantize_leds(panel, leds)[0] if quantize else check_leds(panel, leds)
    out = backlight_model(panel).render(levels)
    return out[..., 0] if panel.leds.channels == 1 else out
