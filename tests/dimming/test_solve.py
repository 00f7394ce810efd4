# SPDX-License-Identifier: BSD-3-Clause
import numpy as np
import pytest

import dualmod as dm
from dualmod.dimming import apply_power_cap, register, solve
from dualmod.dimming.heuristics import global_dimming

from conftest import make_panel


def test_global_is_frame_max_over_peak():
    p = make_panel(peak=800)
    t = np.full((p.height, p.width, 3), 10.0, np.float32)
    t[3, 4, 1] = 200.0
    np.testing.assert_allclose(solve(p, t, method="global"), 0.25)
    np.testing.assert_allclose(global_dimming(p, t), 0.25)
    t[0, 0, 0] = 5000.0
    np.testing.assert_allclose(solve(p, t, method="GLOBAL"), 1.0)


def test_global_rgb_backlight_per_channel():
    p = make_panel(peak=1000, leds={"channels": 3})
    t = np.zeros((p.height, p.width, 3), np.float32)
    t[..., 0], t[..., 1], t[..., 2] = 500, 250, 100
    leds = solve(p, t, method="global")
    assert leds.shape == (p.n_leds, 3)
    np.testing.assert_allclose(leds[0], [0.5, 0.25, 0.1])


def test_unknown_method_and_option():
    p = make_panel()
    t = np.ones((p.height, p.width, 3), np.float32)
    with pytest.raises(dm.InputError, match="valid methods: .*global"):
        solve(p, t, method="magic")
    with pytest.raises(dm.InputError, match="does not take option"):
        solve(p, t, method="global", strength=2)
    assert "global" in dm.methods()


def test_power_cap_enforced():
    p = make_panel(leds={"max_mean_level": 0.4})
    t = np.full((p.height, p.width, 3), p.peak_nits, np.float32)
    leds = solve(p, t, method="global")
    assert np.mean(leds) == pytest.approx(0.4)
    np.testing.assert_allclose(apply_power_cap(p, np.full(p.n_leds, 0.2)), 0.2)


def test_register_rejects_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        register("global", global_dimming)
