# SPDX-License-Identifier: BSD-3-Clause
"""Colour constants and helpers shared across dualmod."""

from __future__ import annotations

import numpy as np

__all__ = ["REC709_LUMINANCE", "luminance"]

#: Luminance weights of linear Rec.709 / sRGB-primaries RGB (ITU-R BT.709-6, item 3.2).
REC709_LUMINANCE = np.array([0.2126, 0.7152, 0.0722], np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Y = 0.2126 R + 0.7152 G + 0.0722 B of linear RGB (…, 3), float32, same units as the input."""
    return np.asarray(rgb, dtype=np.float32) @ REC709_LUMINANCE
