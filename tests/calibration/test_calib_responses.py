# SPDX-License-Identifier: BSD-3-Clause
"""LCD and LED responses fitted from synthetic photometer readings of known curves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import make_panel
from scipy.optimize import curve_fit

from calibration.responses import AUTO_GAMMA_MAX_ERR, fit_lcd, fit_led, read_lcd_measurements, read_led_measurements
from dualmod.display.backlight import led_response
from dualmod.display.lcd import transmittance
from dualmod.errors import InputError

CODES8 = np.unique(np.r_[np.arange(0, 256, 8), 255])          # 33 readings of an 8-bit LCD
DRIVES12 = np.unique(np.r_[np.arange(0, 4096, 64), 4095])      # 65 readings of a 12-bit LED driver


def gamma24(x):
    return x ** 2.4


def s_curve(x):
    """Half smoothstep, half x**2.2: no power law fits it within 1 %."""
    return 0.5 * (3 * x ** 2 - 2 * x ** 3) + 0.5 * x ** 2.2


def led_truth(x, dead=0.03, droop=0.15):
    """Relative light of drive fraction x: dead zone below ``dead``, cubic thermal droop at the top."""
    u = np.clip((np.asarray(x, dtype=np.float64) - dead) / (1 - dead), 0, 1)
    return u * (1 - droop * u ** 2) / (1 - droop)


def lcd_nits(f, codes, *, bits=8, cr=1500.0, peak=600.0, noise=0.0, rng=None):
    """Photometer readings B·τ(v) with relative (multiplicative) noise."""
    eps = 1.0 / cr
    y = peak * (eps + (1 - eps) * f(np.asarray(codes) / ((1 << bits) - 1)))
    if noise:
        y = y * (1 + noise * rng.standard_normal(y.shape))
    return y


def write_lcd(path, channels):
    """channels: {name: (codes, nits)} -> ``channel,code,nits`` file."""
    lines = ["# synthetic readings", "channel,code,nits"]
    for ch, (codes, nits) in channels.items():
        lines += [f"{ch},{int(c)},{v:.7g}" for c, v in zip(codes, nits)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_led(path, drives, nits):
    path.write_text("drive,nits\n" + "".join(f"{int(d)},{v:.7g}\n" for d, v in zip(drives, nits)))
    return path


def led_nits(truth, drives, *, bits=12, off=0.5, full=400.0, noise=0.0, rng=None):
    y = off + (full - off) * truth(np.asarray(drives) / ((1 << bits) - 1))
    if noise:
        y = y * (1 + noise * rng.standard_normal(y.shape))
    return y


# ---------------------------------------------------------------------------------------------------- LCD
def test_gamma_panel_with_photometer_noise(tmp_path, rng):
    nits = lcd_nits(gamma24, CODES8, cr=1500.0, noise=0.01, rng=rng)
    path = write_lcd(tmp_path / "lcd_meas.csv", {"white": (CODES8, nits)})
    fit = fit_lcd(read_lcd_measurements(path))
    assert abs(fit.gamma - 2.4) < 0.03
    assert abs(fit.contrast_ratio / 1500.0 - 1) < 0.03
    assert fit.response == "gamma"
    assert fit.bit_depth == 8 and fit.n_readings == CODES8.size
    # the readings scatter by ~1 % of the reading: a power law explains them to about that
    assert fit.gamma_rms < 0.015
    table = fit.profile_table()
    assert table == {"response": "gamma", "gamma": round(fit.gamma, 4), "bit_depth": 8,
                     "contrast_ratio": pytest.approx(fit.contrast_ratio, rel=1e-5)}
    # the table is usable by a profile as is
    panel = make_panel(lcd=table)
    np.testing.assert_allclose(transmittance(panel, [0, 255]), [1 / fit.contrast_ratio, 1.0], rtol=1e-5)
    json.dumps(fit.summary(), allow_nan=False)


def test_clean_power_law_is_exact(tmp_path):
    codes = np.unique(np.r_[np.arange(0, 1024, 31), 1023])
    path = write_lcd(tmp_path / "clean.csv", {"white": (codes, lcd_nits(lambda x: x ** 2.2, codes, bits=10,
                                                                         cr=3000.0))})
    meas = read_lcd_measurements(path)
    assert meas.bit_depth == 10          # inferred: smallest of 8/10/... holding 1023
    fit = fit_lcd(meas)
    assert fit.response == "gamma"
    assert fit.gamma == pytest.approx(2.2, abs=1e-3)
    assert fit.contrast_ratio == pytest.approx(3000.0, rel=1e-5)
    assert fit.gamma_max_err < 1e-4


def test_s_shaped_panel_gets_a_table_that_matches_unmeasured_codes(tmp_path):
    nits = lcd_nits(s_curve, CODES8, cr=800.0, peak=350.0)
    path = write_lcd(tmp_path / "s_panel.csv", {"white": (CODES8, nits)})
    fit = fit_lcd(read_lcd_measurements(path))
    assert fit.gamma_max_err > AUTO_GAMMA_MAX_ERR       # the premise: no power law within 1 %
    assert fit.response == "lut"
    assert fit.lut_loo_rms < 0.005
    lut = fit.lut
    assert lut[0].tolist() == [0.0, 0.0] and lut[-1].tolist() == [255.0, 1.0]
    assert np.all(np.diff(lut[:, 0]) > 0) and np.all(np.diff(lut[:, 1]) >= 0)
    unmeasured = np.setdiff1d(np.arange(256), CODES8)
    assert np.max(np.abs(fit.f(unmeasured / 255) - s_curve(unmeasured / 255))) < 0.01

    # written and loaded through a profile, the panel shows the truth
    lut_path = fit.write_lut(tmp_path / "prof" / "lcd.csv")
    assert lut_path.read_text().splitlines()[0] == "code,relative_transmittance"
    assert [p.name for p in lut_path.parent.iterdir()] == ["lcd.csv"]       # no temp file left behind
    table = fit.profile_table("lcd.csv")
    assert table == {"response": "lut", "lut_file": "lcd.csv", "bit_depth": 8,
                     "contrast_ratio": pytest.approx(800.0, rel=1e-4)}
    panel = make_panel(lcd=table, base_dir=tmp_path / "prof")
    codes = np.array([3, 37, 100, 141, 222, 254])
    eps = 1 / 800.0
    np.testing.assert_allclose(transmittance(panel, codes), eps + (1 - eps) * s_curve(codes / 255), atol=0.01)
    assert not np.allclose(transmittance(panel, codes), eps + (1 - eps) * (codes / 255) ** fit.gamma, atol=0.01)


def test_forced_models(tmp_path, rng):
    nits = lcd_nits(gamma24, CODES8, noise=0.002, rng=rng)
    meas = read_lcd_measurements(write_lcd(tmp_path / "m.csv", {"white": (CODES8, nits)}))
    lut_fit = fit_lcd(meas, model="lut")
    gamma_fit = fit_lcd(meas, model="gamma")
    assert lut_fit.response == "lut" and gamma_fit.response == "gamma"
    assert lut_fit.gamma == gamma_fit.gamma                   # gamma is reported for information either way
    assert lut_fit.profile_table()["lut_file"] == "lcd.csv"
    with pytest.raises(InputError, match="model"):
        fit_lcd(meas, model="spline")


def test_colour_channels_report_their_deviation(tmp_path, rng):
    black = lcd_nits(gamma24, [0], cr=1500.0)[0]
    red = 0.2126 * (lcd_nits(gamma24, CODES8, cr=1500.0) - black) + black      # same curve, less light
    blue = 0.0722 * (lcd_nits(lambda x: x ** 2.0, CODES8, cr=1500.0) - black) + black
    path = write_lcd(tmp_path / "rgb.csv", {"white": (CODES8, lcd_nits(gamma24, CODES8, cr=1500.0)),
                                             "red": (CODES8[1:], red[1:]),     # no code 0: white black is used
                                             "blue": (CODES8, blue)})
    fit = fit_lcd(read_lcd_measurements(path))
    assert set(fit.channel_deviation) == {"red", "blue"}
    assert fit.channel_deviation["red"] < 1e-3
    want = np.max(np.abs((CODES8 / 255) ** 2.0 - (CODES8 / 255) ** 2.4))
    assert fit.channel_deviation["blue"] == pytest.approx(want, abs=2e-3)


def test_comments_trailing_commas_and_case(tmp_path):
    path = tmp_path / "messy.csv"
    path.write_text("\ufeff# meter: spot, 2 degrees\n\nChannel, Code ,NITS\nwhite,0,0.5  # black\n"
                    "WHITE,255.0,500,\r\nwhite,128,110.2\n# done\n")
    meas = read_lcd_measurements(path)
    assert meas.white.tolist() == [[0, 0.5], [128, 110.2], [255, 500]]
    assert meas.bit_depth == 8


def test_explicit_bit_depth(tmp_path):
    codes = np.array([0, 100, 200, 255])
    path = write_lcd(tmp_path / "bits.csv", {"white": (codes, lcd_nits(gamma24, codes))})
    with pytest.raises(InputError, match=r"bits\.csv.*1023"):
        read_lcd_measurements(path, bit_depth=10)             # white lacks code 1023
    with pytest.raises(InputError, match=r"bits\.csv.*1023"):
        fit_lcd(read_lcd_measurements(path), bit_depth=10)
    assert fit_lcd(read_lcd_measurements(path, bit_depth=8)).bit_depth == 8


HEADER = "channel,code,nits\n"
GOOD = "white,0,0.4\nwhite,128,100\nwhite,255,600\n"
LCD_BAD = {
    "bad_header": ("code,nits\n0,0.4\n", 1, "header"),
    "empty": ("# nothing\n", None, "empty"),
    "unknown_channel": (HEADER + GOOD + "cyan,10,3\n", 5, "allowed: white, red, green, blue"),
    "nits_text": (HEADER + "white,0,dark\n" + GOOD[12:], 2, "must be a number"),
    "code_text": (HEADER + GOOD + "white,abc,3\n", 5, "integer"),
    "nan": (HEADER + GOOD + "white,64,nan\n", 5, "finite"),
    "inf": (HEADER + GOOD + "white,64,inf\n", 5, "finite"),
    "negative": (HEADER + GOOD + "white,64,-0.1\n", 5, ">= 0"),
    "out_of_range": (HEADER + GOOD + "white,70000,3\n", 5, "out of range"),
    "not_integer": (HEADER + GOOD + "white,12.5,3\n", 5, "integer"),
    "too_many_columns": (HEADER + GOOD + "white,12,3,4\n", 5, "3 columns"),
    "duplicate": (HEADER + GOOD + "white,128,101\n", 5, "twice"),
    "no_black": (HEADER + "white,1,0.4\nwhite,128,100\nwhite,255,600\n", None, "code 0"),
    "no_white_max": (HEADER + "white,0,0.4\nwhite,128,100\nwhite,254,600\n", None, "code 255"),
    "dim_white": (HEADER + "white,0,0.4\nwhite,128,0.3\nwhite,255,0.4\n", 4, "brighter"),
    "two_readings": (HEADER + "white,0,0.4\nwhite,255,600\n", None, "at least 3"),
    "no_white": (HEADER + "red,0,0.4\nred,255,100\n", None, "at least 3"),
    "zero_black": (HEADER + "white,0,0\nwhite,128,100\nwhite,255,600\n", 2, "> 0"),
    "red_without_max": (HEADER + GOOD + "red,128,20\n", None, "'red'"),
}


def test_missing_lcd_file(tmp_path):
    with pytest.raises(InputError, match=r"nowhere\.csv.*channel,code,nits"):
        read_lcd_measurements(tmp_path / "nowhere.csv")


def test_bad_bit_depth_argument(tmp_path):
    path = write_lcd(tmp_path / "ok.csv", {"white": (CODES8, lcd_nits(gamma24, CODES8))})
    with pytest.raises(InputError, match="bit_depth"):
        read_lcd_measurements(path, bit_depth=20)


# ---------------------------------------------------------------------------------------------------- LED
@pytest.fixture
def drooping_led(tmp_path, rng):
    path = write_led(tmp_path / "led_meas.csv", DRIVES12, led_nits(led_truth, DRIVES12, noise=0.003, rng=rng))
    return fit_led(read_led_measurements(path))


def test_led_table_reproduces_dead_zone_and_droop(drooping_led, tmp_path):
    fit = drooping_led
    m = 4095
    assert fit.bit_depth == 12 and fit.max_code == m
    d = np.arange(m + 1)
    assert np.max(np.abs(fit.light(d) - led_truth(d / m))) < 0.015      # 0.3 % noise, also on the two anchors
    # droop as defined: 1 - slope(0.9..1) / slope(0.25..0.75) of the truth
    t = led_truth
    want = 1 - ((t(1.0) - t(0.9)) / 0.1) / ((t(0.75) - t(0.25)) / 0.5)
    assert want > 0.3
    assert fit.droop == pytest.approx(want, abs=0.05)
    # the dead zone ends at 3 % of full drive (123): the last dark reading is the one before
    assert 0 < fit.dead_zone_code <= 0.03 * m and fit.dead_zone_code >= 0.03 * m - 64
    assert fit.linearity > 0.05
    # the informative power law: the plain least-squares one of the truth at the same drives
    x = DRIVES12 / m
    want_gamma = curve_fit(lambda x, g: x ** g, x, led_truth(x), p0=[1.0])[0][0]
    assert fit.gamma == pytest.approx(want_gamma, abs=0.02)
    json.dumps(fit.summary(), allow_nan=False)

    # through a profile: the panel's LED response is the truth
    fit.write_lut(tmp_path / "prof" / "leds.csv")
    table = fit.profile_table()
    assert table == {"response": "lut", "lut_file": "leds.csv", "bit_depth": 12}
    panel = make_panel(leds=table, base_dir=tmp_path / "prof")
    x = np.array([0.0, 0.02, 0.05, 0.31, 0.5, 0.77, 0.93, 0.999, 1.0])
    np.testing.assert_allclose(led_response(panel).forward(x), led_truth(x), atol=0.015)


def test_linearizing_table_makes_light_linear(drooping_led):
    fit = drooping_led
    for entries in (256, 33):
        table = fit.linearizing_table(entries)
        assert table.dtype == np.uint16 and table.shape == (entries,)
        assert table[0] == 0 and table[-1] == 4095 and np.all(np.diff(table.astype(int)) >= 0)
        light = led_truth(table / 4095)
        np.testing.assert_allclose(light, np.arange(entries) / (entries - 1), atol=0.015)
    # the first step of light leaves the dead zone instead of sitting in it
    assert led_truth(fit.linearizing_table(256)[1] / 4095) > 0
    with pytest.raises(InputError, match="entries"):
        fit.linearizing_table(1)


def test_linear_led(tmp_path, rng):
    drives = np.unique(np.r_[np.arange(0, 1024, 32), 1023])
    path = write_led(tmp_path / "linear.csv", drives, led_nits(lambda x: x, drives, bits=10, noise=0.002, rng=rng))
    fit = fit_led(read_led_measurements(path))
    assert fit.bit_depth == 10
    assert abs(fit.droop) < 0.05
    assert fit.linearity < 0.01             # photometer noise only
    assert fit.gamma == pytest.approx(1.0, abs=0.02)
    assert fit.dead_zone_code == 0
    # a linear LED needs (almost) no linearisation: the identity ramp, to the readings' noise
    np.testing.assert_allclose(fit.linearizing_table() / 1023, np.arange(256) / 255, atol=0.01)


def test_c_header(drooping_led, tmp_path):
    header = drooping_led.write_c_header(tmp_path / "dml_lin.h", entries=64, name="led_lin")
    text = header.read_text()
    assert "#include <stdint.h>" in text and "#define LED_LIN_ENTRIES 64" in text
    body = text[text.index("led_lin[LED_LIN_ENTRIES] = {") :].split("{", 1)[1].split("}", 1)[0]
    values = [int(v) for v in re.findall(r"\d+", body)]
    assert values == drooping_led.linearizing_table(64).tolist()
    with pytest.raises(InputError, match="identifier"):
        drooping_led.write_c_header(tmp_path / "x.h", name="2bad-name")
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not installed")
    src = tmp_path / "use.c"
    src.write_text('#include "dml_lin.h"\nuint16_t drive_for(unsigned k) { return led_lin[k % LED_LIN_ENTRIES]; }\n')
    run = subprocess.run([gcc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", str(src), "-o",
                          str(tmp_path / "use.o")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


LED_HEAD = "drive,nits\n"
LED_GOOD = "0,0.5\n2048,200\n4095,400\n"
LED_BAD = {
    "bad_header": ("code,nits\n0,1\n", 1, "header"),
    "nits_text": (LED_HEAD + LED_GOOD + "100,bright\n", 5, "must be a number"),
    "nan": (LED_HEAD + LED_GOOD + "100,NaN\n", 5, "finite"),
    "inf": (LED_HEAD + LED_GOOD + "100,-inf\n", 5, "finite"),
    "negative": (LED_HEAD + LED_GOOD + "100,-2\n", 5, ">= 0"),
    "out_of_range": (LED_HEAD + LED_GOOD + "-1,2\n", 5, "out of range"),
    "not_integer": (LED_HEAD + LED_GOOD + "1e-3,2\n", 5, "integer"),
    "duplicate": (LED_HEAD + LED_GOOD + "2048,201\n", 5, "twice"),
    "no_off": (LED_HEAD + "1,0.5\n2048,200\n4095,400\n", None, "drive 0"),
    "no_full": (LED_HEAD + "0,0.5\n2048,200\n4000,400\n", None, "drive 4095"),
    "dark_full": (LED_HEAD + "0,0.5\n2048,0.4\n4095,0.5\n", 4, "brighter"),
    "two_readings": (LED_HEAD + "0,0.5\n4095,400\n", None, "at least 3"),
}


@pytest.mark.parametrize("kind, case", [("lcd", c) for c in sorted(LCD_BAD)] + [("led", c) for c in sorted(LED_BAD)])
def test_bad_files(tmp_path, kind, case):
    text, line, words = (LCD_BAD if kind == "lcd" else LED_BAD)[case]
    path = tmp_path / f"{kind}_{case}.csv"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        (read_lcd_measurements if kind == "lcd" else read_led_measurements)(path)
    msg = str(info.value)
    assert path.name in msg and words in msg
    if line is not None:
        assert f"{path.name}:{line}:" in msg


def test_missing_led_file(tmp_path):
    with pytest.raises(InputError, match=r"gone\.csv.*drive,nits"):
        read_led_measurements(tmp_path / "gone.csv")


def test_led_explicit_bits(tmp_path):
    path = write_led(tmp_path / "b.csv", [0, 100, 255], [0.0, 40.0, 100.0])
    assert read_led_measurements(path).bit_depth == 8
    with pytest.raises(InputError, match=r"b\.csv.*out of range"):
        read_led_measurements(path, bit_depth=6)
    with pytest.raises(InputError, match=r"b\.csv.*drive 511"):
        fit_led(read_led_measurements(path), bit_depth=9)
