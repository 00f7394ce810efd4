# SPDX-License-Identifier: BSD-3-Clause
"""Local dimming of a video: per-frame solve, temporal filter, simulate, write, measure — resumably.

:func:`run_video` reads a :class:`~dualmod.imaging.video.FrameSource` one frame at a time and writes into
an output folder::

    OUT/frames/frame_00000.exr   the shown frames (or an HDR10 video given as ``shown``)
    OUT/leds/leds_00000.npz      the LED frame sent ("sent") and the solver's raw frame ("raw")
    OUT/metrics.csv              per frame: cut, PU21-PSNR, power, LED change, seconds
    OUT/summary.json             means, the temporal metrics (:mod:`dualmod.metrics.temporal`), frames/s

Run it again on the same folder and it skips frames whose shown frame, LED file and metrics row exist
(metrics.csv is saved every few seconds and when the run ends or is interrupted), restoring the
temporal filter's state from the last LED file, so a long run interrupted at frame k resumes at k with the
same result as an uninterrupted run. (An HDR10 video output cannot be appended to: it is written whole.)

The per-frame work — solving (:func:`_solve_frame`), then simulating, writing and scoring
(:func:`_finish_frame`) — runs through an executor: here (a serial run) or on Dask workers (``client``),
up to a few frames ahead. Everything sequential — reading, the scene-cut detector, the temporal filter,
the rows and the temporal statistics — stays in this process and in frame order, which is why both
give the same result. The "seconds" column is a frame's solve + finish time wherever they ran.

A solver that takes an ``anchor`` (``optimal``) is, with the temporal filter on, given its own solution
for the previous frame of the same shot (``--temporal anchor=μ``, see
:func:`~dualmod.dimming.optimal.optimal`): its solves are then chained, each waiting for the one
before it, wherever they run; simulating, writing and scoring still run ahead.
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from collections import deque
from pathlib import Path

import numpy as np

from ._io import atomic_path, atomic_write, write_json
from .errors import InputError

__all__ = ["run_video", "parse_temporal"]

_COLUMNS = ["frame", "cut", "pu21_psnr", "power", "led_change_rms", "seconds"]
#: metrics.csv is rewritten (atomically) at most this often during a run, and at its end.
ROWS_EVERY_S = 5.0


def parse_temporal(text: str | None) -> dict | None:
    """``"attack=1,decay=0.15,cut=0.25,scene_cut=0.1,hold=0.05,anchor=0.001"`` (any subset) → options;
    ``"off"``/None → None."""
    if text is None or text.strip().lower() in ("off", "none", ""):
        return None
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in ("attack", "decay", "cut", "scene_cut", "hold", "anchor"):
            raise InputError(f"--temporal: {part!r}: give attack=, decay=, cut=, scene_cut=, hold=, anchor= (numbers, "
                             "cut and scene_cut may be 'none'), or 'off'")
        v = value.strip().lower()
        try:
            out[key] = None if v == "none" and key in ("cut", "scene_cut") else float(v)
        except ValueError:
            raise InputError(f"--temporal: {key} must be a number, got {value!r}") from None
    return out


class _Solver:
    """Per-frame filtering state, optionally a TemporalSolver's (whose state can be restored). The solving
    itself is :func:`_solve_frame`, which may run elsewhere."""

    def __init__(self, method: str, temporal: dict | None, options: dict):
        from .dimming.temporal import SceneCutDetector, TemporalSolver

        if temporal is not None:
            try:
                self.ts = TemporalSolver(method, **temporal, **options)
            except ValueError as exc:
                raise InputError(f"--temporal: {exc}") from None
        else:
            self.ts = None
            self.scenes = SceneCutDetector()  # cuts are still marked for the metrics
        self.options = self.ts.options if self.ts is not None else options  # what each frame is solved with
        # a solver that takes an anchor (optimal) gets its own last solution, within a shot: frames are chained
        self.anchored = self.ts is not None and self.ts.anchored
        self.last_job = None  # the previous frame's solve (a future of (raw, seconds)) or (raw, 0.0) if resumed

    def new_frame(self, target, known_cut: bool) -> tuple[bool, tuple | None]:
        """Call once per frame, in order, before it is solved: (whether the picture-based detector flags it a
        new shot, what its solve takes as ``after`` — the previous frame's solve, or None when not anchored,
        on the first frame or at a cut)."""
        scenes = self.ts.scenes if self.ts is not None else self.scenes
        scene = scenes is not None and scenes(target)
        return scene, (self.last_job if self.anchored and not (scene or known_cut) else None)

    def step(self, panel, target, raw: np.ndarray, scene: bool) -> tuple[np.ndarray, np.ndarray, bool]:
        """(sent, raw, is_cut) for the next frame, given the solver's ``raw`` LED frame for it and its
        :meth:`new_frame` cut flag."""
        if self.ts is not None:
            before = len(self.ts.cut_frames)
            sent = self.ts.step(panel, target, raw, scene=scene)
            return sent, self.ts.last_raw, len(self.ts.cut_frames) > before
        return raw, raw, scene  # solve() applied the power cap

    def restore(self, target, sent: np.ndarray, raw: np.ndarray, scene: bool) -> bool:
        """Skip a frame done in an earlier run: update the state as if it had been solved; returns is_cut."""
        if self.ts is None:
            return scene
        return self.ts.restore(target, sent, raw, scene=scene)


# ------------------------------------------------------------------ per-frame work (runs anywhere)
def _solve_frame(panel, target, method: str, options: dict, after: tuple | None = None) -> tuple[np.ndarray, float]:
    """The solver's LED frame for one target, and the seconds it took. ``after``: the previous frame's
    (raw LEDs, seconds), whose LEDs the solver takes as its ``anchor``."""
    from .dimming import solve

    if after is not None:
        options = {**options, "anchor": after[0]}
    t0 = time.perf_counter()
    raw = solve(panel, target, method=method, **options)  # solve() applies the power cap
    return raw, time.perf_counter() - t0


def _finish_frame(panel, target, sent, raw, led_file: Path, frame_file: Path | None, encode: bool) -> tuple:
    """Simulate a filtered frame, write its shown frame (``frame_file``) or encode it for a video sink,
    save its LEDs and score it. Returns ((PU21-PSNR, video payload or None, seconds), pack) where pack
    is what the static-flicker pair with the next frame needs (:func:`~dualmod.metrics.temporal.frame_pack`)."""
    from .display.simulate import simulate
    from .imaging.io import write_image
    from .imaging.video import FrameSink
    from .metrics.pu21 import luminance_and_pu21, psnr_of_pu21
    from .metrics.temporal import frame_pack

    t0 = time.perf_counter()
    displayed = simulate(panel, sent, target).displayed
    if frame_file is not None:
        write_image(frame_file, displayed)
    payload = FrameSink.encode(displayed) if encode else None
    _save_leds(led_file, sent, raw)
    target_lum, target_pu = luminance_and_pu21(target)  # once, for the PSNR and the flicker metric
    shown_lum, shown_pu = luminance_and_pu21(displayed)
    psnr = psnr_of_pu21(target_pu, shown_pu)
    return (psnr, payload, time.perf_counter() - t0), frame_pack(target_lum, shown_lum, shown_pu)


def _reload_frame(target, frame_file: Path) -> tuple:
    """:func:`_finish_frame`'s result for a frame written by an earlier run (read back, not recomputed)."""
    from .imaging.io import read_image
    from .metrics.pu21 import luminance_and_pu21
    from .metrics.temporal import frame_pack

    shown_lum, shown_pu = luminance_and_pu21(read_image(frame_file))
    # the target's luminance as _finish_frame computes it, so the static-region mask is the same as when
    # the frame was first finished
    return (None, None, 0.0), frame_pack(luminance_and_pu21(target)[0], shown_lum, shown_pu)


