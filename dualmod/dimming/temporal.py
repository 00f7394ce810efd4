# SPDX-License-Identifier: BSD-3-Clause
"""Temporal filtering of LED frames for video: fast attack, slow decay, scene-cut reset.

Per LED, with x_t the solver's frame and y_t the frame sent:

    y_t = y_{t−1} + a·(x_t − y_{t−1}),   a = ``attack`` if x_t > y_{t−1} else ``decay``

Rising light follows at once (attack = 1 means no delay, so highlights are
not clipped while the backlight catches up); falling light eases down, which
removes the frame-to-frame flicker of per-frame solving. At a scene cut —
the mean absolute change of the solver's raw frame exceeds ``cut`` — the
state resets to x_t, so a cut does not drag the old scene's light along.

The filter works with any solver: :class:`TemporalSolver` wraps a method name.
It keeps state, so use one instance per video stream.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TemporalFilter", "TemporalSolver"]


class TemporalFilter:
    """Stateful per-LED smoothing (see module docstring).

    Parameters
    ----------
    attack : float in (0, 1]
        Fraction of a rise applied per frame.
    decay : float in (0, 1]
        Fraction of a fall applied per frame (1 disables smoothing).
    cut : float
        Scene-cut threshold on mean |x_t − x_{t−1}| (0–1 LED scale); ``None`` never resets.

    Examples
    --------
    >>> f = TemporalFilter(attack=1.0, decay=0.5, cut=None)
    >>> [float(f(np.array([v]))[0]) for v in (1.0, 0.0, 0.0, 1.0)]
    [1.0, 0.5, 0.25, 1.0]
    """

    def __init__(self, attack: float = 1.0, decay: float = 0.15, cut: float | None = 0.25):
        for name, v in (("attack", attack), ("decay", decay)):
            if not 0 < v <= 1:
                raise ValueError(f"{name} must lie in (0, 1], got {v}")
        if cut is not None and cut <= 0:
            raise ValueError(f"cut must be positive or None, got {cut}")
        self.attack, self.decay, self.cut = float(attack), float(decay), cut
        self.reset()

    def reset(self) -> None:
        """Forget the past (the next frame passes through unchanged)."""
        self._state: np.ndarray | None = None
        self._last_raw: np.ndarray | None = None
        self.cuts = 0

    def __call__(self, leds) -> np.ndarray:
        x = np.asarray(leds, dtype=np.float64)
        if self._state is None or self._state.shape != x.shape or self._is_cut(x):
            if self._state is not None:
                self.cuts += 1
            y = x.copy()
        else:
            prev = self._state
            a = np.where(x > prev, self.attack, self.decay)
            y = prev + a * (x - prev)
        self._state, self._last_raw = y, x
        return y.copy()

    def _is_cut(self, x: np.ndarray) -> bool:
        return self.cut is not None and float(np.mean(np.abs(x - self._last_raw))) > self.cut


class TemporalSolver:
    """A solver followed by a :class:`TemporalFilter`: call it once per frame.

    Parameters
    ----------
    method : str
        A name from ``dm.methods()``.
    attack, decay, cut : see :class:`TemporalFilter`
    **options
        Passed to the solver.

    Examples
    --------
    >>> import dualmod as dm
    >>> panel = dm.Panel.load("fald-1080p-576")
    >>> video = TemporalSolver("max", decay=0.2)
    >>> leds = video(panel, dm.scene("night", panel.height, panel.width))
    """

    def __init__(self, method: str, *, attack: float = 1.0, decay: float = 0.15, cut: float | None = 0.25,
                 **options):
        self.method = method
        self.options = options
        self.filter = TemporalFilter(attack, decay, cut)

    def __call__(self, panel, target) -> np.ndarray:
        from . import apply_power_cap, solve

        return apply_power_cap(panel, self.filter(solve(panel, target, method=self.method, **self.options)))
