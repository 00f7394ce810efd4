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
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from pathlib import Path

import numpy as np

from ._io import atomic_path, atomic_write, write_json
from .errors import InputError
from .imaging.colour import luminance

__all__ = ["run_video", "parse_temporal"]

_COLUMNS = ["frame", "cut", "pu21_psnr", "power", "led_change_rms", "seconds"]
#: metrics.csv is rewritten (atomically) at most this often during a run, and at its end.
ROWS_EVERY_S = 5.0


def parse_temporal(text: str | None) -> dict | None:
    """``"attack=1,decay=0.15,cut=0.25,scene_cut=0.1"`` (any subset) → options; ``"off"``/None → None."""
    if text is None or text.strip().lower() in ("off", "none", ""):
        return None
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in ("attack", "decay", "cut", "scene_cut"):
            raise InputError(f"--temporal: {part!r}: give attack=, decay=, cut=, scene_cut= (numbers, cut and "
                             "scene_cut may be 'none'), or 'off'")
        v = value.strip().lower()
        try:
            out[key] = None if v == "none" and key in ("cut", "scene_cut") else float(v)
        except ValueError:
            raise InputError(f"--temporal: {key} must be a number, got {value!r}") from None
    return out


class _Solver:
    """Per-frame solving, optionally through a TemporalSolver (whose state can be restored)."""

    def __init__(self, method: str, temporal: dict | None, options: dict):
        from .dimming.temporal import SceneCutDetector, TemporalSolver

        self.method, self.options = method, options
        if temporal is not None:
            try:
                self.ts = TemporalSolver(method, **temporal, **options)
            except ValueError as exc:
                raise InputError(f"--temporal: {exc}") from None
        else:
            self.ts = None
            self.scenes = SceneCutDetector()  # cuts are still marked for the metrics

    def __call__(self, panel, target) -> tuple[np.ndarray, np.ndarray, bool]:
        """(sent, raw, is_cut)."""
        from .dimming import solve

        if self.ts is not None:
            before = len(self.ts.cut_frames)
            sent = self.ts(panel, target)
            return sent, self.ts.last_raw, len(self.ts.cut_frames) > before
        cut = self.scenes(target)
        raw = solve(panel, target, method=self.method, **self.options)  # solve() applies the power cap
        return raw, raw, cut

    def restore(self, target, sent: np.ndarray, raw: np.ndarray) -> bool:
        """Skip a frame done in an earlier run: update the state as if it had been solved; returns is_cut."""
        if self.ts is None:
            return self.scenes(target)
        return self.ts.restore(target, sent, raw)


def _lookahead_plan(source, panel, method: str, options: dict, slope: float, prepare, say) -> tuple[list, list]:
    """First pass of the look-ahead mode: every frame's raw solution and cut flag, then the envelope."""
    from .dimming import apply_power_cap, solve
    from .dimming.temporal import SceneCutDetector, slope_limited_envelope

    scenes = SceneCutDetector()
    raw, cuts = [], []
    for k, frame in enumerate(source):
        target = prepare(frame)
        if scenes(target) or k in source.cuts:
            cuts.append(k)
        raw.append(solve(panel, target, method=method, **options))
        if source.count:
            say(f"look-ahead pass: solved {k + 1}/{source.count}")
    env = slope_limited_envelope(np.stack(raw), slope, cuts)
    return [(apply_power_cap(panel, e), r) for e, r in zip(env, raw)], cuts


