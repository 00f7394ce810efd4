# SPDX-License-Identifier: BSD-3-Clause
"""``dualmod calibrate psf|lcd|leds|virtual`` from the command line: outputs, profiles that load, clear errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import dualmod as dm
from dualmod.cli import main


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """Virtual captures of a small two-Gaussian panel (made through the CLI)."""
    d = tmp_path_factory.mktemp("cal")
    truth = d / "truth.toml"
    truth.write_text("""
[panel]
width = 240
height = 135
peak_nits = 1200.0
[leds]
layout = "grid"
rows = 5
cols = 8
[psf]
model = "gaussian_mixture"
weights = [0.75, 0.25]
sigmas = [9.0, 26.0]
[lcd]
response = "gamma"
gamma = 2.2
bit_depth = 8
contrast_ratio = 1000.0
""")
    assert main(["calibrate", "virtual", "--panel", str(truth), "--out", str(d / "caps"), "--spacing", "3"]) == 0
    return d / "caps", dm.Panel.load(truth)


def test_psf_writes_a_profile_report_and_figure(captures, tmp_path, capsys):
    folder, truth = captures
    out = tmp_path / "fit" / "mine.toml"
    assert main(["calibrate", "psf", str(folder), "--out", str(out), "--json", str(tmp_path / "r.json")]) == 0
    stdout = capsys.readouterr().out
    assert "peak_nits" in stdout and "wrote" in stdout
    panel = dm.Panel.load(out)
    assert panel.name == "mine" and panel.shape == truth.shape and panel.n_leds == truth.n_leds
    assert panel.peak_nits == pytest.approx(1200.0, rel=0.02)
    assert panel.psf.model != "gaussian"  # a single Gaussian is the wrong model here
    report = json.loads((tmp_path / "fit" / "mine.fit.json").read_text())
    assert report["model"] == panel.psf.model and set(report["heldout_rms_nits"]) == {
        "gaussian", "gaussian_mixture", "radial_table"}
    assert json.loads((tmp_path / "r.json").read_text())["peak_nits"] == report["peak_nits"]
    png = (tmp_path / "fit" / "mine.fit.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert "placeholder" in out.read_text()  # the profile says its [lcd] was not measured


def test_psf_with_a_base_keeps_its_lcd_and_led_drive(captures, tmp_path):
    folder, _ = captures
    out = tmp_path / "based.toml"
    assert main(["calibrate", "psf", str(folder), "--out", str(out), "--model", "gaussian_mixture",
                 "--base", "miniled-4k-2304"]) == 0
    panel, base = dm.Panel.load(out), dm.Panel.load("miniled-4k-2304")
    assert panel.lcd == base.lcd and panel.leds.bit_depth == base.leds.bit_depth
    assert panel.width == 240 and panel.leds.rows == 5 and panel.psf.model == "gaussian_mixture"


def test_psf_bad_input_is_one_line_and_writes_nothing(captures, tmp_path, capsys):
    folder, _ = captures
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "dark.npy").unlink()
    out = tmp_path / "never.toml"
    assert main(["calibrate", "psf", str(broken), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dualmod: error:") and "dark.npy: missing" in err[-1]
    assert not out.exists() and not list(tmp_path.glob("never*"))
    assert main(["calibrate", "psf", str(folder), "--out", str(tmp_path / "x.json")]) == 2
    assert ".toml" in capsys.readouterr().err


def test_virtual_refuses_a_folder_in_use(captures, capsys):
    folder, _ = captures
    assert main(["calibrate", "virtual", "--panel", "proto-16x9-rgb", "--out", str(folder)]) == 2
    assert "not empty" in capsys.readouterr().err


def lcd_readings(path, f, *, cr=2000.0, white=500.0, bits=8, step=16):
    m = (1 << bits) - 1
    codes = sorted(set(range(0, m + 1, step)) | {m})
    rows = [f"white,{c},{white * (1 / cr + (1 - 1 / cr) * f(c / m)):.6g}" for c in codes]
    path.write_text("channel,code,nits\n" + "\n".join(rows) + "\n")
    return path


def test_lcd_gamma_into_a_base_profile(tmp_path, capsys):
    readings = lcd_readings(tmp_path / "lcd.csv", lambda x: x ** 2.4)
    out = tmp_path / "p.toml"
    assert main(["calibrate", "lcd", str(readings), "--base", "fald-1080p-576", "--out", str(out)]) == 0
    panel = dm.Panel.load(out)
    assert panel.lcd.response == "gamma" and panel.lcd.gamma == pytest.approx(2.4, abs=0.01)
    assert panel.lcd.contrast_ratio == pytest.approx(2000.0, rel=1e-3)
    assert panel.psf == dm.Panel.load("fald-1080p-576").psf  # the rest of the base is kept
    assert "[lcd]" not in capsys.readouterr().out  # written, not printed


def test_lcd_s_curve_becomes_a_table_beside_the_profile(tmp_path, capsys):
    def s_curve(x):
        return 3 * x ** 2 - 2 * x ** 3

    readings = lcd_readings(tmp_path / "lcd.csv", s_curve, step=8)
    out = tmp_path / "p.toml"
    assert main(["calibrate", "lcd", str(readings), "--base", "fald-1080p-576", "--out", str(out)]) == 0
    panel = dm.Panel.load(out)
    assert panel.lcd.response == "lut" and (tmp_path / "p.lcd.csv").is_file()
    from dualmod.display.lcd import transmittance

    codes = np.array([[[20, 100, 250]]], dtype=np.uint16)
    eps = 1 / 2000.0
    want = eps + (1 - eps) * s_curve(codes / 255.0)
    np.testing.assert_allclose(transmittance(panel, codes), want, atol=0.01)


def test_lcd_without_out_prints_the_table_and_needs_base_for_out(tmp_path, capsys):
    readings = lcd_readings(tmp_path / "lcd.csv", lambda x: x ** 2.2)
    assert main(["calibrate", "lcd", str(readings)]) == 0
    assert 'response = "gamma"' in capsys.readouterr().out
    assert main(["calibrate", "lcd", str(readings), "--out", str(tmp_path / "p.toml")]) == 2
    assert "--base" in capsys.readouterr().err


def test_leds_table_header_and_profile(tmp_path, capsys):
    drive = np.r_[0:4096:64, 4095]
    x = drive / 4095
    light = np.clip((x - 0.03) / 0.97, 0, None)
    light = light - 0.2 * light ** 3  # thermal droop at the top
    readings = tmp_path / "leds.csv"
    readings.write_text("drive,nits\n" + "\n".join(f"{d},{0.5 + 300 * v:.5f}" for d, v in zip(drive, light)) + "\n")
    out = tmp_path / "p.toml"
    header = tmp_path / "lin.h"
    assert main(["calibrate", "leds", str(readings), "--base", "fald-1080p-576", "--out", str(out),
                 "--header", str(header), "--json", str(tmp_path / "l.json")]) == 0
    stdout = capsys.readouterr().out
    assert "droop" in stdout and "dead zone" in stdout
    panel = dm.Panel.load(out)
    assert panel.leds.response == "lut" and panel.leds.bit_depth == 12
    from dualmod.display.backlight import led_response

    resp = led_response(panel)
    np.testing.assert_allclose(resp.forward(x), light / light[-1], atol=0.01)
    assert "static const uint16_t dml_led_linearize[" in header.read_text()
    assert json.loads((tmp_path / "l.json").read_text())["droop"] > 0.1
