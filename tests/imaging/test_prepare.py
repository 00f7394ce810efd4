# SPDX-License-Identifier: BSD-3-Clause
import numpy as np
import pytest

import dualmod as dm
from dualmod.imaging.prepare import AUTO_KEY_NITS, auto_exposure, eetf_bt2390, letterbox, prepare_target

from conftest import make_panel

Y = np.array([0.2126, 0.7152, 0.0722], np.float32)


def test_letterbox_keeps_aspect_and_centres():
    img = np.ones((100, 400, 3), np.float32)  # 4:1 into 64 x 36 (16:9)
    out = letterbox(img, 36, 64)
    rows = np.nonzero(out[:, 32, 0])[0]
    assert out.shape == (36, 64, 3)
    assert rows.size == 16 and rows[0] == 10  # 64/4 = 16 rows, centred
    np.testing.assert_allclose(out[:, :, 0].max(axis=0), 1.0, rtol=1e-6)  # full width used
    tall = letterbox(np.ones((400, 100, 3), np.float32), 36, 64)
    cols = np.nonzero(tall[18, :, 0])[0]
    assert cols.size == 9 and cols[0] == 27


def test_downscale_is_antialiased():
    # a one-pixel checkerboard of 0 and 2 must average to 1, not alias to 0 or 2
    h, w = 144, 256  # exactly 4x the 36 x 64 panel, and a non-integer case below
    board = ((np.add.outer(np.arange(h), np.arange(w)) % 2) * 2.0).astype(np.float32)
    out = letterbox(np.repeat(board[..., None], 3, axis=2), 36, 64)
    np.testing.assert_allclose(out, 1.0, atol=1e-6)
    odd = letterbox(np.repeat(board[..., None], 3, axis=2)[:, :250], 36, 64)  # factor 3.9: area weights
    inner = odd[:, odd[18, :, 0] > 0][:, 1:-1]
    np.testing.assert_allclose(inner, 1.0, atol=0.05)


def test_upscale_no_negative_ringing():
    img = np.zeros((9, 16, 3), np.float32)
    img[4, 8] = 1000.0
    out = letterbox(img, 90, 160)
    assert out.min() >= 0 and out.max() > 500


def test_auto_exposure_puts_log_average_at_key():
    rng = np.random.default_rng(0)
    img = (np.exp(rng.normal(0, 1.5, (50, 80))) * 0.01)[..., None].repeat(3, axis=2).astype(np.float32)
    k = auto_exposure(img)
    y = (img * k) @ Y
    assert np.exp(np.mean(np.log(y))) == pytest.approx(AUTO_KEY_NITS, rel=1e-4)
    assert auto_exposure(img * 7) == pytest.approx(k / 7, rel=1e-5)  # deterministic, scale-invariant


def test_number_exposure_and_clip():
    p = make_panel(width=64, height=36, peak=1000)
    img = np.full((36, 64, 3), 3.0, np.float32)
    img[0, 0] = 50.0
    t = prepare_target(p, img, exposure=100.0)
    assert t[10, 10, 0] == pytest.approx(300.0)
    assert t[0, 0, 0] == pytest.approx(1000.0)  # 5000 clipped at peak
    assert t.dtype == np.float32 and t.shape == (36, 64, 3)


def test_rolloff_is_monotone_continuous_and_below_peak():
    lum = np.linspace(0, 4000, 4001)
    out = eetf_bt2390(lum, 4000.0, 1000.0)
    assert np.all(np.diff(out) >= -1e-9)
    assert out.max() <= 1000.0 + 1e-9 and out[-1] == pytest.approx(1000.0, rel=1e-6)
    # identity below the knee start (KS in PQ terms; well below peak)
    np.testing.assert_allclose(out[:200], lum[:200], rtol=1e-9)
    assert np.max(np.abs(np.diff(out, 2))) < 1.0  # no kinks
    np.testing.assert_allclose(eetf_bt2390(lum[:900], 900.0, 1000.0), lum[:900])  # nothing to compress


def test_rolloff_keeps_hue():
    p = make_panel(width=64, height=36, peak=1000)
    img = np.zeros((36, 64, 3), np.float32)
    img[..., 0], img[..., 1], img[..., 2] = 3000, 1500, 300
    img[:, :32] /= 30
    t = prepare_target(p, img, exposure=1.0, fit="rolloff")
    assert t.max() <= 1000.0
    np.testing.assert_allclose(t[5, 50] / t[5, 50, 0], [1.0, 0.5, 0.1], rtol=1e-5)


def test_prepare_target_validation():
    p = make_panel()
    with pytest.raises(dm.InputError, match="exposure"):
        prepare_target(p, np.ones((4, 4, 3)), exposure=-1)
    with pytest.raises(dm.InputError, match="exposure"):
        prepare_target(p, np.ones((4, 4, 3)), exposure="bright")
    with pytest.raises(dm.InputError, match="fit"):
        prepare_target(p, np.ones((4, 4, 3)), fit="squash")
    with pytest.raises(dm.InputError, match="shape"):
        prepare_target(p, np.ones((4, 4, 5)))
    with pytest.warns(dm.errors.ImageSanitizedWarning):
        t = prepare_target(p, np.full((4, 4, 3), np.nan), exposure=1.0)
    assert np.isfinite(t).all()
