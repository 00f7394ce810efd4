# SPDX-License-Identifier: BSD-3-Clause
"""dualmod: simulation and local dimming for dual-modulation (LED × LCD) HDR displays.

>>> import dualmod as dm
>>> panel = dm.Panel.load("fald-1080p-576")
>>> "fald-1080p-576" in dm.Panel.builtins()
True
"""

from .dimming import methods, solve
from .display import Simulation, simulate
from .errors import DualmodError, ImageReadError, ImageWriteError, InputError, ProfileError
from .imaging import prepare_target, read_image, scene, write_image
from .metrics import evaluate
from .panel import Panel

__version__ = "0.1.0"

__all__ = ["Panel", "simulate", "Simulation", "solve", "methods", "evaluate", "read_image", "write_image", "prepare_target",
           "scene", "DualmodError", "ProfileError", "InputError", "ImageReadError", "ImageWriteError", "__version__"]
