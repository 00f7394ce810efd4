# SPDX-License-Identifier: BSD-3-Clause
"""Board targets: LED driver encodings against the datasheets, the Arduino sketches run on the host,
the Cortex-M compile of the core, and a bounded libFuzzer run of the packet parser.

The cross compiler and clang come from Debian (``gcc-arm-none-eabi``, ``clang``); ``.ci/run``
installs them and sets ``DUALMOD_REQUIRE_TOOLCHAINS=1`` so that CI fails instead of skipping.
"""

import ctypes
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

from firmware_bridge import protocol as p
from firmware_bridge.emulator import FIRMWARE_DIR, build

REQUIRE = os.environ.get("DUALMOD_REQUIRE_TOOLCHAINS") == "1"


def need(tool: str):
    if shutil.which(tool) is None:
        if REQUIRE:
            pytest.fail(f"{tool} is required (DUALMOD_REQUIRE_TOOLCHAINS=1) but not installed")
        pytest.skip(f"{tool} not installed (Debian: apt-get install {'clang' if tool == 'clang' else 'gcc-arm-none-eabi'})")


@pytest.fixture(scope="module")
def drivers(core):
    core.dml_tlc59711_pack.restype = ctypes.c_size_t
    core.dml_tlc59711_pack.argtypes = [ctypes.POINTER(ctypes.c_uint16), ctypes.c_size_t, ctypes.c_size_t,
                                       ctypes.c_uint8, ctypes.c_char_p]
    core.dml_apa102_pack.restype = ctypes.c_size_t
    core.dml_apa102_pack.argtypes = [ctypes.POINTER(ctypes.c_uint16), ctypes.c_size_t, ctypes.c_uint8,
                                     ctypes.c_char_p, ctypes.c_size_t]
    core.dml_apa102_frame_size.restype = ctypes.c_size_t
    core.dml_apa102_frame_size.argtypes = [ctypes.c_size_t]
    core.dml_linearize.restype = ctypes.c_uint16
    core.dml_linearize.argtypes = [ctypes.c_uint16, ctypes.POINTER(ctypes.c_uint16), ctypes.c_size_t, ctypes.c_uint16]
    return core


def u16(values):
    v = np.ascontiguousarray(values, dtype=np.uint16).ravel()
    return (ctypes.c_uint16 * max(v.size, 1))(*v.tolist())


def tlc59711_reference(values, chips, bc):
    """Datasheet (TI SBVS181, 'Data Latch'): 224 bits MSB first per chip; last chip of the chain first."""
    out = b""
    for k in reversed(range(chips)):
        bits = "100101" + "10110" + f"{bc:07b}" * 3
        for ch in reversed(range(12)):
            i = 12 * k + ch
            bits += f"{int(values[i]) if i < len(values) else 0:016b}"
        out += int(bits, 2).to_bytes(28, "big")
    return out


