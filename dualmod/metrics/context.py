# SPDX-License-Identifier: BSD-3-Clause
"""What metrics share: the two images, their luminance and PU21 maps (computed once), the panel, the LEDs."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

import numba as nb

from ..display._fastmath import invalid_bits, or_i32
from ..panel import Panel
from .pu21 import luminance_and_pu21

__all__ = ["Pair", "has_invalid_values"]


@nb.njit(parallel=True, cache=True, error_model="numpy")
def _invalid_rows(a, flags):
    for i in nb.prange(a.shape[0]):
        row = a[i]
        bad = np.int32(0)
        for j in range(row.shape[0]):
            bad = or_i32(bad, invalid_bits(row[j]))
        flags[i] = bad


def has_invalid_values(image: np.ndarray) -> bool:
    """Whether a float32 image holds a NaN, ±Inf or negative value (−0.0 is valid); one vectorised pass."""
    a = np.ascontiguousarray(image, dtype=np.float32)
    a = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(1, -1)
    flags = np.empty(a.shape[0], np.int32)
    _invalid_rows(a, flags)
    return bool(flags.any())


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
