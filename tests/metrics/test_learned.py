# SPDX-License-Identifier: BSD-3-Clause
"""Learned metrics: the training loop learns, weights round-trip strictly with version and checksum."""

import json

import numpy as np
import pytest

from dualmod.errors import DualmodError
from dualmod.metrics import learned
from dualmod.training.metric import evaluate_metric, features_dataset, save_weights, train_metric


def fake_data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    target = (rng.random((n, 64, 96)) * 300).astype(np.float32)
    level = rng.random(n)
    shown = (target + 40 * level[:, None, None] * rng.standard_normal((n, 64, 96))).astype(np.float32)
    jod = (10 - 3 * level).astype(np.float32)  # more noise, lower JOD
    split = np.where(np.arange(n) % 4 == 0, "test", "train")
    return features_dataset(target, shown, jod, split)


def test_block_features_match_numpy():
    rng = np.random.default_rng(3)
    t = (rng.random((37, 50)) * 500).astype(np.float32)
    s = (t + 30 * rng.standard_normal(t.shape)).astype(np.float32)
    f = learned.block_features(t, s, block=4)
    assert f.shape == (len(learned.FEATURES), 10, 13)  # partial blocks at the right and bottom edges
    for by, bx in [(0, 0), (3, 7), (9, 12), (9, 0)]:
        bt = t[4 * by:4 * by + 4, 4 * bx:4 * bx + 4].astype(np.float64) / 256
        bs = s[4 * by:4 * by + 4, 4 * bx:4 * bx + 4].astype(np.float64) / 256
        want = [bt.mean(), bs.mean(), bs.mean() - bt.mean(), np.sqrt(np.mean((bs - bt) ** 2)), bt.std(), bs.std(),
                bs.max(), bs.min()]
        np.testing.assert_allclose(f[:, by, bx], want, rtol=1e-4, atol=1e-6)
    # identical images: no error, and the target's statistics are the shown image's
    g = learned.block_features(t, t)
    assert np.all(g[2:4] == 0) and np.array_equal(g[0], g[1]) and np.array_equal(g[4], g[5])
    assert learned.block_size(270) == 4 and learned.block_size(1080) == 16 and learned.block_size(20) == 1


def test_no_reference_model_ignores_the_target():
    nr = learned.DeepMetric("nr", width=4)
    x = np.random.default_rng(2).random((64, 96)).astype(np.float32) * 200
    assert nr.predict(x, x) == nr.predict(None, x) == nr.predict(x[::-1].copy(), x)


def test_training_reduces_the_loss_and_learns_the_trend():
    data = fake_data()
    model, log = train_metric(data, "fr", epochs=40, seed=0, width=8)
    assert log[-1] < 0.5 * log[0]
    assert evaluate_metric(model, data, "train")["spearman"] > 0.8


def test_weights_round_trip_strictly(tmp_path, monkeypatch):
    data = fake_data(16)
    fr, _ = train_metric(data, "fr", epochs=1, width=8)
    nr, _ = train_metric(data, "nr", epochs=1, width=8)
    save_weights({"deep_fr": fr, "deep_nr": nr}, tmp_path, {})
    monkeypatch.setattr(learned, "_weights_dir", lambda: tmp_path)
    learned.load_model.cache_clear()
    m = learned.load_model("fr")
    x = np.random.default_rng(1).random((64, 96)).astype(np.float32) * 200
    assert m.predict(x, x) == pytest.approx(fr.predict(x, x), rel=1e-6)
    # a corrupted file is refused
    assert not list(tmp_path.glob("*.pt"))  # safetensors: pure data, read without torch
    blob = (tmp_path / "deep_nr.safetensors").read_bytes()
    (tmp_path / "deep_nr.safetensors").write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    learned.load_model.cache_clear()
    with pytest.raises(DualmodError, match="checksum"):
        learned.load_model("nr")
    # so is another format version
    man = json.loads((tmp_path / "manifest.json").read_text())
    man["deep_fr"]["version"] = 99
    (tmp_path / "manifest.json").write_text(json.dumps(man))
    learned.load_model.cache_clear()
    with pytest.raises(DualmodError, match="version"):
        learned.load_model("fr")
    learned.load_model.cache_clear()


