# SPDX-License-Identifier: BSD-3-Clause
"""Fixtures for the firmware tests, a plugin of tests/conftest.py (a second conftest.py would shadow
tests/conftest.py, which other tests import by name): the C core through ctypes, on an injected clock,
and the emulator."""

from __future__ import annotations

import ctypes
import json
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge import protocol as p
from firmware_bridge.emulator import build

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "dmlink-vectors.json"

WRITE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t)
SHOW_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint16), ctypes.c_size_t, ctypes.c_uint16,
                           ctypes.c_int, ctypes.c_uint32)
TEMP_FN = ctypes.CFUNCTYPE(ctypes.c_int16, ctypes.c_void_p)
KINDS = ("frame", "pattern", "blank", "watchdog")


class Config(ctypes.Structure):
    _fields_ = [("zones", ctypes.c_uint16), ("channels", ctypes.c_uint8), ("pwm_bits", ctypes.c_uint8),
                ("watchdog_ms", ctypes.c_uint16), ("max_fps", ctypes.c_uint16), ("power_budget", ctypes.c_uint16),
                ("grid_cols", ctypes.c_uint16), ("over_temp_c10", ctypes.c_int16), ("fw_version", ctypes.c_char_p)]


class Io(ctypes.Structure):
    _fields_ = [("write", WRITE_FN), ("show", SHOW_FN), ("temperature", TEMP_FN), ("ctx", ctypes.c_void_p)]


@pytest.fixture(scope="session")
def core():
    lib = ctypes.CDLL(str(build("host") / "libdmlink.so"))
    lib.dml_crc32.restype = ctypes.c_uint32
    lib.dml_crc32.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
    for fn in (lib.dml_cobs_decode, lib.dml_cobs_encode):
        fn.restype = ctypes.c_long
        fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    lib.dml_limit.restype = ctypes.c_uint16
    lib.dml_limit.argtypes = [ctypes.POINTER(ctypes.c_uint16), ctypes.c_size_t, ctypes.c_uint16]
    lib.dml_device_size.restype = ctypes.c_size_t
    lib.dml_init.argtypes = [ctypes.c_void_p, ctypes.POINTER(Config), ctypes.POINTER(Io), ctypes.c_uint32]
    lib.dml_rx.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32]
    for fn in (lib.dml_tick, lib.dml_vsync):
        fn.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    return lib


class Device:
    """One firmware instance: bytes in with :meth:`rx`, replies in :attr:`replies`, LED states in :attr:`shown`."""

    def __init__(self, lib, *, zones=4, channels=3, watchdog_ms=100, power_budget=65535, grid_cols=0,
                 temperature=None, over_temp_c10=700):
        self.lib = lib
        self.out = bytearray()
        self.shown: list[dict] = []
        self.temperature = 0x7FFF if temperature is None else temperature
        self._keep = (WRITE_FN(self._on_write), SHOW_FN(self._on_show), TEMP_FN(lambda _ctx: self.temperature))
        self.cfg = Config(zones, channels, 16, watchdog_ms, 240, power_budget, grid_cols, over_temp_c10,
                          b"core-test 1")
        self.io = Io(*self._keep, None)
        self.mem = ctypes.create_string_buffer(lib.dml_device_size())
        self.rc = lib.dml_init(self.mem, ctypes.byref(self.cfg), ctypes.byref(self.io), 0)
        self.deframer = p.Deframer(max_packet=65535)

    def _on_write(self, _ctx, data, n):
        self.out += ctypes.string_at(data, n)

    def _on_show(self, _ctx, values, n, seq, kind, crc):
        v = np.ctypeslib.as_array(values, shape=(n,)).copy()
        self.shown.append({"values": v, "seq": seq, "kind": KINDS[kind], "crc": crc})

    def rx(self, data: bytes, now: int = 0):
        self.lib.dml_rx(self.mem, data, len(data), now)
        return self.replies()

    def tick(self, now: int):
        self.lib.dml_tick(self.mem, now)

    def vsync(self, now: int):
        self.lib.dml_vsync(self.mem, now)

    def replies(self) -> list:
        items = list(self.deframer.feed(bytes(self.out)))
        self.out.clear()
        return items

    def send(self, ptype, seq, payload=b"", now=0):
        return self.rx(p.encode(ptype, seq, payload), now)

    def frame(self, values, seq, now=0, show_now=True):
        return self.send(p.FRAME, seq, p.frame_payload(np.asarray(values, np.uint16), show_now=show_now), now)


@pytest.fixture
def device(core):
    def make(*, expect_rc=0, **kw):
        dev = Device(core, **kw)
        assert dev.rc == expect_rc
        return dev
    return make


@pytest.fixture(scope="session")
def vectors():
    if not VECTORS.is_file():
        pytest.skip("../shared/dmlink-vectors.json not present")
    return json.loads(VECTORS.read_text())


@pytest.fixture
def emulator():
    """Start emulators (``emulator(**flags)``); all are stopped after the test."""
    from firmware_bridge.emulator import Emulator
    started = []

    def start(**kw):
        emu = Emulator(**kw).start()
        started.append(emu)
        return emu
    yield start
    for emu in started:
        emu.stop()
