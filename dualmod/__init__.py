# SPDX-License-Identifier: BSD-3-Clause
"""dualmod: simulation and local dimming for dual-modulation (LED × LCD) HDR displays.

>>> import dualmod as dm
>>> panel = dm.Panel.load("fald-1080p-576")
>>> "fald-1080p-576" in dm.Panel.builtins()
True
"""

from .display import Simulation, simulate
from .errors import DualmodError, InputError, ProfileError
from .panel import Panel

__version__ = "0.1.0"

__all__ = ["Panel", "simulate", "Simulation", "DualmodError", "ProfileError", "InputError", "__version__"]