def run_video(source, panel, method: str, out, *, temporal: dict | None = None, shown=None,
              exposure: str | float = 1.0, fit: str = "clip", options: dict | None = None, progress=None,
              lookahead: float | None = None) -> dict:
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
        :class:`~dualmod.dimming.temporal.TemporalSolver` options; None solves every frame on its own.
    shown : path, optional
        Write the shown frames as this HDR10 video instead of ``OUT/frames/``.
    exposure : "auto" or float
        Nits per source unit; "auto" is computed on the first frame and then kept (a per-frame
        exposure would itself flicker).
    lookahead : float, optional
        Instead of the causal ``temporal`` filter: read the video twice, solve every frame, and send the
        :func:`~dualmod.dimming.temporal.slope_limited_envelope` of the solutions with this slope per frame
        (offline only: it needs the future; memory grows with frames × LEDs).
    """
    from .display.simulate import simulate
    from .imaging.prepare import auto_exposure, prepare_target
    from .imaging.io import read_image
    from .imaging.video import FrameSink
    from .metrics.pu21 import luminance_and_pu21, psnr_of_pu21
    from .metrics.temporal import TemporalStats

    if lookahead is not None and temporal is not None:
        raise InputError("--lookahead replaces the temporal filter: give --temporal off with it")
    out = Path(out)
    (out / "leds").mkdir(parents=True, exist_ok=True)
    say = progress or (lambda msg: None)
    solver = _Solver(method, temporal, options or {})
    stats = TemporalStats()
    rows: list[dict] = []
    old_rows = _read_rows(out / "metrics.csv")
    sink = FrameSink(shown if shown is not None else out / "frames", fps=source.fps)
    known_cuts = set(source.cuts)
    t_start = time.perf_counter()
    solved = resumed = 0
    fixed_exposure = None if exposure == "auto" else float(exposure)
    if fixed_exposure is None:
        fixed_exposure = auto_exposure(next(iter(source)))
        say(f"exposure {fixed_exposure:.4g} nits per unit (from frame 0, kept for all)")
    plan = None
    if lookahead is not None:
        plan, plan_cuts = _lookahead_plan(source, panel, method, options or {}, float(lookahead),
                                          lambda f: prepare_target(panel, f, exposure=fixed_exposure, fit=fit), say)
    prev_sent = None
    last_write = time.perf_counter()
    with sink, _rows_saved(out / "metrics.csv", rows):
        for k, frame in enumerate(source):
            t0 = time.perf_counter()
            target = prepare_target(panel, frame, exposure=fixed_exposure, fit=fit)
            led_file = out / "leds" / f"leds_{k:05d}.npz"
            if sink.done(k) and led_file.is_file() and k in old_rows:
                with np.load(led_file) as z:
                    sent, raw = z["sent"], z["raw"]
                cut = solver.restore(target, sent, raw) if plan is None else k in plan_cuts
                displayed = read_image(sink.frame_path(k))
                target_lum = luminance(target)
                shown_lum, shown_pu = luminance_and_pu21(displayed)
                rows.append(old_rows[k])
                resumed += 1
                again = True
            else:
                again = False
                if plan is None:
                    sent, raw, cut = solver(panel, target)
                else:
                    (sent, raw), cut = plan[k], k in plan_cuts
                sim = simulate(panel, sent, target)
                displayed = sim.displayed
                sink.write(k, displayed)
                _save_leds(led_file, sent, raw)
                change = float(np.sqrt(np.mean(np.square(sent - prev_sent)))) if prev_sent is not None else 0.0
                target_lum, target_pu = luminance_and_pu21(target)  # once, for the PSNR and the flicker metric
                shown_lum, shown_pu = luminance_and_pu21(displayed)
                rows.append({"frame": k, "cut": int(cut), "pu21_psnr": psnr_of_pu21(target_pu, shown_pu),
                             "power": float(np.mean(sent)), "led_change_rms": change,
                             "seconds": time.perf_counter() - t0})
                solved += 1
            stats.add(target_lum, shown_lum, sent, cut=bool(cut) or k in known_cuts, shown_pu21=shown_pu)
            prev_sent = sent
            if time.perf_counter() - last_write > ROWS_EVERY_S:  # a resume redoes at most this much work
                _write_rows(out / "metrics.csv", rows)
                last_write = time.perf_counter()
            if source.count:
                say(f"frame {k + 1}/{source.count}  PU21-PSNR {rows[-1]['pu21_psnr']:.2f} dB"
                    + ("  (cut)" if cut else "") + ("  (done before)" if again else ""))
    if not rows:
        raise InputError(f"{source.name}: no frames")
    wall = time.perf_counter() - t_start
    psnr = [r["pu21_psnr"] for r in rows]
    summary = {"source": source.name, "panel": panel.name, "method": method, "temporal": temporal,
               "lookahead": lookahead,
               "frames": len(rows), "solved": solved, "resumed": resumed,
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
