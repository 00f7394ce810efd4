# SPDX-License-Identifier: BSD-3-Clause
"""Training the learned metrics (``deep_fr``, ``deep_nr``) on ColorVideoVDP labels.

Data: the pairs written by ``tools/metric_pairs.py`` and the labels of ``tools/metric_labels.py``.
Pairs from ``test``-split images are never trained on or used to choose anything; they give the
reported accuracy. Every fifth source (image or scene) of the train split, in sorted order, is a
validation group: the epoch with the lowest validation MSE is kept (early model selection).
The networks see block features (:func:`dualmod.metrics.learned.block_features`, computed once when
the pairs are loaded); their input standardisation is set from the training features. Training:
Adam (lr 2e-3, cosine decay), batch 16, MSE on JOD, horizontal and vertical flips, seeded.

Reproduce the shipped weights with:

    dualmod train-metric --pairs ~/.cache/dualmod/metric-pairs --labels dualmod/training/metric_labels.csv \\
        --out dualmod/metrics/weights --epochs 60 --seed 0
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..metrics.learned import WEIGHTS_VERSION, DeepMetric, block_features
from ..metrics.pu21 import pu21_of_rgb

__all__ = ["load_dataset", "features_dataset", "train_metric", "evaluate_metric", "time_metrics"]


def load_dataset(pairs: Path, labels: Path) -> dict:
    """Block features (float16) of every labelled pair, with JOD labels, splits and source groups."""
    pairs = Path(pairs)
    with open(labels, newline="") as fh:
        rows = list(csv.DictReader(fh))
    specs = {p["id"]: p for p in json.loads((pairs / "pairs.json").read_text())["pairs"]}
    feats, jod, split, group = [], [], [], []
    for r in rows:
        with np.load(pairs / f"{int(r['id']):05d}.npz") as z:
            t = pu21_of_rgb(z["target"].astype(np.float32))
            s = pu21_of_rgb(z["shown"].astype(np.float32))
        feats.append(block_features(t, s).astype(np.float16))
        jod.append(float(r["jod"]))
        split.append(r["split"])
        src = specs[int(r["id"])]["source"]
        group.append(src.get("file") or f"scene:{src.get('scene')}")
    return {"features": np.stack(feats), "jod": np.asarray(jod, np.float32),
            "split": np.asarray(split), "group": np.asarray(group)}


def features_dataset(target_pu: np.ndarray, shown_pu: np.ndarray, jod, split, group=None) -> dict:
    """A dataset like :func:`load_dataset`'s from PU21 maps (N, H, W) of targets and shown images."""
    feats = np.stack([block_features(t, s) for t, s in zip(target_pu, shown_pu)]).astype(np.float16)
    out = {"features": feats, "jod": np.asarray(jod, np.float32), "split": np.asarray(split)}
    if group is not None:
        out["group"] = np.asarray(group)
    return out


