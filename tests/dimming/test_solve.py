# SPDX-License-Identifier: BSD-3-Clause
import re

import numpy as np
import pytest

import dualmod as dm
from dualmod.dimming import SOLVERS, apply_power_cap, register, solve
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


@pytest.mark.parametrize("bad", [np.nan, -np.inf, -1e-3])
def test_every_solver_refuses_a_bad_target_value(bad):
    """dm.solve scans the target only for solvers that do not check it in their own first pass
    (``validates_target``); every one of them must refuse a NaN, infinite or negative value."""
    p = make_panel()
    t = np.full((p.height, p.width, 3), 50.0, np.float32)
    t[5, 7, 1] = bad
    for method in dm.methods():
        options = {"steps": 1, "start": "max"} if method == "optimal" else {}
        with pytest.raises(dm.InputError, match="NaN|negative"):
            solve(p, t, method=method, **options)


def test_optimize_leds_checks_the_target_itself():
    """optimal's solver, called directly (as cnn's refinement and users do), rejects a bad value
    in the pass that resamples the target, rather than descending on NaNs."""
    from dualmod.dimming.optimal import optimize_leds

    p = make_panel()
    t = np.full((p.height, p.width, 3), 50.0, np.float32)
    t[2, 3, 0] = np.nan
    with pytest.raises(dm.InputError, match="1 NaN/Inf values"):
        optimize_leds(p, t, steps=1, start="max")


def test_unknown_method_and_option():
    p = make_panel()
    t = np.ones((p.height, p.width, 3), np.float32)
    with pytest.raises(dm.InputError, match="valid methods: .*global"):
        solve(p, t, method="magic")
    with pytest.raises(dm.InputError, match="does not take option"):
        solve(p, t, method="global", strength=2)
    assert "global" in dm.methods()


@pytest.mark.parametrize("method, option, value, words", [
    ("cnn", "power_weight", -1, "a number >= 0"),            # a negative price would buy power
    ("cnn", "power_weight", "abc", "a number >= 0"),
    ("optimal", "power_weight", float("inf"), "a number >= 0"),
    ("optimal", "power_budget", 2, "a mean LED level in (0, 1] or 'max'"),
    ("optimal", "power_budget", -1, "a mean LED level in (0, 1] or 'max'"),   # used to switch every LED off
    ("cnn", "power_budget", "min", "a mean LED level in (0, 1] or 'max'"),
    ("optimal", "steps", 2.5, "a whole number >= 0"),
    ("cnn", "refine", 1001, "a whole number >= 0 and <= 1000"),
    ("optimal", "precision", "float16", "one of float32, float64"),
    ("optimal", "start", "zones", "one of both, max, cnn"),
    ("percentile", "level", 2, "a number >= 0 and <= 1"),
    ("seetzen2004", "omega", 2, "a number > 0 and < 2"),
    ("min_power_lp", "grid_step", 0, "a whole number >= 1"),  # used to divide by zero
    ("zerman", "gain", -1, "a number > 0"),                  # used to switch every LED off
])
def test_option_values_are_checked_before_solving(method, option, value, words):
    p = make_panel()
    t = np.ones((p.height, p.width, 3), np.float32)
    with pytest.raises(dm.InputError, match=f"option {option} of method '{method}' must be {re.escape(words)}"):
        solve(p, t, method=method, **{option: value})
    with pytest.raises(dm.InputError, match=f"option {option} of method '{method}'"):   # called directly, too
        SOLVERS[method](p, t, **{option: value})


def test_option_values_at_their_bounds_are_allowed():
    p = make_panel()
    t = np.ones((p.height, p.width, 3), np.float32)
    for method, options in (("optimal", dict(power_budget=1, steps=0, tol=0, power_weight=0, start="max")),
                            ("cnn", dict(power_budget="max", refine=0)), ("percentile", dict(level=1)),
                            ("optimal", dict(power_budget=0.25, precision="float64", steps=2))):
        leds = solve(p, t, method=method, **options)
        assert leds.shape == (p.n_leds,) and 0 <= leds.min() and leds.max() <= 1


def test_power_cap_enforced():
    p = make_panel(leds={"max_mean_level": 0.4})
    t = np.full((p.height, p.width, 3), p.peak_nits, np.float32)
    leds = solve(p, t, method="global")
    assert np.mean(leds) == pytest.approx(0.4)
    np.testing.assert_allclose(apply_power_cap(p, np.full(p.n_leds, 0.2)), 0.2)


def test_register_rejects_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        register("global", global_dimming)
