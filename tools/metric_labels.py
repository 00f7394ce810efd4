# SPDX-License-Identifier: BSD-3-Clause
"""Step 2 of the learned-metric pipeline: ColorVideoVDP JOD labels for the pairs of ``metric_pairs.py``.

Runs in a separate environment (ColorVideoVDP's torchvision does not load beside dualmod's CPU torch):

    python3 -m venv /tmp/judge && /tmp/judge/bin/pip install torch==2.14.1 torchvision==0.29.1 cvvdp==0.5.7
    /tmp/judge/bin/python tools/metric_labels.py ~/.cache/dualmod/metric-pairs --out dualmod/training/metric_labels.csv

Each pair is judged with ``display_name="standard_hdr_linear"`` (linear Rec.709 RGB in cd/m²).
Labels already in the output CSV are kept, so an interrupted run resumes. The CSV also records the
seconds each judgement took (``dualmod train-metric`` compares the learned metrics' speed with it).
Needs only numpy and cvvdp.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    import pycvvdp
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    metric = pycvvdp.cvvdp(display_name="standard_hdr_linear", device=torch.device("cpu"))
    specs = json.loads((args.pairs / "pairs.json").read_text())["pairs"]
    done = {}
    if args.out.is_file():
        with open(args.out, newline="") as fh:
            done = {int(r["id"]): r for r in csv.DictReader(fh)}
    rows = list(done.values())
    t0 = time.time()
    for k, spec in enumerate(specs):
        if spec["id"] in done:
            continue
        with np.load(args.pairs / f"{spec['id']:05d}.npz") as z:
            target = z["target"].astype(np.float32)
            shown = z["shown"].astype(np.float32)
        t1 = time.perf_counter()
        with torch.no_grad():
            jod, _ = metric.predict(shown, target, dim_order="HWC")
        seconds = time.perf_counter() - t1
        rows.append({"id": spec["id"], "split": spec["split"], "jod": f"{float(jod):.5f}", "seconds": f"{seconds:.4f}"})
        if k % 25 == 0:
            print(f"{k}/{len(specs)} {time.time() - t0:.0f}s", flush=True)
            _write(args.out, rows)
    _write(args.out, rows)


def _write(path: Path, rows: list[dict]) -> None:
    rows = sorted(rows, key=lambda r: int(r["id"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".csv")
    with os.fdopen(fd, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "split", "jod", "seconds"], restval="")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