def _first(pair: tuple):
    return pair[0]


def _static_pair(prev: tuple, cur: tuple) -> tuple[float, int]:
    from .metrics.temporal import static_pair

    return static_pair(prev[1], cur[1])


class _Here:
    """The executor of a serial run: ``submit`` runs at once (same interface as a Dask client's)."""

    class Done:
        def __init__(self, value):
            self.value = value

        def result(self):
            return self.value

    def submit(self, fn, *args, **kwargs):
        return self.Done(fn(*(a.value if isinstance(a, self.Done) else a for a in args), **kwargs))

    def scatter(self, data, **kwargs):
        return self.Done(data)


class _Dask:
    """A Dask client behind :class:`_Here`'s interface: frames are scattered once and stay on a worker for
    their solve and finish tasks; only LED frames, scores (and video payloads) come back."""

    def __init__(self, client):
        self.client = client

    def submit(self, fn, *args, **kwargs):
        return self.client.submit(fn, *args, pure=False, **kwargs)

    def scatter(self, data, **kwargs):
        return self.client.scatter(data, hash=False, **kwargs)


# ------------------------------------------------------------------------------------- the run
def _lookahead_plan(frames, panel, panel_f, method: str, options: dict, slope: float, ex, window: int, say,
                    count) -> tuple[list, list]:
    """First pass of the look-ahead mode: every frame's raw solution and cut flag, then the envelope."""
    from .dimming import apply_power_cap
    from .dimming.temporal import SceneCutDetector, chains_anchor, sent_budget, slope_limited_envelope

    scenes = SceneCutDetector()
    raw, cuts, budgets = [], [], []
    pending: deque = deque()
    anchored = chains_anchor(method, options)  # as with the filter: each solve after its previous frame's, in a shot
    last = None

    def collect():
        raw.append(pending.popleft().result()[0])
        if count:
            say(f"look-ahead pass: solved {len(raw)}/{count}")

    for k, target, known_cut in frames():
        cut = scenes(target) or known_cut
        if cut:
            cuts.append(k)
        budgets.append(sent_budget(panel, target, options))
        last = ex.submit(_solve_frame, panel_f, ex.scatter(target), method, options,
                         last if anchored and not cut else None)
        pending.append(last)
        while len(pending) > window:
            collect()
    while pending:
        collect()
    env = slope_limited_envelope(np.stack(raw), slope, cuts)
    return [(apply_power_cap(panel, e, b), r) for e, r, b in zip(env, raw, budgets)], cuts


