# SPDX-License-Identifier: BSD-3-Clause
import numpy as np
import pytest

import dualmod as dm
from dualmod.errors import ProfileError

from conftest import make_panel


def test_builtins_listed():
    names = dm.Panel.builtins()
    for name in ("fald-1080p-576", "miniled-4k-2304", "sim2-hdr47", "brightside-dr37p", "proto-16x9-rgb"):
        assert name in names


@pytest.mark.parametrize("name,size,n,channels,peak", [
    ("fald-1080p-576", (1920, 1080), 576, 1, 1000.0),
    ("miniled-4k-2304", (3840, 2160), 2304, 1, 2000.0),
    ("sim2-hdr47", (1920, 1080), 2202, 1, 4000.0),
    ("brightside-dr37p", (1920, 1080), 1380, 1, 3000.0),
    ("proto-16x9-rgb", (1280, 720), 144, 3, 600.0),
])
def test_builtin_key_numbers(name, size, n, channels, peak):
    p = dm.Panel.load(name)
    assert (p.width, p.height) == size
    assert p.n_leds == n
    assert p.leds.channels == channels
    assert p.peak_nits == peak
    pos = p.led_positions
    assert pos.shape == (n, 2)
    # every LED sits on the panel
    assert pos[:, 0].min() >= -0.5 and pos[:, 0].max() <= p.width - 0.5
    assert pos[:, 1].min() >= -0.5 and pos[:, 1].max() <= p.height - 0.5


def test_builtin_specifics():
    m = dm.Panel.load("miniled-4k-2304")
    assert (m.leds.rows, m.leds.cols, m.lcd.bit_depth, m.lcd.contrast_ratio) == (36, 64, 10, 3000.0)
    s = dm.Panel.load("sim2-hdr47")
    assert s.leds.layout == "hex" and s.leds.rows == 37 and s.lcd.leakage == pytest.approx(0.005)
    b = dm.Panel.load("brightside-dr37p")
    assert b.leds.layout == "hex" and b.leds.bit_depth == 8
    r = dm.Panel.load("proto-16x9-rgb")
    assert r.leds.bit_depth == 16 and (r.leds.rows, r.leds.cols) == (9, 16)


def test_grid_positions_are_cell_centres():
    p = make_panel(width=40, height=20, rows=2, cols=4)
    np.testing.assert_allclose(p.led_positions[:4], [[4.5, 4.5], [14.5, 4.5], [24.5, 4.5], [34.5, 4.5]])
    np.testing.assert_allclose(p.led_positions[4:, 1], 14.5)


def test_hex_positions_alternate_and_shift():
    p = make_panel(width=40, height=30, layout="hex", rows=3, cols=4)
    pos = p.led_positions
    assert pos.shape == (4 + 3 + 4, 2)
    np.testing.assert_allclose(pos[:4, 0], [4.5, 14.5, 24.5, 34.5])
    np.testing.assert_allclose(pos[4:7, 0], [9.5, 19.5, 29.5])  # half a pitch to the right
    np.testing.assert_allclose(pos[4:7, 1], 14.5)


def test_positions_file(tmp_path):
    (tmp_path / "leds.csv").write_text("x,y\n10,5\n20.5,7\n")
    p = make_panel(layout="positions", positions_file="leds.csv", base_dir=tmp_path)
    np.testing.assert_allclose(p.led_positions, [[10, 5], [20.5, 7]])


def test_load_from_path_and_env(tmp_path, monkeypatch):
    src = dm.Panel.load("fald-1080p-576").source
    assert src == "builtin:fald-1080p-576"
    text = (tmp_path / "x.toml")
    text.write_text('[panel]\nwidth = 64\nheight = 32\npeak_nits = 100\n[leds]\nlayout = "grid"\nrows = 2\ncols = 4\n'
                    '[psf]\nmodel = "gaussian"\nsigma = 5\n[lcd]\nresponse = "srgb"\nbit_depth = 8\ncontrast_ratio = 500\n')
    p = dm.Panel.load(text)
    assert p.name == "x" and p.lcd.response == "srgb"
    monkeypatch.setenv("DUALMOD_PROFILES", str(tmp_path))
    assert dm.Panel.load("x") == p


def test_panels_hashable_and_equal():
    a = dm.Panel.load("fald-1080p-576")
    b = dm.Panel.load("fald-1080p-576")
    assert a == b and hash(a) == hash(b)
    assert a != a.replace(peak_nits=999.0)


def test_defaults_filled():
    p = make_panel()
    assert p.ambient_lux == 0.0 and p.reflectance == 0.0
    assert p.leds.bit_depth == 12 and p.leds.response == "linear" and p.leds.channels == 1
    assert p.leds.max_mean_level == 1.0
    assert p.psf.boundary == "zero" and p.psf.edge_reflectance == 1.0


def _err(**kw):
    with pytest.raises(ProfileError) as ei:
        make_panel(**kw)
    return ei.value


