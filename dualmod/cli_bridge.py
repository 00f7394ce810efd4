# SPDX-License-Identifier: BSD-3-Clause
"""``dualmod bridge …``: drive an LED backlight prototype (DMLINK v1 or Adalight) from the command line.

Subcommands: ``info``, ``status``, ``send``, ``stream``, ``test-pattern``, ``emulate``. Every link
error (no port, no handshake, a refusal) is one readable line and exit status 2.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

from .cli import _emit_json  # the same --json writing as every other command
from .errors import InputError
from .imaging.video import VIDEO_SUFFIXES

IMAGE_SUFFIXES = {".exr", ".hdr", ".pfm", ".png", ".tif", ".tiff"}


def read_leds(path) -> np.ndarray:
    """LED levels from ``.npy`` (shape (N,) or (N, 3)) or ``.csv`` (one LED a line, 1 or 3 values), in [0, 1]."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such LED file")
    try:
        if path.suffix.lower() == ".npy":
            with path.open("rb") as f:
                if f.read(6) != b"\x93NUMPY":   # else numpy's message blames "pickled data" for any non-.npy
                    raise InputError(f"{path}: not a .npy file (no NumPy array header)")
            a = np.load(path, allow_pickle=False)
        elif path.suffix.lower() == ".csv":
            with path.open(newline="") as f:
                rows = [[float(x) for x in row] for row in csv.reader(f) if row and not row[0].startswith("#")]
            widths = {len(r) for r in rows}
            if len(widths) != 1:
                raise InputError(f"{path}: every line needs the same number of values (1 or 3), got {sorted(widths)}")
            a = np.array(rows, dtype=np.float64)
        else:
            raise InputError(f"{path}: LED frames are .npy or .csv, not {path.suffix or 'no suffix'}")
    except InputError:
        raise
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: cannot read LED levels ({exc})") from None
    if a.ndim not in (1, 2) or (a.ndim == 2 and a.shape[1] not in (1, 3)) or a.shape[0] == 0:
        raise InputError(f"{path}: LED levels must have shape (N,) or (N, 3), got {a.shape}")
    if not np.issubdtype(a.dtype, np.number):
        raise InputError(f"{path}: LED levels must be numbers, got {a.dtype}")
    a = a.astype(np.float64)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if not np.all(np.isfinite(a)):
        raise InputError(f"{path}: LED levels must be finite")
    if a.min() < 0 or a.max() > 1:
        raise InputError(f"{path}: LED levels must lie in [0, 1], got [{a.min():.4g}, {a.max():.4g}]")
    return a


def _open(args, zones: int | None = None):
    from firmware_bridge.link import open_link

    opts = {"zones": zones}
    if args.baud:
        opts["baudrate"] = args.baud
    if args.protocol == "adalight":
        opts["gamma"] = args.adalight_gamma
    return open_link(args.port, protocol=args.protocol, **opts)


def cmd_info(args) -> int:
    with _open(args) as link:
        info = dict(link.info)
    for k, v in info.items():
        if k == "power_budget":
            v = f"{v} ({v / 65535:.3f} of full)"
        print(f"{k:<13} {v}")
    _emit_json(args, info)
    return 0


def cmd_status(args) -> int:
    with _open(args) as link:
        status = link.status()
    for k, v in status.items():
        print(f"{k:<15} {f'{v:08x}' if k == 'shown_crc32' else v}")
    _emit_json(args, status)
    return 0


def cmd_send(args) -> int:
    leds = read_leds(args.leds)
    with _open(args, zones=None) as link:
        if args.protocol == "adalight":
            link.send_frame(leds)
            link.flush()
            result = {"leds": int(leds.shape[0]), "protocol": "adalight"}
            print(f"sent {leds.shape[0]} LEDs (Adalight, no acknowledgement)")
        else:
            ack = link.send_frame(leds, wait=True)
            result = {"seq": ack.seq, "applied_scale": ack.applied_scale, "limiter_active": ack.limiter_active,
                      "watchdog_tripped": ack.watchdog_tripped, "over_temperature": ack.over_temperature,
                      "shown_crc32": link.sent[-1][1]}
            scale = "" if not ack.limiter_active else f"; power limiter scaled it by {ack.applied_scale / 65535:.3f}"
            print(f"frame {ack.seq} shown{scale}")
    _emit_json(args, result)
    return 0


def cmd_test_pattern(args) -> int:
    with _open(args) as link:
        ack = link.test_pattern(args.pattern, zone=args.zone, level=args.level)
        print(f"pattern {args.pattern} shown" + (f" (limited to {ack.applied_scale / 65535:.3f})"
                                                 if ack.limiter_active else ""))
        with link.keep_alive():                # keep the watchdog fed while the pattern is held
            time.sleep(args.hold)
    _emit_json(args, {"pattern": args.pattern, "zone": args.zone, "level": args.level,
                       "applied_scale": ack.applied_scale})
    return 0


