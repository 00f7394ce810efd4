# SPDX-License-Identifier: BSD-3-Clause
"""A fault-injecting serial proxy: flips, drops, duplicates and splits bytes between host and device.

The host opens :attr:`FaultyProxy.path` (a pseudo-terminal the proxy creates); the proxy forwards to
the device's path (the emulator's pty, or a real port) and damages the traffic at the set per-byte
rates, in one or both directions, from a seeded generator. It is how the claim "zero corrupted
frames shown" is tested: stream through it and compare the emulator's ``--shown-log`` with the
CRC-32 of every frame the host sent.

Examples
--------
>>> with Emulator() as emu, FaultyProxy(emu.path, flip=1e-4) as proxy:   # doctest: +SKIP
...     link = DmlinkLink(proxy.path)
"""

from __future__ import annotations

import collections
import os
import select
import termios
import threading
import tty

import numpy as np

__all__ = ["FaultyProxy"]


class FaultyProxy:
    """Bytes between a host-side pty and ``device_path``, damaged at per-byte rates.

    Parameters
    ----------
    device_path : str
        The device end (the emulator's pty path).
    flip, drop, duplicate : float
        Per-byte probabilities of flipping one random bit, dropping the byte, sending it twice.
    split : float
        Per-read probability of writing the bytes on in two pieces at a random point.
    both_ways : bool
        Damage the device's replies too (ACKs lost or broken), not only host → device traffic.
    seed : int
        The generator's seed: a run is reproducible up to the operating system's read sizes.
    """

    def __init__(self, device_path: str, *, flip: float = 0.0, drop: float = 0.0, duplicate: float = 0.0,
                 split: float = 0.0, both_ways: bool = True, seed: int = 0):
        self.device_path = device_path
        self.rates = {"flip": flip, "drop": drop, "duplicate": duplicate}
        self.split = split
        self.both_ways = both_ways
        self.rng = np.random.default_rng(seed)
        self.counts = collections.Counter()
        self._stop_r, self._stop_w = os.pipe()
        self._thread: threading.Thread | None = None
        self.path: str | None = None

    def _damage(self, data: bytes) -> bytes:
        a = np.frombuffer(data, np.uint8)
        r = self.rng.random(a.size)
        f, d, u = self.rates["flip"], self.rates["drop"], self.rates["duplicate"]
        flip = r < f
        drop = (r >= f) & (r < f + d)
        dup = (r >= f + d) & (r < f + d + u)
        if not (flip.any() or drop.any() or dup.any()):
            return data
        out = a.copy()
        out[flip] ^= (1 << self.rng.integers(0, 8, int(flip.sum()))).astype(np.uint8)
        reps = np.where(drop, 0, np.where(dup, 2, 1))
        self.counts.update(flipped=int(flip.sum()), dropped=int(drop.sum()), duplicated=int(dup.sum()))
        return np.repeat(out, reps).tobytes()

    def _forward(self, src: int, dst: int, damage: bool) -> bool:
        try:
            data = os.read(src, 65536)
        except OSError:
            return False
        if not data:
            return False
        self.counts["bytes"] += len(data)
        if damage:
            data = self._damage(data)
        pieces = [data]
        if damage and len(data) > 1 and self.rng.random() < self.split:
            cut = int(self.rng.integers(1, len(data)))
            pieces = [data[:cut], data[cut:]]
            self.counts["splits"] += 1
        for piece in pieces:
            view = memoryview(piece)
            while view:
                view = view[os.write(dst, view):]
        return True

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([self._host, self._dev, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            if self._host in ready and not self._forward(self._host, self._dev, True):
                return
            if self._dev in ready and not self._forward(self._dev, self._host, self.both_ways):
                return

    def start(self) -> "FaultyProxy":
        self._host, self._host_slave = os.openpty()
        tty.setraw(self._host_slave)
        self.path = os.ttyname(self._host_slave)
        self._dev = os.open(self.device_path, os.O_RDWR | os.O_NOCTTY)
        try:
            tty.setraw(self._dev)
        except termios.error:
            pass
        self._thread = threading.Thread(target=self._run, name="faulty-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            os.write(self._stop_w, b"x")
            self._thread.join(timeout=2.0)
            for fd in (self._host, self._host_slave, self._dev, self._stop_r, self._stop_w):
                os.close(fd)
            self._thread = None

    def __enter__(self) -> "FaultyProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
