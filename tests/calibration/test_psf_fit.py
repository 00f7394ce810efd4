# SPDX-License-Identifier: BSD-3-Clause
"""PSF and peak recovery from virtual-camera captures, and every way a capture folder can be wrong."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import dualmod as dm
from calibration.captures import (CaptureError, apply_homography, default_groups, homography, led_pitch,
                                  load_captures)
from calibration.psf_fit import fit_psf
from calibration.virtual import VirtualCamera, render_captures
from dualmod.display.backlight import backlight

LCD = {"response": "gamma", "gamma": 2.2, "bit_depth": 8, "contrast_ratio": 1000.0}


def truth_panel(psf, *, width=480, height=270, layout="grid", rows=9, cols=16, peak=800.0):
    return dm.Panel.from_dict({"panel": {"name": "truth", "width": width, "height": height, "peak_nits": peak},
                               "leds": {"layout": layout, "rows": rows, "cols": cols}, "psf": psf, "lcd": LCD})


def backlight_error(truth, fitted, n=4, seed=0) -> float:
    """Largest |B_fitted − B_true| over random LED frames, as a fraction of the true peak."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(n):
        leds = rng.uniform(0.0, 1.0, truth.n_leds)
        worst = max(worst, float(np.abs(backlight(fitted, leds) - backlight(truth, leds)).max()) / truth.peak_nits)
    return worst


# --------------------------------------------------------------------------------------------- geometry
def test_homography_maps_the_four_corners_and_inverts():
    src = np.array([[-0.5, -0.5], [479.5, -0.5], [479.5, 269.5], [-0.5, 269.5]])
    dst = np.array([[80.0, 40], [760, 25], [740, 480], [60, 470]])
    H = homography(src, dst)
    u, v = apply_homography(H, src[:, 0], src[:, 1])
    np.testing.assert_allclose(np.stack([u, v], 1), dst, atol=1e-9)
    x, y = apply_homography(np.linalg.inv(H), u, v)
    np.testing.assert_allclose(np.stack([x, y], 1), src, atol=1e-9)
    # straight lines stay straight: the midpoint of an edge maps onto the image of that edge
    mu, mv = apply_homography(H, 239.5, -0.5)
    cross = (dst[1, 0] - dst[0, 0]) * (mv - dst[0, 1]) - (dst[1, 1] - dst[0, 1]) * (mu - dst[0, 0])
    assert abs(cross) < 1e-6


@pytest.mark.parametrize("layout", ["grid", "hex"])
def test_led_groups_keep_their_members_apart(layout):
    panel = truth_panel({"model": "gaussian", "sigma": 20.0}, layout=layout)
    pitch = led_pitch(panel.led_positions)
    assert pitch == pytest.approx(30.0)
    groups = default_groups(panel, 4.0)
    assert sorted(i for g in groups for i in g) == list(range(panel.n_leds))
    if layout == "grid":
        assert len(groups) == 16  # the 4×4 sub-lattices
    for g in groups:
        p = panel.led_positions[g]
        d = np.hypot(p[:, None, 0] - p[None, :, 0], p[:, None, 1] - p[None, :, 1])
        np.fill_diagonal(d, np.inf)
        assert d.min() >= 4 * pitch - 1e-9


def test_virtual_camera_records_nits_times_exposure_through_the_flat_field():
    cam = VirtualCamera(width=300, height=200, read_noise=0.0, dark_current=0.0, hot_pixel_fraction=0.0,
                        gain=1e6, vignetting=0.25)
    nits = np.full((90, 160), 400.0)
    img = cam.shoot(nits, 0.5, np.random.default_rng(0))
    centre = img[100, 150]
    assert centre == pytest.approx(400.0 * cam.units_per_nit_second * 0.5 * cam.flat_field()[100, 150], rel=1e-3)
    assert img[0, 0] == pytest.approx(0.0, abs=1e-2)  # outside the panel: the dark surround
    bright = cam.shoot(nits * 100, 10.0, np.random.default_rng(0))
    assert bright.max() == cam.saturation


