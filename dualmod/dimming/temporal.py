# SPDX-License-Identifier: BSD-3-Clause
"""Temporal filtering of LED frames for video: fast attack, slow decay, scene-cut reset.

Per LED, with x_t the solver's frame and y_t the frame sent:

    y_t = y_{t−1} + a·(x_t − y_{t−1}),   a = ``attack`` if x_t − y_{t−1} > hold·x_t else ``decay``

Rising light follows at once (attack = 1 means no delay, so highlights are
not clipped while the backlight catches up); falling light eases down, which
removes the frame-to-frame flicker of per-frame solving.

Noise in the picture (sensor noise, film grain) makes a per-frame solver jitter up *and* down, and fast
attack passes every upward jitter on. ``hold`` treats a rise of at most ``hold`` × the new demand as
such noise: it eases up at the ``decay`` rate like a fall. The level sent then never falls short of
the solver's demand by more than that fraction (the LCD makes up the rest below its white), while a
real rise — content that needs more light — still follows at ``attack``.

At a scene cut — the mean absolute change of the solver's raw frame exceeds ``cut`` — the
state resets to x_t, so a cut does not drag the old scene's light along.

LED frames are a poor cut detector (two different scenes can need similar
backlights), so :class:`TemporalSolver` also watches the pictures: a
:class:`SceneCutDetector` compares coarse thumbnails of consecutive targets in
PQ (ST 2084) code values, a perceptual scale on which a fade moves evenly and
a cut jumps, and resets the filter at a cut.

The filter works with any solver: :class:`TemporalSolver` wraps a method name.
It keeps state, so use one instance per video stream.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TemporalFilter", "TemporalSolver", "SceneCutDetector", "slope_limited_envelope", "HOLD"]

#: Default ``hold`` of :class:`TemporalFilter`.
HOLD = 0.05


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
    hold : float in [0, 1)
        Rises of at most this fraction of the new demand follow at ``decay`` (noise; see the module
        docstring); 0 follows every rise at ``attack``.

    Examples
    --------
    >>> f = TemporalFilter(attack=1.0, decay=0.5, cut=None)
    >>> [float(f(np.array([v]))[0]) for v in (1.0, 0.0, 0.0, 1.0)]
    [1.0, 0.5, 0.25, 1.0]
    """

    def __init__(self, attack: float = 1.0, decay: float = 0.15, cut: float | None = 0.25, hold: float = HOLD):
        for name, v in (("attack", attack), ("decay", decay)):
            if not 0 < v <= 1:
                raise ValueError(f"{name} must lie in (0, 1], got {v}")
        if cut is not None and cut <= 0:
            raise ValueError(f"cut must be positive or None, got {cut}")
        if not 0 <= hold < 1:
            raise ValueError(f"hold must lie in [0, 1), got {hold}")
        self.attack, self.decay, self.cut, self.hold = float(attack), float(decay), cut, float(hold)
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
            real_rise = x - prev > self.hold * x
            a = np.where(real_rise, self.attack, self.decay)
            y = prev + a * (x - prev)
        self._state, self._last_raw = y, x
        return y.copy()

    def restore(self, sent, raw) -> bool:
        """Step past a frame filtered in an earlier run, given what the filter returned (``sent``) and its
        input (``raw``), as if it were filtered now; returns whether it was a cut."""
        x = np.asarray(raw, dtype=np.float64)
        cut = self._state is not None and self._state.shape == x.shape and self._is_cut(x)
        self.cuts += int(cut)
        self._state, self._last_raw = np.array(sent, dtype=np.float64), x.copy()
        return bool(cut)

    @property
    def last_raw(self) -> np.ndarray | None:
        """The last input frame (before filtering)."""
        return self._last_raw

    def _is_cut(self, x: np.ndarray) -> bool:
        return self.cut is not None and float(np.mean(np.abs(x - self._last_raw))) > self.cut


