# SPDX-License-Identifier: BSD-3-Clause
"""LCD physics: code round trips, leakage, ambient, and the exact code search of the kernel."""

import numpy as np
import pytest

import dualmod as dm
from dualmod.display.lcd import compensate, lcd_model, show

from conftest import make_panel

def test_fast_gamma_kernel_is_used_for_common_gammas():
    for g in (1.8, 2.2, 2.4, 2.6):
        p = make_panel(lcd={"response": "gamma", "gamma": g, "bit_depth": 10, "contrast_ratio": 1000.0})
        x_error = lcd_model(p).gamma_kernel[0]
        assert x_error < 3e-6


LCDS = [
    {"response": "gamma", "gamma": 2.2, "bit_depth": 8, "contrast_ratio": 1000.0},
    {"response": "gamma", "gamma": 2.4, "bit_depth": 10, "contrast_ratio": 3000.0},
    {"response": "srgb", "bit_depth": 8, "contrast_ratio": 500.0},
    {"response": "gamma", "gamma": 2.2, "bit_depth": 16, "contrast_ratio": 5000.0},
    {"response": "gamma", "gamma": 1.8, "bit_depth": 6, "contrast_ratio": 200.0},
]


def _flat(p, b_nits):
    return np.full((p.height, p.width, p.leds.channels), b_nits, np.float32)


@pytest.mark.parametrize("lcd", LCDS)
def test_every_code_round_trips(lcd):
    p = make_panel(width=64, height=64, lcd=lcd)
    m = (1 << lcd["bit_depth"]) - 1
    codes = np.linspace(0, m, p.width * p.height * 3).round().astype(np.int64)
    b = _flat(p, 700.0)
    tau = lcd_model(p).tau64
    target = (700.0 * tau[codes]).reshape(p.height, p.width, 3).astype(np.float32)
    got = compensate(p, target, b).ravel()
    levels = lcd_model(p).response.levels
    distinct = np.concatenate([[True], np.diff(levels) > 1e-7])[codes]  # codes whose light differs in float32
    assert np.array_equal(got[distinct], codes[distinct])


def test_leakage_black_is_backlight_over_contrast():
    p = make_panel()
    b = _flat(p, 800.0)
    shown = show(p, compensate(p, np.zeros((p.height, p.width, 3), np.float32), b), b)
    np.testing.assert_allclose(shown, 800.0 / 1000.0, rtol=1e-6)


def test_bright_target_saturates_at_backlight():
    p = make_panel()
    b = _flat(p, 300.0)
    codes = compensate(p, np.full((p.height, p.width, 3), 1e4, np.float32), b)
    assert np.all(codes == 255)
    np.testing.assert_allclose(show(p, codes, b), 300.0, rtol=1e-6)


def test_ambient_reflection_adds_everywhere():
    p = make_panel(panel={"ambient_lux": 200.0, "reflectance": 0.03})
    b = _flat(p, 500.0)
    t = np.zeros((p.height, p.width, 3), np.float32)
    shown = show(p, compensate(p, t, b), b)
    np.testing.assert_allclose(shown, 500.0 / 1000.0 + 200.0 * 0.03 / np.pi, rtol=1e-6)


def test_zero_backlight_gives_code_zero():
    p = make_panel()
    b = _flat(p, 0.0)
    t = np.full((p.height, p.width, 3), 50.0, np.float32)
    codes = compensate(p, t, b)
    assert np.all(codes == 0)
    assert np.all(show(p, codes, b) == 0.0)


@pytest.mark.parametrize("lcd", LCDS + [{"response": "lut", "bit_depth": 8, "contrast_ratio": 100.0,
                                          "lut_file": "lcd.csv"}])
def test_kernel_code_search_is_exact(lcd, tmp_path, rng):
    """The bucket + threshold search equals a binary search of the float32 t, bit for bit;
    the vectorised gamma kernel differs by at most one code, and only at ties."""
    (tmp_path / "lcd.csv").write_text("0,0\n40,0\n64,0.05\n128,0.2\n200,0.6\n255,1\n")
    p = make_panel(width=128, height=96, lcd=lcd, base_dir=tmp_path)
    model = lcd_model(p)
    b = (rng.random((p.height, p.width, 1)) * 900 + 100).astype(np.float32)
    target = (b * rng.random((p.height, p.width, 3)) ** 3 * 1.1).astype(np.float32)
    # plant targets whose t lands within a few ulps of the thresholds (the hard decisions)
    th = model.thresholds[:-1].astype(np.float64)
    k = min(th.size, 3000)
    picks = th[rng.integers(0, th.size, k)]
    flat_t = target.reshape(-1)
    flat_b = np.repeat(b.reshape(-1), 3)[: 2 * k]
    planted = flat_b * (model.leakage + (1 - model.leakage) * np.concatenate([picks, picks]))
    planted[k:] = np.nextafter(planted[k:].astype(np.float32), np.float32(0))
    flat_t[: 2 * k] = planted
    codes, shown = model.compensate(target, b, exact=True)
    # recompute t exactly as the kernel does (float32 ops in the same order)
    eps = np.float32(model.leakage)
    inv = np.float32(1.0 / (1.0 - model.leakage))
    ib = np.where(b > 0, np.float32(1) / b, np.float32(0)).astype(np.float32)
    t = np.clip((target * ib - eps) * inv, np.float32(0), np.float32(1)).astype(np.float32)
    want = model.response.quantize(t)
    assert np.array_equal(codes, want)
    np.testing.assert_allclose(shown, b * model.tau[want], rtol=1e-6)
    if model.gamma_kernel is None:
        return
    fast, fast_shown = model.compensate(target, b)
    diff = fast.astype(np.int64) != want
    assert np.abs(fast.astype(np.int64) - want).max() <= 1
    th = model.response.thresholds[np.minimum(fast, want)[diff]]
    tie = 1.5 * model.response.gamma * model.gamma_kernel[0]
    assert np.all(np.abs(t[diff] - th) <= tie * th), "a fast code differs away from a tie"
    random_part = diff.reshape(-1)[2 * k:]
    assert random_part.mean() < 1e-3 * (1 << max(lcd["bit_depth"] - 8, 0))
    np.testing.assert_allclose(fast_shown, b * model.tau[fast], rtol=3e-6)


def test_simulate_with_lcd_frame(small_panel, rng):
    p = small_panel
    codes = rng.integers(0, 256, (p.height, p.width, 3))
    leds = rng.random(p.n_leds)
    sim = dm.simulate(p, leds, lcd=codes)
    assert np.array_equal(sim.lcd, codes)
    np.testing.assert_allclose(sim.displayed, sim.backlight[..., None] * lcd_model(p).tau[codes], rtol=1e-6)
    with pytest.raises(dm.InputError, match=r"\[0, 255\]"):
        dm.simulate(p, leds, lcd=codes + 300)
