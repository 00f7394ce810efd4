# SPDX-License-Identifier: BSD-3-Clause
"""Procedural HDR video sequences (nits, linear Rec.709), deterministic, at any resolution.

``flicker`` — the temporal test of local dimming, in three acts (``frames`` split 50 / 25 / 25 %):

1. **motion**: a small bright object (2000 nits, a soft disc of radius 4 % of the height) crosses a
   near-black frame (0.05 nits) on a slightly wavy path — per-frame solving switches LEDs on and off
   as it passes, and its halo moves over static black;
2. **fade**: the object stops and the frame cross-fades to the ``window`` scene, evenly in PQ
   (ST 2084) code values as a grading tool fades, so no single step looks like a cut;
3. **cut**: a hard cut to the ``night`` scene, which then stays still.

``grain`` — the flicker that per-frame solving adds by itself: two still scenes (``window``, then a hard
cut to ``night`` halfway) under film grain, σ = 2 ten-bit PQ code values per pixel and frame (fresh,
seeded noise each frame, the same in R, G and B). Nothing in the picture moves, so every LED change is
noise that the solver passed on, and an ideal temporal filter removes it at no cost in quality.

Use :func:`sequence` by name; :func:`sequence_cuts` gives the frame indices of the hard cuts, so tests and metrics
can treat them apart.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from colour.models import eotf_inverse_ST2084, eotf_ST2084

from .scenes import scene

__all__ = ["SEQUENCES", "sequence", "sequence_cuts"]

BLACK_NITS = 0.05


def _acts(frames: int) -> tuple[int, int]:
    motion = max(2, frames // 2)
    fade = max(1, frames // 4)
    return motion, motion + fade


def _object(h: int, w: int, t: float) -> np.ndarray:
    """The bright object at path position t ∈ [0, 1] over the black frame."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    cx = (0.1 + 0.8 * t) * w
    cy = (0.5 + 0.12 * np.sin(2 * np.pi * t)) * h
    r = 0.04 * h
    d = np.hypot(x - cx, y - cy)
    lum = BLACK_NITS + 2000.0 * np.clip((1.5 - d / r) / 0.5, 0.0, 1.0) ** 2  # 2000 nits inside r, 0 at 1.5 r
    return np.repeat(lum[..., None], 3, axis=2)


def flicker(frames: int, h: int, w: int) -> Iterator[np.ndarray]:
    """The three-act sequence described in the module docstring."""
    motion, fade_end = _acts(frames)
    fade_from = fade_to = night = None  # the still images of acts 2 and 3, made once when first needed
    for k in range(frames):
        if k < motion:
            img = _object(h, w, k / max(1, motion - 1))
        elif k < fade_end:
            if fade_from is None:
                fade_from = eotf_inverse_ST2084(_object(h, w, 1.0))
                fade_to = eotf_inverse_ST2084(scene("window", h, w))
            a = (k - motion + 1) / (fade_end - motion)
            img = eotf_ST2084((1 - a) * fade_from + a * fade_to)
        else:
            if night is None:
                night = scene("night", h, w).astype(np.float32)
            img = night
        yield img.astype(np.float32)


#: ``grain``: σ of the film grain in PQ (ST 2084) code values, as a fraction of full scale (2 ten-bit codes).
GRAIN_PQ_SIGMA = 2.0 / 1023
GRAIN_SEED = 20261207


def grain(frames: int, h: int, w: int) -> Iterator[np.ndarray]:
    """Two still scenes under film grain, with a hard cut halfway (see the module docstring)."""
    cut = frames // 2
    still = {}
    for k in range(frames):
        name = "window" if k < cut else "night"
        if name not in still:
            still[name] = eotf_inverse_ST2084(scene(name, h, w)).astype(np.float32)
        noise = np.random.default_rng([GRAIN_SEED, k]).standard_normal((h, w, 1), dtype=np.float32)
        yield np.asarray(eotf_ST2084(np.clip(still[name] + GRAIN_PQ_SIGMA * noise, 0.0, 1.0)), np.float32)


SEQUENCES = {"flicker": flicker, "grain": grain}


def sequence_cuts(name: str, frames: int) -> list[int]:
    """Indices of frames that start a new shot (hard cuts) in a named sequence."""
    if name == "flicker":
        return [_acts(frames)[1]]
    if name == "grain":
        return [frames // 2]
    raise ValueError(f"unknown sequence {name!r}; valid: {', '.join(SEQUENCES)}")


def sequence(name: str, frames: int, height: int, width: int) -> Iterator[np.ndarray]:
    """Frames of a procedural sequence, one at a time: (height, width, 3) float32 nits.

    Examples
    --------
    >>> frames = list(sequence("flicker", 8, 90, 160))
    >>> len(frames), frames[0].shape, float(frames[0].max()) > 1000
    (8, (90, 160, 3), True)
    """
    try:
        fn = SEQUENCES[name]
    except KeyError:
        raise ValueError(f"unknown sequence {name!r}; valid: {', '.join(SEQUENCES)}") from None
    if frames < 4:
        raise ValueError(f"a sequence needs at least 4 frames, got {frames}")
    return fn(int(frames), int(height), int(width))
