# SPDX-License-Identifier: BSD-3-Clause
"""DMLINK v1 against the shared test vectors, plus the framing properties of DESIGN §9."""

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge import protocol as p

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "dmlink-vectors.json"
pytestmark = pytest.mark.skipif(not VECTORS.is_file(), reason="../shared/dmlink-vectors.json not present")
DATA = json.loads(VECTORS.read_text()) if VECTORS.is_file() else {"vectors": [], "limiter": []}


@pytest.mark.parametrize("v", DATA["vectors"], ids=[v["name"] for v in DATA["vectors"]])
def test_packet_and_wire_vectors(v):
    payload = bytes.fromhex(v["payload_hex"])
    assert p.pack(v["type"], v["seq"], payload).hex() == v["packet_hex"]
    assert p.encode(v["type"], v["seq"], payload).hex() == v["wire_hex"]
    pkt = p.decode(bytes.fromhex(v["wire_hex"])[:-1])
    assert (pkt.type, pkt.seq, pkt.payload) == (v["type"], v["seq"], payload)


@pytest.mark.parametrize("case", DATA["limiter"])
def test_limiter_vectors(case):
    shown, scale = p.apply_limiter(np.array(case["values"], np.uint16), case["power_budget"])
    assert scale == case["applied_scale"]
    assert shown.tolist() == case["shown"]
    assert f"{zlib.crc32(shown.astype('<u2').tobytes()):08x}" == case["shown_crc32"]


def test_every_single_byte_flip_is_rejected():
    wire = p.encode(p.FRAME, 9, p.frame_payload(p.levels_to_u16(np.linspace(0, 1, 12).reshape(4, 3))))
    chunk = wire[:-1]
    for i in range(len(chunk)):
        for bit in (0x01, 0x80):
            bad = bytearray(chunk)
            bad[i] ^= bit
            if 0 in bad:  # a flip that makes a delimiter splits the chunk: both halves are rejected below
                parts = bytes(bad).split(b"\x00")
                for part in parts:
                    if part:
                        with pytest.raises(p.ProtocolError):
                            p.decode(part)
                continue
            with pytest.raises(p.ProtocolError):
                p.decode(bytes(bad))


def test_garbage_then_a_valid_frame_yields_exactly_that_frame():
    rng = np.random.default_rng(0)
    values = p.levels_to_u16(rng.random((144, 3)))
    good = p.encode(p.FRAME, 42, p.frame_payload(values))
    garbage = bytes(rng.integers(0, 256, 500, dtype=np.uint8))
    d = p.Deframer(max_packet=2048)
    out = list(d.feed(garbage + b"\x00" + good))
    packets = [x for x in out if isinstance(x, p.Packet)]
    assert len(packets) == 1 and packets[0].seq == 42 and packets[0].type == p.FRAME
    assert np.frombuffer(packets[0].payload[4:], "<u2").reshape(144, 3).tolist() == values.tolist()
    assert all(isinstance(x, p.ProtocolError) for x in out if x is not packets[0])


def test_oversize_chunks_are_dropped_without_buffering():
    d = p.Deframer(max_packet=64)
    out = list(d.feed(b"\x01" * 10000 + b"\x00" + p.encode(p.PING, 1)))
    assert isinstance(out[0], p.ProtocolError) and out[0].reason == 5
    assert isinstance(out[1], p.Packet) and out[1].type == p.PING


def test_round_trip_and_payload_parsers():
    for v in DATA["vectors"]:
        payload = bytes.fromhex(v["payload_hex"])
        if v["name"] == "info":
            info = p.parse_info(payload)
            assert info["protocol"] == 1 and info["fw_version"].startswith("dualmod-fw")
        if v["name"] == "ack":
            assert p.parse_ack(payload)["acked_seq"] == 2
        if v["name"] == "nak-crc":
            assert p.parse_nak(payload)["reason_name"] == "crc"
    assert p.levels_to_u16([0.0, 0.5, 1.0, 2.0]).tolist() == [0, 32768, 65535, 65535]
    with pytest.raises(p.ProtocolError, match="version"):
        body = bytes([2]) + p.pack(p.PING, 1)[1:-4]
        p.unpack(body + zlib.crc32(body).to_bytes(4, "little"))
