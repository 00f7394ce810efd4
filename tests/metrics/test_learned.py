# SPDX-License-Identifier: BSD-3-Clause
"""Learned metrics: the training loop learns, weights round-trip strictly with version and checksum."""

import json

import numpy as np
import pytest

from dualmod.errors import DualmodError
from dualmod.metrics import learned
from dualmod.training.metric import evaluate_metric, save_weights, train_metric


def fake_data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    target = (rng.random((n, 64, 96)) * 300).astype(np.float16)
    level = rng.random(n)
    shown = (target.astype(np.float32) + 40 * level[:, None, None] * rng.standard_normal((n, 64, 96))).astype(
        np.float16)
    jod = (10 - 3 * level).astype(np.float32)  # more noise, lower JOD
    split = np.where(np.arange(n) % 4 == 0, "test", "train")
    return {"target": target, "shown": shown, "jod": jod, "split": split}


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
    blob = (tmp_path / "deep_nr.pt").read_bytes()
    (tmp_path / "deep_nr.pt").write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
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
