# SPDX-License-Identifier: BSD-3-Clause
"""Reinhard 2002 operators against their equations on analytic images."""

import numpy as np

from dualmod.imaging.tonemap import reinhard_global, reinhard_local, to_srgb8


def test_global_maps_the_log_average_to_the_key():
    rng = np.random.default_rng(0)
    lum = np.exp(rng.normal(0, 2, (32, 48)))
    img = np.repeat(lum[..., None], 3, axis=2).astype(np.float32)
    out = reinhard_global(img, key=0.18, white=1e9)           # L_white → ∞: L_d = L / (1 + L)
    logavg = np.exp(np.mean(np.log(1e-6 + lum)))
    scaled = 0.18 * lum / logavg
    assert np.allclose(out[..., 0], np.clip(scaled / (1 + scaled), 0, 1), rtol=1e-4)
    default = reinhard_global(img)                              # L_white = max: the brightest pixel is white
    assert np.isclose(default[..., 1].max(), 1.0, atol=1e-5) and default.min() >= 0


def test_colour_ratios_are_kept():
    img = np.tile(np.array([400.0, 200.0, 100.0], np.float32), (8, 8, 1))
    img[0, 0] *= 5
    out = reinhard_global(img)
    assert np.allclose(out[1:, :, 0] / out[1:, :, 2], 4.0, rtol=1e-4)     # [0, 0] is white, clipped


def test_local_on_a_flat_image_is_the_simple_curve():
    img = np.full((40, 40, 3), 250.0, np.float32)              # V1 = V2 everywhere: V = 0 at every scale
    out = reinhard_local(img)
    assert np.allclose(out, 0.18 / 1.18, rtol=1e-4)


def test_local_keeps_more_detail_next_to_a_light_than_global():
    img = np.full((64, 64, 3), 1.0, np.float32)
    img[28:36, 28:36] = 5000.0
    img[::2, :8] *= 1.5                                        # a texture far from the light
    g, loc = reinhard_global(img), reinhard_local(img)
    texture = lambda o: float(np.ptp(o[:8, :8, 1]))           # noqa: E731
    assert texture(loc) > texture(g)
    assert 0 <= loc.min() and loc.max() <= 1


def test_srgb_encoding():
    assert to_srgb8(np.array([0.0, 0.0031308, 1.0])).tolist() == [0, 10, 255]
