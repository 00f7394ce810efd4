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
=========  ==================================================================
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["SCENES", "scene"]


def _coords(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    y = (np.arange(h, dtype=np.float64) + 0.5) / h
    x = (np.arange(w, dtype=np.float64) + 0.5) / w
    return np.meshgrid(x, y)


def _rgb(lum: np.ndarray, tint=(1.0, 1.0, 1.0)) -> np.ndarray:
    t = np.asarray(tint, dtype=np.float64)
    t = t / (t @ np.array([0.2126, 0.7152, 0.0722]))
    return lum[..., None] * t


def window(h: int, w: int) -> np.ndarray:
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
    x, y = _coords(h, w)
    lum = 0.01 * (4000.0 / 0.01) ** x
    lum = np.where((y > 0.4) & (y < 0.6), 20.0, lum)
    return _rgb(lum).astype(np.float32)


def night(h: int, w: int) -> np.ndarray:
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


#: Scene name -> generator ``f(height, width)``.
SCENES: dict[str, Callable[[int, int], np.ndarray]] = {"window": window, "gradient": gradient, "night": night}


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
