# SPDX-License-Identifier: BSD-3-Clause
import numpy as np
import pytest

import dualmod as dm
from dualmod.dimming.temporal import TemporalFilter, TemporalSolver

from conftest import make_panel


def test_static_sequence_converges_to_the_per_frame_solution():
    f = TemporalFilter(attack=0.5, decay=0.1, cut=None)
    f(np.zeros(5))
    x = np.linspace(0, 1, 5)
    for _ in range(200):
        y = f(x)
    np.testing.assert_allclose(y, x, atol=1e-9)


def test_attack_and_decay_rates():
    f = TemporalFilter(attack=1.0, decay=0.25, cut=None)
    f(np.array([0.8]))
    assert f(np.array([0.0]))[0] == pytest.approx(0.6)  # falls by a quarter of the gap
    assert f(np.array([1.0]))[0] == pytest.approx(1.0)  # rises at once


def test_scene_cut_resets():
    f = TemporalFilter(attack=1.0, decay=0.05, cut=0.3)
    f(np.full(10, 0.9))
    y = f(np.full(10, 0.1))  # a jump of 0.8 on every LED: a cut
    np.testing.assert_allclose(y, 0.1)
    assert f.cuts == 1
    y = f(np.full(10, 0.0))  # a small step is smoothed
    assert y[0] == pytest.approx(0.1 - 0.05 * 0.1)


def test_filter_cuts_flicker_on_a_moving_highlight():
    p = make_panel(width=96, height=54, rows=3, cols=6, psf={"model": "gaussian", "sigma": 10.0})
    raw, smooth = [], []
    ts = TemporalSolver("max", decay=0.1)
    for k in range(30):
        t = np.full((54, 96, 3), 5.0, np.float32)
        x = 10 + 2 * k
        t[20:26, x:x + 4] = 400.0 if k % 2 else 350.0  # a moving highlight whose level wobbles
        raw.append(dm.solve(p, t, method="max"))
        smooth.append(ts(p, t))
    flicker = lambda seq: np.mean(np.abs(np.diff(np.array(seq), axis=0)))  # noqa: E731
    assert flicker(smooth) < flicker(raw)
    assert ts.filter.cuts == 0


def test_hold_smooths_noise_and_follows_real_rises():
    """Grain makes the demand jitter by a few % around a constant: with hold = 5 % the sent LEDs barely move and
    never fall more than 5 % short of the demand; a real rise is followed at once, and hold = 0 is the plain
    fast-attack filter."""
    rng = np.random.default_rng(1)
    demand = 0.5 * (1 + 0.02 * rng.standard_normal((200, 64)))
    f = TemporalFilter(attack=1.0, decay=0.15, cut=None, hold=0.05)
    sent = np.array([f(x) for x in demand])
    rms = lambda seq: float(np.sqrt(np.mean(np.diff(seq, axis=0) ** 2)))  # noqa: E731
    assert rms(sent[20:]) < rms(demand[20:]) / 5
    assert np.all(sent >= demand * (1 - 0.05) - 1e-12)
    np.testing.assert_allclose(f(np.full(64, 0.8)), 0.8)  # +60 %: content, not noise

    plain = TemporalFilter(attack=1.0, decay=0.15, cut=None, hold=0.0)
    plain(np.array([0.5]))
    assert plain(np.array([0.505]))[0] == pytest.approx(0.505)  # a 1 % rise followed at once
    held = TemporalFilter(attack=1.0, decay=0.15, cut=None, hold=0.05)
    held(np.array([0.5]))
    assert held(np.array([0.505]))[0] == pytest.approx(0.5 + 0.15 * 0.005)  # eased like a fall


def test_parameters_validated():
    with pytest.raises(ValueError, match="decay"):
        TemporalFilter(decay=0)
    with pytest.raises(ValueError, match="hold"):
        TemporalFilter(hold=1.0)
    with pytest.raises(ValueError, match="cut"):
        TemporalFilter(cut=-1)


