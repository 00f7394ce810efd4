# SPDX-License-Identifier: BSD-3-Clause
"""Local-dimming solvers: a target image (nits) -> an LED frame in [0, 1].

Solvers are registered by name in :data:`SOLVERS`; :func:`solve` validates
the name (listing the valid ones), passes only the keyword options the
chosen solver accepts, checks the result's shape and range, and enforces the
panel's power cap (``leds.max_mean_level``). Each solver is also importable
and callable on its own: ``f(panel, target, **options) -> leds``.
"""

from __future__ import annotations

import inspect
import math
from typing import Callable

import numpy as np

from ..display.simulate import check_target
from ..errors import InputError
from ..panel import Panel
from .cnn import cnn
from .iterative import min_power_lp, seetzen2004, zerman
from .optimal import PRECISIONS, STARTS, optimal
from .heuristics import cho_dimming, global_dimming, max_dimming, mean_dimming, percentile_dimming, sqrt_dimming

__all__ = ["SOLVERS", "solve", "methods", "register", "apply_power_cap", "check_method", "check_option",
           "check_options", "takes_anchor", "OPTION_RULES"]

Solver = Callable[..., np.ndarray]

#: Solver name -> function ``f(panel, target, **options) -> LED frame``.
SOLVERS: dict[str, Solver] = {}


def register(name: str, func: Solver | None = None):
    """Register a solver under a lower-case name (usable as a decorator)."""

    def deco(f: Solver) -> Solver:
        key = name.lower()
        if key in SOLVERS:
            raise ValueError(f"solver {key!r} is already registered")
        SOLVERS[key] = f
        return f

    return deco(func) if func is not None else deco


register("global", global_dimming)
register("max", max_dimming)
register("mean", mean_dimming)
register("sqrt", sqrt_dimming)
register("cho", cho_dimming)
register("percentile", percentile_dimming)
register("seetzen2004", seetzen2004)
register("min_power_lp", min_power_lp)
register("optimal", optimal)
register("zerman", zerman)
register("cnn", cnn)


def methods() -> list[str]:
    """Names of the registered solvers, sorted."""
    return sorted(SOLVERS)


def apply_power_cap(panel: Panel, leds: np.ndarray, budget: float | None = None) -> np.ndarray:
    """Scale an LED frame down uniformly so its mean level is at most ``leds.max_mean_level``, and at most
    ``budget`` (a mean level) if one is given."""
    cap = panel.leds.max_mean_level if budget is None else min(panel.leds.max_mean_level, budget)
    mean = float(np.mean(leds))
    return leds * (cap / mean) if mean > cap else leds


#: What a solver option's value may be, by option name (one name means one thing in every solver):
#: ("number" | "integer", lowest, highest, lowest excluded, highest excluded), ("choice", words), or ("budget",)
#: for a mean level in (0, 1] or "max". Options not named here (arrays, paths) are the solver's to check.
OPTION_RULES: dict[str, tuple] = {
    "power_weight": ("number", 0.0, None, False, False),
    "power_budget": ("budget",),
    "refine": ("integer", 0, 1000, False, False),
    "steps": ("integer", 0, None, False, False),
    "tol": ("number", 0.0, None, False, False),
    "anchor_weight": ("number", 0.0, None, False, False),
    "precision": ("choice", PRECISIONS),
    "start": ("choice", STARTS),
    "level": ("number", 0.0, 1.0, False, False),
    "sweeps": ("integer", 1, None, False, False),
    "omega": ("number", 0.0, 2.0, True, True),
    "tolerance": ("number", 0.0, None, True, False),
    "max_rounds": ("integer", 1, None, False, False),
    "grid_step": ("integer", 1, None, False, False),
    "gain": ("number", 0.0, None, True, False),
    "max_iter": ("integer", 1, None, False, False),
    "pu_tolerance": ("number", 0.0, None, True, False),
}


