# SPDX-License-Identifier: BSD-3-Clause
import dataclasses

import numpy as np
import pytest

import dualmod as dm
from dualmod.dimming.optimal import optimize_leds
from dualmod.metrics import pu21_psnr

from conftest import make_panel


def _scene_panel():
    p = make_panel(width=96, height=54, rows=3, cols=6, peak=1000.0, psf={"model": "gaussian", "sigma": 12.0},
                   lcd={"response": "gamma", "gamma": 2.2, "bit_depth": 8, "contrast_ratio": 500.0})
    t = np.minimum(dm.scene("specular", 54, 96), 1000.0)
    return p, t


def test_optimal_lowers_its_objective_and_beats_its_warm_start():
    p, t = _scene_panel()
    r = optimize_leds(p, t, steps=150)
    assert r.trace[-1] < 0.7 * r.trace[0]
    assert r.leds.min() >= 0 and r.leds.max() <= 1
    warm = dm.solve(p, t, method="max")
    q_warm = pu21_psnr(t, dm.simulate(p, warm, t).displayed)
    q_opt = pu21_psnr(t, dm.simulate(p, r.leds, t).displayed)
    assert q_opt > q_warm + 0.5


def test_power_weight_trades_quality_for_power():
    p, t = _scene_panel()
    free = optimize_leds(p, t, steps=120).leds
    cheap = optimize_leds(p, t, steps=120, power_weight=0.01).leds
    assert cheap.mean() < free.mean()


def test_optimal_respects_the_cap_through_solve():
    p, t = _scene_panel()
    capped = p.replace(leds=dataclasses.replace(p.leds, max_mean_level=0.1))
    leds = dm.solve(capped, t, method="optimal", steps=40)
    assert leds.mean() <= 0.1 + 1e-9


def test_projection_is_exact():
    import torch

    from dualmod.dimming.optimal import _project

    y = torch.tensor([[1.4, 0.9, 0.5, -0.2, 0.1]])
    x = _project(y, 0.3)
    assert abs(float(x.mean()) - 0.3) < 1e-6 and float(x.min()) >= 0 and float(x.max()) <= 1
    # KKT: all unclipped entries moved by the same shift
    free = (x > 0) & (x < 1)
    shifts = (y - x)[free]
    assert torch.allclose(shifts, shifts[0].expand_as(shifts), atol=1e-6)
    assert torch.equal(_project(torch.tensor([[0.2, 0.3]]), 0.5), torch.tensor([[0.2, 0.3]]))


def test_power_budget_max_keeps_max_power_and_never_loses_to_max():
    p, t = _scene_panel()
    warm = dm.solve(p, t, method="max")
    leds = dm.solve(p, t, method="optimal", power_budget="max", steps=150)
    assert leds.mean() <= warm.mean() + 1e-6
    q = lambda L: pu21_psnr(t, dm.simulate(p, L, t).displayed)  # noqa: E731
    assert q(leds) >= q(warm) - 0.05  # the best iterate is kept; at full resolution it may tie


def test_anchor_keeps_a_still_scene_still_under_grain():
    """Two frames of one still picture under 1 % grain: solved on their own, optimal's LEDs move (the loss is
    flat wherever the LCD compensates); anchored to the first frame's solution they stay, at no quality cost."""
    p = make_panel(width=160, height=90, rows=9, cols=16, peak=1000.0, psf={"model": "gaussian", "sigma": 10.0},
                   lcd={"response": "gamma", "gamma": 2.2, "bit_depth": 8, "contrast_ratio": 2000.0})
    t = np.minimum(dm.scene("specular", 90, 160), 1000.0)
    rng = np.random.default_rng(0)
    frames = [(t * (1 + 0.01 * rng.standard_normal(t.shape))).astype(np.float32) for _ in range(2)]
    first = optimize_leds(p, frames[0]).leds
    alone = optimize_leds(p, frames[1]).leds
    anchored = optimize_leds(p, frames[1], anchor=first).leds
    jump = lambda x: float(np.sqrt(np.mean((x - first) ** 2)))  # noqa: E731
    q = lambda x: pu21_psnr(frames[1], dm.simulate(p, x, frames[1]).displayed)  # noqa: E731
    assert jump(alone) > 0.005 and jump(anchored) < 0.2 * jump(alone), (jump(anchored), jump(alone))
    assert q(anchored) > q(alone) - 0.3
    with pytest.raises(ValueError, match="shape"):
        optimize_leds(p, frames[1], anchor=first[:-1])
    with pytest.raises(ValueError, match="anchor_weight"):
        optimize_leds(p, frames[1], anchor=first, anchor_weight=-1.0)


