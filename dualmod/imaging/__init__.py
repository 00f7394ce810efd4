# SPDX-License-Identifier: BSD-3-Clause
"""Images: file IO, procedural HDR scenes, and fitting images to a panel."""

from .io import read_image, write_image
from .prepare import prepare_target
from .scenes import SCENES, scene

__all__ = ["read_image", "write_image", "prepare_target", "SCENES", "scene"]