def test_weights_that_do_not_fit_the_network_are_refused(tmp_path, monkeypatch):
    from dualmod._weights import save_checked

    fr = learned.DeepMetric("fr", width=4)
    monkeypatch.setattr(learned, "_weights_dir", lambda: tmp_path)
    state = dict(fr.net.state_dict())
    # the shapes load_model checks (without torch) are the torch module's
    assert {k: tuple(v.shape) for k, v in state.items()} == learned._state_shapes(len(fr.channels), 4)
    for change, why in [(lambda s: s.pop("head.2.bias"), "missing \\['head.2.bias'\\]"),
                        (lambda s: s.update(extra=s["shift"]), "unexpected \\['extra'\\]"),
                        (lambda s: s.update(shift=s["shift"][:3]), "wrong shape \\['shift'\\]")]:
        bad = dict(state)
        change(bad)
        save_checked(tmp_path, "deep_fr", bad, learned.WEIGHTS_VERSION, {"width": 4}, container="safetensors")
        learned.load_model.cache_clear()
        with pytest.raises(DualmodError, match=why):
            learned.load_model("fr")
    learned.load_model.cache_clear()


def test_shipped_metrics_run_without_importing_torch():
    import subprocess
    import sys

    code = ("import sys, numpy as np, dualmod as dm\n"
            "t = dm.scene('window', 135, 240).astype(np.float32)\n"
            "s = dm.evaluate(t, 0.8 * t, metrics=['deep_fr', 'deep_nr'])\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "print(s['deep_fr'], s['deep_nr'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    fr, nr = map(float, out.stdout.split())
    assert 0 < fr < 10 and 0 < nr <= 10


@pytest.mark.parametrize("kind", ["fr", "nr"])
@pytest.mark.parametrize("shape", [(64, 96), (70, 101)])  # whole blocks, and partial ones at both edges
def test_one_pass_input_and_numba_network_equal_the_torch_path(kind, shape):
    import torch

    from dualmod.metrics.pu21 import pu21_of_rgb

    rng = np.random.default_rng(7)
    m = learned.DeepMetric(kind, width=4)
    with torch.no_grad():  # a model whose weights and standardisation are not the defaults
        for p in m.net.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.5))
        m.net.shift.copy_(torch.tensor(rng.random(len(m.channels)), dtype=torch.float32))
        m.net.scale.copy_(torch.tensor(1 + rng.random(len(m.channels)), dtype=torch.float32))
    t = (rng.random((*shape, 3)) ** 3 * 3000).astype(np.float32)
    s = (t * rng.uniform(0.3, 1.3, t.shape)).astype(np.float32)
    pt, ps = pu21_of_rgb(t), pu21_of_rgb(s)
    f = learned.block_features(pt if kind == "fr" else None, ps)[None]
    want = m.inputs(f)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(m.net_input(pt, ps), want)  # from the maps: the same float32 operations
    np.testing.assert_allclose(m.net_input(t, s), want, rtol=1e-5, atol=1e-5)  # from RGB: PU21 in bands
    with torch.inference_mode():
        jod = float(m.forward(m.inputs(f))[0])
    assert m.predict(pt, ps) == pytest.approx(min(jod, learned.JOD_MAX), abs=1e-4)
    assert m.predict(t, s) == pytest.approx(m.predict(pt, ps), abs=1e-4)
    # an optimiser step changes the weights in place: predict follows it
    with torch.no_grad():
        m.net.head[2].bias.add_(1.0)
    assert m.predict(pt, ps) == pytest.approx(min(jod + 1.0, learned.JOD_MAX), abs=1e-4)
    with pytest.raises(ValueError, match="differ in shape" if kind == "fr" else "expected a PU21 map"):
        m.net_input(pt[:-1], ps) if kind == "fr" else m.net_input(None, ps[:, :, None])


def test_speed_is_timed_on_the_labelled_test_pairs(tmp_path):
    from dualmod.training.metric import time_metrics

    rng = np.random.default_rng(4)
    rows = ["id,split,jod,seconds"]
    for i, (split, sec) in enumerate([("train", 9.0), ("test", 0.2), ("test", 0.4), ("test", 0.3)]):
        t = (rng.random((32, 48, 3)) * 200).astype(np.float16)
        np.savez(tmp_path / f"{i:05d}.npz", target=t, shown=t)
        rows.append(f"{i},{split},9.5,{sec}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    models = {"deep_fr": learned.DeepMetric("fr", width=4), "deep_nr": learned.DeepMetric("nr", width=4)}
    speed = time_metrics(tmp_path, tmp_path / "labels.csv", models, count=2)
    assert speed["pairs"] == 2 and speed["size"] == [32, 48]
    assert speed["cvvdp_ms"] == pytest.approx(300.0)  # the median of the first two test pairs, not the train pair
    for name in models:
        assert speed[f"{name}_ms"] > 0
        assert speed[f"{name}_speedup"] == pytest.approx(300.0 / speed[f"{name}_ms"])


@pytest.fixture(scope="module")
def shipped():
    learned.load_model.cache_clear()
    return learned.load_model("fr"), learned.load_model("nr")


def test_shipped_models_load_strictly_and_score_like_the_teacher(shipped):
    import torch
    from scipy.ndimage import gaussian_filter

    import dualmod as dm

    fr, nr = shipped
    assert fr.kind == "fr" and nr.kind == "nr"
    for name in ("window", "night", "specular"):
        t = dm.scene(name, 270, 480).astype(np.float32)
        score = lambda shown, t=t: dm.evaluate(t, shown.astype(np.float32), metrics=["deep_fr"])["deep_fr"]  # noqa: E731
        same = score(t)
        assert 9.5 <= same <= 10.0  # ColorVideoVDP gives an image against itself 10 JOD
        blur = [score(gaussian_filter(t, (s, s, 0))) for s in (1, 3, 8)]
        clip = [score(np.minimum(t, c * t.max())) for c in (0.5, 0.2)]
        # more degradation never scores higher, and the strongest costs at least half a JOD
        for seq in ([same] + blur, [same] + clip):
            assert all(b <= a + 0.02 for a, b in zip(seq, seq[1:])), (name, seq)
            assert seq[-1] < same - 0.5, (name, seq)
    # predict is the batched path on one image
    x = np.random.default_rng(5).random((270, 480)).astype(np.float32) * 300
    f = learned.block_features(x, x * 0.9)[None]
    with torch.inference_mode():
        assert fr.predict(x, x * 0.9) == pytest.approx(float(fr.score(fr.inputs(f))[0]), abs=1e-6)
        assert nr.predict(None, x * 0.9) == pytest.approx(float(nr.score(nr.inputs(f))[0]), abs=1e-6)


def test_inputs_are_standardised_on_the_training_features():
    data = fake_data(24)
    for kind in ("fr", "nr"):
        m = learned.DeepMetric(kind, width=4)
        m.standardise_on(data["features"])
        x = m.inputs(data["features"]).numpy().astype(np.float64)
        assert x.shape[1] == len(m.channels)
        raw = data["features"][:, m.channels].astype(np.float64)
        varies = raw.std(axis=(0, 2, 3)) > 0  # 64-row images have 1-px blocks: their stds are all 0
        assert varies.sum() >= 3
        np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0, atol=1e-3)
        np.testing.assert_allclose(x.std(axis=(0, 2, 3)), varies.astype(float), rtol=1e-3, atol=1e-6)