def test_restore_continues_exactly_like_solving():
    """A resumed video restores frames solved earlier; what follows, and the cuts found, must not change."""
    p = make_panel(width=96, height=54, rows=3, cols=6, psf={"model": "gaussian", "sigma": 10.0})
    frames = []
    for k in range(8):
        t = np.full((54, 96, 3), 400.0 if k < 3 else 2.0, np.float32)  # all LEDs drop at frame 3: an LED cut
        t[20:26, 10 + 6 * k:14 + 6 * k] = 900.0
        frames.append(t)
    a = TemporalSolver("max", decay=0.1, cut=0.3, scene_cut=None)
    sent, raw = [], []
    for t in frames:
        sent.append(a(p, t))
        raw.append(a.last_raw.copy())
    assert a.cut_frames == [3]
    b = TemporalSolver("max", decay=0.1, cut=0.3, scene_cut=None)
    assert [b.restore(frames[k], sent[k], raw[k]) for k in range(5)] == [False, False, False, True, False]
    for k in range(5, 8):
        np.testing.assert_allclose(b(p, frames[k]), sent[k])
    assert b.cut_frames == a.cut_frames


def test_temporal_solver_anchors_to_its_last_solution_within_a_shot(anchored_probe):
    p = make_panel(width=96, height=54, rows=3, cols=6)
    dim, bright = (np.full((54, 96, 3), v * p.peak_nits, np.float32) for v in (0.05, 0.8))
    ts = TemporalSolver("anchored_probe", anchor=0.01)
    assert ts.anchored
    for t in (dim, dim * 1.01, bright, bright):  # the third frame is a cut
        ts(p, t)
    anchors = [a for a, _ in anchored_probe]
    assert anchors[0] is None and anchors[2] is None and ts.cut_frames == [2]
    np.testing.assert_allclose(anchors[1], np.full(p.n_leds, 0.05), rtol=1e-6)  # frame 0's raw solution
    np.testing.assert_allclose(anchors[3], np.full(p.n_leds, 0.8), rtol=1e-6)
    assert {w for _, w in anchored_probe} == {0.01}
    anchored_probe.clear()
    off = TemporalSolver("anchored_probe", anchor=0)  # 0: every frame on its own
    for t in (dim, dim):
        off(p, t)
    assert not off.anchored and [a for a, _ in anchored_probe] == [None, None]
    assert not TemporalSolver("max").anchored  # max takes no anchor
    assert not TemporalSolver("max", anchor=0).anchored  # nor is asked for one
    # one rule for the filter and the look-ahead: a zero price given as the solver's own option, or a fixed
    # anchor, is no chain either
    from dualmod.dimming.temporal import chains_anchor

    assert not TemporalSolver("anchored_probe", anchor_weight=0).anchored
    assert chains_anchor("anchored_probe", {}) and not chains_anchor("anchored_probe", {"anchor_weight": 0})
    assert not chains_anchor("anchored_probe", {"anchor": np.zeros(3)}) and not chains_anchor("max", {})
    with pytest.raises(ValueError, match="anchor"):
        TemporalSolver("anchored_probe", anchor=-1)
    with pytest.raises(ValueError, match="'max' does not"):  # a price nothing would take: refused, not ignored
        TemporalSolver("max", anchor=0.01)


def test_a_power_budget_holds_on_the_filtered_frames():
    """The filter lets falls decay; a solver's power_budget must still hold on what is sent: a fixed budget
    when a highlight moves (each raw frame meets it, their decaying union does not), "max" when it dims."""
    panel = make_panel()
    left = np.full((panel.height, panel.width, 3), 2.0, np.float32)
    left[:, : panel.width // 2] = 450.0
    right = left[:, ::-1].copy()
    dim = np.full((panel.height, panel.width, 3), 20.0, np.float32)
    for budget, frames in ((0.3, (left, right, left)), ("max", (left, dim, dim))):
        ts = TemporalSolver("cnn", decay=0.05, scene_cut=None, cut=None, power_budget=budget)
        free = TemporalSolver("cnn", decay=0.05, scene_cut=None, cut=None)
        sent = [ts(panel, t) for t in frames]
        raw_means = [float(np.mean(dm.solve(panel, t, method="cnn", power_budget=budget))) for t in frames]
        unbudgeted = [free(panel, t) for t in frames]
        for k, t in enumerate(frames):
            cap = 0.3 if budget == 0.3 else float(np.mean(dm.solve(panel, t, method="max")))
            assert raw_means[k] <= cap * (1 + 1e-9) and np.mean(sent[k]) <= cap * (1 + 1e-9)
        cap1 = 0.3 if budget == 0.3 else float(np.mean(dm.solve(panel, dim, method="max")))
        assert np.mean(unbudgeted[1]) > 1.2 * cap1                   # without the cap the filter would exceed it
