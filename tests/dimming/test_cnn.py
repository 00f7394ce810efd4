# SPDX-License-Identifier: BSD-3-Clause
"""The ``cnn`` solver: features, geometry, training through the twin, shipped weights, budgets."""

import importlib
import shutil

import numpy as np
import pytest
import torch
from conftest import make_panel

import dualmod as dm
from dualmod.panel import Panel
from dualmod.dimming.heuristics import max_dimming
from dualmod.errors import DualmodError, InputError
from dualmod.metrics.pu21 import pu21_encode

C = importlib.import_module("dualmod.dimming.cnn")   # the package exports the solver function as `cnn`


def hdr_target(panel, rng):
    t = np.exp(rng.normal(2.0, 1.5, (panel.height, panel.width, 1))) * rng.uniform(0.5, 1.0, (1, 1, 3))
    return np.minimum(t, panel.peak_nits).astype(np.float32)


def test_features_layout_and_constants(rng):
    panel = make_panel(48, 32, rows=4, cols=6, peak=800.0, psf={"model": "gaussian", "sigma": 8.0})
    x, base = C.features(panel, hdr_target(panel, rng), power_weight=0.003)
    assert x.shape == (C.N_FEATURES, 4 * C.K, 6 * C.K) and base.shape == (4, 6)
    assert np.allclose(x[2], pu21_encode(800.0) / 600)
    assert np.allclose(x[3], np.log10(1000.0) / 4)
    assert np.allclose(x[4], 1.0, atol=0.01)                 # σ = 8 px = one pitch (48·32/24 = 64 px²)
    assert np.allclose(x[5], C.control_value(0.003))
    assert np.all((x[:2] >= 0) & (x[:2] <= 1.0))


def test_untrained_net_is_the_max_heuristic(rng):
    """The head starts at zero: L = zone max, read at the LED centres of the output map."""
    panel = make_panel(96, 64, rows=4, cols=6, peak=500.0)
    target = hdr_target(panel, rng)
    leds = C.CnnModel(width=4, deep=8).predict(panel, target, [0.0])[0]
    assert leds.shape == (panel.n_leds,)
    assert np.allclose(leds, np.clip(max_dimming(panel, target), C.BASE_FLOOR, C.BASE_CEIL), atol=1e-5)


@pytest.mark.parametrize("layout", ["grid", "hex"])
def test_any_layout_gives_one_level_per_led(rng, layout):
    panel = make_panel(80, 48, layout=layout, rows=5, cols=7)
    model = C.CnnModel(width=4, deep=8)
    torch.manual_seed(0)
    for p in model.net.parameters():
        torch.nn.init.normal_(p, std=0.3)
    leds = model.predict(panel, hdr_target(panel, rng), [0.0, 0.01])
    assert leds.shape == (2, panel.n_leds)
    assert np.all((leds > 0) & (leds < 1)) and not np.allclose(leds[0], leds[1])


def test_bad_targets_are_refused(rng):
    panel = make_panel()
    t = hdr_target(panel, rng)
    t[3, 4, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        C.features(panel, t)
    with pytest.raises(InputError, match="shape"):
        C.features(panel, t[:-1])


def test_features_see_a_large_target_at_the_training_size(rng):
    """The network's input depends on the picture, not on the panel's pixel count: above the training size
    (270 x 480 pixels) the target is area-averaged to it first. A 540 x 960 target and the same picture at
    1080 x 1920 (each pixel a 2 x 2 block) give the same features, on panels that differ only in pixels;
    and both are what the 270 x 480 panel computes from the picture averaged down by hand."""
    from dualmod.training.cnn import PANEL_H, PANEL_W

    assert PANEL_H * PANEL_W == C.FEATURE_PIXELS
    psf = {"model": "gaussian", "sigma": 0.1}          # in pixels: irrelevant to the cell statistics
    panels = [make_panel(PANEL_W * k, PANEL_H * k, rows=9, cols=16, peak=1000.0, psf=psf) for k in (1, 2, 4)]
    big = hdr_target(panels[1], rng) * rng.uniform(0.0, 2.0, (panels[1].height, panels[1].width, 3)).astype(np.float32)
    big = np.minimum(big, 1000.0)
    bigger = np.repeat(np.repeat(big, 2, axis=0), 2, axis=1)
    small = big.reshape(PANEL_H, 2, PANEL_W, 2, 3).astype(np.float64).mean(axis=(1, 3)).astype(np.float32)
    assert C._geometry(panels[2]).size == (PANEL_H, PANEL_W)
    x0, b0 = C.features(panels[0], small, 0.001)
    for panel, target in ((panels[1], big), (panels[2], bigger)):
        x, b = C.features(panel, target, 0.001)
        assert np.allclose(x[[0, 1, 5]], x0[[0, 1, 5]], rtol=1e-6, atol=1e-7)
        assert np.allclose(b, b0, rtol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1e-3])
