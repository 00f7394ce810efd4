# SPDX-License-Identifier: BSD-3-Clause
"""Each heuristic on a tiny hand-computed image, the PSF-aware solvers, and the power cap for all."""

import numpy as np
import pytest

import dualmod as dm
from dualmod.dimming.iterative import _led_self_matrix, led_matrix

from conftest import make_panel


@pytest.fixture
def tiny():
    # 2 x 2 zones of 2 x 2 pixels on a 1000-nit panel; max(R,G,B) per pixel:
    #   zone 0: 100, 100, 100, 500   zone 1: 0, 0, 0, 0   zone 2: 800 x4   zone 3: 10, 20, 30, 40
    p = make_panel(width=4, height=4, rows=2, cols=2, peak=1000.0, psf={"model": "gaussian", "sigma": 1.0})
    v = np.array([[100, 100, 0, 0], [100, 500, 0, 0], [800, 800, 10, 20], [800, 800, 30, 40]], np.float32)
    t = np.zeros((4, 4, 3), np.float32)
    t[..., 1] = v  # the max channel
    t[..., 0] = v / 2
    return p, t


def test_hand_computed(tiny):
    p, t = tiny
    np.testing.assert_allclose(dm.solve(p, t, method="max"), [0.5, 0.0, 0.8, 0.04])
    np.testing.assert_allclose(dm.solve(p, t, method="mean"), [0.2, 0.0, 0.8, 0.025])
    np.testing.assert_allclose(dm.solve(p, t, method="sqrt"), np.sqrt([0.2, 0.0, 0.8, 0.025]))
    d = np.array([0.3, 0.0, 0.0, 0.015])
    np.testing.assert_allclose(dm.solve(p, t, method="cho"), np.array([0.2, 0.0, 0.8, 0.025]) + 0.5 * (d + d * d))
    np.testing.assert_allclose(dm.solve(p, t, method="percentile", level=0.5), [0.1, 0.0, 0.8, 0.025])
    np.testing.assert_allclose(dm.solve(p, t, method="global"), 0.8)


def test_led_matrix_matches_the_simulator(rng):
    p = make_panel(width=40, height=30, layout="hex", rows=3, cols=4,
                   psf={"model": "gaussian", "sigma": 6.0, "boundary": "mirror", "edge_reflectance": 0.7})
    leds = rng.random(p.n_leds)
    xs, ys = rng.integers(0, 40, 50), rng.integers(0, 30, 50)
    a = led_matrix(p, xs.astype(float), ys.astype(float))
    b = dm.display.backlight(p, leds, quantize=False)
    np.testing.assert_allclose(a @ leds * p.peak_nits, b[ys, xs], rtol=1e-5, atol=1e-4)


def test_seetzen_solves_the_led_equations():
    p = make_panel(width=60, height=40, rows=4, cols=6, psf={"model": "gaussian", "sigma": 6.0})
    a = _led_self_matrix(p)
    # a feasible target: the backlight at the LED centres of a known frame, squared back into a target
    truth = np.linspace(0.2, 0.9, p.n_leds)
    d = a @ truth
    zones = dm.dimming.zones.zone_map(p).labels(40, 60)
    target = np.repeat((d[zones] ** 2 * p.peak_nits)[..., None], 3, axis=2).astype(np.float32)
    few = dm.dimming.iterative.seetzen2004(p, target, sweeps=1)
    many = dm.dimming.iterative.seetzen2004(p, target, sweeps=200)
    assert np.linalg.norm(a @ many - d) < 1e-6 < np.linalg.norm(a @ few - d)
    np.testing.assert_allclose(many, truth, atol=1e-5)


def test_seetzen_clips_less_than_max():
    p = make_panel(width=96, height=54, rows=3, cols=6, psf={"model": "gaussian", "sigma": 12.0})
    t = dm.scene("specular", 54, 96)
    t = np.minimum(t, p.peak_nits)

    def clipped(method):
        sim = dm.simulate(p, dm.solve(p, t, method=method), t)
        return np.mean(sim.displayed.max(axis=2) < 0.95 * t.max(axis=2))

    assert clipped("seetzen2004") < clipped("max")


def test_min_power_lp_never_clips_and_uses_least_power():
    p = make_panel(width=96, height=54, rows=3, cols=6, psf={"model": "gaussian", "sigma": 14.0})
    for name in ("specular", "night", "window"):
        t = np.minimum(dm.scene(name, 54, 96), p.peak_nits)
        lp = dm.solve(p, t, method="min_power_lp")
        reach = dm.display.backlight(p, np.ones(p.n_leds), quantize=False)
        need = np.minimum(t.max(axis=2), reach)
        b = dm.display.backlight(p, lp, quantize=False)
        assert np.all(b >= need - 1e-3 * p.peak_nits - 1e-3), name
        # no other non-clipping method uses less power
        for other in ("max", "seetzen2004", "global"):
            o = dm.solve(p, t, method=other)
            bo = dm.display.backlight(p, o, quantize=False)
            if np.all(bo >= need - 1e-3 * p.peak_nits):
                assert lp.mean() <= o.mean() + 1e-6, (name, other)


@pytest.mark.parametrize("seed", range(4))
def test_every_solver_respects_the_power_cap(seed):
    rng = np.random.default_rng(seed)
    cap = float(rng.uniform(0.1, 0.6))
    p = make_panel(width=int(rng.integers(30, 70)), height=int(rng.integers(20, 40)), rows=int(rng.integers(1, 4)),
                   cols=int(rng.integers(2, 6)), layout=["grid", "hex"][seed % 2],
                   leds={"max_mean_level": cap, "channels": [1, 3][seed // 2 % 2]},
                   psf={"model": "gaussian", "sigma": float(rng.uniform(3, 10))})
    t = (rng.random((p.height, p.width, 3)) ** 2 * p.peak_nits).astype(np.float32)
    for method in dm.methods():
        leds = dm.solve(p, t, method=method)
        assert leds.min() >= 0 and leds.max() <= 1, method
        assert np.mean(leds) <= cap + 1e-9, method


def test_zerman_reaches_its_desired_backlight():
    p = make_panel(width=60, height=40, rows=4, cols=6, psf={"model": "gaussian", "sigma": 6.0})
    a = _led_self_matrix(p)
    zones = dm.dimming.zones.zone_map(p).labels(40, 60)
    want = np.linspace(0.2, 0.6, p.n_leds)  # d = min(1, 3·sqrt(zone mean)) for a flat-per-zone target
    target = np.repeat(((want / 3) ** 2 * p.peak_nits)[zones][..., None], 3, axis=2).astype(np.float32)
    leds = dm.dimming.iterative.zerman(p, target, max_iter=200, pu_tolerance=1e-6)
    np.testing.assert_allclose(a @ leds, want, rtol=3e-3)
    few = dm.dimming.iterative.zerman(p, target, max_iter=1)
    assert np.linalg.norm(a @ few - want) > np.linalg.norm(a @ leds - want)
