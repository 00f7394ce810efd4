# SPDX-License-Identifier: BSD-3-Clause
import numpy as np
import pytest

from dualmod.imaging.scenes import SCENES, scene


def test_required_scenes_exist():
    assert {"gradient", "night", "window", "specular", "text"} <= set(SCENES)


@pytest.mark.parametrize("name", sorted(SCENES))
@pytest.mark.parametrize("size", [(9, 16), (90, 160), (1080, 1920), (301, 211)])
def test_scene_shape_range_and_determinism(name, size):
    a = scene(name, *size)
    assert a.shape == size + (3,) and a.dtype == np.float32
    assert np.isfinite(a).all() and a.min() >= 0
    assert np.array_equal(a, scene(name, *size))


@pytest.mark.parametrize("name,lo,hi", [("gradient", 0.009, 4000), ("night", 0.01, 4000), ("window", 1.0, 3000),
                                        ("specular", 0.5, 4000), ("text", 0.0, 500)])
def test_scene_levels_in_nits(name, lo, hi):
    a = scene(name, 540, 960)
    y = a @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    assert y.min() >= lo * 0.99
    assert y.max() <= hi * 1.01 and y.max() >= hi * 0.9


def test_scene_is_resolution_independent():
    # the same continuous scene at two resolutions: area-averaged down, they agree in broad structure
    big = scene("window", 360, 640)
    small = scene("window", 90, 160)
    pooled = big.reshape(90, 4, 160, 4, 3).mean(axis=(1, 3))
    inside = np.abs(np.log((pooled + 1) / (small + 1))) < 0.1
    assert inside.mean() > 0.97


def test_unknown_scene():
    with pytest.raises(ValueError, match="valid: "):
        scene("forest", 10, 10)