def _grain_pair(width, height, sigma, scene_name="window", seed=1):
    p = make_panel(width=width, height=height, rows=9, cols=16, peak=1000.0, psf={"model": "gaussian", "sigma": sigma},
                   lcd={"response": "gamma", "gamma": 2.2, "bit_depth": 8, "contrast_ratio": 2000.0})
    rng = np.random.default_rng(seed)
    t = np.minimum(dm.scene(scene_name, height, width), 1000.0)
    return p, [(t * (1 + 0.01 * rng.standard_normal(t.shape))).astype(np.float32) for _ in range(2)]


def test_float64_solves_do_not_depend_on_the_thread_count():
    """A Dask worker runs torch on one thread, a serial run on all cores. In float64 the solver's path does
    not hang on the last bits of sums that torch splits across threads (in float32 it does, on this case)."""
    import torch

    p, (t, _) = _grain_pair(320, 180, 20.0)
    threads = torch.get_num_threads()
    try:
        runs = {}
        for precision in ("float32", "float64"):
            for n in (1, 2):
                torch.set_num_threads(n)
                runs[precision, n] = optimize_leds(p, t, steps=60, precision=precision).leds
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(runs["float64", 1], runs["float64", 2])
    assert not np.array_equal(runs["float32", 1], runs["float32", 2])  # what float64 is for
    with pytest.raises(ValueError, match="precision"):
        optimize_leds(p, t, precision="float16")


def test_float64_solves_of_a_still_picture_under_grain_agree():
    """On this panel the jitter of per-frame optimal is float32 rounding where the loss is flat: in float64,
    two grain frames of one picture get nearly the same LEDs, and far nearer than in float32 (whose PU21 term
    is the exact-zero-where-compensated numba pass, so what is left there comes from the backlight's
    gradient sums). Video uses the anchor."""
    p, frames = _grain_pair(160, 90, 10.0, "specular", seed=0)
    jump = {}
    for precision in ("float32", "float64"):
        a, b = (optimize_leds(p, f, precision=precision).leds for f in frames)
        jump[precision] = float(np.sqrt(np.mean((a - b) ** 2)))
    assert jump["float64"] < 0.01 and jump["float64"] < 0.1 * jump["float32"], jump


def test_two_starts_keep_the_lower_loss():
    """start="both" descends from the max heuristic and from the CNN's frame and keeps the lower final loss:
    never worse than either single-start solve (same process, same thread count: the descents are repeatable)."""
    p, t = _scene_panel()
    runs = {s: optimize_leds(p, t, steps=60, power_weight=0.001, start=s) for s in ("max", "cnn", "both")}
    assert runs["max"].start == "max" and runs["cnn"].start == "cnn"
    best = min(("max", "cnn"), key=lambda s: runs[s].trace.min())
    assert runs["both"].start == best
    np.testing.assert_array_equal(runs["both"].leds, runs[best].leds)
    assert runs["both"].trace.min() <= min(runs["max"].trace.min(), runs["cnn"].trace.min())
    # each descent starts where it says: the max heuristic's frame, or the network's
    warm = lambda x: optimize_leds(p, t, steps=0, power_weight=0.001, warm_start=x).trace[0]  # noqa: E731
    assert runs["max"].trace[0] == warm(dm.solve(p, t, method="max"))
    assert runs["cnn"].trace[0] == warm(dm.solve(p, t, method="cnn", power_weight=0.001))
    # a warm start replaces both
    assert optimize_leds(p, t, steps=5, warm_start=runs["max"].leds).start == "warm_start"
    with pytest.raises(dm.InputError, match="option start of method 'optimal' must be one of both, max, cnn"):
        dm.solve(p, t, method="optimal", start="zones")


def test_float64_cnn_start_does_not_depend_on_the_thread_count():
    """On this panel the network's float32 convolutions differ in the last bits between one and two threads
    (~2e-7); a float64 solve from the CNN's frame must still be the same on a one-thread Dask worker."""
    import torch

    p = make_panel(width=480, height=270, rows=18, cols=32, peak=1000.0, psf={"model": "gaussian", "sigma": 18.0},
                   lcd={"response": "gamma", "gamma": 2.2, "bit_depth": 8, "contrast_ratio": 2000.0})
    t = np.minimum(dm.scene("window", 270, 480), 1000.0)
    threads = torch.get_num_threads()
    try:
        nets, runs = {}, {}
        for n in (1, 2):
            torch.set_num_threads(n)
            nets[n] = dm.solve(p, t, method="cnn", power_weight=0.001)
            runs[n] = optimize_leds(p, t, steps=30, power_weight=0.001, precision="float64", start="cnn").leds
    finally:
        torch.set_num_threads(threads)
    assert not np.array_equal(nets[1], nets[2])  # what the one-thread start is for
    np.testing.assert_array_equal(runs[1], runs[2])
