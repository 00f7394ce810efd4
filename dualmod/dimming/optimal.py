# SPDX-License-Identifier: BSD-3-Clause
"""``optimal``: LED levels that minimise a perceptual error plus power, through the torch twin.

The loss, on the twin's reduced sample grid (default 270 × 480, the target
area-averaged onto it), with the continuous LCD (D = clamp(T, ε·B, B) + ambient,
no quantisation) is

    loss(L) = mean_pixels((PU21(Y_D) − PU21(Y_T)) / 256)²  +  power_weight · mean(L)

with Y the Rec.709 luminance and PU21 the banding_glare encoding
(:mod:`dualmod.metrics.pu21`). It is minimised by projected Adam over
0 ≤ L ≤ 1 and mean(L) ≤ cap (``leds.max_mean_level`` or a tighter
``power_budget``; after each step the exact Euclidean projection
clip(L − μ, 0, 1), μ by bisection), warm-started from the ``max``
heuristic, until the best loss improves by less than ``tol`` (0.1 %) over
25 steps or after ``steps`` steps; the best iterate is returned (so the
result is never worse than the warm start on the optimisation grid).
:func:`optimize_leds` returns the objective trace as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..panel import Panel

__all__ = ["optimal", "optimize_leds", "OptimalResult"]


@dataclass(frozen=True)
class OptimalResult:
    """LED levels (N,) or (N, 3), and the loss after every step (the first entry: the warm start)."""

    leds: np.ndarray
    trace: np.ndarray


@lru_cache(maxsize=4)
def _twin(panel: Panel, size: tuple[int, int]):
    from ..display.torch_model import TorchDisplay

    return TorchDisplay(panel, size=size)


def _project(y, cap: float):
    """Euclidean projection onto {0 ≤ x ≤ 1, mean(x) ≤ cap}: x = clip(y − μ, 0, 1), μ ≥ 0 by bisection."""
    import torch

    x = y.clamp(0.0, 1.0)
    if float(x.mean()) <= cap:
        return x
    lo, hi = 0.0, float(y.max()) + 1.0
    for _ in range(40):
        mu = 0.5 * (lo + hi)
        if float((y - mu).clamp(0.0, 1.0).mean()) > cap:
            lo = mu
        else:
            hi = mu
    return (y - hi).clamp(0.0, 1.0).to(torch.float32)


def resolve_budget(panel: Panel, target: np.ndarray, power_budget: float | str) -> float:
    """A ``power_budget`` option as a mean level: a number in (0, 1], or ``"max"`` for the ``max`` heuristic's."""
    from .heuristics import max_dimming

    if power_budget == "max":
        budget = float(np.mean(max_dimming(panel, target)))
    elif isinstance(power_budget, str):
        raise ValueError(f"power_budget must be a number in (0, 1] or 'max', got {power_budget!r}")
    else:
        budget = float(power_budget)
    return max(budget, 1e-6)


def _default_size(panel: Panel) -> tuple[int, int]:
    s = 480.0 / max(panel.width, panel.height)
    if s >= 1:
        return panel.height, panel.width
    return max(1, round(panel.height * s)), max(1, round(panel.width * s))


def optimize_leds(panel: Panel, target: np.ndarray, *, power_weight: float = 0.0, steps: int = 300,
                  lr: float = 0.05, size: tuple[int, int] | None = None, warm_start: np.ndarray | None = None,
                  tol: float = 1e-3, power_budget: float | str | None = None) -> OptimalResult:
    """Minimise the loss of the module docstring; see :func:`optimal` for the parameters."""
    import torch

    from ..imaging.colour import REC709_LUMINANCE
    from ..metrics.pu21 import pu21_encode_torch
    from .heuristics import max_dimming

    size = tuple(size) if size is not None else _default_size(panel)
    twin = _twin(panel, size)
    with torch.no_grad():
        t = twin.resample(torch.as_tensor(np.ascontiguousarray(target), dtype=torch.float32))[None]
        w = torch.as_tensor(REC709_LUMINANCE)
        v_target = pu21_encode_torch(t @ w)
    x0 = max_dimming(panel, target) if warm_start is None else np.asarray(warm_start, dtype=np.float64)
    x = torch.tensor(x0[None] if x0.ndim == 1 else x0[None], dtype=torch.float32, requires_grad=True)
    cap = panel.leds.max_mean_level
    if power_budget is not None:
        cap = min(cap, resolve_budget(panel, target, power_budget))
    opt = torch.optim.Adam([x], lr=lr)

    def loss_fn():
        out = twin(x, t, quantize_leds=False, lcd="continuous")
        err = (pu21_encode_torch(out["displayed"] @ w) - v_target) / 256.0
        return (err * err).mean() + power_weight * x.mean()

    trace = []
    best, best_x = float("inf"), x.detach().clone()
    for k in range(int(steps)):
        opt.zero_grad()
        loss = loss_fn()
        trace.append(float(loss.detach()))
        if trace[-1] < best:
            best, best_x = trace[-1], x.detach().clone()
        if k >= 50 and min(trace[:k - 25]) - min(trace) < tol * min(trace):  # < 0.1 % better in 25 steps
            break
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.copy_(_project(x, cap))
    with torch.no_grad():
        trace.append(float(loss_fn()))
        if trace[-1] < best:
            best_x = x.detach().clone()
    leds = best_x.numpy()[0].astype(np.float64)  # the best iterate (projected steps need not descend)
    return OptimalResult(leds=leds, trace=np.asarray(trace))


def optimal(panel: Panel, target: np.ndarray, *, power_weight: float = 0.0, steps: int = 300, lr: float = 0.05,
            size: tuple[int, int] | None = None, tol: float = 1e-3, power_budget: float | str | None = None
            ) -> np.ndarray:
    """LED levels minimising PU21 error + power_weight × mean level (``optimal``).

    Parameters
    ----------
    power_weight : float
        λ, the price of mean LED level in loss units (0 = quality only).
    steps : int
        Most Adam steps (default 300).
    lr : float
        Adam step size on the 0–1 LED scale (with a tight ``power_budget`` use ~0.01: large
        steps followed by the projection overshoot).
    size : (int, int), optional
        (height, width) of the optimisation grid; default: longer side 480 px.
    tol : float
        Stop once the loss improved by less than this fraction over 25 steps (after 50).
    power_budget : float or "max", optional
        A hard cap on the mean LED level (besides the panel's own); ``"max"``
        uses the power of the ``max`` heuristic, for like-for-like comparisons.
    """
    return optimize_leds(panel, target, power_weight=power_weight, steps=steps, lr=lr, size=size, tol=tol,
                         power_budget=power_budget).leds

