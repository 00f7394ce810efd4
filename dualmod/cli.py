# SPDX-License-Identifier: BSD-3-Clause
"""The ``dualmod`` command.

Every command has ``--help`` with an example, can write machine-readable
results with ``--json PATH``, writes files atomically, and on bad input
prints one readable line and exits non-zero (a traceback only with
``--debug``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .errors import DualmodError, InputError
from .imaging.colour import luminance

EXIT_INPUT = 2  # bad input: a file, a profile, an argument
EXIT_BUG = 3  # an unexpected error: please report it


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other input error
        self.exit(EXIT_INPUT, f"dualmod: error: {message} (see --help)\n")


def _add(sub, name: str, help: str, example: str, func) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=help,
                       epilog="example:\n  " + "\n  ".join(line.strip() for line in example.strip().splitlines()),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=func)
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    return p


def add_group(sub, name: str, help: str, description: str):
    """A command with subcommands (``dualmod bridge …``, ``dualmod calibrate …``): returns its subparsers.

    Without a subcommand the group prints its help and exits 2.
    """
    group = sub.add_parser(name, help=help, description=description)
    gsub = group.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND", parser_class=type(group))
    group.set_defaults(func=lambda args: (group.print_help(), EXIT_INPUT)[1])
    return gsub


def _ensure_parent(path) -> None:
    """Create an output's folder up front, so a bad path fails before any work (and before any file)."""
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot create its folder {parent} ({exc.strerror or exc})") from None


def _emit_json(args, data) -> None:
    if args.json:
        from ._io import write_json

        write_json(args.json, data)


# ---------------------------------------------------------------- commands
def cmd_panels(args) -> int:
    from .panel import Panel

    rows = []
    for name in Panel.builtins():
        p = Panel.load(name)
        leds = p.leds
        grid = f"{leds.layout} {leds.rows}x{leds.cols}" if leds.layout != "positions" else "positions"
        psf = p.psf.model + (f" s={p.psf.sigma:g}" if p.psf.model == "gaussian" else "")
        rows.append({"name": name, "width": p.width, "height": p.height, "leds": p.n_leds, "layout": grid,
                     "channels": leds.channels, "led_bits": leds.bit_depth, "peak_nits": p.peak_nits,
                     "contrast_ratio": p.lcd.contrast_ratio, "black_nits": p.black_nits,
                     "lcd": f"{p.lcd.response} {p.lcd.bit_depth}-bit", "psf": psf, "boundary": p.psf.boundary})
    print(f"{'name':<18}{'resolution':>11}{'LEDs':>6}  {'layout':<13}{'ch':>3}{'bits':>5}{'peak':>7}{'CR':>7}"
          f"{'black':>8}  {'LCD':<13}{'PSF':<20}")
    for r in rows:
        print(f"{r['name']:<18}{r['width']:>5}x{r['height']:<5}{r['leds']:>6}  {r['layout']:<13}{r['channels']:>3}"
              f"{r['led_bits']:>5}{r['peak_nits']:>7.0f}{r['contrast_ratio']:>7.0f}{r['black_nits']:>8.3f}  "
              f"{r['lcd']:<13}{r['psf']:<20}")
    _emit_json(args, {"panels": rows})
    return 0


def cmd_bench(args) -> int:
    from .bench import format_table, run_bench

    res = run_bench(repeat=args.repeat, quick=args.quick,
                    progress=lambda s: print(f"bench: {s} ...", file=sys.stderr, flush=True))
    print(format_table(res))
    _emit_json(args, res)
    return 0


