# SPDX-License-Identifier: BSD-3-Clause
"""The three implementations of DESIGN §3 agree: numba (production), numpy reference, torch twin.

Agreement means: backlights within 1e-4 relative (plus 1e-6·peak absolute for the
Gaussian truncation); LCD codes identical except where the reference's exact t lies
within 1e-5 (relative) of the decision threshold between two adjacent codes (float32
vs float64 rounding of a tie); displayed images within 1e-4 relative wherever the
codes agree.
"""

import numpy as np
import pytest
import torch

import dualmod as dm
from dualmod.display import reference as ref
from dualmod.display.backlight import backlight_model
from dualmod.display.lcd import lcd_model
from dualmod.display.torch_model import TorchDisplay

from conftest import make_panel


def random_panel(seed, tmp_path):
    rng = np.random.default_rng(seed)
    w, h = int(rng.integers(24, 72)), int(rng.integers(16, 48))
    layout = ["grid", "hex", "positions"][seed % 3]
    kw = {}
    if layout == "positions":
        n = int(rng.integers(3, 20))
        xy = np.stack([rng.uniform(-0.5, w - 0.5, n), rng.uniform(-0.5, h - 0.5, n)], axis=1)
        np.savetxt(tmp_path / f"pos{seed}.csv", xy, delimiter=",")
        kw.update(positions_file=f"pos{seed}.csv", base_dir=tmp_path)
    else:
        kw.update(rows=int(rng.integers(1, 6)), cols=int(rng.integers(2, 8)))
    model = ["gaussian", "gaussian_mixture", "radial_table"][(seed // 3) % 3]
    psf = {"gaussian": {"model": "gaussian", "sigma": float(rng.uniform(2, 12))},
           "gaussian_mixture": {"model": "gaussian_mixture", "weights": [0.7, 0.3],
                                "sigmas": [float(rng.uniform(2, 6)), float(rng.uniform(6, 15))]},
           "radial_table": {"model": "radial_table", "radius": [0, 3, 7, 12],
                            "value": [1, 0.7, float(rng.uniform(0.1, 0.3)), 0]}}[model]
    if seed % 2:
        psf.update(boundary="mirror", edge_reflectance=float(rng.uniform(0.2, 1.0)))
    lcd = [{"response": "gamma", "gamma": float(rng.uniform(1.8, 2.6)), "bit_depth": 8},
           {"response": "srgb", "bit_depth": 10},
           {"response": "gamma", "gamma": 2.2, "bit_depth": 12}][seed % 3]
    lcd["contrast_ratio"] = float(rng.uniform(100, 5000))
    leds = {"channels": 3 if seed % 4 == 3 else 1, "bit_depth": int(rng.integers(6, 17))}
    panel = {"ambient_lux": float(rng.uniform(0, 300)), "reflectance": 0.02}
    return make_panel(w, h, peak=float(rng.uniform(200, 4000)), layout=layout, psf=psf, lcd=lcd, leds=leds,
                      panel=panel, **kw)


def random_frame(p, rng):
    leds = rng.random((p.n_leds, p.leds.channels)) ** 2
    leds[rng.random(p.n_leds) < 0.2] = 0.0
    target = (rng.random((p.height, p.width, 3)) ** 3 * p.peak_nits * 1.2).astype(np.float32)
    return leds, target


def reference_on_grid(p, size, leds):
    """The reference backlight at the pixel centres of a reduced (h, w) grid, x = (j + ½)·W/w − ½ (as the
    twin documents), for LED levels (N, C)."""
    ys = (np.arange(size[0]) + 0.5) * p.height / size[0] - 0.5
    xs = (np.arange(size[1]) + 0.5) * p.width / size[1] - 0.5
    return ref.backlight_at(p, ref.quantize_leds(p, leds), xs[None, :], ys[:, None])


def assert_codes_agree(codes, t_ref, b_ref, p):
    """Codes match the reference wherever light reaches the pixel; returns the mask of equal codes.

    Where the reference backlight is below the Gaussian truncation level (1e-6 of peak) the
    fast paths see no light at all and send code 0; the light shown there is < 1e-6·peak·1
    either way, which the displayed-image comparison checks.
    """
    codes = np.asarray(codes).astype(np.int64)
    lit = np.broadcast_to(b_ref, t_ref.shape) > 1e-6 * p.peak_nits
    want = np.floor(lcd_model(p).response.inverse(t_ref) * lcd_model(p).response.max_code + 0.5).astype(np.int64)
    diff = (codes != want) & lit
    if diff.any():
        assert np.abs(codes - want)[diff].max() == 1
        th = lcd_model(p).response.thresholds[np.minimum(codes, want)[diff]]
        assert np.all(np.abs(t_ref[diff] - th) <= 1e-5 * th + 1e-12), "a code differs away from a tie"
    return ~diff & lit


@pytest.mark.parametrize("seed", range(12))
def test_numba_reference_torch_agree(seed, tmp_path):
    p = random_panel(seed, tmp_path)
    rng = np.random.default_rng(100 + seed)
    leds, target = random_frame(p, rng)
    r = ref.simulate(p, leds, target)
    sim = dm.simulate(p, leds if p.leds.channels == 3 else leds[:, 0], target)
    peak = p.peak_nits
    b_nb = sim.backlight.reshape(p.height, p.width, -1)
    np.testing.assert_allclose(b_nb, r["backlight"], rtol=1e-4, atol=1e-6 * peak)
    same = assert_codes_agree(sim.lcd, r["t"], r["backlight"], p)
    lit = np.broadcast_to(r["backlight"], target.shape) > 1e-6 * peak
    assert same.sum() > 0.999 * lit.sum()
    np.testing.assert_allclose(sim.displayed[same], r["displayed"][same], rtol=1e-4, atol=1e-6 * peak)
    np.testing.assert_allclose(sim.displayed[~lit], r["displayed"][~lit], rtol=0, atol=2e-6 * peak)
    np.testing.assert_allclose(sim.leds.reshape(p.n_leds, -1), r["levels"], rtol=1e-12)

    tw = TorchDisplay(p, dtype=torch.float64)
    out = tw(torch.as_tensor(leds), torch.as_tensor(target))
    b_t = out["backlight"][0].numpy()
    np.testing.assert_allclose(b_t, r["backlight"], rtol=1e-4, atol=1e-6 * peak)
    same_t = assert_codes_agree(out["codes"][0].numpy(), r["t"], r["backlight"], p)
    assert same_t.sum() > 0.999 * lit.sum()
    d_t = out["displayed"][0].detach().numpy()
    np.testing.assert_allclose(d_t[same_t], r["displayed"][same_t], rtol=1e-4, atol=1e-6 * peak)


@pytest.mark.parametrize("seed", [0, 4, 7])
def test_reduced_torch_model_samples_the_full_model(seed, tmp_path):
    p = random_panel(seed, tmp_path)
    rng = np.random.default_rng(seed)
    leds, _ = random_frame(p, rng)
    size = (p.height // 3, p.width // 2)
    tw = TorchDisplay(p, size=size, dtype=torch.float64)
    b = tw.backlight(torch.as_tensor(leds))[0].numpy()
    np.testing.assert_allclose(b, reference_on_grid(p, size, leds), rtol=1e-4, atol=1e-6 * p.peak_nits)


def test_torch_float32_is_differentiable_and_close(small_panel, rng):
    p = small_panel
    leds, target = random_frame(p, rng)
    tw = TorchDisplay(p)
    x = torch.tensor(leds[:, 0], dtype=torch.float32, requires_grad=True)
    out = tw(x, torch.as_tensor(target), lcd="continuous")
    loss = ((out["displayed"] - torch.as_tensor(target)) ** 2).mean()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    r = ref.simulate(p, leds, target)
    np.testing.assert_allclose(out["backlight"][0].detach().numpy(), r["backlight"], rtol=1e-4, atol=1e-3)


def test_torch_gradient_matches_finite_difference(small_panel):
    p = small_panel
    rng = np.random.default_rng(5)
    leds, target = random_frame(p, rng)
    tw = TorchDisplay(p, dtype=torch.float64)
    tgt = torch.as_tensor(target, dtype=torch.float64)

    def f(x):
        return tw(x, tgt, quantize_leds=False, lcd="continuous")["displayed"].sum()

    x = torch.tensor(leds[:, 0] * 0.8 + 0.1, requires_grad=True)
    f(x).backward()
    i = int(np.argmax(np.abs(x.grad.numpy())))
    h = 1e-6
    xp, xm = x.detach().clone(), x.detach().clone()
    xp[i] += h
    xm[i] -= h
    fd = (f(xp) - f(xm)).item() / (2 * h)
    assert x.grad[i].item() == pytest.approx(fd, rel=1e-4)


def test_batched_torch_matches_single(small_panel, rng):
    tw = TorchDisplay(small_panel, dtype=torch.float64)
    leds = torch.as_tensor(rng.random((4, small_panel.n_leds)))
    batch = tw.backlight(leds)
    for k in range(4):
        torch.testing.assert_close(batch[k], tw.backlight(leds[k])[0])


@pytest.mark.parametrize("size", [(16, 24), (9, 14), (7, 11), (32, 48)])
def test_numpy_resample_is_torchs_area_average(small_panel, size):
    """The numba area average the solvers use on a target equals torch's interpolate(mode="area"), for
    grids that divide the panel and grids that do not (overlapping windows), and the identity."""
    rng = np.random.default_rng(3)
    img = (rng.random((small_panel.height, small_panel.width, 3)) ** 4 * 4000).astype(np.float32)
    for dtype, tol in ((torch.float32, 2e-6), (torch.float64, 1e-13)):
        twin = TorchDisplay(small_panel, size=size, dtype=dtype)
        a = twin.resample(img.astype(np.float64) if dtype == torch.float64 else img)
        b = twin.resample(torch.as_tensor(img, dtype=dtype))
        assert a.dtype == dtype and a.shape == b.shape == size + (3,)
        torch.testing.assert_close(a, b, rtol=tol, atol=0)
    # a window's mean, by hand: output (0, 0) over rows/columns ⌊0⌋ … ⌈H/h⌉ − 1
    twin = TorchDisplay(small_panel, size=size, dtype=torch.float64)
    h1, w1 = -(-small_panel.height // size[0]), -(-small_panel.width // size[1])
    np.testing.assert_allclose(twin.resample(img.astype(np.float64))[0, 0].numpy(),
                               img[:h1, :w1].astype(np.float64).mean(axis=(0, 1)), rtol=1e-12)
    with pytest.raises(ValueError, match="one"):
        twin.resample(img[None])


def test_batched_rgb_twin_matches_reference_per_frame(tmp_path):
    # seed 31: a hex layout (rows of unequal length, padded in the twin), a two-term Gaussian mixture,
    # mirror boundaries and RGB LEDs: a batch of three frames, each against the reference's backlight
    p = random_panel(31, tmp_path)
    assert (p.leds.layout, p.psf.model, p.psf.boundary, p.leds.channels) == ("hex", "gaussian_mixture", "mirror", 3)
    rng = np.random.default_rng(31)
    frames = [random_frame(p, rng)[0] for _ in range(3)]
    tw = TorchDisplay(p, size=(p.height // 2, p.width // 3), dtype=torch.float64)
    assert tw.separable
    batch = tw.backlight(torch.as_tensor(np.stack(frames))).numpy()
    for k, leds in enumerate(frames):
        np.testing.assert_allclose(batch[k], reference_on_grid(p, tw.size, leds), rtol=1e-4, atol=1e-6 * p.peak_nits)


def test_twin_splits_a_long_row_of_a_positions_layout(tmp_path):
    # twelve LEDs share one y (30 with their mirror images), the others each have their own: the twin splits
    # the long row into sub-rows (each with that row's vertical profile) instead of padding every lone LED's
    # row to 30 places (75 x 30 slots for 270 virtual LEDs before)
    rng = np.random.default_rng(3)
    row = np.stack([np.linspace(4, 67, 12), np.full(12, 20.0)], axis=1)
    lone = np.stack([rng.uniform(0, 71, 24), 0.5 + np.arange(24) * 1.9], axis=1)
    np.savetxt(tmp_path / "pos.csv", np.concatenate([row, lone]), delimiter=",")
    p = make_panel(72, 48, peak=1000.0, layout="positions", positions_file="pos.csv", base_dir=tmp_path,
                   psf={"model": "gaussian_mixture", "weights": [0.7, 0.3], "sigmas": [3.0, 9.0],
                        "boundary": "mirror", "edge_reflectance": 0.7})
    tw = TorchDisplay(p, size=(24, 36), dtype=torch.float64)
    nv = len(backlight_model(p).vleds)
    assert tw.separable and tw.src.shape[1] < 12 and tw.src.numel() <= 2 * nv, (tuple(tw.src.shape), nv)
    frames = rng.random((2, p.n_leds))
    batch = tw.backlight(torch.as_tensor(frames)).numpy()
    for k, leds in enumerate(frames):
        np.testing.assert_allclose(batch[k], reference_on_grid(p, tw.size, leds[:, None]), rtol=1e-4,
                                   atol=1e-6 * p.peak_nits)
