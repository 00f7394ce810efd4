# SPDX-License-Identifier: BSD-3-Clause
"""Zone heuristics for local dimming (DESIGN.md §6).

Every heuristic maps per-zone statistics of the target (see
:mod:`dualmod.dimming.zones`; v = max(R, G, B) / peak_nits for white
backlights, each channel for RGB backlights) to an LED level in [0, 1]:

===========  ==============================================  =====================
name         LED level                                       source
===========  ==============================================  =====================
global       max over the whole frame (no local dimming)     baseline
max          zone max                                        e.g. Seetzen 2004
mean         zone mean                                       Funamoto et al. 2000
sqrt         √(zone mean)                                    Funamoto et al. 2000
cho          m + ½(d + d²), m = mean, d = max − mean         Cho & Kwon 2009
percentile   the zone's CDF level q (default 0.95)           —
===========  ==============================================  =====================

They ignore the PSF's spread, so they clip small highlights (a zone's LED
alone does not reach its own maximum) and light neighbours they should not.

References
----------
Funamoto, T. et al. (2000) High-picture-quality technique for LCD televisions: LCD-AI. Proc. IDW.
Cho, H., Kwon, O.-K. (2009) A backlight dimming algorithm for low power and high image quality
LCD applications. IEEE Trans. Consumer Electronics 55(2).
"""

from __future__ import annotations

import numpy as np

from ..panel import Panel
from .zones import zone_stats

__all__ = ["global_dimming", "max_dimming", "mean_dimming", "sqrt_dimming", "cho_dimming", "percentile_dimming"]


def global_dimming(panel: Panel, target: np.ndarray) -> np.ndarray:
    """Every LED at the frame's max(R, G, B) / peak_nits: no local dimming (``global``).

    Parameters
    ----------
    panel : Panel
    target : ndarray of shape (H, W, 3)
        cd/m².

    Returns
    -------
    ndarray of shape (N,) or (N, 3) for RGB backlights (per-channel maxima).
    """
    stats = zone_stats(panel, target)
    if panel.leds.channels == 3:
        return np.tile(np.clip(stats.max.max(axis=0), 0.0, 1.0), (panel.n_leds, 1))
    return np.full(panel.n_leds, min(float(stats.max.max()), 1.0))


def max_dimming(panel: Panel, target: np.ndarray) -> np.ndarray:
    """Each LED at its zone's maximum (``max``): no clipping inside a zone if the PSF were a box."""
    return np.clip(zone_stats(panel, target).max, 0.0, 1.0)


def mean_dimming(panel: Panel, target: np.ndarray) -> np.ndarray:
    """Each LED at its zone's mean (``mean``): low power, clips everything above the mean."""
    return np.clip(zone_stats(panel, target).mean, 0.0, 1.0)


def sqrt_dimming(panel: Panel, target: np.ndarray) -> np.ndarray:
    """Each LED at √(zone mean) (``sqrt``): between mean and max for dim zones."""
    return np.clip(np.sqrt(zone_stats(panel, target).mean), 0.0, 1.0)


def cho_dimming(panel: Panel, target: np.ndarray) -> np.ndarray:
    """Each LED at m + ½(d + d²), m = zone mean, d = max − mean (``cho``, Cho & Kwon 2009)."""
    s = zone_stats(panel, target)
    d = s.max - s.mean
    return np.clip(s.mean + 0.5 * (d + d * d), 0.0, 1.0)


def percentile_dimming(panel: Panel, target: np.ndarray, *, level: float = 0.95) -> np.ndarray:
    """Each LED at its zone's ``level`` CDF value (``percentile``, default 0.95).

    Parameters
    ----------
    level : float in [0, 1]
        The fraction of the zone's pixels the LED alone need not clip.
    """
    from . import check_options

    check_options("percentile", level=level)
    return np.clip(zone_stats(panel, target, percentile=level).percentile, 0.0, 1.0)


# Each of these reads the target through zone_stats, which raises InputError on NaN/Inf/negative
# values in the same pass, so dm.solve need not scan the image first.
for _solver in (global_dimming, max_dimming, mean_dimming, sqrt_dimming, cho_dimming, percentile_dimming):
    _solver.validates_target = True