def cmd_demo(args) -> int:
    from ._io import write_json
    from .compare import compare, format_table, summarize
    from .panel import Panel
    from .report import Collector, write_report

    out = Path(args.out)
    _ensure_parent(out / "summary.json")
    panel = Panel.load(args.panel)
    methods = ["max", "sqrt", "seetzen2004", "optimal", "cnn"]
    scenes = ("window", "night", "specular")
    collect = Collector()
    rows = compare(panel, [f"builtin:{name}" for name in scenes], methods,
                   progress=lambda s: print(f"demo: {s}", file=sys.stderr, flush=True), on_result=collect,
                   reduce=collect.reduce)
    summary = summarize(rows)
    page = write_report(out, panel, list(collect.results.values()), summary, title="dualmod demo",
                        notes="Built-in procedural scenes (window, night, specular) at the panel resolution, "
                              "clipped to the panel peak; solve times on this machine, first call excluded.")
    result = {"panel": panel.name, "scenes": list(scenes), "summary": summary, "rows": rows,
              "report": str(page)}
    write_json(out / "summary.json", result)
    print(f"demo: {panel.name}, built-in scenes {', '.join(scenes)}")
    print(format_table(summary))
    print(f"report: {page.resolve()}")
    _emit_json(args, result)
    return 0


def _exposure(text: str):
    if text == "auto":
        return "auto"
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a positive number, got {text!r}") from None
    if not v > 0 or not np.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be 'auto' or a positive number, got {text!r}")
    return v


def cmd_simulate(args) -> int:
    from ._io import write_json
    from .compare import parse_method
    from .dimming import solve
    from .display.simulate import simulate
    from .imaging.inputs import load_target
    from .imaging.io import WRITE_FORMATS, write_image
    from .panel import Panel

    timings = {}
    t0 = time.perf_counter()
    panel = Panel.load(args.panel)
    method, options = parse_method(args.method)  # fail before any heavy work
    for out, kinds in ((args.out, WRITE_FORMATS), (args.preview, (".png",)), (args.json, (".json",))):
        if out and Path(out).suffix.lower() not in kinds:
            raise InputError(f"{out}: output must end in {', '.join(kinds)}")
        if out:
            _ensure_parent(out)
    target, info = load_target(args.input, panel, exposure=args.exposure, fit=args.fit)
    for note in info.get("warnings", []):
        print(f"dualmod: warning: {note}", file=sys.stderr)
    t1 = time.perf_counter()
    timings["read_prepare_s"] = t1 - t0
    leds = solve(panel, target, method=method, **options)
    t2 = time.perf_counter()
    timings["solve_s"] = t2 - t1
    sim = simulate(panel, leds, target)
    t3 = time.perf_counter()
    timings["simulate_s"] = t3 - t2
    write_image(args.out, sim.displayed, half=not args.float)
    if args.preview:
        write_image(args.preview, np.clip(sim.displayed / np.float32(panel.peak_nits), 0.0, 1.0))
    timings["write_s"] = time.perf_counter() - t3
    shown, want = luminance(sim.displayed), luminance(target)
    lit = want > 1e-3
    summary = {
        "input": info, "panel": panel.name, "method": method, "options": options, "fit": args.fit,
        "output": str(args.out), "preview": args.preview, "leds": panel.n_leds,
        "power": sim.power, "peak_nits_shown": float(shown.max()), "black_nits_shown": float(shown.min()),
        "target_peak_nits": float(want.max()),
        "clipped_fraction": float(np.mean(shown[lit] < 0.95 * want[lit])) if lit.any() else 0.0,
        "timings": timings,
    }
    print(f"{args.input} -> {args.out}: {panel.name}, method {args.method.strip()}, power {sim.power:.3f}, "
          f"peak {summary['peak_nits_shown']:.1f} cd/m², black {summary['black_nits_shown']:.4f} cd/m², "
          f"clipped {100 * summary['clipped_fraction']:.2f}% ({sum(timings.values()):.2f} s)")
    if args.json:
        write_json(args.json, summary)
    return 0


