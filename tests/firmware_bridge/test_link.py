# SPDX-License-Identifier: BSD-3-Clause
"""The host link against the emulator (the same C core a board runs) on pseudo-terminals."""

import os
import select
import struct
import threading
import zlib

import numpy as np
import pytest

from firmware_bridge import protocol as p
from firmware_bridge.emulator import read_shown_log
from firmware_bridge.faults import FaultyProxy
from firmware_bridge.link import DeviceNak, DmlinkLink, HandshakeError, LinkError, open_link


def crc(values) -> int:
    return zlib.crc32(np.asarray(values, "<u2").tobytes())


def test_handshake_reports_the_device(emulator):
    emu = emulator(zones=144, channels=3, watchdog_ms=250, power_budget=0.5)
    with DmlinkLink(emu.path, zones=144, channels=3) as link:
        assert (link.zones, link.channels, link.info["watchdog_ms"]) == (144, 3, 250)
        assert link.info["power_budget"] == round(0.5 * 65535)
        assert link.info["fw_version"].startswith("dmlink-emu")


def test_handshake_refuses_a_different_panel(emulator):
    emu = emulator(zones=16, channels=1)
    with pytest.raises(HandshakeError, match="16 zones, expected 576"):
        DmlinkLink(emu.path, zones=576)


def test_handshake_flushes_then_resends_hello_every_second():
    master, slave = os.openpty()
    got = bytearray()
    errors = []

    def host():
        try:
            DmlinkLink(os.ttyname(slave), handshake_timeout=2.5)
        except LinkError as exc:
            errors.append(exc)
    t = threading.Thread(target=host)
    t.start()
    while t.is_alive():
        if select.select([master], [], [], 0.05)[0]:
            got += os.read(master, 4096)
    t.join()
    os.close(master)
    os.close(slave)
    assert errors and isinstance(errors[0], HandshakeError)
    assert got[0] == 0                                                   # the lone flush byte first
    packets = [x for x in p.Deframer().feed(bytes(got)) if isinstance(x, p.Packet)]
    assert [x.type for x in packets] == [p.HELLO] * 3                    # at 0, 1 and 2 s
    nonces = {struct.unpack("<BI", x.payload)[1] for x in packets}
    assert len(nonces) == 1


def test_frames_are_acked_and_the_limiter_mirrors_the_firmware(emulator, tmp_path):
    log = tmp_path / "shown.log"
    emu = emulator(zones=144, channels=3, power_budget=0.3, shown_log=log)
    rng = np.random.default_rng(5)
    with DmlinkLink(emu.path) as link:
        for _ in range(200):
            assert link.wait_slot(2.0)
            link.send_frame(rng.random((144, 3)) ** rng.uniform(0.2, 3))
        assert link.flush(5.0)
        assert link.stats["frames_acked"] == 200 and link.stats["limiter_mismatch"] == 0
        assert link.stats["max_in_flight"] <= 2
        sent = dict(link.sent)
    rows = emu.wait_for_log(log, 200)
    assert len(rows) == 200
    assert all(kind == "frame" and sent[seq] == c for seq, c, kind in rows)


def test_newest_frame_wins_with_at_most_two_in_flight(emulator, tmp_path):
    log = tmp_path / "shown.log"
    emu = emulator(zones=64, channels=1, shown_log=log)
    frames = np.random.default_rng(1).random((500, 64))
    with DmlinkLink(emu.path) as link:
        for f in frames:
            link.send_frame(f)                       # never waits
        assert link.flush(5.0)
        assert link.stats["max_in_flight"] <= 2
        assert link.stats["frames_replaced"] > 0      # stale frames were dropped, not queued
        assert link.stats["frames_sent"] + link.stats["frames_replaced"] == 500
    rows = emu.wait_for_log(log, link.stats["frames_sent"])
    assert rows[-1][1] == crc(p.levels_to_u16(frames[-1]))          # the last frame offered is what shows


def test_refusals_raise_device_nak(emulator):
    emu = emulator(zones=4, channels=1, power_budget=0.5)
    with DmlinkLink(emu.path) as link:
        bad = p.frame_payload(np.zeros(5, np.uint16))
        with pytest.raises(DeviceNak, match="zones"):
            link._request(p.FRAME, bad, what="a 5-zone frame")
        with pytest.raises(LinkError, match="only lower"):
            link.set_limit(0.9)
        with pytest.raises(DeviceNak, match="limit"):
            link._request(p.SET_LIMIT, struct.pack("<H", 60000), what="SET_LIMIT")
        with pytest.raises(LinkError, match=r"shape \(3,\)"):
            link.send_frame(np.zeros(3))
        with pytest.raises(LinkError, match="finite"):
            link.send_frame(np.full(4, np.nan))


