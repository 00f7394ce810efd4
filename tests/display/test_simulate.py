# SPDX-License-Identifier: BSD-3-Clause
"""The public simulate() API: shapes, dtypes, validation, output reuse."""

import numpy as np
import pytest

import dualmod as dm

from conftest import make_panel


def test_result_shapes_and_types(small_panel, rng):
    p = small_panel
    target = (rng.random((p.height, p.width, 3)) * 400).astype(np.float32)
    sim = dm.simulate(p, rng.random(p.n_leds), target)
    assert sim.displayed.shape == (p.height, p.width, 3) and sim.displayed.dtype == np.float32
    assert sim.backlight.shape == (p.height, p.width) and sim.backlight.dtype == np.float32
    assert sim.lcd.shape == (p.height, p.width, 3) and sim.lcd.dtype == np.uint16
    assert sim.leds.shape == (p.n_leds,) and sim.led_drive.dtype == np.int64
    assert 0 <= sim.power <= 1


def test_rgb_panel_shapes(rng):
    p = make_panel(leds={"channels": 3})
    sim = dm.simulate(p, rng.random((p.n_leds, 3)), np.ones((p.height, p.width, 3), np.float32))
    assert sim.backlight.shape == (p.height, p.width, 3)
    assert sim.leds.shape == (p.n_leds, 3)


def test_displayed_never_exceeds_backlight_and_tracks_target(small_panel, rng):
    p = small_panel
    target = (rng.random((p.height, p.width, 3)) * 300).astype(np.float32)
    sim = dm.simulate(p, np.ones(p.n_leds), target)
    b = sim.backlight[..., None]
    assert np.all(sim.displayed <= b * (1 + 3e-6))
    assert np.all(sim.displayed >= b / p.lcd.contrast_ratio * (1 - 3e-6))
    inside = (target > b * 0.05) & (target < b * 0.95)
    rel = np.abs(sim.displayed - target)[inside] / target[inside]
    assert rel.max() < 0.03  # 8-bit quantisation of the LCD, mid-range


def test_output_reuse(small_panel, rng):
    p = small_panel
    t1 = (rng.random((p.height, p.width, 3)) * 300).astype(np.float32)
    t2 = (rng.random((p.height, p.width, 3)) * 300).astype(np.float32)
    first = dm.simulate(p, rng.random(p.n_leds), t1)
    leds2 = rng.random(p.n_leds)
    fresh = dm.simulate(p, leds2, t2)
    reused = dm.simulate(p, leds2, t2, out=first)
    assert reused.displayed is first.displayed
    np.testing.assert_array_equal(reused.displayed, fresh.displayed)
    np.testing.assert_array_equal(reused.lcd, fresh.lcd)
    np.testing.assert_array_equal(reused.backlight, fresh.backlight)


@pytest.mark.parametrize("bad,match", [
    (lambda p: np.ones((p.height, p.width), np.float32), "shape"),
    (lambda p: np.ones((p.height + 1, p.width, 3), np.float32), "prepare_target"),
    (lambda p: np.full((p.height, p.width, 3), np.nan, np.float32), "NaN/Inf"),
    (lambda p: -np.ones((p.height, p.width, 3), np.float32), "negative"),
    (lambda p: np.full((p.height, p.width, 3), "x"), "numeric"),
])
def test_bad_targets_raise_input_error(small_panel, bad, match):
    with pytest.raises(dm.InputError, match=match):
        dm.simulate(small_panel, np.ones(small_panel.n_leds), bad(small_panel))


def test_needs_target_or_lcd(small_panel):
    with pytest.raises(dm.InputError, match="target image or an LCD frame"):
        dm.simulate(small_panel, np.ones(small_panel.n_leds))
    with pytest.raises(dm.InputError, match="dm.Panel"):
        dm.simulate("fald-1080p-576", np.ones(576), None)


@pytest.mark.parametrize("value,ok", [(-0.0, True), (0.0, True), (-1e-30, False), (np.inf, False), (-np.inf, False),
                                      (np.nan, False), (3.4e38, True)])
@pytest.mark.parametrize("response", ["gamma", "srgb"])     # the vectorised gamma kernel and the table kernel
def test_one_value_decides_validity_in_both_lcd_kernels(value, ok, response):
    """The kernels' own check (v − v and min(0, v) bits): −0.0 and the largest float are nits, a single
    tiny negative, ±Inf or NaN anywhere in the frame is refused."""
    p = make_panel(width=40, height=24, lcd={"response": response, "bit_depth": 10, "contrast_ratio": 1000.0})
    t = np.full((p.height, p.width, 3), 20.0, np.float32)
    t[17, 31, 2] = value
    if ok:
        assert np.isfinite(dm.simulate(p, np.full(p.n_leds, 0.5), t).displayed).all()
    else:
        with pytest.raises(dm.InputError):
            dm.simulate(p, np.full(p.n_leds, 0.5), t)


@pytest.mark.parametrize("value,message", [(np.nan, "1 NaN/Inf values"), (np.inf, "1 NaN/Inf values"),
                                           (-1e-30, "1 negative values"), (-0.0, None), (3.4e38, None)])
def test_check_target_scans_every_value(small_panel, value, message):
    """The scan solvers without their own check (optimal) rely on: one value anywhere decides, and is counted."""
    from dualmod.display.simulate import check_target

    for where in [(0, 0, 0), (small_panel.height - 1, small_panel.width - 1, 2), (3, 5, 1)]:
        t = np.full((small_panel.height, small_panel.width, 3), 50.0, np.float32)
        t[where] = value
        if message is None:
            assert check_target(small_panel, t) is not None
        else:
            with pytest.raises(dm.InputError, match=message):
                check_target(small_panel, t)
