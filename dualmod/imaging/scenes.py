# SPDX-License-Identifier: BSD-3-Clause
"""Procedural HDR test scenes, in cd/m², deterministic, at any resolution.

Each scene is a function ``f(height, width) -> (H, W, 3) float32`` of linear
Rec.709 RGB in nits, defined in continuous image coordinates so that it looks
the same at every resolution. Use :func:`scene` by name.

=========  ==================================================================
name       content
=========  ==================================================================
window     a dim room (2–40 nits) with a bright window (800 nits sky, 3000
           nits sun patch) and a lamp highlight: large bright area on dark
gradient   horizontal log ramp 0.01 → 4000 nits over a mid-grey band
night      near-black sky (0.02 nits) with star points (1000–4000 nits) and a
           lit window: small highlights on black, the blooming worst case
specular   a shaded grey sphere (diffuse up to 120 nits) with a specular
           highlight of 4000 nits and a coloured checker floor
text       white (500 nits) and grey captions on black, a 1-pixel grid of
           fine lines: sharp edges, the halo and LCD-leakage test
=========  ==================================================================

Star positions and other "random" details come from a fixed seed, so every
call returns the same image.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .colour import REC709_LUMINANCE

__all__ = ["SCENES", "scene"]


def _coords(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    y = (np.arange(h, dtype=np.float64) + 0.5) / h
    x = (np.arange(w, dtype=np.float64) + 0.5) / w
    return np.meshgrid(x, y)


def _rgb(lum: np.ndarray, tint=(1.0, 1.0, 1.0)) -> np.ndarray:
    t = np.asarray(tint, dtype=np.float64)
    t = t / (t @ REC709_LUMINANCE.astype(np.float64))
    return lum[..., None] * t


def window(h: int, w: int) -> np.ndarray:
    """A dim room (2–40 nits) with a bright window (800-nit sky, 3000-nit sun) and a lamp."""
    x, y = _coords(h, w)
    room = 2.0 + 38.0 * np.exp(-((x - 0.3) ** 2 + (y - 0.8) ** 2) / 0.08)
    img = _rgb(room, (1.0, 0.85, 0.65))
    win = (x > 0.55) & (x < 0.85) & (y > 0.15) & (y < 0.6)
    sky = 800.0 * (1.2 - y)
    img[win] = _rgb(sky, (0.75, 0.85, 1.0))[win]
    sun = ((x - 0.75) ** 2 * (w / h) ** 2 + (y - 0.25) ** 2) < 0.002
    img[sun & win] = _rgb(np.full(x.shape, 3000.0), (1.0, 0.95, 0.85))[sun & win]
    lamp = ((x - 0.2) ** 2 * (w / h) ** 2 + (y - 0.45) ** 2) < 0.0004
    img[lamp] = _rgb(np.full(x.shape, 1500.0), (1.0, 0.8, 0.5))[lamp]
    return img.astype(np.float32)


def gradient(h: int, w: int) -> np.ndarray:
    """A horizontal log ramp from 0.01 to 4000 nits over a 20-nit band."""
    x, y = _coords(h, w)
    lum = 0.01 * (4000.0 / 0.01) ** x
    lum = np.where((y > 0.4) & (y < 0.6), 20.0, lum)
    return _rgb(lum).astype(np.float32)


def night(h: int, w: int) -> np.ndarray:
    """A near-black sky (0.02 nits) with 1000–4000-nit stars and a lit window."""
    x, y = _coords(h, w)
    img = _rgb(np.full(x.shape, 0.02), (0.6, 0.7, 1.0))
    rng = np.random.default_rng(20261125)  # fixed: the scene is data, not noise
    n = 60
    sx, sy = rng.random(n), rng.random(n) * 0.7
    level = 1000.0 + 3000.0 * rng.random(n)
    iy = np.minimum((sy * h).astype(int), h - 1)
    ix = np.minimum((sx * w).astype(int), w - 1)
    img[iy, ix] = level[:, None]
    win = (x > 0.1) & (x < 0.16) & (y > 0.8) & (y < 0.9)
    img[win] = _rgb(np.full(x.shape, 150.0), (1.0, 0.8, 0.5))[win]
    return img.astype(np.float32)


def specular(h: int, w: int) -> np.ndarray:
    """A shaded sphere (diffuse up to 120 nits) with a 4000-nit highlight over a checker floor."""
    x, y = _coords(h, w)
    aspect = w / h
    # checker floor in the lower third, gently lit
    check = ((np.floor(x * 12) + np.floor(y * 12 * h / w * aspect)) % 2).astype(np.float64)
    floor = np.where(y > 0.7, 8.0 + 24.0 * check, 1.0)
    img = _rgb(floor, (0.9, 0.95, 1.0))
    img[(y > 0.7) & (check > 0)] *= np.array([1.0, 0.6, 0.4])
    # a sphere lit from the upper left: Lambert + Phong highlight
    cx, cy, r = 0.5, 0.45, 0.28
    dx, dy = (x - cx) * aspect, y - cy
    d2 = (dx**2 + dy**2) / r**2
    inside = d2 < 1.0
    nz = np.sqrt(np.clip(1.0 - d2, 0.0, 1.0))
    nx, ny = dx / r, dy / r
    light = np.array([-0.5, -0.6, 0.62])
    light = light / np.linalg.norm(light)
    lam = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0.0, 1.0)
    half = light + np.array([0.0, 0.0, 1.0])
    half = half / np.linalg.norm(half)
    spec = np.clip(nx * half[0] + ny * half[1] + nz * half[2], 0.0, 1.0) ** 200
    sphere = 2.0 + 118.0 * lam + 3880.0 * spec
    img[inside] = _rgb(sphere, (1.0, 1.0, 1.0))[inside]
    return img.astype(np.float32)


# 5x7 bitmap glyphs (rows top to bottom, 5 bits each, MSB left) for the caption of ``text``
_GLYPHS = {
    "H": (0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11), "D": (0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E),
    "R": (0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11), " ": (0, 0, 0, 0, 0, 0, 0),
    "0": (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E), "5": (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    "N": (0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11), "I": (0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "T": (0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04), "S": (0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E),
    "1": (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E), "2": (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F),
}


def _caption(text: str) -> np.ndarray:
    cols = []
    for ch in text:
        g = _GLYPHS[ch]
        glyph = np.array([[(row >> (4 - k)) & 1 for k in range(5)] for row in g], dtype=np.float64)
        cols.append(np.pad(glyph, ((0, 0), (0, 1))))
    return np.concatenate(cols, axis=1)


def text(h: int, w: int) -> np.ndarray:
    """500-nit and 1-nit captions and 1-pixel lines on black: halos and leakage."""
    x, y = _coords(h, w)
    img = np.zeros((h, w), np.float64)
    for caption, y0, level in (("HDR 500 NITS", 0.18, 500.0), ("HDR 1 NIT", 0.55, 1.0)):
        bitmap = _caption(caption)
        bh, bw = bitmap.shape
        height = 0.14  # fraction of the image height
        u = (x - 0.08) / (height * h / w * bw / bh)  # glyph coordinates, aspect kept
        v = (y - y0) / height
        inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
        iu = np.clip((u * bw).astype(int), 0, bw - 1)
        iv = np.clip((v * bh).astype(int), 0, bh - 1)
        img = np.where(inside & (bitmap[iv, iu] > 0), level, img)
    # fine lines: one-pixel vertical lines at 200 nits in the bottom band
    cols = np.arange(w)
    lines = (y > 0.85) & (y < 0.95) & ((cols % 8) == 0)[None, :]
    img = np.where(lines, 200.0, img)
    return _rgb(img).astype(np.float32)


#: Scene name -> generator ``f(height, width)``.
SCENES: dict[str, Callable[[int, int], np.ndarray]] = {"gradient": gradient, "night": night, "specular": specular,
                                                       "text": text, "window": window}


def scene(name: str, height: int, width: int) -> np.ndarray:
    """A procedural scene in nits, shape (height, width, 3), float32.

    Examples
    --------
    >>> img = scene("window", 90, 160)
    >>> img.shape, img.dtype, bool(img.max() >= 3000)
    ((90, 160, 3), dtype('float32'), True)
    """
    try:
        fn = SCENES[name]
    except KeyError:
        raise ValueError(f"unknown scene {name!r}; valid: {', '.join(SCENES)}") from None
    return fn(int(height), int(width))
