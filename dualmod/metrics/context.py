# SPDX-License-Identifier: BSD-3-Clause
"""What metrics share: the two images, their luminance and PU21 maps (computed once), the panel, the LEDs."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..panel import Panel
from .pu21 import luminance_and_pu21

__all__ = ["Pair"]


@dataclass
class Pair:
    """A target (reference) and a displayed (test) image in cd/m², (H, W, 3) float32."""

    target: np.ndarray
    displayed: np.ndarray
    panel: Panel | None = None
    leds: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @cached_property
    def _t(self) -> tuple[np.ndarray, np.ndarray]:
        return luminance_and_pu21(self.target)

    @cached_property
    def _d(self) -> tuple[np.ndarray, np.ndarray]:
        return luminance_and_pu21(self.displayed)

    def encoded(self, which: str = "both") -> bool:
        """Whether the PU21 map of the ``"target"``, the ``"displayed"`` image or ``"both"`` has been computed
        (by an earlier metric), so a metric that can start from either the RGB images or the maps can pick."""
        have = {"target": "_t" in self.__dict__, "displayed": "_d" in self.__dict__}
        return have["target"] and have["displayed"] if which == "both" else have[which]

    @property
    def y_target(self) -> np.ndarray:
        """Rec.709 luminance of the target, cd/m² (H, W) float32."""
        return self._t[0]

    @property
    def y_displayed(self) -> np.ndarray:
        return self._d[0]

    @property
    def pu_target(self) -> np.ndarray:
        """PU21 of the target luminance (H, W) float32."""
        return self._t[1]

    @property
    def pu_displayed(self) -> np.ndarray:
        return self._d[1]
