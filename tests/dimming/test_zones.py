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


@pytest.mark.parametrize("layout", ["grid", "hex"])
def test_stats_match_numpy(layout, rng):
    p = make_panel(width=50, height=30, layout=layout, rows=3, cols=5)
    t = (rng.random((30, 50, 3)) * 700).astype(np.float32)
    s = zone_stats(p, t, percentile=0.9)
    lab = zone_map(p).labels(30, 50)
    v = t.max(axis=2) / p.peak_nits
    for z in range(p.n_leds):
        vals = v[lab == z]
        assert s.max[z] == pytest.approx(vals.max(), rel=1e-6)
        assert s.mean[z] == pytest.approx(vals.mean(), rel=1e-5)
        assert s.percentile[z] == pytest.approx(np.percentile(vals, 90), rel=1e-5)


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
