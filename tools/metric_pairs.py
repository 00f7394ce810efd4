# SPDX-License-Identifier: BSD-3-Clause
"""Training and test pairs for the learned metrics (issue 5): targets and what panels show for them.

Step 1 of 3 (this script, in dualmod's own environment):

    .venv/bin/python tools/metric_pairs.py --out ~/.cache/dualmod/metric-pairs --count 6000 --seed 1
    .venv/bin/python tools/metric_pairs.py --out ~/.cache/dualmod/metric-pairs --count 1500 --seed 2 \
        --first 6000 --generic 0.5

writes ``pairs.json`` (one spec per pair; a run with ``--first`` adds to it) and ``NNNNN.npz`` files
(``target``, ``shown``: float16 (270, 480, 3), cd/m²). Targets come from ``../shared/data/hdr`` — the
split of SPLIT.csv is kept, so test-split images only ever yield test pairs — and from the procedural
scenes; shown images come from random panels (zones, PSF width, contrast, LED bit depth), solvers
and power levels (the LED frame scaled down, which clips), simulated at 480 × 270.

``--generic F``: a fraction F of the pairs instead shows the target through one generic degradation
— none (a perfect display), multiplicative noise, blur, clipping, dimming or a raised black — so the
models also learn what the teacher says of those (JOD 10 for no change, falling with each
degradation's strength). Generic pairs use train-split images and scenes only: the test split stays
the display pairs it was.

Step 2 (``tools/metric_labels.py``, in a separate environment with ColorVideoVDP) adds the JOD labels.
Step 3 (``dualmod train-metric``) trains the small CNNs on them.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

import dualmod as dm
from dualmod._io import write_json
from dualmod.imaging.inputs import read_split

HDR = Path(__file__).resolve().parents[2] / "shared" / "data" / "hdr"
H, W = 270, 480
SOLVERS = ("global", "max", "sqrt", "cho", "mean", "seetzen2004", "percentile")


def _split() -> dict[str, str]:
    return read_split(HDR)


def _panel(rng: np.random.Generator) -> dm.Panel:
    rows = int(rng.choice([3, 6, 9, 12, 18]))
    cols = int(round(rows * 16 / 9))
    pitch = W / cols
    return dm.Panel.from_dict({
        "panel": {"name": "metric-train", "width": W, "height": H, "peak_nits": float(rng.choice([600, 1000, 2000, 4000]))},
        "leds": {"layout": "grid", "rows": rows, "cols": cols, "bit_depth": int(rng.choice([6, 8, 12]))},
        "psf": {"model": "gaussian", "sigma": float(pitch * rng.uniform(0.5, 2.0))},
        "lcd": {"response": "gamma", "gamma": 2.2, "bit_depth": int(rng.choice([6, 8, 10])),
                "contrast_ratio": float(rng.choice([100, 300, 1000, 3000, 5000]))},
    }, source="<metric-pairs>")


def _degrade(target: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """One generic degradation of ``target`` at a random strength: (shown, description)."""
    from scipy.ndimage import gaussian_filter

    kind = str(rng.choice(["none", "noise", "blur", "clip", "dim", "black"]))
    t = target.astype(np.float32)
    if kind == "none":
        return t.copy(), {"kind": kind}
    if kind == "noise":
        sigma = float(rng.uniform(0.01, 0.3))
        return np.maximum(t * (1 + sigma * rng.standard_normal(t.shape, np.float32)), 0), {"kind": kind, "sigma": sigma}
    if kind == "blur":
        sigma = float(rng.uniform(0.5, 6.0))
        return gaussian_filter(t, (sigma, sigma, 0)), {"kind": kind, "sigma": sigma}
    if kind == "clip":
        level = float(rng.uniform(0.1, 0.9))
        return np.minimum(t, np.float32(level * t.max())), {"kind": kind, "level": level}
    if kind == "dim":
        scale = float(rng.uniform(0.3, 0.95))
        return t * np.float32(scale), {"kind": kind, "scale": scale}
    black = float(10 ** rng.uniform(-2, 0))
    return t + np.float32(black), {"kind": kind, "nits": black}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--first", type=int, default=0, help="id of the first pair; > 0 adds to an existing pairs.json")
    ap.add_argument("--generic", type=float, default=0.0, help="fraction of generic-degradation pairs")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    split = _split()
    files = sorted(split)
    scenes = sorted(dm.imaging.SCENES)
    args.out.mkdir(parents=True, exist_ok=True)
    specs, runs = [], []
    if args.first:
        old = json.loads((args.out / "pairs.json").read_text())
        if any(p["id"] >= args.first for p in old["pairs"]):
            raise SystemExit(f"pairs.json already has ids >= {args.first}")
        specs = old["pairs"]
        runs = old.get("runs") or [{"seed": old["seed"], "first": 0, "count": len(specs), "generic": 0.0}]
    runs.append({"seed": args.seed, "first": args.first, "count": args.count, "generic": args.generic})
    train_files = [f for f in files if split[f] == "train"]
    cache: dict[str, np.ndarray] = {}
    warnings.simplefilter("ignore")
    for i in range(args.first, args.first + args.count):
        generic = args.generic > 0 and rng.random() < args.generic
        panel = _panel(rng)
        if rng.random() < 0.8:
            name = str(rng.choice(train_files if generic else files))
            img = cache.setdefault(name, dm.read_image(HDR / name))
            which = split[name]
            # a random crop (at least half of each side) keeps the set varied
            h, w = img.shape[:2]
            ch, cw = int(h * rng.uniform(0.5, 1.0)), int(w * rng.uniform(0.5, 1.0))
            y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            crop = img[y0:y0 + ch, x0:x0 + cw]
            exposure = dm.imaging.prepare.auto_exposure(crop) * float(2.0 ** rng.uniform(-2, 2))
            target = dm.prepare_target(panel, crop, exposure=exposure, fit="clip")
            source = {"file": name, "crop": [y0, x0, ch, cw]}
        else:
            name = str(rng.choice(scenes))
            target = np.minimum(dm.scene(name, H, W) * float(2.0 ** rng.uniform(-2, 1)), panel.peak_nits)
            target = target.astype(np.float32)
            which, source = "train", {"scene": name}
        if generic:
            shown, how = _degrade(target, rng)
            spec = {"generic": how}
        else:
            method = str(rng.choice(SOLVERS))
            leds = dm.solve(panel, target, method=method)
            scale = float(rng.choice([1.0, 1.0, rng.uniform(0.3, 1.0)]))
            shown = dm.simulate(panel, np.clip(leds * scale, 0, 1), target).displayed
            spec = {"method": method, "led_scale": scale,
                    "panel": {"rows": panel.leds.rows, "cols": panel.leds.cols, "sigma": panel.psf.sigma,
                              "peak_nits": panel.peak_nits, "contrast_ratio": panel.lcd.contrast_ratio,
                              "led_bits": panel.leds.bit_depth, "lcd_bits": panel.lcd.bit_depth}}
        np.savez_compressed(args.out / f"{i:05d}.npz", target=target.astype(np.float16),
                            shown=np.minimum(shown, 65000).astype(np.float16))
        specs.append({"id": i, "split": which, "source": source, **spec,
                      "pu21_psnr": dm.metrics.pu21_psnr(target, shown)})
        if (i - args.first) % 50 == 0:
            print(f"{i - args.first}/{args.count}", flush=True)
    # atomically: with --first this replaces the specs of every earlier pair
    write_json(args.out / "pairs.json", {"runs": runs, "size": [H, W], "pairs": specs})


if __name__ == "__main__":
    main()
