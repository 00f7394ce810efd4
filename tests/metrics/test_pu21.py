# SPDX-License-Identifier: BSD-3-Clause
import numpy as np
import pytest
import torch

from dualmod.metrics.pu21 import pu21_decode, pu21_encode, pu21_encode_torch, pu21_psnr


def test_reference_values():
    v = pu21_encode([0.005, 100.0, 10000.0])
    assert v[0] == pytest.approx(0.0, abs=1e-6)
    assert v[1] == pytest.approx(256.38, abs=0.01)
    assert v[2] == pytest.approx(595.39, abs=0.01)


def test_round_trip_and_monotone():
    y = np.geomspace(0.005, 10000, 2001)
    v = pu21_encode(y)
    assert np.all(np.diff(v) > 0)
    np.testing.assert_allclose(pu21_decode(v[1:]), y[1:], rtol=1e-9)


def test_torch_twin_matches():
    y = np.geomspace(0.001, 20000, 500)
    np.testing.assert_allclose(pu21_encode_torch(torch.tensor(y)).numpy(), pu21_encode(y), rtol=1e-12)


def test_psnr_against_an_independent_formula():
    rng = np.random.default_rng(0)
    ref = rng.random((32, 48)) * 500
    tst = ref * (1 + 0.05 * rng.standard_normal(ref.shape))
    p = [0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166, 0.9099517204, 596.3148142]

    def enc(y):  # written out independently from the module
        y = np.minimum(np.maximum(y, 0.005), 10000)
        return np.maximum(p[6] * (((p[0] + p[1] * y ** p[3]) / (1 + p[2] * y ** p[3])) ** p[4] - p[5]), 0)

    want = 20 * np.log10(256) - 10 * np.log10(np.mean((enc(ref) - enc(tst)) ** 2))
    assert pu21_psnr(ref, tst) == pytest.approx(want, abs=0.01)
    assert pu21_psnr(ref, ref) == float("inf")


def test_fast_rgb_path_matches_the_formula():
    from dualmod.metrics.pu21 import pu21_of_rgb

    rng = np.random.default_rng(3)
    rgb = (rng.random((64, 80, 3)) ** 4 * 12000).astype(np.float32)
    y = rgb.astype(np.float64) @ [0.2126, 0.7152, 0.0722]
    np.testing.assert_allclose(pu21_of_rgb(rgb), pu21_encode(y), rtol=1e-5, atol=1e-4)


def test_rgb_psnr_equals_independent_implementation_within_a_hundredth_db():
    rng = np.random.default_rng(4)
    ref = (rng.random((90, 120, 3)) ** 3 * 2000).astype(np.float32)
    tst = (ref * (1 + 0.1 * rng.standard_normal(ref.shape))).clip(0).astype(np.float32)
    p = [0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166, 0.9099517204, 596.3148142]

    def enc(y):
        y = np.minimum(np.maximum(y, 0.005), 10000)
        return np.maximum(p[6] * (((p[0] + p[1] * y ** p[3]) / (1 + p[2] * y ** p[3])) ** p[4] - p[5]), 0)

    lum = lambda a: a.astype(np.float64) @ [0.2126, 0.7152, 0.0722]  # noqa: E731
    want = 20 * np.log10(256) - 10 * np.log10(np.mean((enc(lum(ref)) - enc(lum(tst))) ** 2))
    assert abs(pu21_psnr(ref, tst) - want) < 0.01