@contextlib.contextmanager
def _dask_client(args):
    """A Dask client for --workers N (a LocalCluster of N processes) or --scheduler ADDRESS; else None."""
    if not getattr(args, "workers", None) and not getattr(args, "scheduler", None):
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--workers/--scheduler need Dask: pip install 'dualmod[dask]' "
                         "(dask[distributed])") from None
    if args.scheduler:
        try:
            client = Client(args.scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"--scheduler {args.scheduler}: cannot connect ({exc})") from None
        with client:
            yield client
        return
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    # One task at a time per worker process; numba's, torch's and BLAS's threads inside it sized so that the
    # workers together use the machine's cores. Dask's own worker environment (MALLOC_TRIM_THRESHOLD_=65536,
    # one OpenMP thread) is replaced: that trim threshold turns off glibc's adaptive mmap threshold, so every
    # large temporary array is mapped and faulted in afresh: `optimal` ran 3-4x slower in a worker.
    import dask

    per = max(1, (os.cpu_count() or 1) // args.workers)
    environ = {name: per for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    saved = dict(os.environ)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
    finally:
        _restore_environ(saved)  # the nanny writes that environment into this process's os.environ too
    try:
        with cluster, Client(cluster) as client:
            yield client
    finally:
        _restore_environ(saved)


def _restore_environ(saved: dict) -> None:
    """Undo changes to os.environ (numba re-reads NUMBA_NUM_THREADS at each compilation and refuses a value
    that differs from its running pool's)."""
    for key in [k for k in os.environ if k not in saved]:
        del os.environ[key]
    for key, value in saved.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def cmd_compare(args) -> int:
    import csv

    from ._io import atomic_path, write_json
    from .compare import FIELDS, compare, format_table, parse_methods, summarize
    from .panel import Panel

    panel = Panel.load(args.panel)
    parse_methods(args.methods.split(","))  # bad methods or options fail before anything is created
    out = Path(args.out)
    _ensure_parent(out / "results.csv")
    from .report import Collector

    collect = Collector()
    with _dask_client(args) as client:
        rows = compare(panel, args.images, args.methods.split(","), exposure=args.exposure, fit=args.fit,
                       progress=lambda s: print(s, file=sys.stderr, flush=True),
                       on_result=collect if args.report else None, reduce=collect.reduce, client=client)
    summary = summarize(rows)
    with atomic_path(out / "results.csv") as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(rows)
    result = {"panel": panel.name, "exposure": args.exposure, "fit": args.fit, "summary": summary, "rows": rows}
    write_json(out / "results.json", result)
    splits = sorted({r["split"] for r in rows if r["split"]})
    print(f"{panel.name}, {len({r['image'] for r in rows})} images"
          + (f" (splits: {', '.join(splits)})" if splits else ""))
    print(format_table(summary))
    print(f"wrote {out / 'results.csv'} and {out / 'results.json'}")
    if args.pareto:
        from .report import pareto_figure

        pareto_figure(summary, out / args.pareto, title=f"{panel.name}, {len({r['image'] for r in rows})} images")
        print(f"wrote {out / args.pareto}")
    if args.report:
        from .report import write_report

        page = write_report(out, panel, list(collect.results.values()), summary, title=f"dualmod compare: {panel.name}")
        print(f"wrote {page}")
    _emit_json(args, result)
    return 0


def cmd_train_metric(args) -> int:
    from .training.metric import evaluate_metric, load_dataset, save_weights, time_metrics, train_metric

    say = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    say(f"loading pairs from {args.pairs} ...")
    data = load_dataset(Path(args.pairs), Path(args.labels))
    say(f"{len(data['jod'])} pairs: {int(np.sum(data['split'] == 'train'))} train, "
        f"{int(np.sum(data['split'] == 'test'))} test (held-out images)")
    models, report = {}, {}
    for kind in ("fr", "nr"):
        model, log = train_metric(data, kind, epochs=args.epochs, seed=args.seed, progress=say)
        models[f"deep_{kind}"] = model
        report[f"deep_{kind}"] = {"train_loss": log, "test": evaluate_metric(model, data, "test"),
                                  "train": evaluate_metric(model, data, "train"), "seed": args.seed,
                                  "epochs": args.epochs}
        t = report[f"deep_{kind}"]["test"]
        print(f"deep_{kind}: test split ({t['pairs']} pairs) Pearson {t['pearson']:.3f}, "
              f"Spearman {t['spearman']:.3f}, RMSE {t['rmse']:.3f} JOD")
    speed = time_metrics(Path(args.pairs), Path(args.labels), models)
    if speed:
        report["speed"] = speed
        print(f"speed on {speed['pairs']} test pairs ({speed['size'][1]} x {speed['size'][0]}): ColorVideoVDP "
              f"{speed['cvvdp_ms']:.1f} ms, " + ", ".join(
                  f"{k} {speed[k + '_ms']:.2f} ms ({speed[k + '_speedup']:.0f}x)" for k in models))
    extra = {k: {"test": v["test"], "seed": v["seed"], "epochs": v["epochs"]} for k, v in report.items()
             if k in models}
    path = save_weights(models, Path(args.out), extra)
    print(f"wrote {path}")
    _emit_json(args, report)
    return 0


def cmd_train_cnn(args) -> int:
    from ._weights import save_checked
    from .dimming.cnn import WEIGHTS_VERSION, load_model
    from .panel import Panel
    from .training.cnn import TWIN_SCALE, ImagePool, optimal_bank, scaled_panel, split_files, train_cnn

    data = Path(args.data)
    if not (data / "SPLIT.csv").is_file():
        raise InputError(f"{data}: no SPLIT.csv (the folder of HDR images with its train/test split)")
    if args.twin_scale is not None and not 0 < args.twin_scale <= 1:
        raise InputError(f"--twin-scale must lie in (0, 1], got {args.twin_scale}")
    if args.steps < 1:
        raise InputError(f"--steps must be at least 1, got {args.steps}")
    if args.out is None and (args.panel or args.init):
        raise InputError("--panel/--init: give --out (the default folder holds the shipped model)")
    if args.distill_groups < 0 or not (math.isfinite(args.distill_weight) and args.distill_weight >= 0):
        raise InputError(f"--distill-groups must be >= 0 and --distill-weight a number >= 0, got "
                         f"{args.distill_groups} and {args.distill_weight}")
    panel = None
    if args.panel:
        panel = Panel.load(args.panel)
        try:
            scaled_panel(panel)
        except ValueError as exc:
            raise InputError(f"--panel: {exc}") from None
    model = init_sha = None
    if args.init:
        start = load_model(None if args.init == "shipped" else args.init)
        model, init_sha = copy.deepcopy(start), start.sha256   # a copy: the cache keeps its own
    files = split_files(data, "train")
    print(f"training on {len(files)} train-split images + procedural scenes"
          + (f", panel {panel.name}" if panel else "") + (f", from {args.init}" if args.init else "")
          + (f", distilling optimal on {args.distill_groups} groups (weight {args.distill_weight:g})"
             if args.distill_groups else "") + f"; {args.steps} steps, seed {args.seed}", file=sys.stderr)
    pool = ImagePool(files)
    out = Path(args.out or "dualmod/dimming/weights")
    _ensure_parent(out / "cnn.pt")
    bank, bank_s = None, 0.0
    if args.distill_groups:
        t0 = time.perf_counter()
        bank = optimal_bank(pool, args.distill_groups, seed=args.seed, batch=args.batch, panel=panel,
                            twin_scale=args.twin_scale, init=args.init)
        bank_s = time.perf_counter() - t0
    model, history = train_cnn(pool, steps=args.steps, batch=args.batch, seed=args.seed, lr=args.lr,
                               twin_scale=args.twin_scale, log_path=out / "cnn-train-log.csv", model=model,
                               panel=panel, bank=bank, distill_weight=args.distill_weight)
    tail = history[-100:]
    summary = {"steps": args.steps, "batch": args.batch, "seed": args.seed, "lr": args.lr,
               "twin_scale": TWIN_SCALE if args.twin_scale is None else args.twin_scale,
               "panel": panel.name if panel else None, "init": args.init, "init_sha256": init_sha,
               "train_images": [f.name for f in files], "final_loss_mean_last_100": float(np.mean([h["loss"] for h in tail])),
               "seconds": history[-1]["seconds"] + bank_s}
    if bank is not None:
        summary.update(distill_groups=args.distill_groups, distill_weight=args.distill_weight,
                       distill_seconds=bank_s)
    if args.init:   # how the starting model was trained, so that the manifest holds the whole recipe
        from .dimming.cnn import _weights_dir

        folder = _weights_dir() if args.init == "shipped" else Path(args.init)
        with contextlib.suppress(OSError, ValueError, KeyError):
            summary["init_training"] = json.loads((folder / "manifest.json").read_text())["cnn"].get("training")
    path = save_checked(out, "cnn", model.net.state_dict(), WEIGHTS_VERSION,
                        {"width": model.width, "deep": model.deep, "training": summary})
    print(f"wrote {path} ({summary['seconds']:.0f} s, mean loss of the last 100 steps "
          f"{summary['final_loss_mean_last_100']:.5f})")
    _emit_json(args, {"summary": summary, "history": history})
    return 0


def cmd_scenes(args) -> int:
    from .imaging.scenes import SCENES

    rows = [{"name": n, "spec": f"builtin:{n}", "description": f.__doc__.strip().splitlines()[0]}
            for n, f in SCENES.items()]
    for r in rows:
        print(f"{r['spec']:<18} {r['description']}")
    _emit_json(args, {"scenes": rows})
    return 0


def cmd_methods(args) -> int:
    from .dimming import SOLVERS, methods

    rows = [{"name": m, "summary": (SOLVERS[m].__doc__ or "").strip().splitlines()[0]} for m in methods()]
    for r in rows:
        print(f"{r['name']:<14} {r['summary']}")
    _emit_json(args, {"methods": rows})
    return 0


# -------------------------------------------------------------------- main
def cmd_video(args) -> int:
    from .compare import parse_method
    from .imaging.video import VIDEO_SUFFIXES, open_frames
    from .panel import Panel
    from .video import parse_temporal, run_video

    panel = Panel.load(args.panel)
    method, options = parse_method(args.method)
    # --lookahead replaces the causal filter, so the filter's default applies only without it
    temporal = parse_temporal(args.temporal if args.temporal is not None else
                              ("off" if args.lookahead is not None else "attack=1,decay=0.15"))
    source = open_frames(args.input, size=(panel.height, panel.width), frames=args.frames)
    if args.shown and Path(args.shown).suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"--shown {args.shown}: give a video file ({', '.join(VIDEO_SUFFIXES)}); "
                         "without --shown the frames go to OUT/frames/")
    exposure = args.exposure
    if exposure is None:
        exposure = "auto" if Path(args.input).is_dir() else 1.0  # frames: scene-linear; video, builtin: nits
    if args.lookahead is not None and not args.lookahead > 0:
        raise InputError(f"--lookahead must be a positive slope per frame, got {args.lookahead}")
    with _dask_client(args) as client:
        summary = run_video(source, panel, method, args.out, temporal=temporal, shown=args.shown, options=options,
                            exposure=exposure, fit=args.fit, lookahead=args.lookahead, client=client,
                            progress=lambda s: print(f"video: {s}", file=sys.stderr, flush=True))
    print(f"{summary['frames']} frames ({summary['solved']} solved, {summary['resumed']} from an earlier run): "
          f"PU21-PSNR {summary['pu21_psnr_mean']:.2f} dB, power {summary['power_mean']:.3f}, "
          f"LED flicker (rms) {summary['led_flicker_rms']:.4f}, static flicker {summary['static_flicker_pu21']:.3f} "
          f"PU21, cuts at {summary['cut_frames'] or 'none'}")
    print(f"wrote {args.out}/metrics.csv, summary.json and {summary['shown']}")
    _emit_json(args, summary)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dualmod", description="Simulate and drive dual-modulation (LED x LCD) HDR displays.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"dualmod {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add(sub, "panels", "list the built-in panel profiles with their key numbers",
         "dualmod panels --json panels.json", cmd_panels)
    p = _add(sub, "bench", "benchmark the forward simulation against the memory floor and a straightforward version",
             "dualmod bench --json bench.json", cmd_bench)
    p.add_argument("--repeat", type=int, default=15, help="timed repetitions per measurement (median reported)")
    p.add_argument("--quick", action="store_true", help="1080p only, few repetitions (a smoke test)")
    p = _add(sub, "simulate", "simulate what a panel shows for an HDR image and write the result",
             """dualmod simulate scene.exr --panel fald-1080p-576 --method global --out shown.exr --json scores.json
             dualmod simulate builtin:window --out shown.exr --preview shown.png""", cmd_simulate)
    p.add_argument("input", help="image file (.exr .hdr .pfm .png .tif) or builtin:NAME (see 'dualmod scenes')")
    p.add_argument("--panel", default="fald-1080p-576", help="panel profile name or .toml path")
    p.add_argument("--method", default="global", help="dimming solver (see 'dualmod methods'), options as in compare: "
                   "optimal:power_weight=0.001")
    p.add_argument("--out", required=True, help="displayed image to write (.exr .pfm .hdr .tif .png)")
    p.add_argument("--preview", help="also write a 16-bit PNG preview (displayed / peak, sRGB-encoded)")
    p.add_argument("--exposure", type=_exposure, default="auto",
                   help="nits per scene unit, or 'auto' (log-average -> 36.5 cd/m^2; built-in scenes: 1)")
    p.add_argument("--fit", choices=["clip", "rolloff"], default="clip",
                   help="how to fit highlights above the panel peak (default clip; rolloff = BT.2390 EETF)")
    p.add_argument("--float", action="store_true", help="write EXR as 32-bit float instead of half")
    p = _add(sub, "compare", "run several dimming methods on several images and tabulate quality, power, speed",
             "dualmod compare ../shared/data/hdr/*.exr --methods max,sqrt,seetzen2004,optimal --out results/",
             cmd_compare)
    p.add_argument("images", nargs="+", help="image files or builtin:NAME scenes")
    p.add_argument("--panel", default="fald-1080p-576", help="panel profile name or .toml path")
    p.add_argument("--methods", default="global,max,sqrt,cho,seetzen2004",
                   help="comma-separated method names, each optionally with options: optimal:power_budget=max; "
                        "sweep one option with '/': cnn:power_weight=0/0.001/0.01")
    p.add_argument("--out", required=True, help="output folder for results.csv and results.json")
    p.add_argument("--pareto", metavar="NAME.png", help="also write the quality-versus-power figure to OUT/NAME.png")
    p.add_argument("--report", action="store_true", help="also write OUT/report.html with figures per image")
    p.add_argument("--exposure", type=_exposure, default="auto", help="nits per scene unit, or 'auto'")
    p.add_argument("--fit", choices=["clip", "rolloff"], default="clip")
    p.add_argument("--workers", type=int, default=0,
                   help="run images in parallel on a local Dask cluster of N worker processes")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask cluster (tcp://host:8786); workers must see the image paths")
    p = _add(sub, "train-metric", "train the learned metrics deep_fr / deep_nr on ColorVideoVDP labels",
             "dualmod train-metric --pairs ~/.cache/dualmod/metric-pairs --labels dualmod/training/metric_labels.csv "
             "--out dualmod/metrics/weights", cmd_train_metric)
    p.add_argument("--pairs", required=True, help="folder written by tools/metric_pairs.py")
    p.add_argument("--labels", required=True, help="CSV written by tools/metric_labels.py")
    p.add_argument("--out", default="dualmod/metrics/weights", help="where to write the weights and manifest")
    p.add_argument("--epochs", type=int, default=60, help="most epochs; the best on the validation groups is kept")
    p.add_argument("--seed", type=int, default=0)
    p = _add(sub, "train-cnn", "train the cnn dimming model through the differentiable display",
             """dualmod train-cnn --data ../shared/data/hdr --out base --steps 8000 --seed 0
             dualmod train-cnn --data ../shared/data/hdr --init base --distill-groups 200 --steps 400 --lr 5e-4 --seed 0 --out dualmod/dimming/weights
             dualmod train-cnn --data ../shared/data/hdr --panel sim2-hdr47 --init shipped --steps 2000 --lr 5e-4 --out my-sim2""",
             cmd_train_cnn)
    p.add_argument("--data", required=True, help="folder of HDR images with SPLIT.csv (only 'train' rows are read)")
    p.add_argument("--out", default=None, help="where to write cnn.pt, the manifest and the log (default "
                   "dualmod/dimming/weights, the shipped model; required with --panel or --init)")
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--twin-scale", type=float, default=None,
                   help="resolution of the simulated display in the loss, as a fraction of the training panel's "
                        "480 x 270 (default: the training module's TWIN_SCALE)")
    p.add_argument("--panel", default=None,
                   help="train on this one panel (profile name or .toml; white, grid or hex, Gaussian PSF, 16:9) "
                        "instead of the drawn family: with --init, a fine-tune for that display")
    p.add_argument("--init", default=None, metavar="shipped|FOLDER",
                   help="start from these weights (the shipped model, or a train-cnn --out folder) "
                        "instead of a fresh network")
    p.add_argument("--distill-groups", type=int, default=0, metavar="N",
                   help="distil optimal: solve N groups of --batch training targets with optimal first (about "
                        "0.2 s a target) and train on them, adding --distill-weight x mean((L - optimal's L)^2)")
    p.add_argument("--distill-weight", type=float, default=10.0, metavar="A",
                   help="weight of the distillation term (default 10)")
    p = _add(sub, "video", "local dimming of a video: solve, temporal filter, simulate, measure flicker (resumable)",
             """dualmod video builtin:flicker --panel fald-1080p-576 --method max --out out/video
             dualmod video clip.mp4 --method cnn --temporal decay=0.2 --out out/clip --shown out/clip/shown.mp4
             dualmod video frames/ --panel sim2-hdr47 --method sqrt --temporal off --out out/frames-run
             dualmod video clip.mp4 --method optimal --workers 2 --out out/clip-optimal""", cmd_video)
    p.add_argument("input", help="folder of frames, HDR10 video (.mp4 .mkv .mov .ts) or builtin:flicker, builtin:grain")
    p.add_argument("--panel", default="fald-1080p-576", help="panel profile name or .toml path")
    p.add_argument("--method", default="max", help="dimming solver (see 'dualmod methods'), options as in compare: "
                   "optimal:power_weight=0.001")
    p.add_argument("--temporal", default=None,
                   help="temporal filter: attack=,decay=,cut=,scene_cut=,hold=,anchor= or 'off' (default "
                        "attack=1,decay=0.15; off with --lookahead); anchor= is the price of moving away from the "
                        "last frame's LEDs for solvers that take one (optimal; 0: none)")
    p.add_argument("--out", required=True, help="output folder (frames/, leds/, metrics.csv, summary.json)")
    p.add_argument("--shown", help="write the shown frames as this HDR10 video instead of OUT/frames/")
    p.add_argument("--lookahead", type=float, metavar="SLOPE",
                   help="offline: send the slope-limited upper envelope of the per-frame solutions (LEDs ramp "
                        "up before a highlight arrives; never clips) instead of the temporal filter")
    p.add_argument("--frames", type=int, default=48, help="length of a builtin sequence")
    p.add_argument("--exposure", type=_exposure, default=None,
                   help="nits per input unit or 'auto' (default: auto for frame folders, 1 for video and builtin)")
    p.add_argument("--fit", choices=["clip", "rolloff"], default="clip")
    p.add_argument("--workers", type=int, default=0,
                   help="solve, simulate and write frames on a local Dask cluster of N worker processes "
                        "(the temporal filter stays here, in frame order: the same result as a serial run)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask cluster (tcp://host:8786); workers must see OUT at the same path")
    _add(sub, "scenes", "list the built-in procedural HDR scenes (use them as builtin:NAME)",
         "dualmod scenes", cmd_scenes)
    _add(sub, "methods", "list the registered dimming solvers", "dualmod methods", cmd_methods)
    p = _add(sub, "demo", "compare the main solvers on the default panel and built-in scenes; write a figure and table",
             "dualmod demo --out out/demo", cmd_demo)
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--panel", default="fald-1080p-576", help="panel profile name or .toml path")
    from .cli_bridge import add_bridge

    add_bridge(sub, _add)
    try:  # calibration is a sibling package (DESIGN §1): loaded here, never at dualmod's import
        from calibration.cli import add_calibrate
    except ImportError:  # pragma: no cover - an install without it
        pass
    else:
        add_calibrate(sub, _add)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_INPUT
    try:
        return int(args.func(args) or 0)
    except DualmodError as exc:
        if args.debug:
            raise
        print(f"dualmod: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("dualmod: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure: one line unless --debug
        if args.debug:
            raise
        print(f"dualmod: internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)",
              file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
