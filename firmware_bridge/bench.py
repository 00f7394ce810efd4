# SPDX-License-Identifier: BSD-3-Clause
"""The bridge benchmark (``dualmod bridge bench``): throughput, latency, watchdog and fault injection.

Everything runs against the emulator (the firmware core on a pseudo-terminal), so the numbers are
those of the host stack plus the core, without a USB link's own latency:

* throughput: frames of ``zones`` × ``channels`` u16 values sent with at most two in flight, the
  producer waiting for a free slot; frames/s and send→ACK latency percentiles;
* watchdog: silence after a shown frame until the emulator blanks, on the emulator's own clock,
  minus ``watchdog_ms``;
* fault injection: streaming through :class:`~firmware_bridge.faults.FaultyProxy`; every frame the
  emulator logs as shown is checked against the CRC-32 of the frame the host sent with that seq.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from .emulator import Emulator, read_shown_log
from .faults import FaultyProxy
from .link import DmlinkLink

__all__ = ["run_bridge_bench", "format_report"]


def _percentiles(a_ms) -> dict:
    a = np.asarray(a_ms, dtype=np.float64)
    return {f"p{q}": float(np.percentile(a, q)) for q in (50, 90, 99, 99.9)} | {"max": float(a.max())}


def _stream(link, pool, frames: int) -> float:
    """Send ``frames`` frames from ``pool`` as fast as two-in-flight allows; seconds taken."""
    t0 = time.perf_counter()
    for i in range(frames):
        link.wait_slot(1.0)
        link.send_frame(pool[i % len(pool)])
    link.flush(5.0)
    return time.perf_counter() - t0


def bench_throughput(*, frames: int = 3000, zones: int = 144, channels: int = 3, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    pool = rng.random((32, zones, channels) if channels > 1 else (32, zones))
    with Emulator(zones=zones, channels=channels, watchdog_ms=1000) as emu, DmlinkLink(emu.path) as link:
        _stream(link, pool, 8)                                  # warm up
        link.latencies.clear()
        acked0 = link.stats["frames_acked"]
        dt = _stream(link, pool, frames)
        acked = link.stats["frames_acked"] - acked0
        return {"zones": zones, "channels": channels, "frames": frames, "acked": acked, "seconds": dt,
                "frames_per_s": acked / dt, "max_in_flight": link.stats["max_in_flight"],
                "packet_bytes": 10 + 4 + 2 * zones * channels,
                "ack_latency_ms": _percentiles(np.array(link.latencies) * 1e3)}


def bench_watchdog(*, trials: int = 20, watchdog_ms: int = 100) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "shown.log"
        overshoot = []
        with Emulator(zones=16, channels=1, watchdog_ms=watchdog_ms, shown_log=log) as emu, \
                DmlinkLink(emu.path) as link:
            for k in range(trials):
                link.send_frame(np.full(16, 0.5), wait=True)
                rows = emu.wait_for_log(log, 2 * (k + 1), timeout=2 + watchdog_ms / 1000, times=True)
                frame, blank = rows[-2], rows[-1]
                assert frame[2] == "frame" and blank[2] == "watchdog", rows[-2:]
                overshoot.append((blank[3] - frame[3]) * 1e3 - watchdog_ms)
        return {"watchdog_ms": watchdog_ms, "trials": trials, "overshoot_ms": _percentiles(overshoot)}


def bench_faults(*, frames: int = 3000, zones: int = 144, channels: int = 3, flip: float = 2e-4, drop: float = 1e-4,
                 duplicate: float = 1e-4, split: float = 0.3, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    pool = (rng.random((32, zones, channels)) * 1.2).clip(0, 1)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "shown.log"
        with Emulator(zones=zones, channels=channels, watchdog_ms=0, shown_log=log) as emu:
            with FaultyProxy(emu.path, flip=flip, drop=drop, duplicate=duplicate, split=split, seed=seed) as proxy, \
                    DmlinkLink(proxy.path, ack_timeout=0.1) as link:
                dt = _stream(link, pool, frames)
                sent = dict(link.sent)
                status = link.status()
                stats = dict(link.stats)
                damage = dict(proxy.counts)
            emu.wait_for_log(log, status["frames_shown"])
            shown = [(s, c) for s, c, kind in read_shown_log(log) if kind == "frame"]
    corrupted = sum(1 for s, c in shown if sent.get(s) != c)
    return {"frames_sent": len(sent), "frames_shown": len(shown), "corrupted_shown": corrupted, "seconds": dt,
            "rates": {"flip": flip, "drop": drop, "duplicate": duplicate, "split": split},
            "damage": damage, "device": {k: status[k] for k in ("crc_errors", "cobs_errors", "oversize", "good")},
            "host": {k: stats.get(k, 0) for k in ("naks", "ack_timeouts", "rx_errors", "frames_acked")}}


def run_bridge_bench(*, frames: int = 3000, quick: bool = False) -> dict:
    """All three measurements; ``quick`` shrinks them to a smoke test."""
    n = 300 if quick else frames
    return {"throughput": bench_throughput(frames=n),
            "watchdog": bench_watchdog(trials=5 if quick else 20),
            "faults": bench_faults(frames=n)}


def format_report(r: dict) -> str:
    t, w, f = r["throughput"], r["watchdog"], r["faults"]
    lat = t["ack_latency_ms"]
    return "\n".join([
        f"throughput  {t['zones']} zones x {t['channels']} ch u16, <= {t['max_in_flight']} in flight: "
        f"{t['frames_per_s']:.0f} frames/s ({t['acked']} of {t['frames']} acked)",
        f"            ACK latency ms: p50 {lat['p50']:.3f}  p90 {lat['p90']:.3f}  p99 {lat['p99']:.3f}  "
        f"p99.9 {lat['p99.9']:.3f}  max {lat['max']:.3f}",
        f"watchdog    {w['watchdog_ms']} ms, blank after watchdog_ms + (ms): p50 {w['overshoot_ms']['p50']:.2f}  "
        f"p99 {w['overshoot_ms']['p99']:.2f}  max {w['overshoot_ms']['max']:.2f}  ({w['trials']} trials)",
        f"faults      {f['frames_sent']} sent, {f['frames_shown']} shown, {f['corrupted_shown']} corrupted shown; "
        f"bytes flipped {f['damage'].get('flipped', 0)}, dropped {f['damage'].get('dropped', 0)}, "
        f"duplicated {f['damage'].get('duplicated', 0)}, splits {f['damage'].get('splits', 0)}; "
        f"device crc {f['device']['crc_errors']}, cobs {f['device']['cobs_errors']}",
    ])
