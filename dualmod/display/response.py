# SPDX-License-Identifier: BSD-3-Clause
"""Transfer curves of the LCD and the LEDs, and exact code quantisation.

A response maps a normalised code or drive value x ∈ [0, 1] to a relative
light (or transmittance) y ∈ [0, 1], monotone, with f(0) = 0 and f(1) = 1.

=========  ===============================================  =================
name       f(x)                                             parameters
=========  ===============================================  =================
linear     x                                                —
gamma      x**γ                                             ``gamma``
srgb       the sRGB EOTF (IEC 61966-2-1), via colour-science —
lut        linear interpolation of a measured (x, y) table  ``lut``
=========  ===============================================  =================

Quantisation (DESIGN.md §3 steps 1 and 4) rounds the ideal code half up:
code = ⌊f⁻¹(y)·M + ½⌋ with M = 2**bits − 1. Equivalently, code is the number
of *thresholds* θ_c = f((c + ½)/M), c = 0 … M − 1, that are ≤ y. The
threshold form is what every implementation uses: it is exact for any
monotone f (no inverse function needed) and it is the same decision in
float32 and float64 (a float32 y is compared with θ rounded up to float32).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["Response", "RESPONSES"]

RESPONSES = ("linear", "gamma", "srgb", "lut")


@dataclass(frozen=True, eq=False)
class Response:
    """A monotone transfer curve f: [0, 1] → [0, 1] with its code depth.

    Parameters
    ----------
    kind : {"linear", "gamma", "srgb", "lut"}
    bits : int
        Code depth; codes are 0 … 2**bits − 1.
    gamma : float
        Exponent for ``gamma``.
    lut : ndarray of shape (K, 2), optional
        (x, y) pairs for ``lut``, x and y from 0 to 1.

    Examples
    --------
    >>> r = Response("gamma", 8, gamma=2.2)
    >>> int(r.quantize(np.array([r.forward(128 / 255)]))[0])
    128
    """

    kind: str
    bits: int
    gamma: float = 2.2
    lut: np.ndarray | None = None

    @property
    def max_code(self) -> int:
        """M = 2**bits − 1."""
        return (1 << self.bits) - 1

    def forward(self, x) -> np.ndarray:
        """f(x): relative light of normalised code x (float64)."""
        x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
        if self.kind == "linear":
            return x
        if self.kind == "gamma":
            return x ** self.gamma
        if self.kind == "srgb":
            from colour.models import eotf_sRGB

            return np.asarray(eotf_sRGB(x), dtype=np.float64)
        if self.kind == "lut":
            return np.interp(x, self.lut[:, 0], self.lut[:, 1])
        raise ValueError(f"unknown response {self.kind!r}; valid: {', '.join(RESPONSES)}")

    def inverse(self, y) -> np.ndarray:
        """f⁻¹(y) (float64). For a ``lut`` with flat steps, the lowest x."""
        y = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0)
        if self.kind == "linear":
            return y
        if self.kind == "gamma":
            return y ** (1.0 / self.gamma)
        if self.kind == "srgb":
            from colour.models import eotf_inverse_sRGB

            return np.asarray(eotf_inverse_sRGB(y), dtype=np.float64)
        if self.kind == "lut":
            xs, ys = self.lut[:, 0], self.lut[:, 1]
            # strictly increasing support for np.interp: keep the first x of each flat run
            keep = np.concatenate([[True], np.diff(ys) > 0])
            return np.interp(y, ys[keep], xs[keep])
        raise ValueError(f"unknown response {self.kind!r}; valid: {', '.join(RESPONSES)}")

    @cached_property
    def thresholds(self) -> np.ndarray:
        """θ_c = f((c + ½)/M), c = 0 … M − 1, float64, non-decreasing, read-only."""
        m = self.max_code
        th = self.forward((np.arange(m, dtype=np.float64) + 0.5) / m)
        th = np.maximum.accumulate(th)
        th.setflags(write=False)
        return th

    @cached_property
    def thresholds_f32(self) -> np.ndarray:
        """Thresholds rounded *up* to float32, plus a +inf sentinel (length M + 1).

        For a float32 y: ``y >= thresholds_f32[c]`` ⇔ ``y >= thresholds[c]``.
        """
        th = self.thresholds
        t32 = th.astype(np.float32)
        low = t32.astype(np.float64) < th
        t32[low] = np.nextafter(t32[low], np.float32(np.inf))
        out = np.concatenate([t32, np.array([np.inf], np.float32)])
        out.setflags(write=False)
        return out

    @cached_property
    def levels(self) -> np.ndarray:
        """f(c/M) for every code c = 0 … M (float64, read-only)."""
        lv = self.forward(np.arange(self.max_code + 1, dtype=np.float64) / self.max_code)
        lv.setflags(write=False)
        return lv

    def quantize(self, y) -> np.ndarray:
        """Codes ⌊f⁻¹(y)·M + ½⌋ for relative light y (int64), by threshold count."""
        y = np.asarray(y)
        if y.dtype == np.float32:
            return np.searchsorted(self.thresholds_f32[:-1], y, side="right").astype(np.int64)
        return np.searchsorted(self.thresholds, np.asarray(y, dtype=np.float64), side="right").astype(np.int64)
