# SPDX-License-Identifier: BSD-3-Clause
import numpy as np
import pytest

from firmware_bridge.adalight import adalight_frame


def test_header_and_payload():
    levels = np.linspace(0, 1, 300)
    frame = adalight_frame(levels)
    assert frame[:3] == b"Ada"
    hi, lo, check = frame[3], frame[4], frame[5]
    assert (hi << 8) | lo == 299 and check == hi ^ lo ^ 0x55
    rgb = np.frombuffer(frame[6:], np.uint8).reshape(300, 3)
    np.testing.assert_array_equal(rgb[:, 0], np.round(levels * 255))
    assert len(frame) == 6 + 900


def test_rgb_and_gamma():
    f = adalight_frame([[1.0, 0.25, 0.0]], gamma=2.0)
    assert list(f[6:]) == [255, round(255 * 0.5), 0]


def test_bad_input():
    with pytest.raises(ValueError):
        adalight_frame(np.zeros((2, 2)))
    with pytest.raises(ValueError):
        adalight_frame([np.nan])
