# SPDX-License-Identifier: BSD-3-Clause
"""The performance harness behind ``dualmod bench``.

Measures, in one run on the same data:

- the **memory floor**: median time of ``np.copyto`` of the target into a
  preallocated array of the same shape (one read + one write of the frame),
  timed alternately with ``simulate``; "x floor" is the median of the per-pair
  ratios (the machine's bandwidth drifts, the pairs see the same drift);
- ``simulate`` at 1080p (``fald-1080p-576``) and 4K (``miniled-4k-2304``),
  with reused output arrays (``out=``, what a frame loop does) and with fresh
  ones (each call allocates and first-touches ~300 MB at 4K);
- the **straightforward** version of the same model
  (:func:`dualmod.display.reference.straightforward`: impulses,
  ``scipy.signal.fftconvolve``, numpy LCD);
- agreement of ``simulate`` with it (backlight, LCD codes, displayed image);
- the **first call** of ``simulate`` in a fresh process with the numba cache
  warm (a subprocess, run twice; the second is reported).

The target is the procedural ``window`` scene (smooth room, window, highlights)
in nits; the LED frame is the ``max`` heuristic's.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from typing import Callable

import numpy as np

from .dimming import solve
from .display import reference
from .display.simulate import simulate
from .imaging.scenes import scene
from .panel import Panel

__all__ = ["run_bench", "format_table"]


def _median_time(fn: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


_FIRST_CALL = r"""
import time, numpy as np
t0 = time.perf_counter()
import dualmod as dm
t1 = time.perf_counter()
p = dm.Panel.load("fald-1080p-576")
target = np.full((p.height, p.width, 3), 100.0, np.float32)
leds = np.full(p.n_leds, 0.5)
t2 = time.perf_counter()
dm.simulate(p, leds, target)
t3 = time.perf_counter()
print(t1 - t0, t3 - t2)
"""


def _first_call() -> dict:
    runs = []
    for _ in range(2):  # the first run may populate the numba cache
        res = subprocess.run([sys.executable, "-c", _FIRST_CALL], capture_output=True, text=True, timeout=600)
        if res.returncode != 0:
            raise RuntimeError(f"first-call probe failed: {res.stderr.strip().splitlines()[-1:]}")
        runs.append([float(v) for v in res.stdout.split()])
    return {"import_s": runs[-1][0], "first_simulate_s": runs[-1][1], "cold_cache_first_simulate_s": runs[0][1]}


def _paired_times(fn_a: Callable[[], object], fn_b: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """Median times of a and b, called alternately, and the median of the per-pair ratios b/a.

    On a shared (virtual) machine the memory bandwidth drifts by tens of percent within seconds; timing
    the floor and then the simulation would let that drift into their ratio, pairing them does not.
    """
    fn_a(), fn_b()
    ta, tb = [], []
    for _ in range(repeat):
        for fn, ts in ((fn_a, ta), (fn_b, tb)):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return float(np.median(ta)), float(np.median(tb)), float(np.median(np.array(tb) / np.array(ta)))


def _case(name: str, repeat: int, straightforward: bool, sf_repeat: int) -> dict:
    panel = Panel.load(name)
    target = scene("window", panel.height, panel.width)
    leds = solve(panel, target, method="max")
    dst = np.empty_like(target)
    sim = simulate(panel, leds, target)
    floor, reused, x_floor = _paired_times(lambda: np.copyto(dst, target),
                                           lambda: simulate(panel, leds, target, out=sim), repeat)
    fresh = _median_time(lambda: simulate(panel, leds, target), max(3, repeat // 3))
    row = {"panel": name, "resolution": f"{panel.width}x{panel.height}", "leds": panel.n_leds,
           "floor_ms": floor * 1e3, "simulate_ms": reused * 1e3, "simulate_fresh_ms": fresh * 1e3,
           "x_floor": x_floor}
    if straightforward:
        sf_time = _median_time(lambda: reference.straightforward(panel, leds, target), sf_repeat, warmup=0)
        b_sf, d_sf = reference.straightforward(panel, leds, target)
        sim = simulate(panel, leds, target)
        b_err = float(np.max(np.abs(sim.backlight - b_sf)) / panel.peak_nits)
        lit = b_sf > 1e-6 * panel.peak_nits
        d_rel = np.abs(sim.displayed - d_sf) / np.maximum(d_sf, 1e-6 * panel.peak_nits)
        close = d_rel <= 1e-4
        row.update({"straightforward_ms": sf_time * 1e3, "speedup": sf_time / reused,
                    "backlight_max_err_rel_peak": b_err,
                    "displayed_within_1e-4": float(np.mean(close[lit])),
                    "displayed_median_rel_diff": float(np.median(d_rel[lit]))})
    return row


def run_bench(*, repeat: int = 15, quick: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Run the benchmark; returns a JSON-ready dict (see module docstring)."""
    say = progress or (lambda s: None)
    import numba

    result = {"machine": {"python": platform.python_version(), "numpy": np.__version__,
                          "numba": numba.__version__, "threads": numba.get_num_threads(),
                          "cpu_count": os.cpu_count(), "platform": platform.platform()},
              "cases": []}
    cases = [("fald-1080p-576", True), ("miniled-4k-2304", not quick)]
    for name, sf in cases:
        say(f"simulate {name}")
        result["cases"].append(_case(name, repeat if not quick else 3, sf, 2))
    say("first call in a fresh process")
    result["first_call"] = _first_call()
    return result


def format_table(res: dict) -> str:
    """A console table of :func:`run_bench` results."""
    lines = [f"{'panel':<18}{'size':>11}{'LEDs':>6}{'floor':>9}{'simulate':>10}{'x floor':>8}{'fresh':>9}"
             f"{'straightfwd':>13}{'speedup':>9}{'B err/peak':>12}{'D ok 1e-4':>11}"]
    for c in res["cases"]:
        sf = c.get("straightforward_ms")
        lines.append(
            f"{c['panel']:<18}{c['resolution']:>11}{c['leds']:>6}{c['floor_ms']:>7.2f}ms{c['simulate_ms']:>8.2f}ms"
            f"{c['x_floor']:>7.2f}x{c['simulate_fresh_ms']:>7.1f}ms"
            + (f"{sf:>11.0f}ms{c['speedup']:>8.0f}x{c['backlight_max_err_rel_peak']:>12.1e}"
               f"{100 * c['displayed_within_1e-4']:>10.3f}%" if sf is not None else f"{'-':>13}{'-':>9}{'-':>12}{'-':>11}"))
    fc = res["first_call"]
    lines.append(f"first simulate in a fresh process (numba cache warm): {fc['first_simulate_s'] * 1e3:.0f} ms "
                 f"(import dualmod {fc['import_s'] * 1e3:.0f} ms; cold cache {fc['cold_cache_first_simulate_s']:.2f} s)")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    r = run_bench()
    print(format_table(r))
    print(json.dumps(r, indent=2))
