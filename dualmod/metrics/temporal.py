# SPDX-License-Identifier: BSD-3-Clause
"""Temporal metrics of a dimmed video: how much the LEDs and the picture flicker.

For consecutive frames t−1, t that are not separated by a scene cut:

- **LED flicker** — the frame-to-frame change of each LED, in LED-level units (0–1): reported as the
  mean |ΔL| and the RMS ΔL over LEDs and frame pairs. Spreading a fall of 1 over n frames leaves the
  mean |ΔL| unchanged but divides the RMS by √n, so the RMS is the flicker number (it weighs sudden jumps,
  which the eye sees, over slow drifts, which it does not); the mean is reported so that one can tell.
- **shown flicker in static regions** — pixels whose target did not change (|ΔT| ≤ 1 % of T + 0.005
  nits) should not change on screen either; their mean |ΔPU21(shown luminance)| (PU21 units, ≈ JND
  steps) measures how much moving halos and backlight changes disturb still parts of the picture.

The quality cost of a temporal filter is the drop of the mean per-frame PU21-PSNR against per-frame
solving (see ``dualmod video``).
"""

from __future__ import annotations

import numpy as np

from .pu21 import pu21_encode

__all__ = ["TemporalStats", "frame_pack", "static_pair", "STATIC_REL", "STATIC_ABS"]

#: A pixel is static when |ΔT| ≤ STATIC_REL·T + STATIC_ABS (nits).
STATIC_REL = 0.01
STATIC_ABS = 0.005


def frame_pack(target_lum: np.ndarray, shown_lum: np.ndarray, shown_pu21: np.ndarray | None = None) -> tuple:
    """What :func:`static_pair` needs of one frame: (target luminance, PU21 of the shown luminance)."""
    shown_pu = pu21_encode(np.asarray(shown_lum, dtype=np.float32)) if shown_pu21 is None else shown_pu21
    return np.asarray(target_lum, dtype=np.float32), shown_pu


def static_pair(prev: tuple, cur: tuple) -> tuple[float, int]:
    """(Σ |ΔPU21(shown)| over static pixels, number of static pixels) for consecutive frames' packs."""
    t0, s0 = prev
    t1, s1 = cur
    static = np.abs(t1 - t0) <= STATIC_REL * np.maximum(t1, t0) + STATIC_ABS
    n = int(static.sum())
    return (float(np.abs(s1 - s0)[static].sum()) if n else 0.0), n


class TemporalStats:
    """Accumulates the temporal metrics one frame at a time (bounded memory).

    Call :meth:`add` with each frame's target luminance, shown luminance and LED frame, and ``cut=True``
    for the first frame of a new shot; :meth:`result` returns the metrics.
    """

    def __init__(self):
        self._prev = None
        self._prev_leds = None
        self.pairs = 0
        self._led_abs = 0.0
        self._led_sq = 0.0
        self._led_n = 0
        self._static_sum = 0.0
        self._static_n = 0

    def add(self, target_lum: np.ndarray, shown_lum: np.ndarray, leds: np.ndarray, *, cut: bool = False,
            shown_pu21: np.ndarray | None = None) -> None:
        """``shown_pu21``: PU21 of ``shown_lum`` when the caller has it already (else it is computed)."""
        cur = frame_pack(target_lum, shown_lum, shown_pu21)
        pair = static_pair(self._prev, cur) if self._prev is not None and not cut else None
        self.add_counts(leds, cut=cut, static=pair)
        self._prev = cur

    def add_counts(self, leds: np.ndarray, *, cut: bool = False, static: tuple[float, int] | None = None) -> None:
        """:meth:`add` for a caller that computed the frame pair's :func:`static_pair` itself (e.g. on a Dask
        worker, where the frames are): only the LED frame travels. ``static`` is None after a cut."""
        x = np.asarray(leds, dtype=np.float64)
        if self._prev_leds is not None and not cut:
            d = x - self._prev_leds
            self._led_abs += float(np.abs(d).sum())
            self._led_sq += float(np.square(d).sum())
            self._led_n += d.size
            if static is not None:
                self._static_sum += static[0]
                self._static_n += static[1]
            self.pairs += 1
        self._prev_leds = x

    def result(self) -> dict:
        """``led_flicker_rms``, ``led_flicker_mean``, ``static_flicker_pu21`` and the counts behind them."""
        n = max(self._led_n, 1)
        return {"led_flicker_rms": (self._led_sq / n) ** 0.5, "led_flicker_mean": self._led_abs / n,
                "static_flicker_pu21": self._static_sum / max(self._static_n, 1),
                "static_pixels_per_pair": self._static_n / max(self.pairs, 1), "frame_pairs": self.pairs}
