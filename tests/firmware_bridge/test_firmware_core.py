# SPDX-License-Identifier: BSD-3-Clause
"""The C firmware core (firmware/core/dmlink.c) through ctypes, on an injected millisecond clock.

Checked against independent implementations: zlib's CRC-32, the ``cobs`` package, the shared
DMLINK vectors, and the host's limiter (:func:`firmware_bridge.protocol.apply_limiter`).
"""

import ctypes
import struct
import zlib

import numpy as np
import pytest
from cobs import cobs

from firmware_bridge import protocol as p


def test_crc32_matches_zlib(core):
    rng = np.random.default_rng(1)
    assert core.dml_crc32(0, b"123456789", 9) == 0xCBF43926   # the CRC-32/ISO-HDLC check value
    for n in (0, 1, 7, 64, 1000):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert core.dml_crc32(0, data, n) == zlib.crc32(data)
        # chained calls equal one call
        assert core.dml_crc32(core.dml_crc32(0, data[:n // 2], n // 2), data[n // 2:], n - n // 2) == zlib.crc32(data)


@pytest.mark.parametrize("n", [0, 1, 2, 253, 254, 255, 256, 508, 509, 1000])
def test_cobs_round_trip_and_agreement_with_the_cobs_package(core, n):
    rng = np.random.default_rng(n)
    for zeros in (0.0, 0.1, 1.0):
        data = rng.integers(1, 256, n, dtype=np.uint8)
        data[rng.random(n) < zeros] = 0
        raw = data.tobytes()
        enc = ctypes.create_string_buffer(n + n // 254 + 2)
        m = core.dml_cobs_encode(raw, n, enc, len(enc))
        assert enc.raw[:m] == cobs.encode(raw)
        dec = ctypes.create_string_buffer(max(n, 1))
        k = core.dml_cobs_decode(enc.raw[:m], m, dec, len(dec))
        assert dec.raw[:k] == raw
        assert k == n


def test_cobs_decoder_bounds(core):
    out = ctypes.create_string_buffer(8)
    assert core.dml_cobs_decode(b"\x05\x01\x02", 3, out, 8) == -1          # code runs past the end
    assert core.dml_cobs_decode(b"\x03\x01\x00", 3, out, 8) == -1          # a zero inside
    assert core.dml_cobs_decode(b"\x0a" + b"\x01" * 9, 10, out, 8) == -1   # would overflow dst
    assert core.dml_cobs_encode(b"\x01" * 10, 10, out, 8) == -1            # encoder respects dst_cap too


def test_limiter_matches_host_and_vectors(core, vectors):
    cases = [(np.array(c["values"], np.uint16), c["power_budget"]) for c in vectors["limiter"]]
    rng = np.random.default_rng(7)
    cases += [(rng.integers(0, 65536, rng.integers(1, 700), dtype=np.uint16), int(rng.integers(0, 65536)))
              for _ in range(300)]
    cases += [(np.full(432, 65535, np.uint16), 0), (np.full(3, 65535, np.uint16), 65535), (np.zeros(5, np.uint16), 0)]
    for values, budget in cases:
        arr = (ctypes.c_uint16 * values.size)(*values.tolist())
        scale = core.dml_limit(arr, values.size, budget)
        shown, host_scale = p.apply_limiter(values, budget)
        assert scale == host_scale
        assert np.array(arr[:], np.uint16).tolist() == shown.tolist()
        assert int(shown.astype(np.int64).sum()) <= budget * values.size


def test_hello_gets_info_with_the_nonce(device):
    dev = device(zones=144, channels=3, power_budget=32768)
    (info,) = dev.send(p.HELLO, 1, p.hello_payload(0xC0FFEE))
    assert (info.type, info.seq) == (p.INFO, 1)
    fields = p.parse_info(info.payload)
    assert fields["nonce"] == 0xC0FFEE and fields["protocol"] == 1
    assert (fields["zones"], fields["channels"], fields["power_budget"]) == (144, 3, 32768)
    assert fields["fw_version"] == "core-test 1"


def test_frame_is_shown_limited_and_acked(device):
    dev = device(zones=2, channels=3, power_budget=10000)
    values = np.array([[0, 65535, 1], [0, 1, 0x8000]], np.uint16)
    (ack,) = dev.frame(values, seq=2)
    shown, scale = p.apply_limiter(values, 10000)
    assert scale < 65535
    a = p.parse_ack(ack.payload)
    assert (ack.type, ack.seq, a["acked_seq"], a["applied_scale"], a["limiter_active"]) == (p.ACK, 2, 2, scale, True)
    (s,) = dev.shown
    assert s["values"].tolist() == shown.ravel().tolist()
    assert s["crc"] == zlib.crc32(shown.astype("<u2").tobytes()) and (s["seq"], s["kind"]) == (2, "frame")


def test_every_single_byte_flip_of_a_frame_is_never_shown(device):
    dev = device(zones=4, channels=3)
    wire = p.encode(p.FRAME, 9, p.frame_payload(p.levels_to_u16(np.linspace(0.1, 1, 12).reshape(4, 3))))
    for i in range(len(wire) - 1):
        for bit in (0x01, 0x10, 0x80):
            bad = bytearray(wire)
            bad[i] ^= bit
            replies = dev.rx(bytes(bad))
            assert dev.shown == [], (i, bit)
            assert replies and all(r.type == p.NAK for r in replies)
            for r in replies:                        # a NAK never echoes a damaged sequence number
                assert r.seq == 0 and p.parse_nak(r.payload)["last_good_seq"] == 0
    dev.rx(wire)
    assert [s["seq"] for s in dev.shown] == [9]


def test_garbage_then_a_valid_frame_yields_exactly_that_frame(device):
    rng = np.random.default_rng(3)
    dev = device(zones=4, channels=1)
    values = np.array([1, 2, 3, 65535], np.uint16)
    for trial in range(50):
        garbage = rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8).tobytes()
        dev.rx(garbage + b"\x00" + p.encode(p.FRAME, trial, p.frame_payload(values)))
    assert [s["seq"] for s in dev.shown] == list(range(50))
    assert all(s["values"].tolist() == values.tolist() for s in dev.shown)


def test_oversize_and_wrong_shape_are_refused(device):
    dev = device(zones=4, channels=3)
    (nak,) = dev.rx(b"\x01" * 20000 + b"\x00")
    assert p.parse_nak(nak.payload)["reason"] == 5
    (nak,) = dev.frame(np.zeros((5, 3)), seq=3)
    assert p.parse_nak(nak.payload) == {"last_good_seq": 3, "reason": 6, "reason_name": "zones"}
    (nak,) = dev.send(p.FRAME, 4, p.frame_payload(np.zeros((4, 3), np.uint16))[:-2])
    assert p.parse_nak(nak.payload)["reason"] == 3
    (nak,) = dev.send(0x77, 5)
    assert p.parse_nak(nak.payload)["reason"] == 4
    bad_version = bytearray(p.pack(p.PING, 6))
    bad_version[0] = 2
    body = bytes(bad_version[:-4])
    (nak,) = dev.rx(cobs.encode(body + struct.pack("<I", zlib.crc32(body))) + b"\x00")
    assert p.parse_nak(nak.payload)["reason"] == 7
    assert dev.shown == []


def test_lone_delimiters_are_silent(device):
    dev = device()
    assert dev.rx(b"\x00\x00\x00") == []


def test_watchdog_blanks_after_exactly_watchdog_ms(device):
    dev = device(zones=2, channels=1, watchdog_ms=100)
    dev.tick(50)
    assert dev.shown == []                                   # nothing lit: nothing to blank
    dev.frame([1000, 2000], seq=1, now=10)
    dev.tick(109)
    assert len(dev.shown) == 1
    dev.send(p.PING, 2, now=100)                            # PING feeds the watchdog
    dev.tick(199)
    assert len(dev.shown) == 1
    dev.tick(200)
    assert dev.shown[-1]["kind"] == "watchdog" and dev.shown[-1]["values"].tolist() == [0, 0]
    dev.tick(400)
    assert len(dev.shown) == 2                               # trips once
    (ack,) = dev.frame([5, 5], seq=3, now=410)
    assert p.parse_ack(ack.payload)["watchdog_tripped"]      # reported once, in the next ACK
    (ack,) = dev.send(p.PING, 4, now=420)
    assert not p.parse_ack(ack.payload)["watchdog_tripped"]
    (st,) = dev.send(p.GET_STATUS, 5, now=430)
    status = p.parse_status(st.payload)
    assert status["watchdog_trips"] == 1 and status["uptime_ms"] == 430


def test_watchdog_survives_clock_wraparound(device):
    dev = device(zones=1, channels=1, watchdog_ms=100)
    t0 = 2**32 - 30
    dev.frame([9], seq=1, now=t0)
    dev.tick((t0 + 99) % 2**32)
    assert len(dev.shown) == 1
    dev.tick((t0 + 100) % 2**32)
    assert dev.shown[-1]["kind"] == "watchdog"


def test_staged_frame_waits_for_vsync(device):
    dev = device(zones=1, channels=3)
    dev.frame([[1, 2, 3]], seq=1, show_now=False)
    assert dev.shown == []
    dev.vsync(1)
    assert dev.shown[0]["values"].tolist() == [1, 2, 3] and dev.shown[0]["seq"] == 1


def test_set_limit_only_lowers(device):
    dev = device(zones=1, channels=1, power_budget=40000)
    (nak,) = dev.send(p.SET_LIMIT, 1, struct.pack("<H", 40001))
    assert p.parse_nak(nak.payload)["reason"] == 8
    (ack,) = dev.send(p.SET_LIMIT, 2, struct.pack("<H", 10000))
    assert ack.type == p.ACK
    dev.frame([65535], seq=3)
    assert dev.shown[-1]["values"].tolist() == [10000]
    dev.send(p.SET_LIMIT, 4, struct.pack("<H", 40000))     # back up to, never above, the firmware's own
    dev.frame([65535], seq=5)
    assert dev.shown[-1]["values"].tolist() == [40000]


def test_over_temperature_halves_the_budget(device):
    dev = device(zones=1, channels=1, power_budget=60000, temperature=750, over_temp_c10=700)
    (ack,) = dev.frame([65535], seq=1)
    assert dev.shown[-1]["values"].tolist() == [30000]
    assert p.parse_ack(ack.payload)["over_temperature"]
    (st,) = dev.send(p.GET_STATUS, 2)
    assert p.parse_status(st.payload)["temperature_c"] == 75.0


@pytest.mark.parametrize("pattern,zone,expect", [
    (0, 0, [0, 0, 0, 0, 0, 0]),
    (1, 0, [7, 7, 7, 7, 7, 7]),
    (2, 4, [0, 0, 0, 0, 7, 0]),
    (3, 0, [7, 0, 7, 0, 7, 0]),            # 3 columns: (row + col) parity
])
def test_test_patterns(device, pattern, zone, expect):
    dev = device(zones=6, channels=1, grid_cols=3)
    (ack,) = dev.send(p.TEST_PATTERN, 1, struct.pack("<BHH", pattern, zone, 7))
    assert ack.type == p.ACK
    assert dev.shown[-1]["values"].tolist() == expect and dev.shown[-1]["kind"] == "pattern"


def test_pattern_zone_out_of_range_and_blank(device):
    dev = device(zones=6, channels=1)
    (nak,) = dev.send(p.TEST_PATTERN, 1, struct.pack("<BHH", 2, 6, 7))
    assert p.parse_nak(nak.payload)["reason"] == 6
    dev.send(p.TEST_PATTERN, 2, struct.pack("<BHH", 1, 0, 7))
    dev.send(p.BLANK, 3)
    assert dev.shown[-1]["values"].tolist() == [0] * 6 and dev.shown[-1]["kind"] == "blank"


def test_status_counters(device):
    dev = device(zones=1, channels=1)
    dev.rx(b"\x01\x01\x00")                                             # decodes to one byte: length
    dev.rx(b"\x05\x01\x00")                                             # bad COBS
    bad = bytearray(p.encode(p.PING, 1))
    bad[3] ^= 0x40
    dev.rx(bytes(bad))                                                  # CRC
    dev.frame([123], seq=2)
    (st,) = dev.send(p.GET_STATUS, 3)
    s = p.parse_status(st.payload)
    assert (s["packets"], s["good"], s["crc_errors"], s["cobs_errors"], s["frames_shown"]) == (5, 2, 1, 1, 1)
    assert s["shown_crc32"] == zlib.crc32(np.array([123], "<u2").tobytes())
    assert s["temperature_c"] is None


def test_init_rejects_impossible_configurations(device):
    device(zones=4000, channels=3, expect_rc=-1)     # more than DML_MAX_VALUES
    device(zones=4, channels=2, expect_rc=-1)