def train_metric(data: dict, kind: str, *, epochs: int = 60, seed: int = 0, batch: int = 16, width: int = 16,
                 lr: float = 2e-3, progress: Callable[[str], None] | None = None) -> tuple[DeepMetric, list[float]]:
    """Train one metric on the ``train`` split; returns the model and the per-epoch training loss."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = DeepMetric(kind, width=width)
    train = data["split"] == "train"
    groups = sorted(set(data["group"][train])) if "group" in data else []
    val_groups = set(groups[::5])
    is_val = train & np.isin(data.get("group", np.zeros(len(train), str)), list(val_groups))
    idx = np.nonzero(train & ~is_val)[0]
    val = np.nonzero(is_val)[0]
    model.standardise_on(data["features"][idx])
    best, best_state = float("inf"), None
    opt = torch.optim.Adam(model.net.parameters(), lr=lr)
    steps = epochs * int(np.ceil(len(idx) / batch))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    log = []
    model.net.train()
    for ep in range(epochs):
        t0 = time.time()
        order = rng.permutation(idx)
        total = 0.0
        for b0 in range(0, len(order), batch):
            sel = order[b0:b0 + batch]
            x = model.inputs(data["features"][sel])
            flips = [d for d, p in ((-1, rng.random()), (-2, rng.random())) if p < 0.5]
            if flips:  # the metric does not depend on the picture's orientation
                x = x.flip(flips)
            y = torch.as_tensor(data["jod"][sel])
            pred = model.forward(x)
            loss = torch.mean((pred - y) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(sel)
        log.append(total / len(idx))
        msg = ""
        if len(val):
            model.net.eval()
            v = _mse(model, data, val)
            model.net.train()
            if v < best:
                best, best_state = v, {k: t.detach().clone() for k, t in model.net.state_dict().items()}
            msg = f", validation MSE {v:.4f}"
        if progress:
            progress(f"deep_{kind} epoch {ep + 1}/{epochs}: train MSE {log[-1]:.4f}{msg} ({time.time() - t0:.0f} s)")
    if best_state is not None:
        model.net.load_state_dict(best_state)
    model.net.eval()
    return model, log


def _predict(model: DeepMetric, data: dict, idx: np.ndarray) -> np.ndarray:
    """Predicted JOD of the pairs ``idx``, in batches of 16."""
    import torch

    preds = [np.zeros(0, np.float32)]
    with torch.inference_mode():
        for b0 in range(0, len(idx), 16):
            sel = idx[b0:b0 + 16]
            preds.append(model.score(model.inputs(data["features"][sel])).numpy())
    return np.concatenate(preds)


def _mse(model: DeepMetric, data: dict, idx: np.ndarray) -> float:
    return float(np.mean((_predict(model, data, idx) - data["jod"][idx]) ** 2))


def evaluate_metric(model: DeepMetric, data: dict, split: str = "test") -> dict:
    """Pearson and Spearman correlation with the labels, and RMSE, on one split."""
    from scipy.stats import pearsonr, spearmanr

    idx = np.nonzero(data["split"] == split)[0]
    p = _predict(model, data, idx)
    y = data["jod"][idx]
    return {"split": split, "pairs": int(len(idx)), "pearson": float(pearsonr(p, y)[0]),
            "spearman": float(spearmanr(p, y)[0]), "rmse": float(np.sqrt(np.mean((p - y) ** 2)))}


def time_metrics(pairs: Path, labels: Path, models: dict[str, DeepMetric], count: int = 50) -> dict:
    """Speed against ColorVideoVDP on the same images: the first ``count`` test pairs.

    Timed alike: ColorVideoVDP's time per pair is the one call ``tools/metric_labels.py`` recorded
    when it judged the pair (in a warm process); each learned metric is warmed up on the first pair,
    then called once per pair on the RGB images, as a user calls it. Its time covers PU21 encoding, the
    block features and the network (``dm.evaluate`` adds its input check). Medians over the pairs, in ms.
    """
    with open(labels, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "test" and r.get("seconds")][:count]
    if not rows:
        return {}

    times: dict[str, list[float]] = {name: [] for name in models}
    for k, r in enumerate(rows):
        with np.load(Path(pairs) / f"{int(r['id']):05d}.npz") as z:
            target, shown = z["target"].astype(np.float32), z["shown"].astype(np.float32)
        for name, model in models.items():
            if k == 0:
                model.predict(target, shown)
            t0 = time.perf_counter()
            model.predict(target, shown)
            times[name].append(time.perf_counter() - t0)
    cvvdp = float(np.median([float(r["seconds"]) for r in rows])) * 1e3
    out = {"pairs": len(rows), "size": list(target.shape[:2]), "cvvdp_ms": cvvdp}
    for name, ts in times.items():
        ms = float(np.median(ts)) * 1e3
        out[f"{name}_ms"] = ms
        out[f"{name}_speedup"] = cvvdp / ms
    return out


def save_weights(models: dict[str, DeepMetric], out: Path, extra: dict) -> Path:
    """State dicts plus ``manifest.json`` (version, SHA-256, width, evaluation numbers)."""
    from .._weights import save_checked

    path = Path(out) / "manifest.json"
    for name, model in models.items():
        path = save_checked(out, name, model.net.state_dict(), WEIGHTS_VERSION,
                            {"width": model.width, **extra.get(name, {})}, container="safetensors")
    return path
