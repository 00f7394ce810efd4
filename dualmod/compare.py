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
from .dimming import check_method, solve
from .display.simulate import simulate
from .errors import InputError
from .imaging.inputs import load_target, read_split
from .metrics import evaluate
from .panel import Panel

__all__ = ["compare", "summarize", "format_table", "expand_methods", "parse_methods", "FIELDS"]

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


#: Options whose value is a path: never swept (there ``/`` separates folders).
PATH_OPTIONS = frozenset({"weights"})


def expand_methods(specs: Iterable[str]) -> list[str]:
    """Expand sweeps: ``cnn:power_weight=0/0.001/0.01`` → three specs, one per value (``/`` separates them;
    not in the value of a :data:`PATH_OPTIONS` option)."""
    out = []
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        variants = [""]
        for i, part in enumerate(spec.split(":")):
            if (i == 0 or "=" not in part or "/" not in part.split("=", 1)[1]
                    or part.split("=", 1)[0].strip() in PATH_OPTIONS):
                variants = [v + (":" if i else "") + part for v in variants]
                continue
            k, vals = part.split("=", 1)
            variants = [f"{v}:{k}={x}" for v in variants for x in vals.split("/") if x]
        out += variants
    return out


def parse_methods(method_names: Iterable[str]) -> list[tuple[str, str, dict]]:
    """Method specs (sweeps expanded) as (label, solver, options), every name and option checked.

    Raises
    ------
    InputError
        Unknown methods (all of them named) or an option a method does not take.
    """
    specs = [_parse_method(m) for m in expand_methods(method_names)]
    valid = set(_methods())
    bad = [base for _, base, _ in specs if base not in valid]
    if bad:
        raise InputError(f"unknown method(s) {', '.join(bad)}; valid methods: {', '.join(sorted(valid))}")
    for _, base, opts in specs:
        check_method(base, opts)
    return specs


def parse_method(spec: str) -> tuple[str, dict]:
    """One method as ``--method`` takes it, options included: ``"optimal:power_weight=0.001"`` →
    ``("optimal", {"power_weight": 0.001})``; checked as :func:`parse_methods` checks them.

    Raises
    ------
    InputError
        An unknown method, an option it does not take, or a sweep (``/``: for ``compare`` only).
    """
    specs = expand_methods([spec])
    if len(specs) != 1:
        raise InputError(f"--method {spec!r}: give one method (a sweep with '/' is for 'dualmod compare --methods')")
    (_, base, options), = parse_methods(specs)
    return base, options


#: (panel, method) pairs this process has run once (so their timing excludes compilation and set-up).
_WARMED: set = set()


def _keep_all(target, sim):
    return target, sim


def _compare_image(panel: Panel, img: str, specs: list, exposure, fit: str, load: Callable | None,
                   keep: Callable | None, say: Callable | None = None) -> tuple[list[dict], list]:
    """Every method on one image: (rows, [(method, *keep(target, sim))] when ``keep`` is given). Runs
    anywhere: the serial loop calls it, and so do Dask workers (so ``keep`` reduces before results travel)."""
    load = load or load_target
    target, _ = load(img, panel, exposure=exposure, fit=fit)  # reading warnings are collected, not shown
    image, split = (Path(img).name if not img.startswith("builtin:") else img), _split_of(img)
    rows, sims = [], []
    for m, base, opts in specs:
        if (panel, m) not in _WARMED:  # a process's first call compiles kernels, builds tables: untimed
            solve(panel, target, method=base, **opts)
            _WARMED.add((panel, m))
        t0 = time.perf_counter()
        leds = solve(panel, target, method=base, **opts)
        dt = time.perf_counter() - t0
        sim = simulate(panel, leds, target)
        scores = evaluate(target, sim, panel=panel)
        rows.append({"image": image, "split": split, "method": m,
                     **{k: scores[k] for k in FIELDS if k in scores}, "solve_ms": dt * 1e3})
        if keep is not None:
            sims.append((m, *keep(target, sim)))
        if say:
            say(f"{image} {m}: {rows[-1]['pu21_psnr']:.2f} dB, power {sim.power:.3f}, {dt * 1e3:.0f} ms")
    return rows, sims


def compare(panel: Panel, images: Iterable[str], method_names: Iterable[str], *, exposure="auto",
            fit: str = "clip", progress: Callable[[str], None] | None = None,
            load: Callable | None = None, on_result: Callable | None = None, reduce: Callable | None = None,
            client=None) -> list[dict]:
    """Run every method on every image; returns one dict per (image, method) with :data:`FIELDS`.

    A method may carry options: ``"optimal:power_budget=max"``, ``"percentile:level=0.9"``, and sweep
    one: ``"cnn:power_weight=0/0.001/0.01"`` (see :func:`expand_methods`). ``on_result(image, method,
    target, sim)`` is called after each simulation (e.g. to keep previews for a report); with
    ``reduce(target, sim) -> (target', sim')`` it gets those instead, made where the simulation ran (e.g.
    :meth:`dualmod.report.Collector.reduce`: previews, so that workers do not ship full-size frames).

    ``client``: a ``dask.distributed.Client``; each image then becomes one task (all its methods), run on
    the cluster's workers, which must see the image files at the same paths. Rows come back in the serial
    order and the quality numbers are the same as a serial run's (only ``solve_ms`` is the workers').
    Each method runs once untimed in each process before it is timed.
    """
    specs = parse_methods(method_names)
    names = [label for label, _, _ in specs]
    images = list(images)
    if not images or not names:
        raise InputError("compare needs at least one image and one method")
    keep = None if on_result is None else (reduce or _keep_all)
    if client is None:
        results = (_compare_image(panel, img, specs, exposure, fit, load, keep,
                                  progress and (lambda msg, k=k: progress(f"[{k + 1}/{len(images)}] {msg}")))
                   for k, img in enumerate(images))
    else:
        results = _distributed(client, panel, images, specs, exposure, fit, load, keep, progress)
    rows: list[dict] = []
    for k, (image_rows, sims) in enumerate(results):
        rows += image_rows
        for m, target, sim in sims:
            on_result(image_rows[0]["image"], m, target, sim)
        if progress and client is not None:
            best = max(image_rows, key=lambda r: r["pu21_psnr"])
            progress(f"[{k + 1}/{len(images)}] {image_rows[0]['image']}: {len(image_rows)} methods, best "
                     f"{best['method']} {best['pu21_psnr']:.2f} dB")
    return rows


def _distributed(client, panel, images, specs, exposure, fit, load, keep, progress):
    """Submit one task per image; yield the results in image order as they arrive."""
    from distributed import as_completed

    futures = [client.submit(_compare_image, panel, img, specs, exposure, fit, load, keep, pure=False)
               for img in images]
    if progress:
        progress(f"{len(futures)} images on {len(client.scheduler_info().get('workers', {}))} Dask workers")
    index = {f.key: i for i, f in enumerate(futures)}
    ready: dict[int, tuple] = {}
    nxt = 0
    for fut in as_completed(futures):
        ready[index[fut.key]] = fut.result()
        fut.release()
        while nxt in ready:
            yield ready.pop(nxt)
            nxt += 1


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

