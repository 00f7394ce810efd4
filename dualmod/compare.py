# SPDX-License-Identifier: BSD-3-Clause
"""The comparison harness behind ``dualmod compare``: every method on every image.

For each image: read, fit to the panel (:func:`dualmod.prepare_target`), and
for each method: solve (timed), simulate, score. Scores per frame:

- the default metric set of :func:`dualmod.evaluate` (``pu21_psnr``,
  ``pu21_ssim``, ``power``, ``clipped_fraction``, ``halo``, ``contrast``; see
  :mod:`dualmod.metrics`);
- ``solve_ms`` — solver time per frame (each method is run once untimed
  first, so compilation and table building are not counted).

Images listed in ``../shared/data/hdr/SPLIT.csv`` carry their split
(``train``/``test``) so reported numbers can say where they come from.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .dimming import methods as _methods
from .dimming import solve
from .display.simulate import simulate
from .errors import InputError
from .imaging.inputs import load_target, read_split
from .metrics import evaluate
from .panel import Panel

__all__ = ["compare", "summarize", "format_table", "expand_methods", "FIELDS"]

FIELDS = ("image", "split", "method", "pu21_psnr", "pu21_ssim", "power", "clipped_fraction", "halo", "contrast",
          "solve_ms")


def _split_of(path: str) -> str:
    p = Path(path)
    return read_split(p.parent).get(p.name, "")


def _parse_method(spec: str) -> tuple[str, str, dict]:
    """``name`` or ``name:key=value:key=value`` → (label, name, options); values parsed as numbers when they are."""
    parts = spec.strip().split(":")
    opts = {}
    for kv in parts[1:]:
        if "=" not in kv:
            raise InputError(f"method option {kv!r} in {spec!r} must look like key=value")
        k, v = kv.split("=", 1)
        try:
            opts[k] = int(v) if v.lstrip("-").isdigit() else float(v)
        except ValueError:
            opts[k] = v
    return spec.strip().lower(), parts[0].strip().lower(), opts


def expand_methods(specs: Iterable[str]) -> list[str]:
    """Expand sweeps: ``cnn:power_weight=0/0.001/0.01`` → three specs, one per value (``/`` separates them)."""
    out = []
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        variants = [""]
        for i, part in enumerate(spec.split(":")):
            if i == 0 or "=" not in part or "/" not in part.split("=", 1)[1]:
                variants = [v + (":" if i else "") + part for v in variants]
                continue
            k, vals = part.split("=", 1)
            variants = [f"{v}:{k}={x}" for v in variants for x in vals.split("/") if x]
        out += variants
    return out


def compare(panel: Panel, images: Iterable[str], method_names: Iterable[str], *, exposure="auto",
            fit: str = "clip", progress: Callable[[str], None] | None = None,
            load: Callable | None = None, on_result: Callable | None = None) -> list[dict]:
    """Run every method on every image; returns one dict per (image, method) with :data:`FIELDS`.

    A method may carry options: ``"optimal:power_budget=max"``, ``"percentile:level=0.9"``, and sweep
    one: ``"cnn:power_weight=0/0.001/0.01"`` (see :func:`expand_methods`). ``on_result(image, method,
    target, sim)`` is called after each simulation (e.g. to keep previews for a report).
    """
    specs = [_parse_method(m) for m in expand_methods(method_names)]
    names = [label for label, _, _ in specs]
    valid = set(_methods())
    bad = [base for _, base, _ in specs if base not in valid]
    if bad:
        raise InputError(f"unknown method(s) {', '.join(bad)}; valid methods: {', '.join(sorted(valid))}")
    images = list(images)
    if not images or not names:
        raise InputError("compare needs at least one image and one method")
    if load is None:
        load = load_target
    rows = []
    total = len(images) * len(names)
    done = 0
    warmed: set[str] = set()
    for img in images:
        target, _ = load(img, panel, exposure=exposure, fit=fit)  # reading warnings are collected, not shown
        image, split = (Path(img).name if not img.startswith("builtin:") else img), _split_of(img)
        for m, base, opts in specs:
            if m not in warmed:  # first call compiles/loads kernels and builds tables: not part of the timing
                solve(panel, target, method=base, **opts)
                warmed.add(m)
            t0 = time.perf_counter()
            leds = solve(panel, target, method=base, **opts)
            dt = time.perf_counter() - t0
            sim = simulate(panel, leds, target)
            scores = evaluate(target, sim, panel=panel)
            rows.append({"image": image, "split": split, "method": m,
                         **{k: scores[k] for k in FIELDS if k in scores}, "solve_ms": dt * 1e3})
            if on_result is not None:
                on_result(image, m, target, sim)
            done += 1
            if progress:
                progress(f"[{done}/{total}] {rows[-1]['image']} {m}: {rows[-1]['pu21_psnr']:.2f} dB, "
                         f"power {sim.power:.3f}, {dt * 1e3:.0f} ms")
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """Per-method means over images (and frames per second of the solver)."""
    out = []
    for m in dict.fromkeys(r["method"] for r in rows):
        sel = [r for r in rows if r["method"] == m]

        def mean(k: str, sel=sel) -> float:
            return float(np.mean([r[k] for r in sel]))

        finite = [r["pu21_psnr"] for r in sel if np.isfinite(r["pu21_psnr"])]
        out.append({"method": m, "images": len(sel), "pu21_psnr": float(np.mean(finite)) if finite else float("inf"),
                    "pu21_ssim": mean("pu21_ssim"), "power": mean("power"),
                    "clipped_fraction": mean("clipped_fraction"), "halo": mean("halo"),
                    "solve_ms": mean("solve_ms"), "fps": 1000.0 / max(mean("solve_ms"), 1e-9)})
    return out


def format_table(summary: list[dict]) -> str:
    """A console table of :func:`summarize` output."""
    w = max([14] + [len(s["method"]) + 2 for s in summary])
    lines = [f"{'method':<{w}}{'images':>7}{'PU21-PSNR':>11}{'PU21-SSIM':>10}{'power':>8}{'clipped':>9}{'halo':>7}"
             f"{'solve':>11}{'fps':>8}"]
    for s in summary:
        lines.append(f"{s['method']:<{w}}{s['images']:>7}{s['pu21_psnr']:>9.2f}dB{s['pu21_ssim']:>10.4f}"
                     f"{s['power']:>8.3f}{100 * s['clipped_fraction']:>8.2f}%{s['halo']:>7.2f}"
                     f"{s['solve_ms']:>9.1f}ms{s['fps']:>8.1f}")
    return "\n".join(lines)

