# SPDX-License-Identifier: BSD-3-Clause
"""Backlight physics: analytic cases and the fast paths against the plain reference."""

import numpy as np
import pytest

import dualmod as dm
from dualmod.display import reference as ref
from dualmod.display.backlight import backlight, quantize_leds
from dualmod.display.psf import make_psf

from conftest import make_panel

PSFS = [
    {"model": "gaussian", "sigma": 5.0},
    {"model": "gaussian_mixture", "weights": [0.6, 0.4], "sigmas": [3.0, 9.0]},
    {"model": "radial_table", "radius": [0, 4, 8, 16], "value": [1, 0.6, 0.2, 0]},
]


@pytest.mark.parametrize("psf", PSFS)
def test_single_led_reproduces_the_psf(psf):
    # odd panel, one LED exactly on a pixel centre; no neighbours lit
    p = make_panel(width=61, height=41, rows=1, cols=1, psf=psf)
    (x0, y0), = p.led_positions
    assert (x0, y0) == (30.0, 20.0)
    b = backlight(p, [1.0])
    ys, xs = np.mgrid[0:41, 0:61]
    shape = make_psf(p.psf).evaluate(xs - x0, ys - y0)
    # the single LED at 1 is also the "all on" case: centre = peak, the rest follows the PSF
    np.testing.assert_allclose(b, p.peak_nits * shape, rtol=1e-5, atol=1e-6 * p.peak_nits)
    assert b[20, 30] == pytest.approx(p.peak_nits, rel=1e-6)


def test_image_psf_single_led(tmp_path):
    k = np.outer(np.hanning(11), np.hanning(15))[:, ::-1] * np.linspace(1, 2, 15)  # asymmetric
    np.save(tmp_path / "k.npy", k)
    p = make_panel(width=61, height=41, rows=1, cols=1, psf={"model": "image", "file": "k.npy"}, base_dir=tmp_path)
    b = backlight(p, [1.0])
    want = np.zeros((41, 61))
    want[20 - 5:20 + 6, 30 - 7:30 + 8] = k
    np.testing.assert_allclose(b, p.peak_nits * want / k[5, 7], rtol=1e-5, atol=1e-6 * p.peak_nits)


@pytest.mark.parametrize("layout,rows,cols", [("grid", 5, 7), ("hex", 5, 7)])
@pytest.mark.parametrize("psf", PSFS)
def test_all_on_gives_peak_at_centre_point(layout, rows, cols, psf):
    p = make_panel(width=71, height=51, layout=layout, rows=rows, cols=cols, psf=psf)
    b = backlight(p, np.ones(p.n_leds))
    assert b[25, 35] == pytest.approx(p.peak_nits, rel=1e-6)
    # even-sized panel: the centre point falls between pixels; evaluate it with the reference
    q = make_panel(width=70, height=50, layout=layout, rows=rows, cols=cols, psf=psf)
    c = ref.backlight_at(q, np.ones((q.n_leds, 1)), np.array([34.5]), np.array([24.5]))
    assert c[0, 0] == pytest.approx(q.peak_nits, rel=1e-9)


def test_builtin_all_on_centre_is_peak():
    for name in dm.Panel.builtins():
        p = dm.Panel.load(name)
        b = backlight(p, np.ones(p.n_leds))
        h, w = p.height, p.width
        centre = b[h // 2 - 1:h // 2 + 1, w // 2 - 1:w // 2 + 1].mean(axis=(0, 1))
        # mean of the four pixels around the centre point; the PSF is smooth over a pixel
        np.testing.assert_allclose(centre, p.peak_nits, rtol=2e-4)


def test_mirror_boundary_adds_reflected_images():
    psf = {"model": "gaussian", "sigma": 4.0, "boundary": "mirror", "edge_reflectance": 0.5}
    p = make_panel(width=40, height=30, rows=3, cols=4, psf=psf)
    z = make_panel(width=40, height=30, rows=3, cols=4, psf={"model": "gaussian", "sigma": 4.0})
    leds = np.zeros(p.n_leds)
    leds[0] = 1.0  # corner LED at (4.5, 4.5)
    bm = backlight(p, leds, quantize=False)
    ys, xs = np.mgrid[0:30, 0:40].astype(float)
    g = lambda x, y: np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / 32)  # noqa: E731
    want = g(4.5, 4.5) + 0.5 * g(-5.5, 4.5) + 0.5 * g(4.5, -5.5) + 0.25 * g(-5.5, -5.5)
    # the absolute scale comes from the all-on normalisation; the shape must be direct + reflected images
    np.testing.assert_allclose(bm / bm[4, 4], want / want[4, 4], rtol=1e-5, atol=1e-7)
    # reflection brightens the edge relative to the zero boundary
    bz = backlight(z, leds, quantize=False)
    assert bm[0, 0] / bm[4, 4] > bz[0, 0] / bz[4, 4]


def test_rgb_channels_are_independent():
    p = make_panel(leds={"channels": 3, "bit_depth": 16})
    rng = np.random.default_rng(3)
    leds = rng.random((p.n_leds, 3))
    b = backlight(p, leds)
    assert b.shape == (p.height, p.width, 3)
    for c in range(3):
        mono = backlight(make_panel(leds={"bit_depth": 16}), leds[:, c])
        np.testing.assert_allclose(b[..., c], mono, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("response,extra", [("linear", {}), ("gamma", {"gamma": 2.0})])
def test_led_quantisation(response, extra):
    p = make_panel(leds={"bit_depth": 4, "response": response, **extra})
    levels, drive = quantize_leds(p, np.linspace(0, 1, p.n_leds))
    m = 15
    gamma = extra.get("gamma", 1.0)
    np.testing.assert_array_equal(drive[:, 0], np.floor(np.linspace(0, 1, p.n_leds) ** (1 / gamma) * m + 0.5))
    np.testing.assert_allclose(levels[:, 0], (drive[:, 0] / m) ** gamma)
    # quantised levels are fixed points
    np.testing.assert_array_equal(quantize_leds(p, levels[:, 0])[1], drive)


def test_led_frame_validation(small_panel):
    with pytest.raises(dm.InputError, match="shape"):
        backlight(small_panel, np.ones(3))
    with pytest.raises(dm.InputError, match="NaN"):
        backlight(small_panel, np.full(small_panel.n_leds, np.nan))
    with pytest.raises(dm.InputError, match=r"\[0, 1\]"):
        backlight(small_panel, np.full(small_panel.n_leds, 1.5))


def test_truncation_error_bounded_on_builtins():
    """Fast (truncated) backlight vs untruncated reference at random pixels, random frames."""
    rng = np.random.default_rng(7)
    for name in dm.Panel.builtins():
        p = dm.Panel.load(name)
        leds = rng.random((p.n_leds, p.leds.channels))
        b = backlight(p, leds if p.leds.channels == 3 else leds[:, 0]).reshape(p.height, p.width, -1)
        iy = rng.integers(0, p.height, 150)
        ix = rng.integers(0, p.width, 150)
        iy[:4], ix[:4] = [0, 0, p.height - 1, p.height - 1], [0, p.width - 1, 0, p.width - 1]  # corners too
        want = ref.backlight_at(p, ref.quantize_leds(p, leds), ix.astype(float), iy.astype(float))
        err = np.abs(b[iy, ix] - want)
        assert err.max() < 1e-6 * p.peak_nits + 1e-4 * want.max(), name
        np.testing.assert_allclose(b[iy, ix], want, rtol=1e-4, atol=1e-6 * p.peak_nits)
