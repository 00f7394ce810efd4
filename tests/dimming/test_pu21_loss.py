# SPDX-License-Identifier: BSD-3-Clause
"""optimal's PU21 term in one numba pass: value and gradient against torch autograd of the twin's expression."""

import numpy as np
import pytest
import torch
from conftest import make_panel

from dualmod.dimming._pu21_loss import pu21_error
from dualmod.display.torch_model import TorchDisplay
from dualmod.imaging.colour import REC709_LUMINANCE
from dualmod.metrics.pu21 import pu21_encode_torch, pu21_of_rgb


def _autograd(twin, leds, target):
    """(E, ∂E/∂B, B) by autograd through TorchDisplay's continuous LCD and torch PU21: what optimal used before."""
    w = torch.as_tensor(REC709_LUMINANCE, dtype=torch.float32)
    x = torch.as_tensor(leds, dtype=torch.float32)[None]
    b = twin.backlight(x, quantize=False).detach().requires_grad_(True)
    t = torch.as_tensor(target)[None]
    out_d = b * (twin.leakage + (1 - twin.leakage) * ((t / b - twin.leakage) / (1 - twin.leakage)).clamp(0, 1))
    err = (pu21_encode_torch((out_d + twin.ambient) @ w) - pu21_encode_torch(t @ w)) / 256.0
    e = (err * err).mean()
    e.backward()
    return float(e.detach()), b.grad.numpy()[0], b.detach().numpy()[0]


@pytest.mark.parametrize("channels", [1, 3])
def test_value_and_gradient_equal_autograd(rng, channels):
    """Random LEDs and an HDR target spanning every case: LCD closed (target below leakage), compensating, and
    fully open (target above the backlight), luminance under PU21's 0.005 cd/m² floor; with ambient light."""
    panel = make_panel(96, 64, rows=4, cols=6, peak=1000.0, leds={"channels": channels},
                       lcd={"response": "gamma", "gamma": 2.2, "bit_depth": 8, "contrast_ratio": 500.0},
                       panel={"ambient_lux": 50.0, "reflectance": 0.02})
    twin = TorchDisplay(panel, size=(32, 48))
    leds = rng.uniform(0.05, 1.0, (panel.n_leds, channels) if channels == 3 else panel.n_leds)
    target = np.exp(rng.normal(1.0, 3.0, (32, 48, 3))).astype(np.float32)
    target[:4] = 1e-5                                                         # PU21's clamp
    e_ref, g_ref, b = _autograd(twin, leds, target)
    t = target / np.maximum(b, 1e-12)
    assert (t < 1 / 500).any() and ((t > 1 / 500) & (t < 1)).any() and (t > 1).any()   # all three regimes
    e, g = pu21_error(b, target, pu21_of_rgb(target), twin.leakage, twin.ambient)
    assert e == pytest.approx(e_ref, rel=1e-4)
    assert g.shape == b.shape
    np.testing.assert_allclose(g, g_ref, rtol=2e-3, atol=2e-4 * np.abs(g_ref).max())


def test_compensated_pixels_have_exactly_zero_gradient():
    """Where the LCD compensates the shown light does not depend on B: the pass gives exactly 0 there (autograd
    of the twin's expression gives rounding noise, which steered float32 solves where the loss is flat)."""
    b = np.full((2, 3, 1), 200.0, np.float32)
    target = np.full((2, 3, 3), 50.0, np.float32)
    target[0, 0] = 500.0          # above the backlight: LCD fully open, dD/dB = 1
    e, g = pu21_error(b, target, pu21_of_rgb(target), 1e-3, 0.0)
    assert np.all(g[1] == 0.0) and np.all(g[0, 1:] == 0.0)
    assert g[0, 0, 0] < 0.0       # more backlight brings the clipped pixel nearer its target
    assert e > 0.0


def test_unlit_pixels_take_the_derivative_from_above():
    """At B = 0 a lit target is fully open (dD/dB = 1, so raising the LED helps) and a black one is closed (ε);
    with 0.01 cd/m² of reflected ambient light, so that PU21 is not at its 0.005 cd/m² floor."""
    b = np.zeros((1, 2, 1), np.float32)
    target = np.array([[[100.0, 100.0, 100.0], [0.0, 0.0, 0.0]]], np.float32)
    _, g0 = pu21_error(b, target, pu21_of_rgb(target), 1e-3, 0.01)
    _, g = pu21_error(b + 1e-3, target, pu21_of_rgb(target), 1e-3, 0.01)   # just above 0: the same regimes
    assert g0[0, 0, 0] < 0.0 and g0[0, 0, 0] == pytest.approx(g[0, 0, 0], rel=5e-2)
    assert g0[0, 1, 0] > 0.0 and g0[0, 1, 0] == pytest.approx(g[0, 1, 0], rel=5e-2)   # ε·(shown − target) > 0
