# SPDX-License-Identifier: BSD-3-Clause
"""Zone heuristics for local dimming (DESIGN.md §6), on the 0–1 scale of peak_nits."""

from __future__ import annotations

import numpy as np

from ..panel import Panel

__all__ = ["global_dimming"]


def global_dimming(panel: Panel, target: np.ndarray) -> np.ndarray:
    """Every LED at the frame's max(R, G, B) / peak_nits: no local dimming (``global``).

    The baseline every local-dimming method is compared with: no clipping
    (up to the panel's peak), no power saving beyond the frame's maximum.

    Parameters
    ----------
    panel : Panel
    target : ndarray of shape (H, W, 3)
        cd/m².

    Returns
    -------
    ndarray of shape (N,) or (N, 3) for RGB backlights (per-channel maxima).
    """
    if panel.leds.channels == 3:
        level = np.clip(target.reshape(-1, 3).max(axis=0) / panel.peak_nits, 0.0, 1.0)
        return np.tile(level, (panel.n_leds, 1))
    level = min(float(target.max()) / panel.peak_nits, 1.0)
    return np.full(panel.n_leds, level)