# --------------------------------------------------------------------------------------------- recovery
CASES = {
    # a single Gaussian: auto must keep the simple model
    "gaussian": dict(psf={"model": "gaussian", "sigma": 26.0}, seed=1, boundary="zero"),
    # two Gaussians, a narrow core and a wide halo: a single Gaussian is the wrong model
    "two-gaussian": dict(psf={"model": "gaussian_mixture", "weights": [0.7, 0.3], "sigmas": [16.0, 45.0]}, seed=2,
                         boundary="zero"),
    "two-gaussian-seed5": dict(psf={"model": "gaussian_mixture", "weights": [0.8, 0.2], "sigmas": [12.0, 40.0]},
                               seed=5, boundary="zero"),
    # a diffuser-like profile (flat top, long shoulder) on a hexagonal layout: neither Gaussian shape
    "table-hex": dict(psf={"model": "radial_table", "radius": [0, 10, 20, 30, 45, 60, 80],
                           "value": [1.0, 0.97, 0.85, 0.55, 0.22, 0.06, 0.0]}, seed=3, boundary="zero",
                      layout="hex"),
    # reflective edges: the reflectance is unknown and fitted
    "mirror": dict(psf={"model": "gaussian", "sigma": 30.0, "boundary": "mirror", "edge_reflectance": 0.6}, seed=4,
                   boundary="mirror"),
}


@pytest.fixture(scope="module")
def recovered(tmp_path_factory):
    out = {}

    def get(name):
        if name not in out:
            c = CASES[name]
            truth = truth_panel(c["psf"], layout=c.get("layout", "grid"))
            folder = render_captures(truth, tmp_path_factory.mktemp(name), VirtualCamera(seed=c["seed"]),
                                     seed=c["seed"])
            cs = load_captures(folder)
            out[name] = (truth, cs, fit_psf(cs, "auto", boundary=c["boundary"]))
        return out[name]

    return get


@pytest.mark.parametrize("name", list(CASES))
def test_fitted_profile_reproduces_the_true_backlight(recovered, name):
    truth, cs, fit = recovered(name)
    fitted = dm.Panel.from_dict(fit.profile())
    assert abs(fit.peak_nits / truth.peak_nits - 1) < 0.02
    assert backlight_error(truth, fitted) < 0.02
    # the capture noise is a fraction of a percent; the residual says the model explains the data
    assert fit.rms_pct_peak < 0.5


def test_auto_keeps_a_single_gaussian_when_it_is_the_truth(recovered):
    truth, _, fit = recovered("gaussian")
    assert fit.model == "gaussian"
    assert fit.psf["sigma"] == pytest.approx(26.0, rel=0.01)
    assert fit.psf["sigma"] - 26.0 < 5 * fit.params_sd["sigma"] + 0.05  # the stated uncertainty is not absurd


@pytest.mark.parametrize("name", ["two-gaussian", "two-gaussian-seed5"])
def test_auto_notices_a_single_gaussian_is_the_wrong_model(recovered, name):
    truth, cs, fit = recovered(name)
    assert fit.model != "gaussian"
    assert fit.heldout_rms["gaussian"] > 3 * fit.heldout_rms[fit.model]
    # and the single Gaussian really would miss the 2 % target: the test above is not trivially met
    prof, cand = fit.profile(), fit.candidates["gaussian"]
    single = dm.Panel.from_dict({**prof, "psf": cand["psf"],
                                 "panel": {**prof["panel"], "peak_nits": cand["peak_nits"]}})
    assert backlight_error(truth, single) > 0.02


def test_mirror_edges_fit_the_reflectance(recovered):
    _, _, fit = recovered("mirror")
    assert fit.psf["boundary"] == "mirror"
    assert fit.psf["edge_reflectance"] == pytest.approx(0.6, abs=0.03)


def test_table_truth_is_not_forced_into_a_gaussian(recovered):
    _, _, fit = recovered("table-hex")
    assert fit.model != "gaussian"


def test_named_model_is_used_and_reported(recovered):
    _, cs, _ = recovered("gaussian")
    fit = fit_psf(cs, "radial_table")
    assert fit.model == "radial_table" and fit.heldout_rms == {}
    assert fit.psf["value"][0] == 1.0 and fit.psf["value"][-1] == 0.0
    with pytest.raises(CaptureError, match="unknown PSF model"):
        fit_psf(cs, "lorentzian")


# --------------------------------------------------------------------------------------------- bad folders
@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    truth = truth_panel({"model": "gaussian", "sigma": 12.0}, width=160, height=90, rows=3, cols=6)
    cam = VirtualCamera(width=220, height=140, seed=9)
    return render_captures(truth, tmp_path_factory.mktemp("small"), cam, seed=9)


@pytest.fixture
def folder(small_folder, tmp_path):
    d = tmp_path / "caps"
    shutil.copytree(small_folder, d)
    return d


