# SPDX-License-Identifier: BSD-3-Clause
"""DMLINK v1 packets, framing and the power limiter (DESIGN.md §9), as pure functions over bytes.

Wire: each packet is COBS-encoded (the ``cobs`` package) and followed by one 0x00 byte. Packet,
little-endian: ``version u8 = 1 | type u8 | seq u16 | len u16 | payload[len] | crc32 u32`` with
CRC-32/ISO-HDLC (``zlib.crc32``) over every byte before it.

The limiter is integer arithmetic over the n = zones × channels values v, mirrored bit-exactly from
the firmware: if Σv > power_budget·n then applied_scale = ⌊65535·power_budget·n / Σv⌋ and each value
becomes ⌊v·applied_scale / 65535⌋; otherwise applied_scale = 65535 and the values are unchanged.

Examples
--------
>>> wire = encode(PING, 7)
>>> wire.hex()
'04011307010105eda709c000'
>>> decode(wire[:-1]).type == PING
True
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from cobs import cobs

__all__ = ["PROTOCOL_VERSION", "Packet", "ProtocolError", "encode", "decode", "pack", "unpack", "Deframer",
           "apply_limiter", "levels_to_u16", "frame_payload", "hello_payload", "parse_info", "parse_ack",
           "parse_nak", "parse_status", "NAK_REASONS"]

PROTOCOL_VERSION = 1
HELLO, INFO, FRAME, TEST_PATTERN, GET_STATUS, PING, BLANK, SET_LIMIT = 0x01, 0x81, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15
ACK, NAK, STATUS, LOG = 0x82, 0x83, 0x84, 0x85
KNOWN_TYPES = {HELLO, INFO, FRAME, TEST_PATTERN, GET_STATUS, PING, BLANK, SET_LIMIT, ACK, NAK, STATUS, LOG}
#: NAK reason codes.
NAK_REASONS = {1: "crc", 2: "cobs", 3: "length", 4: "type", 5: "oversize", 6: "zones", 7: "version", 8: "limit"}
_HEADER = struct.Struct("<BBHH")


class ProtocolError(Exception):
    """A packet that must be dropped; ``reason`` is the NAK reason code (DESIGN §9)."""

    def __init__(self, reason: int, message: str):
        self.reason = reason
        super().__init__(f"{NAK_REASONS.get(reason, reason)}: {message}")


@dataclass(frozen=True)
class Packet:
    type: int
    seq: int
    payload: bytes = b""


def pack(ptype: int, seq: int, payload: bytes = b"") -> bytes:
    """The packet bytes (header, payload, CRC-32), before COBS."""
    body = _HEADER.pack(PROTOCOL_VERSION, ptype, seq & 0xFFFF, len(payload)) + bytes(payload)
    return body + struct.pack("<I", zlib.crc32(body))


def unpack(packet: bytes) -> Packet:
    """Check and split a packet (after COBS decoding); raises :class:`ProtocolError`."""
    if len(packet) < _HEADER.size + 4:
        raise ProtocolError(3, f"packet of {len(packet)} bytes is shorter than header + CRC")
    version, ptype, seq, length = _HEADER.unpack_from(packet)
    if len(packet) != _HEADER.size + length + 4:
        raise ProtocolError(3, f"length field says {length} payload bytes, packet holds {len(packet) - 10}")
    (crc,) = struct.unpack_from("<I", packet, len(packet) - 4)
    if zlib.crc32(packet[:-4]) != crc:
        raise ProtocolError(1, "CRC-32 mismatch")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(7, f"protocol version {version}, expected {PROTOCOL_VERSION}")
    if ptype not in KNOWN_TYPES:
        raise ProtocolError(4, f"unknown packet type 0x{ptype:02x}")
    return Packet(ptype, seq, bytes(packet[_HEADER.size:-4]))


def encode(ptype: int, seq: int, payload: bytes = b"") -> bytes:
    """Wire bytes of a packet: COBS(packet) followed by 0x00."""
    return cobs.encode(pack(ptype, seq, payload)) + b"\x00"


def decode(chunk: bytes) -> Packet:
    """A packet from one COBS chunk (the bytes between two 0x00 delimiters)."""
    try:
        packet = cobs.decode(chunk)
    except cobs.DecodeError as exc:
        raise ProtocolError(2, f"bad COBS encoding ({exc})") from None
    return unpack(packet)


class Deframer:
    """Split a byte stream at 0x00 delimiters and decode packets; bad chunks become errors, not crashes.

    Parameters
    ----------
    max_packet : int
        Chunks longer than this (COBS overhead included) are dropped as ``oversize`` without being
        buffered further.
    """

    def __init__(self, max_packet: int = 4096):
        self.max_packet = max_packet
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> Iterator[Packet | ProtocolError]:
        """Yield each complete packet (or the error that rejected it) found in ``data``."""
        for byte in bytes(data):
            if byte == 0:
                chunk, over = bytes(self._buf), self._overflow
                self._buf.clear()
                self._overflow = False
                if over:
                    yield ProtocolError(5, "chunk longer than max_packet")
                elif chunk:
                    try:
                        yield decode(chunk)
                    except ProtocolError as exc:
                        yield exc
            elif not self._overflow:
                if len(self._buf) >= self.max_packet + self.max_packet // 254 + 2:
                    self._overflow = True
                    self._buf.clear()
                else:
                    self._buf.append(byte)


# ---------------------------------------------------------------- payloads
def hello_payload(nonce: int, host_version: int = PROTOCOL_VERSION) -> bytes:
    return struct.pack("<BI", host_version, nonce & 0xFFFFFFFF)


def levels_to_u16(levels) -> np.ndarray:
    """LED levels in [0, 1] (linear light) → u16 values, 65535 = full (rounded, clipped)."""
    a = np.asarray(levels, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("LED levels must be finite")
    return np.round(np.clip(a, 0.0, 1.0) * 65535.0).astype(np.uint16)


def frame_payload(values, *, show_now: bool = True) -> bytes:
    """FRAME payload for u16 values of shape (zones,) or (zones, channels)."""
    v = np.asarray(values)
    if v.dtype != np.uint16:
        raise TypeError(f"frame values must be uint16, got {v.dtype}")
    zones, channels = (v.shape[0], 1) if v.ndim == 1 else v.shape
    return struct.pack("<BHB", 1 if show_now else 0, zones, channels) + v.astype("<u2").tobytes()


def apply_limiter(values, power_budget: int) -> tuple[np.ndarray, int]:
    """The firmware's power limiter, bit-exact: (values shown, applied_scale)."""
    v = np.asarray(values, dtype=np.uint16).astype(np.int64)
    n = v.size
    total = int(v.sum())
    if n == 0 or total <= power_budget * n:
        return v.astype(np.uint16), 65535
    scale = (65535 * power_budget * n) // total
    return ((v * scale) // 65535).astype(np.uint16), scale


def parse_info(payload: bytes) -> dict:
    """INFO fields (DESIGN §9) as a dict."""
    fields = struct.unpack_from("<BIHBBHHHH", payload)
    names = ("protocol", "nonce", "zones", "channels", "pwm_bits", "max_packet", "watchdog_ms", "max_fps",
             "power_budget")
    info = dict(zip(names, fields))
    off = struct.calcsize("<BIHBBHHHH")
    n = payload[off]
    info["fw_version"] = payload[off + 1: off + 1 + n].decode("ascii", "replace")
    return info


def parse_ack(payload: bytes) -> dict:
    seq, scale, status = struct.unpack("<HHB", payload)
    return {"acked_seq": seq, "applied_scale": scale, "limiter_active": bool(status & 1),
            "watchdog_tripped": bool(status & 2), "over_temperature": bool(status & 4)}


def parse_nak(payload: bytes) -> dict:
    seq, reason = struct.unpack("<HB", payload)
    return {"last_good_seq": seq, "reason": reason, "reason_name": NAK_REASONS.get(reason, "unknown")}


def parse_status(payload: bytes) -> dict:
    names = ("packets", "good", "crc_errors", "cobs_errors", "oversize", "frames_shown", "watchdog_trips",
             "uptime_ms", "shown_crc32")
    vals = struct.unpack_from("<9I", payload)
    out = dict(zip(names, vals))
    limiter, temp = struct.unpack_from("<Bh", payload, 36)
    out["limiter_active"] = bool(limiter)
    out["temperature_c"] = None if temp == 0x7FFF else temp / 10.0
    return out
