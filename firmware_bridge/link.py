# SPDX-License-Identifier: BSD-3-Clause
"""The host end of a DMLINK v1 link (DESIGN.md §9), and a classic Adalight output, over any pyserial URL.

:class:`DmlinkLink` opens a real port, ``loop://`` or the emulator's pseudo-terminal, shakes hands
(a lone 0x00, then HELLO until INFO answers with the same nonce, up to ``handshake_timeout``), and
then streams frames: :meth:`DmlinkLink.send_frame` turns levels in [0, 1] into u16, mirrors the
firmware's power limiter bit-exactly (so it knows what the LEDs show, and checks the device's
``applied_scale`` against it), and keeps at most two frames in flight. A frame offered while two are
in flight waits in a single slot that the next frame replaces: the newest frame wins, no stale frame
is ever queued. A reader thread takes ACK, NAK, STATUS, INFO and LOG packets; when the port vanishes
it reopens it every ``reconnect_interval`` seconds and shakes hands again, then sends the newest frame.

Examples
--------
>>> from firmware_bridge.link import AdalightLink
>>> import serial
>>> with AdalightLink("loop://") as ada:
...     ada.send_frame([0.0, 1.0])
...     ada.port.read(12).hex()
'416461000154000000ffffff'
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import random
import struct
import threading
import time
import zlib
from dataclasses import dataclass

import numpy as np
import serial

from dualmod.errors import DualmodError

from . import protocol as P
from .adalight import adalight_frame

__all__ = ["LinkError", "HandshakeError", "LinkDown", "DeviceNak", "DmlinkLink", "AdalightLink", "open_link",
           "Ack", "PATTERNS"]

log = logging.getLogger(__name__)

#: NAK reasons that damage on the wire can cause (crc, cobs, length: a chunk cut short, oversize): worth a
#: retry. The others (type, zones, version, limit) come only from intact packets: the device refuses.
DAMAGE_REASONS = frozenset({1, 2, 3, 5})

#: TEST_PATTERN codes by name.
PATTERNS = {"off": 0, "all": 1, "zone": 2, "checkerboard": 3}


class LinkError(DualmodError):
    """The link to the device failed: port, handshake, timeout or a refusal."""


class HandshakeError(LinkError):
    """No valid INFO, or the device does not match what the host expects."""


class LinkDown(LinkError):
    """The port vanished and has not come back yet."""


class DeviceNak(LinkError):
    """The device refused a request (a NAK); ``reason`` is the code, ``reason_name`` its name."""

    def __init__(self, reason: int, what: str):
        self.reason = reason
        self.reason_name = P.NAK_REASONS.get(reason, "unknown")
        super().__init__(f"device refused {what}: NAK {reason} ({self.reason_name})")


@dataclass(frozen=True)
class Ack:
    """A device acknowledgement: the sequence number, the limiter's scale and the status bits."""

    seq: int
    applied_scale: int
    limiter_active: bool
    watchdog_tripped: bool
    over_temperature: bool

    @classmethod
    def from_packet(cls, pkt: P.Packet) -> "Ack":
        a = P.parse_ack(pkt.payload)
        return cls(seq=a["acked_seq"], applied_scale=a["applied_scale"], limiter_active=a["limiter_active"],
                   watchdog_tripped=a["watchdog_tripped"], over_temperature=a["over_temperature"])


def values_crc32(values: np.ndarray) -> int:
    """CRC-32 of u16 values as little-endian bytes: the firmware's ``shown_crc32``."""
    return zlib.crc32(np.ascontiguousarray(values, dtype="<u2").tobytes())


def _open_port(url: str, baudrate: int):
    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=0.02, write_timeout=2.0)
    except (serial.SerialException, OSError, ValueError) as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else getattr(exc, "errno", None)
        why = os.strerror(code) if isinstance(code, int) else str(exc)
        raise LinkError(f"cannot open {url}: {why}") from None


