# SPDX-License-Identifier: BSD-3-Clause
"""Training and test pairs for the learned metrics (issue 5): targets and what panels show for them.

Step 1 of 3 (this script, in dualmod's own environment):

    .venv/bin/python tools/metric_pairs.py --out ~/.cache/dualmod/metric-pairs --count 1000 --seed 1

writes ``pairs.json`` (one spec per pair) and ``NNNNN.npz`` files (``target``, ``shown``: float16
(270, 480, 3), cd/m²). Targets come from ``../shared/data/hdr`` — the split of SPLIT.csv is kept, so
test-split images only ever yield test pairs — and from the procedural scenes; shown images come
from random panels (zones, PSF width, contrast, LED bit depth), solvers and power levels (the LED
frame scaled down, which clips), simulated at 480 × 270.

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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    split = _split()
    files = sorted(split)
    scenes = sorted(dm.imaging.SCENES)
    args.out.mkdir(parents=True, exist_ok=True)
    specs = []
    cache: dict[str, np.ndarray] = {}
    warnings.simplefilter("ignore")
    for i in range(args.count):
        panel = _panel(rng)
        if rng.random() < 0.8:
            name = str(rng.choice(files))
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
        method = str(rng.choice(SOLVERS))
        leds = dm.solve(panel, target, method=method)
        scale = float(rng.choice([1.0, 1.0, rng.uniform(0.3, 1.0)]))
        sim = dm.simulate(panel, np.clip(leds * scale, 0, 1), target)
        np.savez_compressed(args.out / f"{i:05d}.npz", target=target.astype(np.float16),
                            shown=np.minimum(sim.displayed, 65000).astype(np.float16))
        specs.append({"id": i, "split": which, "source": source, "method": method, "led_scale": scale,
                      "panel": {"rows": panel.leds.rows, "cols": panel.leds.cols, "sigma": panel.psf.sigma,
                                "peak_nits": panel.peak_nits, "contrast_ratio": panel.lcd.contrast_ratio,
                                "led_bits": panel.leds.bit_depth, "lcd_bits": panel.lcd.bit_depth},
                      "pu21_psnr": dm.metrics.pu21_psnr(target, sim.displayed)})
        if i % 50 == 0:
            print(f"{i}/{args.count}", flush=True)
    (args.out / "pairs.json").write_text(json.dumps({"seed": args.seed, "size": [H, W], "pairs": specs}, indent=1))


if __name__ == "__main__":
    main()