def _stream_inputs(items: list[str]) -> list[str]:
    out = []
    for item in items:
        p = Path(item)
        if item.startswith("builtin:"):
            out.append(item)
        elif p.is_dir():
            files = sorted(str(f) for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise InputError(f"{item}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
            out += files
        else:
            out.append(item)
    return out


def _stream_targets(inputs: list[str], panel):
    """Targets one at a time: images (and builtin scenes) through load_target, HDR10 videos frame by frame."""
    from .imaging.inputs import load_target
    from .imaging.prepare import prepare_target
    from .imaging.video import open_frames

    for spec in inputs:
        if Path(spec).suffix.lower() in VIDEO_SUFFIXES:
            for frame in open_frames(spec):
                yield prepare_target(panel, frame, exposure=1.0)  # HDR10 decodes to nits
        else:
            yield load_target(spec, panel)[0]


def cmd_stream(args) -> int:
    from .compare import parse_method
    from .dimming import solve
    from .dimming.temporal import TemporalSolver
    from .panel import Panel

    panel = Panel.load(args.panel)
    method, options = parse_method(args.method)
    inputs = _stream_inputs(args.inputs)
    temporal = TemporalSolver(method, **options) if args.temporal else None
    period = 1.0 / args.fps if args.fps else 0.0
    read_s, solve_s, send_s = [], [], []
    with _open(args, zones=panel.n_leds) as link:
        t_start = time.perf_counter()
        next_t = t_start
        n = 0
        # a frame that is slow to read or solve must not let the watchdog blank the one shown before it
        with link.keep_alive():
            for _ in range(args.loop):
                targets = _stream_targets(inputs, panel)
                while True:              # one frame in memory at a time: read, solve, send
                    t0 = time.perf_counter()
                    target = next(targets, None)
                    if target is None:
                        break
                    t1 = time.perf_counter()
                    leds = temporal(panel, target) if temporal else solve(panel, target, method=method, **options)
                    t2 = time.perf_counter()
                    link.send_frame(leds)
                    t3 = time.perf_counter()
                    read_s.append(t1 - t0)
                    solve_s.append(t2 - t1)
                    send_s.append(t3 - t2)
                    n += 1
                    if period:
                        next_t += period
                        time.sleep(max(0.0, next_t - time.perf_counter()))
        link.flush()
        total = time.perf_counter() - t_start
        stats = dict(link.stats)
        lat = np.array(getattr(link, "latencies", []), dtype=np.float64) * 1e3
    med = lambda xs: 1e3 * float(np.median(xs))  # noqa: E731
    result = {"frames": n, "seconds": total, "fps": n / total, "read_ms_median": med(read_s),
              "solve_ms_median": med(solve_s), "send_ms_median": med(send_s), "link": stats}
    if lat.size:
        result["ack_latency_ms"] = {f"p{q}": float(np.percentile(lat, q)) for q in (50, 90, 99)}
    print(f"{n} frames in {total:.2f} s: {n / total:.1f} frames/s (median read {result['read_ms_median']:.1f} ms, "
          f"solve {result['solve_ms_median']:.2f} ms, send {result['send_ms_median']:.3f} ms)")
    if lat.size:
        print("ACK latency ms: " + ", ".join(f"{k} {v:.2f}" for k, v in result["ack_latency_ms"].items()))
    _emit_json(args, result)
    return 0


def cmd_bench(args) -> int:
    from firmware_bridge.bench import format_report, run_bridge_bench

    result = run_bridge_bench(frames=args.frames, quick=args.quick)
    print(format_report(result))
    _emit_json(args, result)
    return 0 if result["faults"]["corrupted_shown"] == 0 else 1


def cmd_emulate(args) -> int:
    from firmware_bridge.emulator import Emulator

    zones = args.zones
    if args.panel:
        from .panel import Panel

        zones = Panel.load(args.panel).n_leds
    cmd = Emulator(zones=zones, channels=args.channels, watchdog_ms=args.watchdog_ms,
                   power_budget=args.power_budget, shown_log=args.shown_log, pty_link=args.pty_link).command()
    print(f"dmlink-emu: {zones} zones x {args.channels} channels; open the path below (Ctrl-C stops)",
          file=sys.stderr, flush=True)
    sys.stdout.flush()
    os.execv(cmd[0], cmd)          # the emulator replaces this process: signals reach it directly


def add_bridge(sub, add) -> None:
    """Register ``dualmod bridge`` and its subcommands on the main parser's subparsers."""
    from .cli import add_group

    bsub = add_group(sub, "bridge", "drive an LED backlight prototype over serial (DMLINK v1 or Adalight)",
                     "Drive an LED backlight prototype over USB serial: DMLINK v1 (checked, acknowledged, "
                     "power-limited) or classic Adalight.")

    def port_args(p, protocols=True):
        p.add_argument("--port", required=True, help="serial port or pyserial URL (/dev/ttyACM0, COM3, the emulator's pty)")
        p.add_argument("--baud", type=int, default=0, help="baud rate for real UARTs (USB CDC ignores it)")
        if protocols:
            p.add_argument("--protocol", choices=["dmlink", "adalight"], default="dmlink")
            p.add_argument("--adalight-gamma", type=float, default=1.0,
                           help="encode Adalight bytes as L^(1/gamma) (default 1: linear)")
        else:
            p.set_defaults(protocol="dmlink", adalight_gamma=1.0)

    p = add(bsub, "info", "shake hands and print what the device reports", "dualmod bridge info --port /dev/ttyACM0",
            cmd_info)
    port_args(p, protocols=False)
    p = add(bsub, "status", "print the device's counters, shown-frame CRC, limiter and temperature",
            "dualmod bridge status --port /dev/ttyACM0", cmd_status)
    port_args(p, protocols=False)
    p = add(bsub, "send", "show one LED frame from a .npy or .csv file",
            """dualmod bridge send --port /dev/ttyACM0 --leds frame.npy
            dualmod bridge send --port /dev/ttyUSB0 --protocol adalight --leds frame.npy""", cmd_send)
    port_args(p)
    p.add_argument("--leds", required=True, help=".npy of shape (N,) or (N, 3), or .csv with one LED a line, in [0, 1]")
    p = add(bsub, "stream", "solve LED frames for images and push them to the device as they are ready",
            "dualmod bridge stream frames/ --port /dev/ttyACM0 --panel fald-1080p-576 --method max --fps 60",
            cmd_stream)
    port_args(p)
    p.add_argument("inputs", nargs="+", help="image files, folders of frames, or builtin:NAME scenes")
    p.add_argument("--panel", default="fald-1080p-576", help="panel profile (its LED count must match the device)")
    p.add_argument("--method", default="max", help="dimming solver (see 'dualmod methods'), options as in compare: "
                   "cnn:power_weight=0.001")
    p.add_argument("--temporal", action="store_true", help="smooth LED levels over time (video)")
    p.add_argument("--fps", type=float, default=0.0, help="pace frames at this rate (default: as fast as possible)")
    p.add_argument("--loop", type=int, default=1, help="play the sequence this many times")
    p = add(bsub, "test-pattern", "show a built-in test pattern (off, all, zone, checkerboard)",
            "dualmod bridge test-pattern checkerboard --port /dev/ttyACM0 --level 0.5 --hold 10", cmd_test_pattern)
    port_args(p, protocols=False)
    p.add_argument("pattern", choices=["off", "all", "zone", "checkerboard"])
    p.add_argument("--zone", type=int, default=0, help="the zone for 'zone'")
    p.add_argument("--level", type=float, default=1.0, help="level in [0, 1]")
    p.add_argument("--hold", type=float, default=0.0, help="seconds to keep it up (pings the watchdog meanwhile)")
    p = add(bsub, "bench", "measure throughput, latency, watchdog and fault tolerance against the emulator",
            "dualmod bridge bench --json out/bridge-bench.json", cmd_bench)
    p.add_argument("--frames", type=int, default=3000, help="frames per throughput and fault-injection run")
    p.add_argument("--quick", action="store_true", help="a smoke test: 300 frames, 5 watchdog trials")
    p = add(bsub, "emulate", "run the firmware emulator on a pseudo-terminal (prints its path)",
            "dualmod bridge emulate --panel fald-1080p-576 --channels 3 --shown-log shown.log", cmd_emulate)
    p.add_argument("--zones", type=int, default=144)
    p.add_argument("--panel", help="take the zone count from this panel profile")
    p.add_argument("--channels", type=int, choices=[1, 3], default=3)
    p.add_argument("--watchdog-ms", type=int, default=500)
    p.add_argument("--power-budget", type=float, default=1.0, help="firmware's cap on the mean level, 0-1")
    p.add_argument("--shown-log", help="log every frame shown (seq, shown_crc32, kind) to this file")
    p.add_argument("--pty-link", help="also make this symlink to the pty (a stable name across restarts)")


__all__ = ["add_bridge", "read_leds"]
