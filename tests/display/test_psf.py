# SPDX-License-Identifier: BSD-3-Clause
import numpy as np
import pytest

from dualmod.display.psf import GAUSS_TRUNCATION, make_psf
from dualmod.panel import PsfSpec


def test_gaussian_values():
    psf = make_psf(PsfSpec(model="gaussian", sigma=8.0))
    assert psf.evaluate(0, 0) == 1.0
    assert psf.evaluate(8.0, 0) == pytest.approx(np.exp(-0.5))
    assert psf.evaluate(3.0, 4.0) == pytest.approx(np.exp(-25 / 128))
    assert psf.terms is not None and len(psf.terms) == 1
    r = psf.terms[0].radius
    assert psf.terms[0].profile(r) == pytest.approx(GAUSS_TRUNCATION)
    assert psf.evaluate(r + 0.01, 0.0, truncate=True) == 0.0
    assert psf.evaluate(r - 0.01, 0.0, truncate=True) > 0.0


def test_mixture_is_weighted_sum():
    psf = make_psf(PsfSpec(model="gaussian_mixture", weights=(0.7, 0.3), sigmas=(5.0, 20.0)))
    d = np.array([0.0, 5.0, 20.0])
    want = 0.7 * np.exp(-d**2 / 50) + 0.3 * np.exp(-d**2 / 800)
    np.testing.assert_allclose(psf.evaluate(d, 0 * d), want)
    assert psf.radius == pytest.approx(20.0 * np.sqrt(-2 * np.log(GAUSS_TRUNCATION)))


def test_radial_table_interpolates_and_ends():
    psf = make_psf(PsfSpec(model="radial_table", radius=(0.0, 10.0, 20.0), value=(1.0, 0.5, 0.1)))
    assert psf.evaluate(0.0, 5.0) == pytest.approx(0.75)
    assert psf.evaluate(6.0, 8.0) == pytest.approx(0.5)
    assert psf.evaluate(20.0, 0.0) == pytest.approx(0.1)
    assert psf.evaluate(20.5, 0.0) == 0.0
    assert psf.radius == 20.0


def test_image_kernel_centre_bilinear_and_flip():
    k = np.zeros((5, 7))
    k[2, 3] = 1.0  # centre sample ((7-1)/2, (5-1)/2)
    k[2, 4] = 0.5
    psf = make_psf(PsfSpec(model="image", image=k))
    assert psf.evaluate(0.0, 0.0) == 1.0
    assert psf.evaluate(1.0, 0.0) == 0.5
    assert psf.evaluate(0.5, 0.0) == pytest.approx(0.75)
    assert psf.evaluate(-1.0, 0.0) == 0.0
    assert psf.evaluate_flipped(-1.0, 0.0, True, False) == 0.5
    assert psf.evaluate(0.0, 0.5) == pytest.approx(0.5)  # towards a zero row
    assert psf.evaluate(10.0, 0.0) == 0.0
    assert not psf.symmetric


def test_unknown_model():
    with pytest.raises(ValueError, match="valid: gaussian"):
        make_psf(PsfSpec(model="airy"))
