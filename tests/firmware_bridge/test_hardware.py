# SPDX-License-Identifier: BSD-3-Clause
"""A real DMLINK board: set ``DUALMOD_PORT`` (e.g. /dev/ttyACM0) to run these; otherwise they skip.

They light the LEDs dimly (5 % of full), so run them with the backlight in view and nothing on it.
"""

import os
import time
import zlib

import numpy as np
import pytest

from firmware_bridge import protocol as p
from firmware_bridge.link import DmlinkLink

PORT = os.environ.get("DUALMOD_PORT")
pytestmark = [pytest.mark.hardware, pytest.mark.skipif(not PORT, reason="set DUALMOD_PORT to test a real device")]


@pytest.fixture
def link():
    with DmlinkLink(PORT) as lk:
        yield lk
        lk.blank()


def test_frame_is_shown_as_the_host_expects(link):
    shape = (link.zones,) if link.channels == 1 else (link.zones, link.channels)
    levels = np.full(shape, 0.05)
    before = link.status()["frames_shown"]
    ack = link.send_frame(levels, wait=True)
    shown, scale = p.apply_limiter(p.levels_to_u16(levels), link.power_budget)
    status = link.status()
    assert ack.applied_scale == scale
    assert status["frames_shown"] == before + 1
    assert status["shown_crc32"] == zlib.crc32(shown.astype("<u2").tobytes())


def test_watchdog_blanks_the_board(link):
    wd = link.info["watchdog_ms"]
    if not 0 < wd <= 5000:
        pytest.skip(f"watchdog_ms is {wd}")
    trips = link.status()["watchdog_trips"]
    link.send_frame(np.full(link.zones, 0.05), wait=True)
    time.sleep((wd + 100) / 1000)                # silence is the point of this test
    status = link.status()
    assert status["watchdog_trips"] == trips + 1
    assert status["shown_crc32"] == zlib.crc32(bytes(2 * link.zones * link.channels))