def test_a_bad_value_in_a_large_target_is_refused(rng, bad):
    """Averaging can hide a small negative value: the shrinking pass checks every value itself."""
    panel = make_panel(960, 540, rows=9, cols=16, peak=1000.0)
    t = np.full((540, 960, 3), 50.0, np.float32)
    t[401, 77, 2] = bad
    counts = "0 NaN/Inf values and 1 negative" if np.isfinite(bad) else "1 NaN/Inf values and 0 negative"
    with pytest.raises(InputError, match=counts):
        C.features(panel, t)


def test_training_through_the_twin_lowers_the_loss():
    """A tiny model started far too bright, a few steps on one panel and four targets: the loss through the twin
    falls (from the max-heuristic start there is little to gain on four images in a few steps)."""
    from dualmod.display.torch_model import TorchDisplay
    from dualmod.training.cnn import PANEL_H, PANEL_W, ImagePool, batch_loss, train_cnn, training_panels

    pool = ImagePool([], scenes=True, max_side=240)
    panel = training_panels(1, seed=3)[0]
    twin = TorchDisplay(panel, size=(PANEL_H // 2, PANEL_W // 2))
    fixed = [pool.draw(np.random.default_rng(100 + k), panel) for k in range(4)]
    torch.manual_seed(0)
    model = C.CnnModel(width=6, deep=8)
    torch.nn.init.normal_(model.net.head.weight, std=0.05)   # start off the max heuristic: every LED far too bright
    torch.nn.init.constant_(model.net.head.bias, 2.5)
    def loss():                                           # f of the training docstring, mean over the four
        with torch.no_grad():
            _, mse, level = batch_loss(model, panel, twin, fixed, [0.01] * 4)
        return float((mse + 0.01 * level).mean())

    before = loss()

    class Fixed:                                          # the training batches are the fixed targets
        k = 0

        def draw(self, rng, panel):
            self.k += 1
            return fixed[self.k % len(fixed)]

    model, history = train_cnn(Fixed(), steps=40, batch=4, panels=1, seed=3, lr=1e-2, progress=False,
                               fixed_lambda=0.01, model=model)
    after = loss()
    assert len(history) == 40 and all(np.isfinite(h["loss"]) for h in history)
    assert after < 0.85 * before


def test_distillation_pulls_the_frame_towards_the_teacher():
    """With a teacher frame in the bank, the distillation term draws the network's LEDs to it; without the term the
    same steps leave them far from it (the teacher here is a flat 0.3 frame, not the loss's optimum)."""
    from dualmod.training.cnn import ImagePool, train_cnn, training_panels

    pool = ImagePool([], scenes=True, max_side=240)
    panel = training_panels(1, seed=3)[0]
    targets = np.stack([pool.draw(np.random.default_rng(200 + k), panel) for k in range(2)])
    teacher = np.full((2, panel.n_leds), 0.3, np.float32)
    bank = [{"panel": panel, "targets": targets, "lams": np.array([0.0, 0.001], np.float32), "leds": teacher}]

    def distance(model):
        with torch.no_grad():
            leds = np.stack([model.predict(panel, t, [lam])[0] for t, lam in zip(targets, bank[0]["lams"])])
        return float(np.mean((leds - teacher) ** 2))

    runs = {}
    for weight in (0.0, 100.0):
        torch.manual_seed(0)
        model = C.CnnModel(width=6, deep=8)
        start = distance(model)
        train_cnn(pool, steps=30, batch=2, seed=0, lr=1e-2, progress=False, model=model, bank=bank,
                  distill_weight=weight)
        runs[weight] = distance(model)
    assert runs[100.0] < 0.4 * start and runs[100.0] < 0.4 * runs[0.0], (start, runs)
    with pytest.raises(ValueError, match="bank is empty"):
        train_cnn(pool, steps=1, progress=False, bank=[])


def test_optimal_bank_holds_frames_better_than_the_network_start():
    """The teacher frames are optimal's, descended from the max heuristic and from the given model's frame: on the
    training loss (through the same twin) each is at least as good as that model's frame for its target."""
    from dualmod.display.torch_model import TorchDisplay
    from dualmod.training.cnn import (PANEL_H, PANEL_W, TIE_LAMBDA, TWIN_SCALE, ImagePool, batch_loss, optimal_bank,
                                      training_panels)

    pool = ImagePool([], scenes=True, max_side=240)
    panel = training_panels(1, seed=5)[0]
    shipped = C.load_model()
    bank = optimal_bank(pool, 1, seed=4, batch=2, panel=panel, init="shipped", progress=False)
    g = bank[0]
    assert g["targets"].shape == (2, PANEL_H, PANEL_W, 3) and g["leds"].shape == (2, panel.n_leds)
    assert np.all((g["leds"] >= 0) & (g["leds"] <= 1))
    twin = TorchDisplay(g["panel"], size=(round(PANEL_H * TWIN_SCALE), round(PANEL_W * TWIN_SCALE)))

    def loss_of(leds, k):
        class Fixed:                                   # batch_loss through a model whose output is this frame
            def sample(self, panel, led_map):
                return torch.as_tensor(leds[None], dtype=torch.float32)
            net = staticmethod(lambda x, base: None)
        _, mse, level = batch_loss(Fixed(), g["panel"], twin, [g["targets"][k]], [g["lams"][k]])
        return float(mse[0] + (g["lams"][k] + TIE_LAMBDA) * level[0])

    for k in range(2):
        net_leds = shipped.predict(g["panel"], g["targets"][k], [float(g["lams"][k])])[0]
        assert loss_of(g["leds"][k], k) <= loss_of(net_leds, k) * (1 + 1e-4)


def test_twin_scale_is_checked(tmp_path, capsys):
    from dualmod.cli import main
    from dualmod.training.cnn import ImagePool, train_cnn

    with pytest.raises(ValueError, match="twin_scale"):
        train_cnn(ImagePool([], scenes=True, max_side=120), steps=1, batch=1, panels=1, progress=False, twin_scale=0)
    (tmp_path / "SPLIT.csv").write_text("file,split\n")
    assert main(["train-cnn", "--data", str(tmp_path), "--out", str(tmp_path / "w"), "--twin-scale", "2"]) == 2
    assert "--twin-scale must lie in (0, 1]" in capsys.readouterr().err
    for flags in (["--distill-groups", "-1"], ["--distill-weight", "nan"], ["--distill-weight", "-2"]):
        assert main(["train-cnn", "--data", str(tmp_path), "--out", str(tmp_path / "w"), *flags]) == 2
        assert "--distill-groups must be >= 0 and --distill-weight a number >= 0" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_scaled_builtins_keep_the_psf_width_in_led_pitches():
    """The training copies of the built-in profiles are the same display at 480 × 270: same LED grid, same
    effective PSF width in LED pitches (the network's input), same peak and contrast."""
    from dualmod.training.cnn import PANEL_H, PANEL_W, WHITE_BUILTINS, scaled_builtin

    for name in WHITE_BUILTINS:
        full, small = Panel.load(name), scaled_builtin(name)
        assert small.shape == (PANEL_H, PANEL_W) and small.n_leds == full.n_leds
        assert (small.peak_nits, small.lcd, small.leds) == (full.peak_nits, full.lcd, full.leds)
        assert C._geometry(small).consts[2] == pytest.approx(C._geometry(full).consts[2], rel=0.02), name


def test_shipped_weights_load_strictly():
    model = C.load_model()
    state = model.net.state_dict()
    fresh = C.CnnModel(model.width, model.deep).net.state_dict()
    assert state.keys() == fresh.keys()
    assert all(state[k].shape == fresh[k].shape for k in state)
    assert sum(v.numel() for v in state.values()) < 200_000       # small: package data


def test_corrupt_weights_are_refused(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    shutil.copytree(C._weights_dir(), folder)
    blob = bytearray((folder / "cnn.pt").read_bytes())
    blob[len(blob) // 2] ^= 1
    (folder / "cnn.pt").write_bytes(bytes(blob))
    monkeypatch.setattr(C, "_weights_dir", lambda: folder)
    C._load_model.cache_clear()
    try:
        with pytest.raises(DualmodError, match="checksum"):
            C.load_model()
    finally:
        C._load_model.cache_clear()


def test_solver_meets_power_budgets_on_grid_hex_and_rgb(rng):
    for panel in (make_panel(96, 64, rows=4, cols=6), make_panel(96, 64, layout="hex", rows=5, cols=7),
                  make_panel(96, 64, rows=4, cols=6, leds={"channels": 3})):
        target = hdr_target(panel, rng)
        leds = dm.solve(panel, target, method="cnn")
        assert leds.shape == ((panel.n_leds,) if panel.leds.channels == 1 else (panel.n_leds, 3))
        assert np.all((leds >= 0) & (leds <= 1))
        low = dm.solve(panel, target, method="cnn", power_budget=0.1)
        assert low.mean() <= 0.1 + 1e-9
        capped = dm.solve(panel, target, method="cnn", power_budget="max")
        assert capped.mean() <= max_dimming(panel, target).mean() + 1e-9
        cheap = dm.solve(panel, target, method="cnn", power_weight=0.03)
        assert cheap.mean() <= leds.mean() + 1e-6                  # the control trades power for quality


@pytest.mark.parametrize("width", [48, 20])           # 20 px for 24 cell columns: some cells are empty
def test_cell_statistics_equal_numpy(rng, width):
    """The streaming cell kernel against the definition: per cell of the K× grid, the mean luminance
    (or of one channel) and the max of max(R, G, B) (or of that channel)."""
    panel = make_panel(width, 32, rows=4, cols=6, peak=800.0, psf={"model": "gaussian", "sigma": 8.0})
    img = hdr_target(panel, rng) * rng.uniform(0.2, 1.0, (panel.height, panel.width, 3)).astype(np.float32)
    gr, gc, row_start, col_start, _, _, size = C._geometry(panel)
    assert size == (panel.height, panel.width)   # below the training size: the target as it is
    fc = C.K * gc
    col_of = np.minimum(np.arange(width) * fc // width, fc - 1)    # the definition: cell column of each x
    lum = img.astype(np.float64) @ np.asarray(C.REC709_LUMINANCE)
    for channel in (-1, 0, 2):
        val = lum if channel < 0 else img[..., channel].astype(np.float64)
        top = img.max(axis=2) if channel < 0 else img[..., channel]
        mean, mx, bad = C._cell_stats(img, row_start, col_start, channel, np.asarray(C.REC709_LUMINANCE))
        assert bad == 0
        for r in range(C.K * gr):
            for c in range(C.K * gc):
                cell = (slice(row_start[r], row_start[r + 1]), col_of == c)
                if not cell[1].any():
                    assert mean[r, c] == 0 and mx[r, c] == 0
                    continue
                assert mean[r, c] == pytest.approx(val[cell].mean(), rel=1e-12)
                assert mx[r, c] == top[cell].max()
    if width == 20:
        assert not np.all(np.isin(np.arange(C.K * gc), col_of))   # the empty-cell case was exercised


def test_refine_polishes_the_network_frame_with_the_optimiser():
    """refine=k: k iterations of optimal's solver from the network's LEDs, for quality alone (at λ > 0 at no
    more than the network frame's mean level). The twin's loss only falls; on these smooth scenes PU21-PSNR
    rises with it (on detail finer than the refinement's grid it need not); refine=0 is the network alone."""
    from dualmod.dimming.cnn import cnn
    from dualmod.dimming.optimal import optimize_leds
    from dualmod.metrics import pu21_psnr

    panel = make_panel(160, 90, rows=9, cols=16, peak=1000.0, psf={"model": "gaussian", "sigma": 10.0},
                       lcd={"response": "gamma", "gamma": 2.2, "bit_depth": 10, "contrast_ratio": 2000.0})
    target = np.minimum(dm.scene("specular", 90, 160), 1000.0).astype(np.float32)
    alone = cnn(panel, target)
    assert np.array_equal(dm.solve(panel, target, method="cnn", refine=0), alone)
    polished = dm.solve(panel, target, method="cnn", refine=8)
    loss = lambda x: optimize_leds(panel, target, warm_start=x, steps=0).trace[0]  # noqa: E731
    assert loss(polished) < loss(alone)
    q = lambda x: pu21_psnr(target, dm.simulate(panel, x, target).displayed)  # noqa: E731
    assert q(polished) > q(alone) + 0.1, (q(polished), q(alone))
    capped = dm.solve(panel, target, method="cnn", refine=4, power_budget="max")
    assert capped.mean() <= max_dimming(panel, target).mean() + 1e-6
    # at λ > 0 the network picks the power and the refinement keeps within it, for a better picture (with λ in
    # the refinement's loss, as before, eight iterations dimmed this scene from 0.32 to 0.09 and lost 1.6 dB)
    night = np.minimum(dm.scene("night", 90, 160), 1000.0).astype(np.float32)
    alone = cnn(panel, night, power_weight=0.01)
    polished = cnn(panel, night, power_weight=0.01, refine=8)
    assert polished.mean() <= alone.mean() + 1e-6
    q_night = lambda x: pu21_psnr(night, dm.simulate(panel, x, night).displayed)  # noqa: E731
    assert q_night(polished) > q_night(alone) + 0.1, (q_night(polished), q_night(alone))
    for bad in (-1, 2.5, 10**6):
        with pytest.raises(ValueError, match="refine"):
            cnn(panel, target, refine=bad)


def test_scaled_panel_refuses_what_training_cannot_represent():
    from dualmod.training.cnn import PANEL_H, PANEL_W, scaled_builtin, scaled_panel

    assert scaled_panel(Panel.load("sim2-hdr47")) == scaled_builtin("sim2-hdr47")
    small = scaled_panel(make_panel(192, 108, rows=6, cols=10, layout="hex"))       # any 16:9 grid/hex panel
    assert small.shape == (PANEL_H, PANEL_W) and small.psf.sigma == pytest.approx(6.0 * PANEL_W / 192)
    for panel, why in ((Panel.load("proto-16x9-rgb"), "RGB backlight"),
                       (make_panel(192, 144), "not 16:9"),
                       (make_panel(192, 108, psf={"model": "radial_table", "radius": [0, 10, 30],
                                                  "value": [1.0, 0.4, 0.0]}), "'radial_table'")):
        with pytest.raises(ValueError, match=why):
            scaled_panel(panel)


def test_fine_tuning_for_one_panel_trains_on_it_only():
    from dualmod.training.cnn import ImagePool, scaled_panel, train_cnn

    pool, seen = ImagePool([], scenes=True, max_side=240), []

    class Recording:
        def draw(self, rng, panel):
            seen.append(panel)
            return pool.draw(rng, panel)

    target = make_panel(192, 108, rows=6, cols=10, layout="hex")
    model = C.CnnModel(width=6, deep=8)
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    trained, history = train_cnn(Recording(), steps=3, batch=2, seed=0, progress=False, model=model, panel=target)
    assert trained is model and len(history) == 3 and len(seen) == 6
    assert all(p == scaled_panel(target) for p in seen)
    assert any(not torch.equal(before[k], v) for k, v in model.net.state_dict().items())   # it did train
    with pytest.raises(ValueError, match="not both"):
        train_cnn(Recording(), steps=1, panels=2, panel=target, progress=False)


def test_train_cnn_cli_fine_tunes_the_shipped_model_for_a_panel(tmp_path, capsys):
    """train-cnn --panel P --init shipped writes a checked model folder that cnn's ``weights`` option loads;
    the shipped model (and its cache) stay as they were."""
    from dualmod.cli import main

    data, out = tmp_path / "data", tmp_path / "sim2"
    data.mkdir()
    (data / "SPLIT.csv").write_text("file,split\n")          # no images: the procedural scenes only
    shipped = C.load_model()
    shipped_state = {k: v.clone() for k, v in shipped.net.state_dict().items()}
    argv = ["train-cnn", "--data", str(data), "--panel", "sim2-hdr47", "--init", "shipped", "--steps", "2",
            "--batch", "1", "--lr", "1e-3"]
    assert main(argv) == 2                                    # no --out: the default folder is the shipped model's
    assert "--out" in capsys.readouterr().err
    assert main(argv + ["--out", str(out), "--json", str(tmp_path / "t.json")]) == 0
    training = __import__("json").loads((out / "manifest.json").read_text())["cnn"]["training"]
    assert (training["panel"], training["init"], training["steps"]) == ("sim2-hdr47", "shipped", 2)
    shipped_sha = __import__("json").loads((C._weights_dir() / "manifest.json").read_text())["cnn"]["sha256"]
    assert training["init_sha256"] == shipped.sha256 == shipped_sha
    assert all(torch.equal(v, shipped_state[k]) for k, v in C.load_model().net.state_dict().items())
    panel = Panel.load("sim2-hdr47")
    target = dm.scene("window", panel.height, panel.width)
    tuned = dm.solve(panel, target, method="cnn", weights=str(out))
    assert tuned.shape == (panel.n_leds,) and not np.array_equal(tuned, dm.solve(panel, target, method="cnn"))
    with pytest.raises(InputError, match="no such folder"):
        dm.solve(panel, target, method="cnn", weights=str(tmp_path / "nothing"))
    assert main(argv[:4] + ["proto-16x9-rgb", "--out", str(tmp_path / "x")]) == 2
    assert "RGB backlight" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_control_search_meets_the_budget_from_below_in_few_runs():
    """The budget search on a smooth falling mean level (as the network's falls with λ): it returns a frame
    within BUDGET_TOL below the budget, in a handful of runs; past the control's reach, λ = 1's frame."""
    lams = []

    def run(lam):
        lams.append(lam)
        return np.full(10, 0.6 / (1.0 + (lam / 2e-3) ** 0.7))     # 0.6 at λ = 0, falling over decades

    for budget in (0.5, 0.3, 0.1, 0.02):
        lams.clear()
        level = float(run(1e-4).mean())
        leds = C._search_control(run, 1e-4, budget, level)
        assert budget * (1 - C.BUDGET_TOL) <= leds.mean() <= budget, budget
        assert len(lams) <= 9                 # 5-9 here; the bisection took 10 (the first run, λ = 1, 8 steps)
    lams.clear()
    leds = C._search_control(run, 1e-4, 0.001, float(run(1e-4).mean()))   # beyond λ = 1's level
    assert lams[-1] == 1.0 and leds.mean() == pytest.approx(0.6 / (1.0 + 500.0 ** 0.7))