class SceneCutDetector:
    """Flags a frame as a new shot when its picture differs from the last one by more than ``threshold``.

    The measure is the mean absolute difference of PQ-encoded luminance (0–1 code values) over a
    ``grid`` thumbnail (block means): 0.1 is a tenth of the PQ range on average over the frame — a cut
    between unrelated scenes moves it by 0.2–0.5, a 12-frame fade by ≈ 0.03 a frame, a small moving
    object by far less.

    Examples
    --------
    >>> d = SceneCutDetector()
    >>> dark, bright = np.full((36, 64, 3), 0.1, np.float32), np.full((36, 64, 3), 500.0, np.float32)
    >>> d(dark), d(dark), d(bright)
    (False, False, True)
    """

    def __init__(self, threshold: float = 0.1, grid: tuple[int, int] = (9, 16)):
        if not threshold > 0:
            raise ValueError(f"scene-cut threshold must be positive, got {threshold}")
        self.threshold, self.grid = float(threshold), grid
        self._last: np.ndarray | None = None
        self.last_change = 0.0

    def thumbnail(self, target) -> np.ndarray:
        from colour.models import eotf_inverse_ST2084

        from ..imaging.colour import luminance

        t = np.asarray(target, dtype=np.float32)
        step = max(1, min(t.shape[0] // (4 * self.grid[0]), t.shape[1] // (4 * self.grid[1])))
        y = np.asarray(luminance(t[::step, ::step]), dtype=np.float64)  # every step-th pixel: ≥ 16 a cell
        gh, gw = min(self.grid[0], y.shape[0]), min(self.grid[1], y.shape[1])
        h, w = (y.shape[0] // gh) * gh, (y.shape[1] // gw) * gw
        cells = y[:h, :w].reshape(gh, h // gh, gw, w // gw).mean(axis=(1, 3))
        return np.asarray(eotf_inverse_ST2084(np.clip(cells, 0.0, 10000.0)), dtype=np.float64)

    def __call__(self, target) -> bool:
        t = self.thumbnail(target)
        comparable = self._last is not None and t.shape == self._last.shape
        self.last_change = float(np.mean(np.abs(t - self._last))) if comparable else 0.0
        self._last = t
        return self.last_change > self.threshold


class TemporalSolver:
    """A solver followed by a :class:`TemporalFilter`: call it once per frame.

    Parameters
    ----------
    method : str
        A name from ``dm.methods()``.
    attack, decay, cut, hold : see :class:`TemporalFilter`
    scene_cut : float or None
        Threshold of the :class:`SceneCutDetector` on the targets; None: only the LED-based ``cut``.
    anchor : float, optional
        For a solver that takes an ``anchor`` (``optimal``): μ, the price of moving its LEDs away from its
        own solution for the last frame (the ``anchor_weight`` option); None: the solver's default, 0:
        solve every frame on its own. Not passed at a scene cut (:class:`SceneCutDetector`) or on the
        first frame. A price > 0 for a solver that takes no anchor is a ``ValueError``.
    **options
        Passed to the solver. A ``power_budget`` among them also caps the filtered frames (scaled down
        uniformly where the filter's slow falls would exceed it), as the panel's own cap does.

    Attributes
    ----------
    cut_frames : list of int
        Frames (counted from 0) at which the filter was reset by either detector.

    Examples
    --------
    >>> import dualmod as dm
    >>> panel = dm.Panel.load("fald-1080p-576")
    >>> video = TemporalSolver("max", decay=0.2)
    >>> leds = video(panel, dm.scene("night", panel.height, panel.width))
    """

    def __init__(self, method: str, *, attack: float = 1.0, decay: float = 0.15, cut: float | None = 0.25,
                 scene_cut: float | None = 0.1, hold: float = HOLD, anchor: float | None = None, **options):
        from . import takes_anchor

        if anchor is not None and not anchor >= 0:
            raise ValueError(f"anchor must be a price >= 0, got {anchor}")
        if anchor and not takes_anchor(method):   # asked for, but nothing would take it: say so, not ignore it
            raise ValueError(f"anchor={anchor:g} applies to solvers that take an anchor (optimal); {method!r} does "
                             "not (leave anchor out, or give anchor=0)")
        if anchor is not None and takes_anchor(method):
            options = {**options, "anchor_weight": float(anchor)}  # the price as the solver takes it (0: none)
        self.method = method
        self.options = options
        self.anchored = chains_anchor(method, options)
        self.filter = TemporalFilter(attack, decay, cut, hold)
        self.scenes = SceneCutDetector(scene_cut) if scene_cut is not None else None
        self.frame = 0
        self.cut_frames: list[int] = []

    def __call__(self, panel, target) -> np.ndarray:
        from . import solve

        scene = self.scenes is not None and self.scenes(target)
        options = self.options
        if self.anchored and not scene and self.last_raw is not None:
            options = {**options, "anchor": self.last_raw}
        return self.step(panel, target, solve(panel, target, method=self.method, **options), scene=scene)

    def step(self, panel, target, raw, scene: bool | None = None) -> np.ndarray:
        """What :meth:`__call__` does after solving: ``raw`` is the solver's LED frame for ``target`` (solved
        elsewhere, e.g. on a Dask worker); the frames must still come in order. ``scene``: whether the
        :class:`SceneCutDetector` has already flagged this frame (None: ask it now)."""
        from . import apply_power_cap

        if scene is None:
            scene = self.scenes is not None and self.scenes(target)
        if scene:
            self.filter.reset()
        before = self.filter.cuts
        leds = self.filter(raw)
        self._next_frame(scene or self.filter.cuts > before)
        # the solver's budget holds on what is sent too: the filter's slow falls must not exceed it
        return apply_power_cap(panel, leds, sent_budget(panel, target, self.options))

    @property
    def last_raw(self) -> np.ndarray | None:
        """The solver's own LED frame for the last frame (before the filter)."""
        return self.filter.last_raw

    def restore(self, target, sent, raw, scene: bool | None = None) -> bool:
        """Step past a frame solved in an earlier run — its picture, the LEDs sent and the solver's raw LEDs —
        as if it had been solved now (both cut detectors included); returns whether it was a cut. ``scene``
        as in :meth:`step`."""
        if scene is None:
            scene = self.scenes is not None and self.scenes(target)
        if scene:
            self.filter.reset()  # as __call__ does
        led = self.filter.restore(sent, raw)
        self._next_frame(scene or led)
        return bool(scene or led)

    def _next_frame(self, cut: bool) -> None:
        if cut:
            self.cut_frames.append(self.frame)
        self.frame += 1


def chains_anchor(method: str, options: dict) -> bool:
    """Whether a video solves ``method`` frame after frame, each solve given the solver's own LEDs for the
    frame before as its ``anchor`` (within a shot): the solver takes one, its price (the ``anchor_weight``
    option) is not 0, and no fixed anchor is among ``options``. One rule for the filtered and the
    look-ahead paths."""
    from . import takes_anchor

    return takes_anchor(method) and options.get("anchor_weight") != 0 and "anchor" not in options


def sent_budget(panel, target, options: dict) -> float | None:
    """The mean level a solver's ``power_budget`` option allows for ``target`` (None without one): what a
    temporal filter or envelope may send at most, since both can hold LEDs above the solver's frame."""
    from .optimal import resolve_budget

    budget = options.get("power_budget")
    return None if budget is None else resolve_budget(panel, target, budget)


def slope_limited_envelope(raw, slope: float, cuts=()) -> np.ndarray:
    """The smallest LED sequence that is never below the solver's and changes by at most ``slope`` a frame.

    Offline (it looks ahead): y_t = max over frames s of the same shot of x_s − slope·|t − s|, computed by
    one forward and one backward pass per shot. Because y ≥ x the backlight is never short of what the
    solver asked for — no highlight is clipped — and because |y_t − y_{t−1}| ≤ slope, every LED ramps
    instead of jumping: up *before* a bright object arrives, down after it leaves. The price is light
    (power, halo) around the ramps. ``cuts`` are the first frames of new shots; nothing crosses them.

    Parameters
    ----------
    raw : array_like of shape (T, N) or (T, N, C)
        Per-frame solver output, LED levels in [0, 1].
    slope : float
        Largest change per frame (LED-level units, > 0).

    Examples
    --------
    >>> x = np.array([[0.0], [0.0], [1.0], [0.0], [0.0]])
    >>> slope_limited_envelope(x, 0.5)[:, 0].tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    if not slope > 0:
        raise ValueError(f"slope must be positive, got {slope}")
    y = np.array(raw, dtype=np.float64, copy=True)
    bounds = [0] + sorted(c for c in set(cuts) if 0 < c < len(y)) + [len(y)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        for t in range(a + 1, b):
            np.maximum(y[t], y[t - 1] - slope, out=y[t])
        for t in range(b - 2, a - 1, -1):
            np.maximum(y[t], y[t + 1] - slope, out=y[t])
    return y