def test_status_patterns_blank_and_limit(emulator):
    emu = emulator(zones=6, channels=1, grid_cols=3, power_budget=1.0)
    with DmlinkLink(emu.path) as link:
        link.test_pattern("zone", zone=4, level=0.5)
        assert link.status()["shown_crc32"] == crc([0, 0, 0, 0, 32768, 0])
        link.test_pattern("checkerboard", level=1.0)
        assert link.status()["shown_crc32"] == crc([65535, 0, 65535, 0, 65535, 0])
        link.blank()
        assert link.status()["shown_crc32"] == crc([0] * 6)
        link.set_limit(0.25)
        ack = link.send_frame(np.ones(6), wait=True)
        shown, scale = p.apply_limiter(np.full(6, 65535, np.uint16), round(0.25 * 65535))
        assert ack.limiter_active and ack.applied_scale == scale
        status = link.status()
        assert status["shown_crc32"] == crc(shown) and status["limiter_active"]
        assert status["frames_shown"] == 4 and status["crc_errors"] == 0


def test_watchdog_blanks_a_silent_link(emulator, tmp_path):
    log = tmp_path / "shown.log"
    emu = emulator(zones=4, channels=1, watchdog_ms=100, shown_log=log)
    with DmlinkLink(emu.path) as link:
        link.send_frame(np.ones(4), wait=True)
        rows = emu.wait_for_log(log, 2, timeout=3.0, times=True)
        assert [r[2] for r in rows] == ["frame", "watchdog"]
        silence = rows[1][3] - rows[0][3]                  # on the emulator's clock, from the frame it showed
        # DESIGN §9: within watchdog_ms + 50 ms; the millisecond clock may cut it short by < 1 ms
        assert 0.099 <= silence <= 0.150
        ack = link.send_frame(np.ones(4), wait=True)
        assert ack.watchdog_tripped


def test_reconnects_after_the_emulator_is_killed_and_restarted(emulator, tmp_path):
    dev = tmp_path / "ttyDMLINK"
    emu1 = emulator(zones=8, channels=1, pty_link=dev)
    with DmlinkLink(str(dev), reconnect_interval=0.2) as link:
        link.send_frame(np.full(8, 0.25), wait=True)
        emu1.kill()
        with link._cond:
            assert link._cond.wait_for(lambda: not link.connected, 5.0)
        frame = np.linspace(0, 1, 8)
        link.send_frame(frame)                         # waits in the slot while the device is gone
        log = tmp_path / "after.log"
        emulator(zones=8, channels=1, pty_link=dev, shown_log=log)
        with link._cond:
            assert link._cond.wait_for(lambda: link.connected, 5.0)
        assert link.flush(5.0)
        assert link.stats["reconnects"] == 1
    rows = read_shown_log(log)
    assert rows[-1][1] == crc(p.levels_to_u16(frame))


def test_fault_injection_shows_no_corrupted_frame(emulator, tmp_path):
    """Flipped, dropped, duplicated and split bytes: every frame shown is one the host sent, intact."""
    log = tmp_path / "shown.log"
    emu = emulator(zones=144, channels=3, watchdog_ms=0, shown_log=log, asan=True)
    rng = np.random.default_rng(11)
    frames = (rng.random((32, 144, 3)) * 1.2).clip(0, 1)
    with FaultyProxy(emu.path, flip=2e-4, drop=1e-4, duplicate=1e-4, split=0.3, seed=3) as proxy:
        with DmlinkLink(proxy.path, ack_timeout=0.1) as link:
            for i in range(1500):
                link.wait_slot(1.0)
                link.send_frame(frames[i % 32])
            link.flush(3.0)
            sent = dict(link.sent)
            status = link.status()
        damage = proxy.counts
    rows = emu.wait_for_log(log, status["frames_shown"])
    shown = [(s, c) for s, c, kind in rows if kind == "frame"]
    assert damage["flipped"] > 0 and damage["dropped"] > 0 and damage["duplicated"] > 0 and damage["splits"] > 0
    assert status["crc_errors"] + status["cobs_errors"] > 0            # the damage reached the device
    assert len(shown) > 1000
    assert all(sent.get(s) == c for s, c in shown)                     # zero corrupted frames shown


def test_adalight_bytes_over_loop():
    with open_link("loop://", protocol="adalight", gamma=2.0) as ada:
        ada.send_frame([[0.0, 0.25, 1.0]])
        assert ada.port.read(9) == b"Ada\x00\x00\x55" + bytes([0, 128, 255])
        with pytest.raises(LinkError, match="Adalight has no status"):
            ada.status()
    with pytest.raises(LinkError, match="unknown protocol"):
        open_link("loop://", protocol="tpm2")


def test_a_port_that_does_not_exist_is_one_clear_error():
    with pytest.raises(LinkError, match="cannot open /dev/nonexistent-dmlink"):
        DmlinkLink("/dev/nonexistent-dmlink")


def test_dmlink_on_a_silent_loop_fails_the_handshake():
    with pytest.raises(HandshakeError, match="no INFO within 0.3 s"):
        DmlinkLink("loop://", handshake_timeout=0.3)
