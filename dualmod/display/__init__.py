# SPDX-License-Identifier: BSD-3-Clause
"""The physical model of a dual-modulation display: layout, PSF, backlight, LCD, simulation.

Three implementations of the same model (DESIGN.md §3): the numba kernels
behind :func:`simulate` (production), :mod:`.reference` (plain numpy/scipy,
for tests) and :mod:`.torch_model` (differentiable, for training and the
optimiser). This package imports nothing from ``dimming`` or ``metrics``.
"""

from .backlight import backlight, quantize_leds
from .lcd import compensate, show, transmittance
from .psf import make_psf
from .simulate import Simulation, simulate

__all__ = ["backlight", "quantize_leds", "compensate", "show", "transmittance", "make_psf", "Simulation",
           "simulate"]
