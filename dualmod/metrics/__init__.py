# SPDX-License-Identifier: BSD-3-Clause
"""Quality metrics: ``dm.evaluate(target, displayed, panel=..., metrics=None) -> dict``.

One module per method (:mod:`.pu21`, :mod:`.fidelity`, :mod:`.display`, :mod:`.cvvdp`), registered
by name in :data:`METRICS`. ``metrics=None`` computes :data:`DEFAULT_METRICS` (the fast set; the
power metrics need the LED frame and are included when it is known).
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from ..display._fastmath import has_invalid_values, invalid_values_error
from ..errors import InputError
from .context import Pair
from .cvvdp import cvvdp_jod
from .display import clipped_fraction, contrast, halo, power, power_saving
from .fidelity import delta_itp, pu21_psnr_metric, pu21_ssim
from .learned import deep_fr, deep_nr
from .pu21 import pu21_decode, pu21_encode, pu21_psnr

__all__ = ["evaluate", "METRICS", "DEFAULT_METRICS", "pu21_encode", "pu21_decode", "pu21_psnr"]

#: Metric name -> function(Pair) -> float.
METRICS: dict[str, Callable[[Pair], float]] = {
    "pu21_psnr": pu21_psnr_metric,
    "pu21_ssim": pu21_ssim,
    "delta_itp": delta_itp,
    "power": power,
    "power_saving": power_saving,
    "clipped_fraction": clipped_fraction,
    "halo": halo,
    "contrast": contrast,
    "cvvdp_jod": cvvdp_jod,
    "deep_fr": deep_fr,
    "deep_nr": deep_nr,
}
#: Computed when ``metrics=None`` (``power``/``power_saving`` only when the LED frame is known).
DEFAULT_METRICS = ("pu21_psnr", "pu21_ssim", "clipped_fraction", "halo", "contrast", "power", "power_saving")


def evaluate(target, displayed, *, panel=None, metrics: Iterable[str] | None = None, leds=None) -> dict:
    """Score a displayed image against its target.

    Parameters
    ----------
    target : ndarray of shape (H, W, 3)
        The intended image, linear Rec.709 RGB, cd/m².
    displayed : ndarray of shape (H, W, 3) or Simulation
        What the display shows (a :class:`~dualmod.display.simulate.Simulation` also supplies the
        LED frame for the power metrics).
    panel : Panel, optional
    metrics : iterable of str, optional
        Names from :data:`METRICS`; default :data:`DEFAULT_METRICS`.
    leds : ndarray, optional
        The LED frame (for ``power``), if ``displayed`` is an array.

    Returns
    -------
    dict of name -> float

    Examples
    --------
    >>> import numpy as np, dualmod as dm
    >>> panel = dm.Panel.load("fald-1080p-576")
    >>> t = dm.scene("window", panel.height, panel.width)
    >>> sim = dm.simulate(panel, dm.solve(panel, t, method="max"), t)
    >>> s = dm.evaluate(t, sim, panel=panel)
    >>> sorted(s) == sorted(DEFAULT_METRICS), 0 < s["power"] < 1
    (True, True)
    """
    from ..display.simulate import Simulation

    if isinstance(displayed, Simulation):
        leds = displayed.leds if leds is None else leds
        panel = displayed.panel if panel is None else panel
        displayed = displayed.displayed
    t = np.ascontiguousarray(target, dtype=np.float32)
    d = np.ascontiguousarray(displayed, dtype=np.float32)
    if t.shape != d.shape or t.ndim != 3 or t.shape[2] != 3:
        raise InputError(f"target and displayed must both be (H, W, 3) images, got {t.shape} and {d.shape}")
    for name, a in (("target", t), ("displayed", d)):
        if has_invalid_values(a):
            raise invalid_values_error(a, name)
    if metrics is None:
        names = [m for m in DEFAULT_METRICS if leds is not None or m not in ("power", "power_saving")]
    else:
        names = list(metrics)
        bad = [m for m in names if m not in METRICS]
        if bad:
            raise InputError(f"unknown metric(s) {', '.join(bad)}; valid: {', '.join(METRICS)}")
    pair = Pair(t, d, panel=panel, leds=None if leds is None else np.asarray(leds, np.float64))
    return {m: float(METRICS[m](pair)) for m in names}
