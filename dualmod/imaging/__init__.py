# SPDX-License-Identifier: BSD-3-Clause
"""Images: procedural HDR scenes (and, later, file IO, tone mapping, colour)."""

from .scenes import SCENES, scene

__all__ = ["SCENES", "scene"]
