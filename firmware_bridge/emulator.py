# SPDX-License-Identifier: BSD-3-Clause
"""Build and run ``dmlink-emu``, the firmware core on Linux behind a pseudo-terminal.

The emulator is the same C core a board runs (``firmware/core/dmlink.c``), so streaming, the limiter,
the watchdog and fault handling can be tested and demonstrated without hardware. It needs a C
compiler and ``make`` (both stock on Linux); :func:`build` runs ``make -C firmware host``.

Examples
--------
>>> with Emulator(zones=4, channels=1) as emu:             # doctest: +SKIP
...     link = DmlinkLink(emu.path)
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path

from dualmod.errors import DualmodError

__all__ = ["FIRMWARE_DIR", "EmulatorError", "build", "Emulator", "read_shown_log"]

FIRMWARE_DIR = Path(__file__).resolve().parent / "firmware"


class EmulatorError(DualmodError):
    """The emulator could not be built or started."""


def _build_dir() -> Path:
    d = FIRMWARE_DIR / "build"
    if os.access(FIRMWARE_DIR, os.W_OK):
        return d
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dualmod" / "firmware-build"


def build(target: str = "host") -> Path:
    """Run ``make -C firmware TARGET`` (``host``, ``asan``, ``fuzz``, ``arm``); return the build folder."""
    make = shutil.which("make")
    if make is None:
        raise EmulatorError("building the emulator needs make and a C compiler (Debian: apt-get install build-essential)")
    out = _build_dir()
    proc = subprocess.run([make, "-s", "-C", str(FIRMWARE_DIR), target, f"BUILD={out}"], capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise EmulatorError(f"make {target} failed: " + " | ".join(tail))
    return out


def read_shown_log(path, *, times: bool = False) -> list[tuple]:
    """Parse a ``--shown-log`` file: (seq, shown_crc32, kind) per line, plus the CLOCK_MONOTONIC
    time in seconds if ``times``."""
    rows = []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) < 4:
            break                                  # a line still being written
        row = (int(parts[0]), int(parts[1], 16), parts[2])
        rows.append(row + (float(parts[3]),) if times else row)
    return rows


class Emulator:
    """``dmlink-emu --pty`` as a context manager; ``path`` is the pseudo-terminal to open.

    Parameters mirror the emulator's flags: ``zones``, ``channels``, ``watchdog_ms``,
    ``power_budget`` (a fraction), ``shown_log`` (a file), ``pty_link`` (a stable symlink to the pty),
    ``grid_cols``, ``temperature`` (°C), and ``asan`` to run the sanitizer build.
    """

    def __init__(self, *, zones: int = 144, channels: int = 3, watchdog_ms: int = 500, power_budget: float = 1.0,
                 shown_log=None, pty_link=None, grid_cols: int = 0, temperature: float | None = None,
                 asan: bool = False, port: str | None = None):
        self.args = ["--zones", str(zones), "--channels", str(channels), "--watchdog-ms", str(watchdog_ms),
                     "--power-budget", repr(float(power_budget)), "--grid-cols", str(grid_cols)]
        if shown_log is not None:
            self.args += ["--shown-log", str(shown_log)]
        if temperature is not None:
            self.args += ["--temperature", repr(float(temperature))]
        if port is not None:
            self.args += ["--port", str(port)]
        else:
            self.args += ["--pty"] + (["--pty-link", str(pty_link)] if pty_link is not None else [])
        self.asan = asan
        self.proc: subprocess.Popen | None = None
        self.path: str | None = str(port) if port is not None else None

    def command(self) -> list[str]:
        """The emulator's command line (building it first if needed)."""
        exe = build("asan" if self.asan else "host") / ("dmlink-emu-asan" if self.asan else "dmlink-emu")
        return [str(exe), *self.args]

    def start(self, timeout: float = 10.0) -> "Emulator":
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if "--pty" in self.args:
            sel = selectors.DefaultSelector()
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                self.stop()
                raise EmulatorError(f"dmlink-emu printed no pty path within {timeout:g} s")
            line = self.proc.stdout.readline().strip()
            if not line.startswith("/dev/"):
                err = self.proc.stderr.read() if self.proc.poll() is not None else ""
                self.stop()
                raise EmulatorError(f"dmlink-emu did not start: {line or err.strip()}")
            self.path = line
        return self

    def stop(self, timeout: float = 3.0) -> int | None:
        """SIGTERM, then SIGKILL if it lingers; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: the device vanishes without a word (a pulled USB cable)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def wait_for_log(self, path, count: int, timeout: float = 5.0, *, times: bool = False) -> list[tuple]:
        """Poll a shown-log until it has ``count`` lines (or ``timeout`` passes); return them."""
        deadline = time.monotonic() + timeout
        while True:
            rows = read_shown_log(path, times=times) if Path(path).exists() else []
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.005)

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