class DmlinkLink:
    """A DMLINK v1 device on a serial port (any pyserial URL).

    Parameters
    ----------
    url : str
        ``/dev/ttyACM0``, ``COM3``, the emulator's pty path, or any pyserial URL.
    zones, channels : int, optional
        What the host expects; the handshake fails with :class:`HandshakeError` on a mismatch.
    baudrate : int
        Ignored by USB CDC devices and ptys, used by real UARTs.
    handshake_timeout : float
        Seconds to wait for INFO; HELLO is re-sent every second.
    ack_timeout : float
        A frame not acknowledged within this many seconds no longer counts as in flight.
    reconnect : bool
        Reopen the port (every ``reconnect_interval`` s) when it vanishes.
    max_in_flight : int
        Frames sent and not yet acknowledged (DESIGN §9: two).
    """

    def __init__(self, url: str, *, zones: int | None = None, channels: int | None = None, baudrate: int = 2_000_000,
                 handshake_timeout: float = 3.0, ack_timeout: float = 0.5, reconnect: bool = True,
                 reconnect_interval: float = 2.0, max_in_flight: int = 2):
        self.url = url
        self.baudrate = baudrate
        self.expect_zones, self.expect_channels = zones, channels
        self.handshake_timeout = handshake_timeout
        self.ack_timeout = ack_timeout
        self.reconnect = reconnect
        self.reconnect_interval = reconnect_interval
        self.max_in_flight = max_in_flight
        self._cond = threading.Condition()
        self._wlock = threading.RLock()
        self._seq = random.randrange(1, 0x10000)
        self._in_flight: dict[int, tuple[float, int]] = {}   # seq -> (time sent, expected applied_scale)
        self._pending: np.ndarray | None = None               # newest frame waiting for a slot
        self._replies: dict[int, P.Packet] = {}               # seq -> ACK/STATUS for blocking requests
        self._naks: collections.deque = collections.deque(maxlen=64)
        self._host_limit: int | None = None
        self._closed = False
        self.logs: collections.deque[str] = collections.deque(maxlen=256)
        self.latencies: collections.deque[float] = collections.deque(maxlen=100_000)
        #: (seq, shown_crc32 the host expects) of every frame sent, newest last.
        # one entry per sequence number at most: seq is 16-bit, older entries could not be looked up
        self.sent: collections.deque[tuple[int, int]] = collections.deque(maxlen=0x10000)
        self.stats = collections.Counter()
        self.last_ack: Ack | None = None
        self.port = _open_port(url, baudrate)
        try:
            self.info = self._handshake(self.port)
        except BaseException:
            self.port.close()
            raise
        self._reader = threading.Thread(target=self._run, name=f"dmlink-reader {url}", daemon=True)
        self._reader.start()

    # ------------------------------------------------------------ context
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Stop the reader and close the port (the device's watchdog then blanks the LEDs)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._reader:
            self._reader.join(timeout=2.0)
        port = self.port
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass

    # ------------------------------------------------------------ properties
    @property
    def connected(self) -> bool:
        """True while the port is open and shaken hands with; False while reconnecting."""
        return self.port is not None

    @property
    def zones(self) -> int:
        return self.info["zones"]

    @property
    def channels(self) -> int:
        return self.info["channels"]

    @property
    def power_budget(self) -> int:
        """The budget in force (u16): the firmware's own, lowered by :meth:`set_limit`."""
        own = self.info["power_budget"]
        return own if self._host_limit is None else min(own, self._host_limit)

    @property
    def in_flight(self) -> int:
        with self._cond:
            return len(self._in_flight)

    # ------------------------------------------------------------ wire
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _write(self, data: bytes, port=None) -> None:
        port = port or self.port
        if port is None:
            raise LinkDown(f"{self.url}: the device is not connected (reconnecting every {self.reconnect_interval:g} s)")
        with self._wlock:
            try:
                port.write(data)
            except (serial.SerialException, OSError) as exc:
                raise LinkDown(f"{self.url}: write failed: {exc}") from None

    def _handshake(self, port) -> dict:
        try:
            port.reset_input_buffer()
        except (serial.SerialException, OSError, AttributeError):
            pass
        nonce = random.randrange(1, 1 << 32)
        deframer = P.Deframer(max_packet=65535)
        deadline = time.monotonic() + self.handshake_timeout
        next_hello = 0.0
        try:
            self._write(b"\x00", port)
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                if now >= next_hello:
                    with self._cond:
                        seq = self._next_seq()
                    self._write(P.encode(P.HELLO, seq, P.hello_payload(nonce)), port)
                    next_hello = now + 1.0
                data = port.read(max(1, port.in_waiting))
                for item in deframer.feed(data):
                    if isinstance(item, P.Packet) and item.type == P.INFO:
                        info = P.parse_info(item.payload)
                        if info["nonce"] == nonce:
                            self._check_info(info)
                            return info
                    elif isinstance(item, P.Packet) and item.type == P.NAK:
                        nak = P.parse_nak(item.payload)
                        if nak["reason"] == 7:
                            raise HandshakeError(f"{self.url}: the device does not speak DMLINK v{P.PROTOCOL_VERSION}")
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"{self.url}: {exc}") from None
        raise HandshakeError(f"{self.url}: no INFO within {self.handshake_timeout:g} s: is a DMLINK v1 device there? "
                             "(for an Adalight controller use --protocol adalight)")

    def _check_info(self, info: dict) -> None:
        if info["protocol"] != P.PROTOCOL_VERSION:
            raise HandshakeError(f"{self.url}: device speaks DMLINK v{info['protocol']}, this host v{P.PROTOCOL_VERSION}")
        for name, want in (("zones", self.expect_zones), ("channels", self.expect_channels)):
            if want is not None and info[name] != want:
                raise HandshakeError(f"{self.url}: device has {info[name]} {name}, expected {want}")

    # ------------------------------------------------------------ reader thread
    def _run(self) -> None:
        deframer = P.Deframer(max_packet=65535)
        while True:
            with self._cond:
                if self._closed:
                    return
                port = self.port
            if port is None:
                self._reconnect()
                deframer = P.Deframer(max_packet=65535)
                continue
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                self._lost(exc)
                continue
            for item in deframer.feed(data):
                self._dispatch(item)
            self._expire()

    def _lost(self, exc) -> None:
        with self._cond:
            if self._closed:
                return
            log.warning("%s: link lost (%s)", self.url, exc)
            self.stats["disconnects"] += 1
            self.stats["lost_in_flight"] += len(self._in_flight)
            self._in_flight.clear()
            port, self.port = self.port, None
            self._cond.notify_all()
        try:
            port.close()
        except (serial.SerialException, OSError, AttributeError):
            pass
        if not self.reconnect:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _reconnect(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._closed, timeout=self.reconnect_interval)
            if self._closed:
                return
        try:
            port = _open_port(self.url, self.baudrate)
        except LinkError:
            return
        try:
            info = self._handshake(port)
        except LinkError as exc:
            log.warning("%s: reopened but no handshake: %s", self.url, exc)
            port.close()
            return
        with self._cond:
            self.info, self.port = info, port
            self.stats["reconnects"] += 1
            self._cond.notify_all()
        if self._host_limit is not None and self._host_limit < info["power_budget"]:
            with self._cond:
                seq = self._next_seq()
            try:
                self._write(P.encode(P.SET_LIMIT, seq, struct.pack("<H", self._host_limit)))
            except LinkDown:
                return
        self._send_pending()

    def _dispatch(self, item) -> None:
        if isinstance(item, P.ProtocolError):
            self.stats["rx_errors"] += 1
            return
        t = item.type
        with self._cond:
            if t == P.ACK:
                a = Ack.from_packet(item)
                self.last_ack = a
                self.stats["acks"] += 1
                if a.watchdog_tripped:
                    self.stats["watchdog_trips_seen"] += 1
                sent = self._in_flight.pop(a.seq, None)
                if sent is not None:
                    self.latencies.append(time.monotonic() - sent[0])
                    self.stats["frames_acked"] += 1
                    if a.applied_scale != sent[1] and not a.over_temperature:
                        self.stats["limiter_mismatch"] += 1
                        log.warning("%s: device applied scale %d, host mirror %d", self.url, a.applied_scale, sent[1])
                self._replies[item.seq] = item
            elif t == P.NAK:
                nak = P.parse_nak(item.payload)
                self.stats["naks"] += 1
                self.stats[f"nak_{nak['reason_name']}"] += 1
                self._naks.append(nak)
                if self._in_flight:   # replies come in order: the oldest frame in flight was the damaged one
                    oldest = min(self._in_flight, key=lambda s: self._in_flight[s][0])
                    del self._in_flight[oldest]
                    self.stats["frames_nakked"] += 1
            elif t == P.STATUS:
                self._replies[item.seq] = item
            elif t == P.INFO:
                self.info = P.parse_info(item.payload)
            elif t == P.LOG:
                text = item.payload.decode("utf-8", "replace")
                self.logs.append(text)
                log.info("%s: device: %s", self.url, text)
            if len(self._replies) > 64:
                for k in list(self._replies)[:-64]:
                    del self._replies[k]
            self._cond.notify_all()
        if t in (P.ACK, P.NAK):
            self._send_pending()

    def _expire(self) -> None:
        now = time.monotonic()
        with self._cond:
            stale = [s for s, (t0, _) in self._in_flight.items() if now - t0 > self.ack_timeout]
            for s in stale:
                del self._in_flight[s]
                self.stats["ack_timeouts"] += 1
            if stale:
                self._cond.notify_all()
        if stale:
            self._send_pending()

    # ------------------------------------------------------------ frames
    def _as_values(self, levels) -> np.ndarray:
        a = np.asarray(levels)
        want = (self.zones,) if self.channels == 1 else (self.zones, self.channels)
        if a.shape == (self.zones * self.channels,) and self.channels > 1:
            a = a.reshape(want)
        if a.shape == (self.zones,) and self.channels == 3:
            a = np.repeat(a[:, None], 3, axis=1)       # white levels on an RGB backlight
        if a.shape != want:
            raise LinkError(f"LED frame has shape {np.shape(levels)}, the device takes {want}")
        try:
            return P.levels_to_u16(a)
        except ValueError as exc:
            raise LinkError(str(exc)) from None

    def _send_values(self, values: np.ndarray | None, *, from_pending: bool = False) -> int | None:
        """Send one FRAME now (or the pending one, if a slot is free). Returns its seq, or None."""
        with self._wlock:                      # lock order: _wlock, then _cond; frames go out in seq order
            with self._cond:
                if from_pending:
                    if self._pending is None or not self.connected or len(self._in_flight) >= self.max_in_flight:
                        return None
                    values, self._pending = self._pending, None
                shown, scale = P.apply_limiter(values, self.power_budget)
                seq = self._next_seq()
                self._in_flight[seq] = (time.monotonic(), scale)
                self.sent.append((seq, values_crc32(shown)))
                self.stats["frames_sent"] += 1
                self.stats["max_in_flight"] = max(self.stats["max_in_flight"], len(self._in_flight))
            try:
                self._write(P.encode(P.FRAME, seq, P.frame_payload(values)))
            except LinkDown:
                with self._cond:
                    self._in_flight.pop(seq, None)
                    self.sent.pop()
                    self.stats["frames_sent"] -= 1
                    if from_pending and self._pending is None:
                        self._pending = values
                if from_pending:
                    return None
                raise
        return seq

    def _send_pending(self) -> None:
        self._send_values(None, from_pending=True)

    def send_frame(self, levels, *, wait: bool = False, timeout: float = 2.0, retries: int = 3) -> Ack | None:
        """Show LED levels: shape (zones,) or (zones, channels), linear light in [0, 1].

        With ``wait=False`` (streaming) this never blocks on the device: with two frames in flight,
        or while reconnecting, the frame waits in a one-frame slot that a newer frame replaces.
        With ``wait=True`` it sends the frame as soon as a slot is free and returns its :class:`Ack`,
        re-sending after a NAK or a lost ACK up to ``retries`` times.
        """
        values = self._as_values(levels)
        if not wait:
            with self._cond:
                if self._pending is not None:
                    self.stats["frames_replaced"] += 1
                self._pending = values
            self._send_pending()
            return None
        for _ in range(retries + 1):
            with self._cond:
                self._cond.wait_for(lambda: len(self._in_flight) < self.max_in_flight or self._closed, timeout)
                naks_before = self.stats["naks"]
            seq = self._send_values(values)
            with self._cond:
                self._cond.wait_for(lambda s=seq: s in self._replies or s not in self._in_flight, timeout)
                reply = self._replies.pop(seq, None)
                if reply is not None:
                    return Ack.from_packet(reply)
                if self.stats["naks"] > naks_before and self._naks[-1]["reason"] not in DAMAGE_REASONS:
                    raise DeviceNak(self._naks[-1]["reason"], "the frame")
                self._in_flight.pop(seq, None)
        raise LinkError(f"{self.url}: frame not acknowledged after {retries + 1} tries")

    def wait_slot(self, timeout: float = 1.0) -> bool:
        """Wait until fewer than ``max_in_flight`` frames are in flight (a producer's pacing)."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._in_flight) < self.max_in_flight or self._closed, timeout)

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until no frame is pending or in flight; True if that happened within ``timeout``."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._in_flight, timeout)

    # ------------------------------------------------------------ requests
    def _request(self, ptype: int, payload: bytes = b"", *, what: str, timeout: float = 1.0,
                 retries: int = 2) -> P.Packet:
        for _ in range(retries + 1):
            with self._cond:
                naks_before = self.stats["naks"]
                seq = self._next_seq()
            self._write(P.encode(ptype, seq, payload))
            with self._cond:
                got = self._cond.wait_for(lambda s=seq, n=naks_before: s in self._replies or self.stats["naks"] > n
                                          or self._closed, timeout)
                if seq in self._replies:
                    return self._replies.pop(seq)
                if got and self.stats["naks"] > naks_before and not self._in_flight:
                    reason = self._naks[-1]["reason"]
                    if reason not in DAMAGE_REASONS:  # damage is worth a retry; a refusal is not
                        raise DeviceNak(reason, what)
        raise LinkError(f"{self.url}: no reply to {what} within {timeout:g} s ({retries + 1} tries)")

    def status(self) -> dict:
        """The device's counters, shown_crc32, limiter state and temperature (STATUS, DESIGN §9)."""
        return P.parse_status(self._request(P.GET_STATUS, what="GET_STATUS").payload)

    def ping(self) -> Ack:
        """Keep the watchdog fed without changing the LEDs."""
        return Ack.from_packet(self._request(P.PING, what="PING"))

    @contextlib.contextmanager
    def keep_alive(self):
        """Ping from a background thread while the block runs, so the firmware's watchdog does not blank
        what is shown while the host is busy on purpose (a camera exposing, a slow frame being prepared,
        a pattern held). Nothing outlives the block: if this process dies, the watchdog still blanks."""
        every = (self.info.get("watchdog_ms") or 1000) / 3000.0
        stop = threading.Event()

        def run():
            while not stop.wait(every):
                try:
                    self.ping()
                except DualmodError:
                    return

        thread = threading.Thread(target=run, name="dmlink-keep-alive", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()

    def blank(self) -> Ack:
        """All LEDs off now."""
        with self._cond:
            self._pending = None
        return Ack.from_packet(self._request(P.BLANK, what="BLANK"))

    def test_pattern(self, pattern: str | int, *, zone: int = 0, level: float = 1.0) -> Ack:
        """Show a built-in pattern: ``off``, ``all``, ``zone`` (one zone) or ``checkerboard``, at ``level``."""
        code = PATTERNS.get(pattern, pattern) if isinstance(pattern, str) else int(pattern)
        if code not in PATTERNS.values():
            raise LinkError(f"unknown test pattern {pattern!r}; choose from {', '.join(PATTERNS)}")
        if not 0 <= zone < self.zones:
            raise LinkError(f"zone {zone} out of range: the device has {self.zones} zones")
        lvl = int(P.levels_to_u16(np.clip(float(level), 0.0, 1.0)))
        return Ack.from_packet(self._request(P.TEST_PATTERN, struct.pack("<BHH", code, zone, lvl), what="TEST_PATTERN"))

    def set_limit(self, fraction: float) -> Ack:
        """Lower the device's power budget (mean level, 0–1). The firmware refuses to raise its own limit."""
        value = int(round(float(fraction) * 65535))
        if not 0 <= value <= 65535:
            raise LinkError(f"power limit must be in [0, 1], got {fraction}")
        if value > self.info["power_budget"]:
            raise LinkError(f"the host may only lower the limit: the device allows at most "
                            f"{self.info['power_budget'] / 65535:.4f}, asked {fraction}")
        ack = Ack.from_packet(self._request(P.SET_LIMIT, struct.pack("<H", value), what="SET_LIMIT"))
        self._host_limit = value
        return ack



class AdalightLink:
    """Classic Adalight output (8-bit RGB, header checksum only) for off-the-shelf controllers.

    Adalight has no replies: there is no handshake, status or acknowledgement, and the controller's
    own limits (if any) apply. ``gamma`` > 1 encodes levels for controllers that expect gamma-coded bytes.
    """

    def __init__(self, url: str, *, baudrate: int = 115200, zones: int | None = None, gamma: float = 1.0):
        self.url, self.zones, self.gamma = url, zones, gamma
        self.port = _open_port(url, baudrate)
        self.stats = collections.Counter()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.port.close()

    def send_frame(self, levels, **_ignored) -> None:
        a = np.asarray(levels)
        if self.zones is not None and a.shape[0] != self.zones:
            raise LinkError(f"LED frame has {a.shape[0]} LEDs, expected {self.zones}")
        try:
            data = adalight_frame(a, gamma=self.gamma)
        except ValueError as exc:
            raise LinkError(str(exc)) from None
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkDown(f"{self.url}: write failed: {exc}") from None
        self.stats["frames_sent"] += 1

    def _unsupported(self, *_a, **_k):
        raise LinkError("Adalight has no status, test patterns or limits: use a DMLINK device for those")

    status = ping = blank = test_pattern = set_limit = _unsupported

    def flush(self, timeout: float = 2.0) -> bool:
        self.port.flush()
        return True

    @contextlib.contextmanager
    def keep_alive(self):
        """Nothing to keep alive: Adalight controllers have no watchdog (and no replies). Here so that code
        holding a frame works with either link."""
        yield self


def open_link(url: str, *, protocol: str = "dmlink", **options):
    """Open ``url`` with ``protocol`` ``"dmlink"`` (:class:`DmlinkLink`) or ``"adalight"`` (:class:`AdalightLink`)."""
    if protocol == "dmlink":
        return DmlinkLink(url, **options)
    if protocol == "adalight":
        return AdalightLink(url, **{k: v for k, v in options.items() if k in ("baudrate", "zones", "gamma")})
    raise LinkError(f"unknown protocol {protocol!r}; choose dmlink or adalight")
