# SPDX-License-Identifier: BSD-3-Clause
"""Classic Adalight output for off-the-shelf LED controllers (Adalight sketches, WLED, Hyperion-style receivers).

A frame is ``"Ada"``, then count − 1 as hi, lo, then the checksum hi ^ lo ^ 0x55, then 8-bit R, G, B
per LED. Adalight checks only its header: a lost byte shifts every colour after it, which is why
dualmod's own hardware speaks DMLINK (:mod:`.protocol`). Levels are linear light by default; with
``gamma`` > 1 the byte is round(255·L^(1/gamma)) for controllers that apply a gamma themselves.
"""

from __future__ import annotations

import numpy as np

__all__ = ["adalight_frame"]


def adalight_frame(levels, *, gamma: float = 1.0) -> bytes:
    """Adalight bytes for LED levels in [0, 1], shape (N,) (white: R = G = B) or (N, 3).

    Examples
    --------
    >>> adalight_frame([0.0, 1.0]).hex()
    '416461000154000000ffffff'
    """
    a = np.asarray(levels, dtype=np.float64)
    if a.ndim == 1:
        a = np.repeat(a[:, None], 3, axis=1)
    if a.ndim != 2 or a.shape[1] != 3 or a.shape[0] < 1 or a.shape[0] > 65536:
        raise ValueError(f"levels must have shape (N,) or (N, 3) with 1 <= N <= 65536, got {np.shape(levels)}")
    if not np.all(np.isfinite(a)):
        raise ValueError("levels must be finite")
    if not gamma > 0:
        raise ValueError(f"gamma must be positive, got {gamma}")
    enc = np.clip(a, 0.0, 1.0) ** (1.0 / gamma)
    rgb = np.round(enc * 255.0).astype(np.uint8)
    n = a.shape[0] - 1
    hi, lo = (n >> 8) & 0xFF, n & 0xFF
    return b"Ada" + bytes([hi, lo, hi ^ lo ^ 0x55]) + rgb.tobytes()