@pytest.mark.parametrize("kw,field,words", [
    (dict(panel={"colour": 1}), "panel.colour", "unknown field"),
    (dict(leds={"zones": 3}), "leds.zones", "unknown field"),
    (dict(psf={"model": "gaussian", "sigma": 5, "wobble": 1}), "psf.wobble", "unknown field"),
    (dict(psf={"model": "lorentzian", "sigma": 5}), "psf.model", "gaussian, gaussian_mixture, radial_table, image"),
    (dict(psf={"model": "gaussian"}), "psf.sigma", "required"),
    (dict(psf={"model": "gaussian", "sigma": -1}), "psf.sigma", "must be in"),
    (dict(psf={"model": "gaussian", "sigma": "wide"}), "psf.sigma", "must be a number"),
    (dict(psf={"model": "gaussian", "sigma": 5, "weights": [1]}), "psf.weights", "not used by model 'gaussian'"),
    (dict(psf={"model": "gaussian_mixture", "weights": [1, 2], "sigmas": [3]}), "psf.sigmas", "as many entries"),
    (dict(psf={"model": "radial_table", "radius": [1, 2], "value": [1, 0]}), "psf.radius", "start at 0"),
    (dict(psf={"model": "gaussian", "sigma": 5, "boundary": "wrap"}), "psf.boundary", "zero, mirror"),
    (dict(lcd={"response": "gamma", "bit_depth": 5, "contrast_ratio": 100}), "lcd.bit_depth", "[6, 16]"),
    (dict(lcd={"response": "gamma", "bit_depth": 8, "contrast_ratio": 1}), "lcd.contrast_ratio", "must be in"),
    (dict(lcd={"response": "log", "bit_depth": 8, "contrast_ratio": 100}), "lcd.response", "gamma, srgb, lut"),
    (dict(lcd={"response": "lut", "bit_depth": 8, "contrast_ratio": 100}), "lcd.lut_file", "required"),
    (dict(leds={"channels": 2}), "leds.channels", "1 (white) or 3"),
    (dict(leds={"layout": "spiral"}), "leds.layout", "grid, hex, positions"),
    (dict(leds={"max_mean_level": 1.5}), "leds.max_mean_level", "must be in"),
    (dict(leds={"rows": 0}), "leds.rows", "[1, 4096]"),
    (dict(panel={"width": 10.5}), "panel.width", "must be an integer"),
    (dict(panel={"peak_nits": 0}), "panel.peak_nits", "must be in"),
])
def test_validation_errors_name_source_field_and_allowed(kw, field, words):
    e = _err(**kw)
    msg = str(e)
    assert e.field == field
    assert msg.startswith("<test>: " + field), msg
    assert words in msg, msg


def test_missing_table_and_unknown_table():
    with pytest.raises(ProfileError, match="missing table \\[lcd\\]"):
        dm.Panel.from_dict({"panel": {"width": 8, "height": 8, "peak_nits": 1},
                            "leds": {"layout": "grid", "rows": 1, "cols": 1},
                            "psf": {"model": "gaussian", "sigma": 1}}, source="p.toml")
    with pytest.raises(ProfileError, match="unknown table"):
        dm.Panel.from_dict({"panel": {}, "optics": {}}, source="p.toml")


def test_bad_files(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text("[panel\nwidth = 3")
    with pytest.raises(ProfileError, match="broken.toml: not valid TOML"):
        dm.Panel.load(bad)
    with pytest.raises(ProfileError, match="no such profile file"):
        dm.Panel.load(tmp_path / "nope.toml")
    with pytest.raises(ProfileError, match="unknown panel profile; built-in profiles are .*fald-1080p-576"):
        dm.Panel.load("not-a-panel")


LCD_LUT = {"response": "lut", "bit_depth": 8, "contrast_ratio": 100, "lut_file": "lcd.csv"}


def test_lut_file_loaded(tmp_path):
    (tmp_path / "lcd.csv").write_text("code,value\n0,0\n128,0.6\n255,1\n")
    p = make_panel(lcd=LCD_LUT, base_dir=tmp_path)
    assert p.lcd.lut.shape == (3, 2) and p.lcd.lut[1, 0] == pytest.approx(128 / 255)


@pytest.mark.parametrize("text,match", [
    ("0,0\n128,0.7\n100,0.8\n255,1\n", "lcd.lut_file: .*increase strictly"),
    ("0,0\n128,0.9\n255,0.8\n", "must not decrease"),
    ("0,0\n200,1\n", "codes must run from 0 to 255"),
    ("0,0\n128,abc\n255,1\n", "not a number"),
])
def test_bad_lut_files_rejected(tmp_path, text, match):
    (tmp_path / "lcd.csv").write_text(text)
    with pytest.raises(ProfileError, match=match):
        make_panel(lcd=LCD_LUT, base_dir=tmp_path)


def test_psf_image_file(tmp_path):
    k = np.outer(np.hanning(9), np.hanning(9))
    np.save(tmp_path / "k.npy", k)
    p = make_panel(psf={"model": "image", "file": "k.npy"}, base_dir=tmp_path)
    assert p.psf.image.shape == (9, 9)
    np.save(tmp_path / "bad.npy", -k)
    with pytest.raises(ProfileError, match="psf.file: .*finite, >= 0"):
        make_panel(psf={"model": "image", "file": "bad.npy"}, base_dir=tmp_path)
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ProfileError, match="cannot read kernel"):
        make_panel(psf={"model": "image", "file": "junk.npy"}, base_dir=tmp_path)


def test_black_level():
    p = make_panel(panel={"ambient_lux": 100.0, "reflectance": 0.02})
    assert p.black_nits == pytest.approx(500 / 1000 + 100 * 0.02 / np.pi)


def test_psf_image_from_exr(tmp_path):
    k = np.outer(np.hanning(7), np.hanning(9)).astype(np.float32)
    dm.write_image(tmp_path / "k.exr", np.repeat(k[..., None], 3, axis=2), half=False)
    p = make_panel(psf={"model": "image", "file": "k.exr"}, base_dir=tmp_path)
    np.testing.assert_allclose(p.psf.image, k, rtol=1e-6)