def edit(folder, change):
    index = json.loads((folder / "captures.json").read_text())
    change(index)
    (folder / "captures.json").write_text(json.dumps(index))


def test_small_folder_loads(small_folder):
    cs = load_captures(small_folder)
    assert cs.panel.n_leds == 18 and len(cs.captures) >= 2


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("dark"), "missing field"),
    (lambda d: d.update(extra=1), "unknown field"),
    (lambda d: d["camera"].update(gain=2), "unknown field"),
    (lambda d: d["captures"][0].update(shutter=1), "unknown field"),
    (lambda d: d.update(format="dualmod-captures/2"), "format"),
    (lambda d: d["captures"][0].update(leds_on=[0, 99]), "LED indices"),
    (lambda d: d["captures"][0].update(leds_on=[1, 1]), "twice"),
    (lambda d: d["captures"][0].update(level=1.5), "level"),
    (lambda d: d["captures"][0].update(exposure_s=0), "exposure_s"),
    (lambda d: d.update(captures=[]), "non-empty"),
    (lambda d: d["camera"].update(linear=False), "linear"),
    (lambda d: d["panel"]["leds"].update(layout="spiral"), "layout"),
    (lambda d: d.update(panel_corners_px=[[1, 1], [2, 2]]), "four"),
    (lambda d: d["panel_corners_px"].__setitem__(2, [400.0, 100.0]), "outside"),
    (lambda d: d["panel_corners_px"].__setitem__(0, [-30.0, 5.0]), "outside"),
    (lambda d: d.update(panel_corners_px=[d["panel_corners_px"][i] for i in (0, 2, 1, 3)]), "convex"),
])
def test_bad_index_is_refused_naming_the_field(folder, change, message):
    edit(folder, change)
    with pytest.raises(CaptureError, match=message) as err:
        load_captures(folder)
    assert "captures.json" in str(err.value)


def test_missing_image_is_named(folder):
    (folder / "cap_001.npy").unlink()
    with pytest.raises(CaptureError, match=r"cap_001\.npy: missing"):
        load_captures(folder)


def test_wrong_image_size_is_named(folder):
    np.save(folder / "cap_000.npy", np.zeros((100, 100), np.float32))
    with pytest.raises(CaptureError, match=r"cap_000\.npy: image is 100×100.*220×140"):
        load_captures(folder)


def test_nan_and_garbage_images_are_refused(folder):
    img = np.load(folder / "cap_000.npy")
    img[5, 5] = np.nan
    np.save(folder / "cap_000.npy", img)
    with pytest.raises(CaptureError, match="NaN"):
        load_captures(folder)
    (folder / "cap_000.npy").write_bytes(b"not a numpy file")
    with pytest.raises(CaptureError, match="cannot read"):
        load_captures(folder)


def test_saturated_capture_is_refused(folder):
    index = json.loads((folder / "captures.json").read_text())
    img = np.load(folder / "cap_000.npy") * 50.0
    np.save(folder / "cap_000.npy", np.minimum(img, index["camera"]["saturation"]).astype(np.float32))
    with pytest.raises(CaptureError, match=r"cap_000\.npy: .*saturated.*shorten"):
        load_captures(folder)


def test_float_images_without_a_stated_clip_are_checked_by_ties(folder):
    edit(folder, lambda d: d["camera"].pop("saturation"))
    img = np.load(folder / "cap_000.npy")
    np.save(folder / "cap_000.npy", np.minimum(img, np.percentile(img, 95)).astype(np.float32))
    with pytest.raises(CaptureError, match="saturated"):
        load_captures(folder)


def test_a_few_hot_pixels_at_the_clip_are_not_saturation(folder):
    index = json.loads((folder / "captures.json").read_text())
    img = np.load(folder / "cap_000.npy")
    img[[20, 40, 60, 80], [30, 90, 150, 200]] = index["camera"]["saturation"]
    np.save(folder / "cap_000.npy", img)
    cs = load_captures(folder)
    assert cs.captures[1].saturated is None  # the flat capture comes first


def test_missing_folder_and_index(tmp_path):
    with pytest.raises(CaptureError, match="no such capture folder"):
        load_captures(tmp_path / "nope")
    with pytest.raises(CaptureError, match="no captures.json"):
        load_captures(tmp_path)
    (tmp_path / "captures.json").write_text("{broken")
    with pytest.raises(CaptureError, match="not valid JSON"):
        load_captures(tmp_path)