def apa102_reference(values, channels):
    v = np.asarray(values, np.int64).reshape(-1, channels)
    v = np.repeat(v, 3, axis=1) if channels == 1 else v
    out = bytearray(4)
    for r, g, b in v:
        gb = -(-max(r, g, b) * 31 // 65535)
        pwm = [0 if gb == 0 else min(255, int(np.floor(x * 31 * 255 / (65535 * gb) + 0.5))) for x in (b, g, r)]
        out += bytes([0xE0 | gb, *pwm])
    n = len(v)
    return bytes(out) + bytes(4 + (n + 15) // 16)


def test_tlc59711_matches_the_datasheet(drivers):
    rng = np.random.default_rng(2)
    for n, bc in ((12, 127), (30, 5), (432, 64)):
        values = rng.integers(0, 65536, n, dtype=np.uint16)
        chips = -(-n // 12)
        out = ctypes.create_string_buffer(28 * chips)
        assert drivers.dml_tlc59711_pack(u16(values), n, chips, bc, out) == 28 * chips
        assert out.raw == tlc59711_reference(values, chips, bc)


def test_linearize_table_from_a_calibration_makes_the_led_linear(drivers, tmp_path):
    """LED readings with a dead zone and droop → calibrate leds → the C core's dml_linearize → light ∝ level."""
    from calibration.responses import fit_led, read_led_measurements

    drive = np.r_[0:4096:32, 4095]

    def light(d):  # the LED's true response (12-bit drive): dead zone below 3 %, droop at the top
        y = np.clip((np.asarray(d) / 4095 - 0.03) / 0.97, 0, None)
        return (y - 0.2 * y ** 3) / 0.8

    csv = tmp_path / "led.csv"
    csv.write_text("drive,nits\n" + "".join(f"{d},{0.5 + 300 * v:.6f}\n" for d, v in zip(drive, light(drive))))
    fit = fit_led(read_led_measurements(csv))
    table = fit.linearizing_table(256)
    levels = np.arange(0, 65536, 257, dtype=np.uint16)
    got = np.array([drivers.dml_linearize(int(v), u16(table), table.size, fit.max_code) for v in levels])
    want = np.interp(levels / 65535, np.linspace(0, 1, table.size), table.astype(float)) * 65535 / fit.max_code
    assert np.max(np.abs(got - np.rint(want))) <= 1  # the integer interpolation is the float one, rounded
    shown = light(got / 65535 * 4095)  # the light the LED gives for the linearised drive
    assert np.max(np.abs(shown - levels / 65535)) < 0.01
    assert np.max(np.abs(light(levels / 65535 * 4095) - levels / 65535)) > 0.05  # without it: not linear
    assert drivers.dml_linearize(1234, u16(table), 1, fit.max_code) == 1234  # a bad table leaves values alone


@pytest.mark.parametrize("channels", [1, 3])
def test_apa102_matches_reference_and_keeps_dark_levels(drivers, channels):
    rng = np.random.default_rng(channels)
    leds = 40
    values = (65535 * rng.random(leds * channels) ** 4).astype(np.uint16)
    values[:channels] = 0
    size = drivers.dml_apa102_frame_size(leds)
    out = ctypes.create_string_buffer(size)
    assert drivers.dml_apa102_pack(u16(values), leds, channels, out, size) == size
    assert out.raw == apa102_reference(values, channels)
    # light = brightness * pwm / (31 * 255) stays within half a PWM step of the requested level
    frames = np.frombuffer(out.raw[4:4 + 4 * leds], np.uint8).reshape(leds, 4)
    gb = (frames[:, 0] & 31).astype(np.float64)
    red = values.reshape(leds, channels)[:, 0] / 65535
    light = gb * frames[:, 3] / (31 * 255)
    assert np.all(np.abs(light - red) <= gb / (2 * 31 * 255) + 1e-12)
    assert drivers.dml_apa102_pack(u16(values), leds, channels, out, size - 1) == 0


@pytest.fixture(scope="module")
def sketches():
    if shutil.which("c++") is None:
        pytest.skip("no C++ compiler")
    return build("sketch-check")


def run_sketch(sketches, name, wire: bytes, extra_loops=0):
    proc = subprocess.run([str(sketches / f"sketch-{name}"), str(extra_loops)], input=wire, capture_output=True,
                          timeout=30, check=True)
    spi = [bytes.fromhex(line) for line in proc.stdout.decode().split()]
    replies = [x for x in p.Deframer(65535).feed(proc.stderr) if isinstance(x, p.Packet)]
    return spi, replies


def test_tlc59711_sketch_shows_a_limited_frame_then_the_watchdog_blanks(sketches, drivers):
    zones, channels, budget = 144, 3, 39321           # the sketch's configuration
    rng = np.random.default_rng(9)
    values = p.levels_to_u16(rng.random((zones, channels)))
    wire = b"\x00" + p.encode(p.HELLO, 1, p.hello_payload(77)) + p.encode(p.FRAME, 2, p.frame_payload(values))
    spi, replies = run_sketch(sketches, "teensy_tlc59711", wire, extra_loops=600)
    info = p.parse_info(replies[0].payload)
    assert (info["nonce"], info["zones"], info["channels"], info["power_budget"]) == (77, zones, channels, budget)
    shown, scale = p.apply_limiter(values, budget)
    ack = p.parse_ack(replies[1].payload)
    assert (replies[1].type, ack["acked_seq"], ack["applied_scale"]) == (p.ACK, 2, scale)
    chips = zones * channels // 12
    assert len(spi) == 3                               # boot blank, the frame, the watchdog blank
    assert spi[0] == spi[2] == tlc59711_reference(np.zeros(zones * channels), chips, 127)
    assert spi[1] == tlc59711_reference(shown.ravel(), chips, 127)


def test_apa102_sketch_shows_a_frame(sketches, drivers):
    zones, channels, budget = 144, 3, 26214
    values = p.levels_to_u16(np.linspace(0, 0.3, zones * channels).reshape(zones, channels))
    spi, replies = run_sketch(sketches, "apa102", p.encode(p.FRAME, 5, p.frame_payload(values)))
    shown, _ = p.apply_limiter(values, budget)
    assert spi[-1] == apa102_reference(shown.ravel(), channels)
    assert replies[-1].type == p.ACK


def test_core_compiles_for_cortex_m(tmp_path):
    need("arm-none-eabi-gcc")
    proc = subprocess.run(["make", "-s", "-C", str(FIRMWARE_DIR), "arm", f"BUILD={tmp_path}"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for obj in ("dmlink-m4.o", "dmlink-m7.o", "drivers-m4.o", "drivers-m7.o"):
        assert (tmp_path / obj).stat().st_size > 0
    # and it is Thumb code: the ELF header says ARM (machine 40)
    assert struct.unpack_from("<H", (tmp_path / "dmlink-m4.o").read_bytes(), 18)[0] == 40


@pytest.mark.slow
def test_fuzz_the_packet_parser_for_a_bounded_time(tmp_path):
    need("clang")
    seconds = os.environ.get("DUALMOD_FUZZ_SECONDS", "20")
    proc = subprocess.run(["make", "-s", "-C", str(FIRMWARE_DIR), "fuzz-run", f"BUILD={tmp_path}",
                           f"FUZZ_SECONDS={seconds}"], capture_output=True, text=True, timeout=int(seconds) + 240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done" in proc.stderr and "ERROR" not in proc.stderr
