# SPDX-License-Identifier: BSD-3-Clause
"""dm.evaluate: identities, monotone responses to degradations, and the display measures' definitions."""

import numpy as np
import pytest

import dualmod as dm
from dualmod.metrics import METRICS
from dualmod.metrics.context import Pair
from dualmod.metrics.cvvdp import CvvdpMissing
from dualmod.metrics.display import clipped_fraction, contrast, halo
from dualmod.metrics.fidelity import ssim


@pytest.fixture
def img():
    return dm.scene("specular", 90, 160)


def test_identity_scores(img):
    s = dm.evaluate(img, img, metrics=["pu21_psnr", "pu21_ssim", "clipped_fraction", "halo", "delta_itp"])
    assert s["pu21_psnr"] == float("inf")
    assert s["pu21_ssim"] == pytest.approx(1.0, abs=1e-6)
    assert s["clipped_fraction"] == 0.0 and s["halo"] == 0.0
    assert s["delta_itp"] == pytest.approx(0.0, abs=1e-9)


def test_monotone_in_noise(img):
    rng = np.random.default_rng(0)
    scores = []
    for sigma in (0.01, 0.05, 0.2):
        noisy = np.clip(img * (1 + sigma * rng.standard_normal(img.shape)), 0, None).astype(np.float32)
        scores.append(dm.evaluate(img, noisy, metrics=["pu21_psnr", "pu21_ssim", "delta_itp"]))
    for m in ("pu21_psnr", "pu21_ssim"):
        assert scores[0][m] > scores[1][m] > scores[2][m], m
    assert scores[0]["delta_itp"] < scores[1]["delta_itp"] < scores[2]["delta_itp"]


def test_monotone_in_blur_and_clipping(img):
    import cv2

    blurred = [cv2.GaussianBlur(img, (0, 0), s) for s in (0.7, 2.0, 5.0)]
    psnr = [dm.evaluate(img, b, metrics=["pu21_psnr"])["pu21_psnr"] for b in blurred]
    assert psnr[0] > psnr[1] > psnr[2]
    clipped = [np.minimum(img, c) for c in (2000.0, 500.0, 100.0)]
    cf = [dm.evaluate(img, c, metrics=["clipped_fraction"])["clipped_fraction"] for c in clipped]
    assert cf[0] < cf[1] < cf[2]


def test_display_measures_by_definition():
    t = np.zeros((10, 10, 3), np.float32)
    t[:5] = 100.0  # bright top, black bottom
    d = t.copy()
    d[5:] = 0.5  # light leaking into the black half
    d[0, :4] = 50.0  # four clipped pixels
    pair = Pair(t, d)
    assert clipped_fraction(pair) == pytest.approx(4 / 50)
    pu = dm.metrics.pu21_encode
    assert halo(pair) == pytest.approx(float(pu(0.5) - pu(0.0)), rel=1e-4)
    assert contrast(pair) == pytest.approx(100.0 / 0.5)


def test_power_from_simulation():
    p = dm.Panel.load("fald-1080p-576")
    t = dm.scene("night", p.height, p.width)
    sim = dm.simulate(p, dm.solve(p, t, method="max"), t)
    s = dm.evaluate(t, sim)
    assert s["power"] == pytest.approx(sim.power) and s["power_saving"] == pytest.approx(1 - sim.power)
    assert "power" not in dm.evaluate(t, sim.displayed)
    with pytest.raises(dm.InputError, match="LED frame"):
        dm.evaluate(t, sim.displayed, metrics=["power"])


def test_ssim_matches_a_direct_formula_on_constant_images():
    a = np.full((32, 32), 100.0, np.float32)
    b = np.full((32, 32), 120.0, np.float32)
    c1 = (0.01 * 256) ** 2
    # float32 blurs of squares: ~1e-5 relative noise in the variances, far below C2
    assert ssim(a, b) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1), rel=1e-4)


def test_errors_and_optional_judge(img):
    with pytest.raises(dm.InputError, match="unknown metric"):
        dm.evaluate(img, img, metrics=["sharpness"])
    with pytest.raises(dm.InputError, match="NaN"):
        dm.evaluate(img, np.full_like(img, np.nan))
    with pytest.raises(dm.InputError, match="must both be"):
        dm.evaluate(img, img[:10])
    try:
        import pycvvdp  # noqa: F401
    except Exception:
        with pytest.raises(CvvdpMissing, match="pip install 'dualmod\\[judge\\]'"):
            dm.evaluate(img, img, metrics=["cvvdp_jod"])
    assert set(METRICS) >= {"pu21_psnr", "pu21_ssim", "delta_itp", "power", "power_saving", "clipped_fraction",
                            "halo", "contrast", "cvvdp_jod"}


def test_one_bad_value_anywhere_is_found():
    from dualmod.display._fastmath import has_invalid_values

    rng = np.random.default_rng(7)
    img = (rng.random((13, 17, 3)) * 500).astype(np.float32)
    img[0, 0, 0] = -0.0
    img[5, 5, 1] = np.finfo(np.float32).max
    assert not has_invalid_values(img)
    for bad in (np.nan, np.inf, -np.inf, -1.0, -1e-40):
        for where in [(0, 0, 0), (12, 16, 2), (6, 3, 1)]:
            x = img.copy()
            x[where] = bad
            assert has_invalid_values(x), (bad, where)
            counts = "0 NaN/Inf values and 1 negative" if np.isfinite(bad) else "1 NaN/Inf values and 0 negative"
            with pytest.raises(dm.InputError, match=f"displayed has {counts} values"):
                dm.evaluate(img, x)
