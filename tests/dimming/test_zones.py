# SPDX-License-Identifier: BSD-3-Clause
"""Zone maps and one-pass zone statistics against direct numpy computations."""

import numpy as np
import pytest

import dualmod as dm
from dualmod.dimming.zones import zone_map, zone_stats

from conftest import make_panel


def test_grid_zones_are_cells():
    p = make_panel(width=12, height=6, rows=2, cols=3)
    lab = zone_map(p).labels(6, 12)
    want = np.repeat(np.repeat(np.arange(6).reshape(2, 3), 3, axis=0), 4, axis=1)
    np.testing.assert_array_equal(lab, want)


def test_voronoi_zones_are_nearest_led():
    p = make_panel(width=40, height=30, layout="hex", rows=3, cols=4)
    lab = zone_map(p).labels(30, 40)
    ys, xs = np.mgrid[0:30, 0:40]
    pos = p.led_positions
    d = (xs[..., None] - pos[:, 0]) ** 2 + (ys[..., None] - pos[:, 1]) ** 2
    np.testing.assert_array_equal(lab, np.argmin(d, axis=2))
    assert zone_map(p).sizes.sum() == 30 * 40


@pytest.mark.parametrize("layout, width, height, rows, cols", [("grid", 50, 30, 3, 5), ("hex", 50, 30, 3, 5),
                                                                ("grid", 53, 31, 4, 6), ("grid", 20, 9, 12, 25)])
def test_stats_match_numpy(layout, width, height, rows, cols, rng):
    # uneven cells, and more LED rows/columns than pixels (empty zones), too
    p = make_panel(width=width, height=height, layout=layout, rows=rows, cols=cols)
    t = (rng.random((height, width, 3)) * 700).astype(np.float32)
    s = zone_stats(p, t, percentile=0.9)
    lab = zone_map(p).labels(height, width)
    v = t.max(axis=2) / p.peak_nits
    for z in range(p.n_leds):
        vals = v[lab == z]
        if vals.size == 0:
            assert s.max[z] == 0 and s.mean[z] == 0 and s.percentile[z] == 0
            continue
        assert s.max[z] == pytest.approx(vals.max(), rel=1e-6)
        assert s.mean[z] == pytest.approx(vals.mean(), rel=1e-5)
        assert s.percentile[z] == pytest.approx(np.percentile(vals, 90), rel=1e-5)


def _zone_values(height, width, kind, rng):
    """Per-zone value patterns that exercise every branch of the radix select."""
    y, x = np.mgrid[0:height, 0:width]
    if kind == "smooth":  # neighbours share radix bins: deep levels, long runs in one bin
        return 1.0 + 1e-4 * (x + width * y)
    if kind == "ties":  # few distinct values: order statistics repeat, rank k+1 often in the next bin
        return rng.integers(0, 4, (height, width)).astype(np.float64) * 0.25
    if kind == "mixed":  # black, -0.0, tiny and bright values, many octaves
        v = np.exp(rng.normal(0, 4, (height, width)))
        v[rng.random((height, width)) < 0.3] = 0.0
        v[rng.random((height, width)) < 0.1] = -0.0
        return v
    if kind == "flat":
        return np.full((height, width), 0.37)
    return rng.random((height, width))


@pytest.mark.parametrize("kind", ["random", "smooth", "ties", "mixed", "flat"])
@pytest.mark.parametrize("level", [0.0, 0.5, 0.9, 0.95, 0.999, 1.0])
def test_percentile_is_exact_for_every_distribution(kind, level, rng):
    # zones of 30x40 = 1200 pixels: far more than the sorted small set, so the radix levels all run
    p = make_panel(width=120, height=60, rows=2, cols=3)
    v = _zone_values(60, 120, kind, rng).astype(np.float32)
    t = np.repeat(v[..., None], 3, axis=2) * np.float32(p.peak_nits)
    t[..., 1] *= 0.5  # max(R, G, B) is R
    s = zone_stats(p, t, percentile=level)
    lab = zone_map(p).labels(60, 120)
    for z in range(p.n_leds):
        vals = t[..., 0][lab == z].astype(np.float64)
        want = np.percentile(vals, 100 * level) / p.peak_nits
        assert s.percentile[z] == pytest.approx(want, rel=1e-6, abs=1e-12), (kind, level, z)


def test_percentile_per_channel_on_hex_zones(rng):
    p = make_panel(width=90, height=60, layout="hex", rows=3, cols=4, leds={"channels": 3})
    t = (np.exp(rng.normal(0, 2, (60, 90, 3))) * 10).astype(np.float32)
    s = zone_stats(p, t, percentile=0.95)
    lab = zone_map(p).labels(60, 90)
    for z in range(p.n_leds):
        for c in range(3):
            want = np.percentile(t[..., c][lab == z].astype(np.float64), 95) / p.peak_nits
            assert s.percentile[z, c] == pytest.approx(want, rel=1e-6)


def test_rgb_stats_per_channel(rng):
    p = make_panel(width=20, height=10, rows=1, cols=2, leds={"channels": 3})
    t = (rng.random((10, 20, 3)) * 300).astype(np.float32)
    s = zone_stats(p, t)
    assert s.max.shape == (2, 3)
    np.testing.assert_allclose(s.max[0], t[:, :10].reshape(-1, 3).max(axis=0) / p.peak_nits, rtol=1e-6)


def test_stats_reject_bad_values(small_panel):
    t = np.ones((small_panel.height, small_panel.width, 3), np.float32)
    t[1, 1, 1] = np.nan
    with pytest.raises(dm.InputError, match="NaN"):
        zone_stats(small_panel, t)
    t[1, 1, 1] = -1
    with pytest.raises(dm.InputError, match="negative"):
        zone_stats(small_panel, t)


def test_an_led_whose_zone_misses_the_image_gets_zeros(tmp_path):
    # the last LED sits on the one before it: ties go to the lower index, so its Voronoi cell is empty
    (tmp_path / "leds.csv").write_text("x,y\n10,10\n30,20\n30,20\n")
    p = make_panel(width=40, height=30, layout="positions", positions_file="leds.csv", base_dir=tmp_path)
    assert list(zone_map(p).sizes) == [630, 570, 0]
    s = zone_stats(p, np.full((30, 40, 3), 250.0, np.float32), percentile=0.5)
    np.testing.assert_allclose(s.percentile, [0.5, 0.5, 0.0])
    np.testing.assert_allclose(s.mean, [0.5, 0.5, 0.0])
