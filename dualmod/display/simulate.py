# SPDX-License-Identifier: BSD-3-Clause
"""The forward simulation of a dual-modulation display (DESIGN.md §3).

:func:`simulate` runs the production (numba) implementation. The same model is
implemented twice more — :mod:`dualmod.display.reference` (plain numpy/scipy)
and :mod:`dualmod.display.torch_model` (differentiable) — and the tests hold
all three to agreement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..panel import Panel
from .backlight import backlight_model
from .backlight import quantize_leds
from . import _kernels
from ._fastmath import has_invalid_values, invalid_values_error
from .lcd import lcd_model

__all__ = ["Simulation", "simulate", "check_target"]


@dataclass(frozen=True)
class Simulation:
    """What a panel shows for an LED frame and a target.

    Attributes
    ----------
    displayed : ndarray of shape (H, W, 3), float32
        Light leaving the screen, cd/m² (linear Rec.709 RGB), including
        reflected ambient light.
    backlight : ndarray of shape (H, W) or (H, W, 3), float32
        Light reaching the LCD, cd/m² (white or RGB backlight).
    lcd : ndarray of shape (H, W, 3), uint16
        LCD code values, 0 … 2**bit_depth − 1.
    leds : ndarray of shape (N,) or (N, 3), float64
        The LED levels actually emitted (after drive quantisation), in [0, 1].
    led_drive : ndarray of shape (N,) or (N, 3), int64
        The drive codes hardware receives, 0 … 2**leds.bit_depth − 1.
    panel : Panel
    """

    displayed: np.ndarray
    backlight: np.ndarray
    lcd: np.ndarray
    leds: np.ndarray
    led_drive: np.ndarray
    panel: Panel

    @property
    def power(self) -> float:
        """Mean LED level (all LEDs at 1 = 1.0), a proxy for backlight power."""
        return float(np.mean(self.leds))


def check_target(panel: Panel, target, name: str = "target", *, values: bool = True) -> np.ndarray:
    """Validate a target image in nits; returns a C-contiguous float32 (H, W, 3) array.

    ``values=False`` skips the NaN/Inf/negative scan (the LCD kernel does it
    in its own pass, for free).

    Raises
    ------
    InputError
        Wrong shape, non-numeric, NaN/Inf or negative values.
    """
    a = np.asarray(target)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise InputError(f"{name} must be a numeric array, got dtype {a.dtype}")
    if a.shape != (panel.height, panel.width, 3):
        raise InputError(f"{name} must have shape ({panel.height}, {panel.width}, 3) for panel {panel.name!r}, "
                         f"got {a.shape}; use dm.prepare_target to fit an image to the panel")
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not values:
        return a
    if has_invalid_values(a):  # one pass; the counts for the message only when something is wrong
        raise invalid_values_error(a, name)
    return a


def simulate(panel: Panel, leds, target=None, lcd=None, *, out: Simulation | None = None) -> Simulation:
    """Simulate what ``panel`` shows for an LED frame and a target image.

    Parameters
    ----------
    panel : Panel
    leds : array_like of shape (N,) or (N, 3)
        LED levels in [0, 1], ordered as ``panel.led_positions``.
    target : array_like of shape (H, W, 3), optional
        The image to reproduce, linear RGB in cd/m². The LCD compensates the
        backlight to match it (DESIGN §3 step 4).
    lcd : array_like of shape (H, W, 3), optional
        An LCD frame (integer codes) chosen by a solver; used instead of the
        compensation. One of ``target`` and ``lcd`` is required.
    out : Simulation, optional
        A previous result for the same panel whose arrays are overwritten
        (saves allocating ~300 MB per 4K frame in loops). Its arrays then
        belong to the new result.

    Returns
    -------
    Simulation

    Examples
    --------
    >>> import numpy as np, dualmod as dm
    >>> panel = dm.Panel.load("fald-1080p-576")
    >>> target = np.full((panel.height, panel.width, 3), 100.0, np.float32)
    >>> sim = dm.simulate(panel, np.full(panel.n_leds, 0.5), target)
    >>> sim.displayed.shape, sim.lcd.dtype
    ((1080, 1920, 3), dtype('uint16'))
    """
    if not isinstance(panel, Panel):
        raise InputError(f"panel must be a dm.Panel, got {type(panel).__name__}; use dm.Panel.load(name)")
    levels, drive = quantize_leds(panel, leds)
    reuse = out if (out is not None and out.panel == panel) else None
    bmodel = backlight_model(panel)
    lmodel = lcd_model(panel)
    b_out = None if reuse is None else _hwc(reuse.backlight)
    if lcd is None and target is not None and bmodel.path == "separable" and lmodel.gamma_kernel is not None:
        # the common case: backlight and LCD fused row by row (one pass over memory)
        t = check_target(panel, target, values=False)  # values are checked inside the kernel
        b, codes, displayed = _fused(panel, bmodel, lmodel, levels, t, reuse, b_out)
    else:
        b = bmodel.render(levels, out=b_out)
        if lcd is not None:
            codes = _check_lcd(panel, lcd, lmodel.response.max_code)
            displayed = lmodel.show(codes, b, None if reuse is None else reuse.displayed)
        elif target is not None:
            t = check_target(panel, target, values=False)  # values are checked by the LCD kernel
            codes, displayed = lmodel.compensate(t, b, *(() if reuse is None else (reuse.lcd, reuse.displayed)))
        else:
            raise InputError("simulate needs a target image or an LCD frame")
    if panel.leds.channels == 1:
        b, levels, drive = b[..., 0], levels[:, 0], drive[:, 0]
    return Simulation(displayed=displayed, backlight=b, lcd=codes, leds=levels, led_drive=drive, panel=panel)


def _fused(panel, bmodel, lmodel, levels, target, reuse, b_out):
    shape = target.shape
    ch = levels.shape[1]
    b = b_out if b_out is not None and b_out.shape == shape[:2] + (ch,) else np.empty(shape[:2] + (ch,), np.float32)
    codes = reuse.lcd if reuse is not None else np.empty(shape, np.uint16)
    displayed = reuse.displayed if reuse is not None else np.empty(shape, np.float32)
    invalid = np.empty(shape[0], np.int32)
    tb = bmodel.tables
    _kernels.simulate_separable_gamma(
        bmodel.virtual_levels(levels), tb["row_ptr"], tb["row_members"], tb["gx_x0"], tb["gx_n"], tb["gx_off"],
        tb["gx_vals"], tb["gy"], tb["gy_r0"], tb["gy_r1"], target, lmodel.leakage, lmodel.response.gamma,
        lmodel.response.max_code, lmodel.gamma_kernel[1], lmodel.ambient_nits, b, codes, displayed, invalid)
    if invalid.any():
        raise invalid_values_error(target)
    return b, codes, displayed


def _hwc(b: np.ndarray) -> np.ndarray:
    return b[..., None] if b.ndim == 2 else b


def _check_lcd(panel: Panel, lcd, max_code: int) -> np.ndarray:
    a = np.asarray(lcd)
    if a.shape != (panel.height, panel.width, 3):
        raise InputError(f"LCD frame must have shape ({panel.height}, {panel.width}, 3), got {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise InputError(f"LCD frame must hold integer codes, got dtype {a.dtype}")
    if a.min() < 0 or a.max() > max_code:
        raise InputError(f"LCD codes must lie in [0, {max_code}] ({panel.lcd.bit_depth}-bit), "
                         f"got [{a.min()}, {a.max()}]")
    return np.ascontiguousarray(a, dtype=np.uint16)
