# SPDX-License-Identifier: BSD-3-Clause
"""Host side of the link to an LED backlight prototype (DMLINK v1, DESIGN.md §9)."""

from .protocol import (ACK, BLANK, FRAME, GET_STATUS, HELLO, INFO, LOG, NAK, PING, PROTOCOL_VERSION, SET_LIMIT, STATUS,
                       TEST_PATTERN, Deframer, Packet, ProtocolError, apply_limiter, decode, encode, levels_to_u16)

__all__ = ["PROTOCOL_VERSION", "HELLO", "INFO", "FRAME", "TEST_PATTERN", "GET_STATUS", "PING", "BLANK", "SET_LIMIT",
           "ACK", "NAK", "STATUS", "LOG", "Packet", "ProtocolError", "Deframer", "encode", "decode",
           "apply_limiter", "levels_to_u16"]