def check_option(method: str, name: str, value) -> None:
    """Raise :class:`InputError` if ``value`` is not allowed for option ``name`` (see :data:`OPTION_RULES`)."""
    rule = OPTION_RULES.get(name)
    if rule is None:
        return
    kind = rule[0]
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if kind == "choice":
        ok, want = value in rule[1], "one of " + ", ".join(rule[1])
    elif kind == "budget":
        ok = value == "max" or (number and 0.0 < float(value) <= 1.0)
        want = "a mean LED level in (0, 1] or 'max'"
    else:
        _, lo, hi, lo_open, hi_open = rule
        whole = kind == "integer"
        ok = number and math.isfinite(float(value)) and (not whole or float(value).is_integer())
        if ok:
            v = float(value)
            ok = ((lo is None or (v > lo if lo_open else v >= lo)) and (hi is None or (v < hi if hi_open else v <= hi)))
        bounds = [f"{'>' if lo_open else '>='} {lo:g}" if lo is not None else "",
                  f"{'<' if hi_open else '<='} {hi:g}" if hi is not None else ""]
        want = f"{'a whole number' if whole else 'a number'} {' and '.join(b for b in bounds if b)}"
    if not ok:
        raise InputError(f"option {name} of method {method!r} must be {want}, got {value!r}")


def check_options(method: str, **values) -> None:
    """:func:`check_option` for each of ``values`` that is given (not None): what a solver called directly runs
    on its own arguments, and :func:`check_method` on the options it is asked to pass."""
    for name, value in values.items():
        if value is not None:
            check_option(method, name, value)


def check_method(method: str, options: dict | None = None) -> str:
    """The registry key of ``method`` (lower-cased) once it and its ``options`` are known to be valid.

    Raises
    ------
    InputError
        An unknown method (the valid ones are listed), an option it does not take (its options are listed),
        or an option value it does not allow (:data:`OPTION_RULES`).
    """
    key = str(method).lower()
    if key not in SOLVERS:
        raise InputError(f"unknown method {method!r}; valid methods: {', '.join(methods())}")
    params = inspect.signature(SOLVERS[key]).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [k for k in (options or {}) if k not in params and not takes_any]
    if unknown:
        valid = [k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        raise InputError(f"method {key!r} does not take option(s) {', '.join(unknown)}; "
                         f"its options: {', '.join(valid) or 'none'}")
    check_options(key, **(options or {}))
    return key


def takes_anchor(method: str) -> bool:
    """Whether a registered solver takes an ``anchor`` option: the previous video frame's LEDs, which it
    stays near where the picture does not decide (``optimal``; see :func:`~dualmod.dimming.optimal.optimal`)."""
    return "anchor" in inspect.signature(SOLVERS[check_method(method)]).parameters


def solve(panel: Panel, target, method: str = "global", **options) -> np.ndarray:
    """Compute an LED frame for a target image with a registered solver.

    Parameters
    ----------
    panel : Panel
    target : array_like of shape (H, W, 3)
        The image to show, linear RGB in cd/m², at the panel resolution.
    method : str
        A name from :func:`methods`.
    **options
        Solver options; those the solver does not accept are an error.

    Returns
    -------
    ndarray of shape (N,) or (N, 3), float64, in [0, 1], mean ≤ max_mean_level.

    Examples
    --------
    >>> import numpy as np, dualmod as dm
    >>> panel = dm.Panel.load("fald-1080p-576")
    >>> t = np.full((panel.height, panel.width, 3), 250.0, np.float32)
    >>> float(dm.solve(panel, t, method="global")[0])
    0.25
    """
    key = check_method(method, options)
    func = SOLVERS[key]
    # a solver marked ``validates_target`` checks the values in its own pass (zone statistics); else we scan
    t = check_target(panel, target, values=not getattr(func, "validates_target", False))
    leds = np.asarray(func(panel, t, **options), dtype=np.float64)
    want = (panel.n_leds,) if panel.leds.channels == 1 else (panel.n_leds, 3)
    if leds.shape != want or not np.all(np.isfinite(leds)):
        raise RuntimeError(f"solver {key!r} returned shape {leds.shape} (or non-finite values), expected {want}")
    return apply_power_cap(panel, np.clip(leds, 0.0, 1.0))
