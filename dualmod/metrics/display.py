# SPDX-License-Identifier: BSD-3-Clause
"""Display-specific measures: power, clipping, halo, contrast.

- ``power`` — mean LED level (all LEDs at 1 = 1.0); needs the LED frame.
- ``power_saving`` — 1 − power.
- ``clipped_fraction`` — fraction of pixels shown more than 5 % below the target luminance, among
  pixels whose target is at least 0.01 cd/m² (backlight too low: highlights lost).
- ``halo`` — mean PU21 excess max(PU21(Y_shown) − PU21(Y_target), 0) over the pixels whose target is
  below 1 cd/m² (light that leaked into dark regions: blooming around bright objects, in PU units;
  0 where there are no dark pixels).
- ``contrast`` — shown peak luminance over shown black (the darkest pixel, at least 1e-6 cd/m²).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .context import Pair

__all__ = ["power", "power_saving", "clipped_fraction", "halo", "contrast", "CLIP_TOLERANCE", "DARK_NITS"]

#: Shown luminance below (1 − CLIP_TOLERANCE) × target counts as clipped.
CLIP_TOLERANCE = 0.05
#: Target luminance below which a pixel is "dark" for the halo measure, cd/m².
DARK_NITS = 1.0


def power(pair: Pair) -> float:
    """Mean LED level (all on = 1)."""
    if pair.leds is None:
        raise InputError("the power metrics need the LED frame: pass leds=... or a Simulation")
    return float(np.mean(pair.leds))


def power_saving(pair: Pair) -> float:
    """1 − mean LED level."""
    return 1.0 - power(pair)


def clipped_fraction(pair: Pair) -> float:
    """Fraction of (target ≥ 0.01 cd/m²) pixels shown > 5 % below their target luminance."""
    lit = pair.y_target >= 0.01
    if not lit.any():
        return 0.0
    return float(np.mean(pair.y_displayed[lit] < (1 - CLIP_TOLERANCE) * pair.y_target[lit]))


def halo(pair: Pair) -> float:
    """Mean PU21 excess of the shown image over the target where the target is darker than 1 cd/m²."""
    dark = pair.y_target < DARK_NITS
    if not dark.any():
        return 0.0
    excess = pair.pu_displayed[dark] - pair.pu_target[dark]
    return float(np.mean(np.maximum(excess, 0.0), dtype=np.float64))


def contrast(pair: Pair) -> float:
    """Shown peak / shown black luminance in the frame."""
    y = pair.y_displayed
    return float(y.max() / max(float(y.min()), 1e-6))
