# SPDX-License-Identifier: BSD-3-Clause
"""``optimal``: LED levels that minimise a perceptual error plus power, through the torch twin.

The loss, on the twin's reduced sample grid (default 270 × 480, the target
area-averaged onto it), with the continuous LCD (D = clamp(T, ε·B, B) + ambient,
no quantisation) is

    loss(L) = mean_pixels((PU21(Y_D) − PU21(Y_T)) / 256)²  +  power_weight · mean(L)

with Y the Rec.709 luminance and PU21 the banding_glare encoding
(:mod:`dualmod.metrics.pu21`). It is minimised by projected Adam over
0 ≤ L ≤ 1 (after each step: clip to [0, 1], then scale down to the power cap
``leds.max_mean_level`` if exceeded), warm-started from the ``max``
heuristic, until the loss improves by less than ``tol`` (0.1 %) over 25
steps or after ``steps`` steps. :func:`optimize_leds` returns the objective
trace as well.
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


def _default_size(panel: Panel) -> tuple[int, int]:
    s = 480.0 / max(panel.width, panel.height)
    if s >= 1:
        return panel.height, panel.width
    return max(1, round(panel.height * s)), max(1, round(panel.width * s))


def optimize_leds(panel: Panel, target: np.ndarray, *, power_weight: float = 0.0, steps: int = 300,
                  lr: float = 0.05, size: tuple[int, int] | None = None, warm_start: np.ndarray | None = None,
                  tol: float = 1e-3) -> OptimalResult:
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
    opt = torch.optim.Adam([x], lr=lr)

    def loss_fn():
        out = twin(x, t, quantize_leds=False, lcd="continuous")
        err = (pu21_encode_torch(out["displayed"] @ w) - v_target) / 256.0
        return (err * err).mean() + power_weight * x.mean()

    trace = []
    for k in range(int(steps)):
        opt.zero_grad()
        loss = loss_fn()
        trace.append(float(loss.detach()))
        if k >= 50 and trace[k - 25] - trace[k] < tol * trace[k]:  # converged: < 0.1 % better in 25 steps
            break
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
            m = float(x.mean())
            if m > cap:
                x.mul_(cap / m)
    with torch.no_grad():
        trace.append(float(loss_fn()))
    leds = x.detach().numpy()[0].astype(np.float64)
    return OptimalResult(leds=leds, trace=np.asarray(trace))


def optimal(panel: Panel, target: np.ndarray, *, power_weight: float = 0.0, steps: int = 300, lr: float = 0.05,
            size: tuple[int, int] | None = None, tol: float = 1e-3) -> np.ndarray:
    """LED levels minimising PU21 error + power_weight × mean level (``optimal``).

    Parameters
    ----------
    power_weight : float
        λ, the price of mean LED level in loss units (0 = quality only).
    steps : int
        Most Adam steps (default 300).
    lr : float
        Adam step size on the 0–1 LED scale.
    size : (int, int), optional
        (height, width) of the optimisation grid; default: longer side 480 px.
    tol : float
        Stop once the loss improved by less than this fraction over 25 steps (after 50).
    """
    return optimize_leds(panel, target, power_weight=power_weight, steps=steps, lr=lr, size=size, tol=tol).leds


optimal.validates_target = False  # dm.solve checks the target's values before the optimiser sees it