def run_video(source, panel, method: str, out, *, temporal: dict | None = None, shown=None,
              exposure: str | float = 1.0, fit: str = "clip", options: dict | None = None, progress=None,
              lookahead: float | None = None, client=None) -> dict:
    """Dim every frame of ``source`` on ``panel``; see the module docstring for what is written.

    Parameters
    ----------
    source : FrameSource
    panel : Panel
    method : str
        A registered solver.
    out : path
        Output folder.
    temporal : dict or None
        :class:`~dualmod.dimming.temporal.TemporalSolver` options (``anchor`` included); None solves every
        frame on its own.
    shown : path, optional
        Write the shown frames as this HDR10 video instead of ``OUT/frames/``.
    exposure : "auto" or float
        Nits per source unit; "auto" is computed on the first frame and then kept (a per-frame
        exposure would itself flicker).
    lookahead : float, optional
        Instead of the causal ``temporal`` filter: read the video twice, solve every frame, and send the
        :func:`~dualmod.dimming.temporal.slope_limited_envelope` of the solutions with this slope per frame
        (offline only: it needs the future; memory grows with frames × LEDs). A ``power_budget`` in
        ``options`` caps the envelope too.
    client : dask.distributed.Client, optional
        Solve, simulate, write and score frames on the cluster's workers, a few frames ahead of the
        temporal filter, which runs here in frame order (it is sequential and cheap); the result is the
        serial run's. Each frame is read here and sent to one worker once; workers write the shown
        frames and LED files themselves, so they must see ``out`` at the same path (a shared file
        system); an HDR10 ``shown`` video is encoded on the workers and written here.
    """
    from .imaging.prepare import auto_exposure, prepare_target
    from .imaging.video import FrameSink
    from .metrics.temporal import TemporalStats

    if lookahead is not None and temporal is not None:
        raise InputError("--lookahead replaces the temporal filter: give --temporal off with it")
    out = Path(out)
    (out / "leds").mkdir(parents=True, exist_ok=True)
    say = progress or (lambda msg: None)
    options = options or {}
    solver = _Solver(method, temporal, options)
    stats = TemporalStats()
    rows: list[dict] = []
    old_rows = _read_rows(out / "metrics.csv")
    sink = FrameSink(shown if shown is not None else out / "frames", fps=source.fps)
    known_cuts = set(source.cuts)
    if client is None:
        ex, window = _Here(), 0
    else:
        ex = _Dask(client)
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        window = 2 * workers + 1
        say(f"frames on {workers} Dask workers, up to {window} ahead of the filter")
    panel_f = ex.scatter(panel, broadcast=True)  # sent to every worker once (here: the panel itself)
    t_start = time.perf_counter()
    counts = {"solved": 0, "resumed": 0}
    fixed_exposure = None if exposure == "auto" else float(exposure)
    if fixed_exposure is None:
        fixed_exposure = auto_exposure(next(iter(source)))
        say(f"exposure {fixed_exposure:.4g} nits per unit (from frame 0, kept for all)")

    def frames():
        for k, frame in enumerate(source):
            yield k, prepare_target(panel, frame, exposure=fixed_exposure, fit=fit), k in known_cuts

    plan = plan_cuts = None
    if lookahead is not None:
        plan, plan_cuts = _lookahead_plan(frames, panel, panel_f, method, options, float(lookahead), ex, window, say,
                                          source.count)
    solving: deque = deque()  # (k, LED file, target, target future, raw future or (sent, raw) of a done frame, cut flag)
    finishing: deque = deque()  # (k, sent, cut, result future, static-pair future or None, done row or None)
    state = {"prev": None, "sent": None, "last_write": time.perf_counter()}  # the last frame's finish, LEDs

    def advance():
        """Filter the oldest solved frame (frame order) and send it on to be finished."""
        k, led_file, target, tf, job, scene = solving.popleft()
        if isinstance(job, tuple):  # done in an earlier run
            sent, raw = job
            cut = solver.restore(target, sent, raw, scene) if plan is None else k in plan_cuts
            fin = ex.submit(_reload_frame, tf, sink.frame_path(k))
            done_row, solve_s = old_rows[k], 0.0
        else:
            if plan is None:
                raw, solve_s = job.result()
                sent, raw, cut = solver.step(panel, target, raw, scene)
            else:
                (sent, raw), cut, solve_s = plan[k], k in plan_cuts, 0.0
            frame_file = None if sink.video else sink.frame_path(k)
            fin = ex.submit(_finish_frame, panel_f, tf, sent, raw, led_file, frame_file, sink.video)
            done_row = None
        cut = bool(cut) or k in known_cuts
        pair = ex.submit(_static_pair, state["prev"], fin) if state["prev"] is not None and not cut else None
        state["prev"] = fin
        finishing.append((k, sent, cut, solve_s, ex.submit(_first, fin), pair, done_row))

    def consume():
        """Record the oldest finished frame: its row, its video payload, its temporal statistics."""
        k, sent, cut, solve_s, small, pair, done_row = finishing.popleft()
        psnr, payload, finish_s = small.result()
        if payload is not None:
            sink.write_encoded(k, payload)
        if done_row is not None:
            rows.append(done_row)
            counts["resumed"] += 1
        else:
            rows.append({"frame": k, "cut": int(cut), "pu21_psnr": psnr, "power": float(np.mean(sent)),
                         "led_change_rms": (float(np.sqrt(np.mean(np.square(sent - state["sent"]))))
                                            if state["sent"] is not None else 0.0),
                         "seconds": solve_s + finish_s})
            counts["solved"] += 1
        state["sent"] = sent
        stats.add_counts(sent, cut=cut, static=None if pair is None else pair.result())
        if time.perf_counter() - state["last_write"] > ROWS_EVERY_S:  # a resume redoes at most this much work
            _write_rows(out / "metrics.csv", rows)
            state["last_write"] = time.perf_counter()
        if source.count:
            say(f"frame {k + 1}/{source.count}  PU21-PSNR {rows[-1]['pu21_psnr']:.2f} dB"
                + ("  (cut)" if cut else "") + ("  (done before)" if done_row is not None else ""))

    with sink, _rows_saved(out / "metrics.csv", rows):
        for k, target, _ in frames():
            led_file = out / "leds" / f"leds_{k:05d}.npz"
            tf = ex.scatter(target)
            scene, after = solver.new_frame(target, k in known_cuts) if plan is None else (False, None)
            if sink.done(k) and led_file.is_file() and k in old_rows:
                with np.load(led_file) as z:
                    job = (z["sent"], z["raw"])
                solver.last_job = (job[1], 0.0)
            else:
                job = None if plan is not None else ex.submit(_solve_frame, panel_f, tf, method, solver.options, after)
                solver.last_job = job
            solving.append((k, led_file, target, tf, job, scene))
            while len(solving) > window:
                advance()
            while len(finishing) > window:
                consume()
        while solving:
            advance()
        while finishing:
            consume()
    if not rows:
        raise InputError(f"{source.name}: no frames")
    wall = time.perf_counter() - t_start
    psnr = [r["pu21_psnr"] for r in rows]
    solved = counts["solved"]
    summary = {"source": source.name, "panel": panel.name, "method": method, "options": options, "temporal": temporal,
               "lookahead": lookahead,
               "frames": len(rows), "solved": solved, "resumed": counts["resumed"],
               "cut_frames": [r["frame"] for r in rows if r["cut"]],
               "pu21_psnr_mean": float(np.mean(psnr)), "power_mean": float(np.mean([r["power"] for r in rows])),
               **stats.result(), "frames_per_second": solved / wall if solved else None,
               "shown": str(shown if shown is not None else out / "frames")}
    write_json(out / "summary.json", summary)
    return summary


@contextlib.contextmanager
def _rows_saved(path: Path, rows: list[dict]):
    """Write the rows at the end, also when the run is interrupted (what is done stays resumable)."""
    try:
        yield
    finally:
        if rows:
            _write_rows(path, rows)


def _save_leds(path: Path, sent: np.ndarray, raw: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, sent=np.asarray(sent, np.float64), raw=np.asarray(raw, np.float64))


def _read_rows(path: Path) -> dict[int, dict]:
    if not path.is_file():
        return {}
    rows = {}
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            try:
                row = {"frame": int(r["frame"]), "cut": int(r["cut"]), "pu21_psnr": float(r["pu21_psnr"]),
                       "power": float(r["power"]), "led_change_rms": float(r["led_change_rms"]),
                       "seconds": float(r["seconds"])}
            except (KeyError, TypeError, ValueError):
                continue  # a damaged row: that frame is recomputed
            rows[row["frame"]] = row
    return rows


def _write_rows(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write(path, lambda p: p.write_text(buf.getvalue()))
