# SPDX-License-Identifier: BSD-3-Clause
"""``optimal``: LED levels that minimise a perceptual error plus power, through the torch twin.

The loss, on the twin's reduced sample grid (default 270 × 480, the target
area-averaged onto it), with the continuous LCD (D = clamp(T, ε·B, B) + ambient,
no quantisation) is

    loss(L) = mean_pixels((PU21(Y_D) − PU21(Y_T)) / 256)²  +  power_weight · mean(L)

with Y the Rec.709 luminance and PU21 the banding_glare encoding
(:mod:`dualmod.metrics.pu21`). It is minimised over 0 ≤ L ≤ 1 and
mean(L) ≤ cap (``leds.max_mean_level`` or a tighter ``power_budget``) by the
**spectral projected gradient** method (Birgin, Martínez & Raydan 2000,
"Nonmonotone spectral projected gradient methods on convex sets", SIAM J.
Optim. 10(4)): the direction d = P(L − α∇) − L with the Barzilai–Borwein
step α, a nonmonotone Armijo line search over the last 10 losses, and the
exact Euclidean projection P (clip(L − μ, 0, 1), μ by bisection). A descent
stops when the loss improved by less than ``tol`` (relative) over 20
iterations, or after ``steps`` iterations, and keeps its best iterate.
:func:`optimize_leds` returns the loss trace as well.

**Two starts.** The loss is not convex (the LCD clamps, PU21 bends), and a
descent from the ``max`` heuristic alone often stops in a worse basin than
one from the shipped CNN's frame (:mod:`.cnn`, at the same λ): on the 7
held-out images at λ = 0, 0.001 and 0.01 the CNN's start ended lower in 32
of 42 solves (``fald-1080p-576`` and ``sim2-hdr47``), by more than 10 % in 8
of them (on ``sim2-hdr47``'s CandleGlass at λ = 0.001, 600 iterations from
``max`` still ended 31 % above what 33 iterations from the CNN's frame reached). So by default both are
descended and the lower final loss wins (``start="both"``; ties go to
``max``): the result is never worse, on the optimisation grid, than either
start or either descent. It costs about twice the time; ``start="max"`` is
the single descent of earlier versions.

**The gradient.** In float32 (the default) the PU21 term and its gradient in the backlight come from one
numba pass over the twin's grid (:mod:`._pu21_loss`); autograd is left with the backlight's synthesis
and the power and anchor terms. Autograd through the whole expression took ~10 ms per loss and gradient
on ``fald-1080p-576``'s 270 × 480 grid, two thirds of it in its backward pass, and its gradient carried
float32 rounding noise where the LCD compensates (where the true gradient is exactly 0, and the pass
gives 0). ``precision="float64"`` keeps autograd throughout. With iterations that cheap a descent
stops only after 20 iterations without 0.1 % progress (10 before): on the 7 held-out images on
``fald-1080p-576`` the final loss was 1–5 % lower on average than the former autograd solver's (at
λ = 0.001, 0.01 and ``power_budget="max"``); a solve took a fifth of the former time at λ = 0 and
0.001 (medians 0.21–0.24 s against 0.98–1.17 s). The backlight's synthesis in the twin is two matrix
products (:class:`~dualmod.display.torch_model.TorchDisplay`; a scatter per PSF term before): with
``sim2-hdr47``'s 6038 virtual LEDs (mirror images included) a solve takes 0.90–1.23 s against 2.6–3.5 s
before, on ``fald-1080p-576`` 0.20–0.32 s (held-out images, medians per λ from 0 to 0.01, two runs).

Why not Adam (used before): with the power cap active, Adam's fixed-size
steps followed by the projection oscillate. On the shared images at the
``max`` heuristic's power (fald-1080p-576, every 4th image) projected Adam
gained 0–6 dB over ``max`` and sometimes stopped at the warm start; SPG
gained 1.3–10 dB in about 100 iterations (~0.9 s a frame on 2 cores).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import InputError
from ..panel import Panel

__all__ = ["optimal", "optimize_leds", "OptimalResult", "ANCHOR_WEIGHT", "grid_size"]

#: Default price of moving away from the ``anchor`` (the previous video frame's LEDs): μ in
#: μ·mean((L − anchor)²), in the loss's units.
ANCHOR_WEIGHT = 1e-4


@dataclass(frozen=True)
class OptimalResult:
    """LED levels (N,) or (N, 3); the loss after every step of the descent they came from (the first entry:
    its start); which start that was (``"max"``, ``"cnn"`` or ``"warm_start"``)."""

    leds: np.ndarray
    trace: np.ndarray
    start: str


#: ``start`` → the frames a solve descends from (the lower final loss wins).
STARTS = ("both", "max", "cnn")


#: ``precision`` → torch dtype of the twin and the iterates.
PRECISIONS = ("float32", "float64")


@lru_cache(maxsize=4)
def _twin(panel: Panel, size: tuple[int, int], precision: str = "float32"):
    import torch

    from ..display.torch_model import TorchDisplay

    return TorchDisplay(panel, size=size, dtype=getattr(torch, precision))


def _project(y, cap: float):
    """Euclidean projection onto {0 ≤ x ≤ 1, mean(x) ≤ cap}: x = clip(y − μ, 0, 1), μ ≥ 0 by bisection."""
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
    return (y - hi).clamp(0.0, 1.0).to(y.dtype)


def _cnn_start(panel: Panel, target: np.ndarray, power_weight: float, precision: str,
               weights: str | None = None) -> np.ndarray:
    """The network's LED frame at ``power_weight`` (the shipped network, or ``weights``, a ``train-cnn --out``
    folder). For float64 solves it runs on one thread: torch's float32 convolutions differ in the last bits
    (~1e-7) with the thread count, and a float64 solve must not."""
    import torch

    from .cnn import cnn

    if precision == "float32":
        return cnn(panel, target, power_weight=power_weight, weights=weights)
    with _ONE_THREAD:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return cnn(panel, target, power_weight=power_weight, weights=weights)
        finally:
            torch.set_num_threads(threads)


_ONE_THREAD = threading.Lock()


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


def grid_size(panel: Panel, side: int = 480) -> tuple[int, int]:
    """(height, width) of a twin grid whose longer side is ``side`` px (the panel's own size if smaller)."""
    s = side / max(panel.width, panel.height)
    if s >= 1:
        return panel.height, panel.width
    return max(1, round(panel.height * s)), max(1, round(panel.width * s))


def optimize_leds(panel: Panel, target: np.ndarray, *, power_weight: float = 0.0, steps: int = 150,
                  size: tuple[int, int] | None = None, warm_start: np.ndarray | None = None,
                  tol: float = 1e-3, power_budget: float | str | None = None, anchor: np.ndarray | None = None,
                  anchor_weight: float = ANCHOR_WEIGHT, precision: str = "float32", start: str = "both",
                  cnn_weights: str | None = None
                  ) -> OptimalResult:
    """Minimise the loss of the module docstring; see :func:`optimal` for the parameters.

    ``warm_start`` (an LED frame) replaces the ``start`` frames: one descent from it. ``cnn_weights``: the
    network of the ``"cnn"`` start, a ``train-cnn --out`` folder (None: the shipped one).
    """
    import torch

    from ..imaging.colour import REC709_LUMINANCE
    from ..metrics.pu21 import pu21_encode_torch, pu21_of_rgb
    from ._pu21_loss import pu21_error
    from .heuristics import max_dimming

    from . import check_options

    check_options("optimal", power_weight=power_weight, steps=steps, tol=tol, precision=precision,
                  anchor_weight=anchor_weight, start=start, power_budget=power_budget)
    want = (panel.n_leds,) if panel.leds.channels == 1 else (panel.n_leds, 3)
    for name, v in (("warm_start", warm_start), ("anchor", anchor)):
        if v is not None and np.shape(v) != want:
            raise InputError(f"{name} must have the LED frame's shape {want}, got {np.shape(v)}")
    dtype = getattr(torch, precision)
    size = tuple(size) if size is not None else grid_size(panel)
    twin = _twin(panel, size, precision)
    t = twin.resample(np.asarray(target))[None]
    fused = dtype == torch.float32      # the PU21 term and its gradient in the backlight in one numba pass
    if fused:
        t_np = t[0].numpy()
        v_target = pu21_of_rgb(t_np)
    else:
        w = torch.as_tensor(REC709_LUMINANCE, dtype=dtype)
        with torch.no_grad():
            v_target = pu21_encode_torch(t @ w)
    cap = panel.leds.max_mean_level
    if power_budget is not None:
        cap = min(cap, resolve_budget(panel, target, power_budget))

    def loss_grad(x):
        x = x.detach().requires_grad_(True)
        rest = power_weight * x.mean()
        if a is not None:
            rest = rest + anchor_weight * ((x - a) ** 2).mean()
        if fused:
            b = twin.backlight(x, quantize=False)
            err, grad_b = pu21_error(b.detach().numpy()[0], t_np, v_target, twin.leakage, twin.ambient)
            torch.autograd.backward([b, rest], [torch.from_numpy(grad_b)[None], torch.ones((), dtype=dtype)])
            return err + float(rest.detach()), x.grad.detach()
        out = twin(x, t, quantize_leds=False, lcd="continuous")
        err = (pu21_encode_torch(out["displayed"] @ w) - v_target) / 256.0
        loss = (err * err).mean() + rest
        loss.backward()
        return float(loss.detach()), x.grad.detach()

    a = None if anchor is None else torch.tensor(np.asarray(anchor, dtype=np.float64)[None], dtype=dtype)

    def descend(x0):
        """SPG from x0 (projected): (best loss, best iterate, loss trace)."""
        x = _project(torch.tensor(x0[None], dtype=dtype), cap)
        f, g = loss_grad(x)
        trace = [f]
        best, best_x = f, x.clone()
        # first step: move the steepest LED by 0.05; then Barzilai–Borwein
        alpha = 0.05 / max(float(g.abs().max()), 1e-30)
        for k in range(int(steps)):
            d = _project(x - alpha * g, cap) - x
            slope = float((g * d).sum())
            if slope >= 0.0:  # a stationary point: no feasible descent direction left
                break
            ref = max(trace[-10:])  # nonmonotone Armijo: beat the worst of the last 10 losses
            lam = 1.0
            while True:  # halve until sufficient decrease (at most 10 times: then the step is taken as it is)
                fn, gn = loss_grad(x + lam * d)
                if fn <= ref + 1e-4 * lam * slope or lam < 1e-3:
                    break
                lam *= 0.5
            s = lam * d
            y = gn - g
            sy = float((s * y).sum())
            alpha = float((s * s).sum()) / sy if sy > 0.0 else 1e3 * alpha
            alpha = min(max(alpha, 1e-30), 1e30)
            x, f, g = x + s, fn, gn
            trace.append(f)
            if f < best:
                best, best_x = f, x.clone()
            if k >= 20 and trace[-21] - best < tol * best:  # < tol better in 20 iterations
                break
        return best, best_x, trace

    if warm_start is not None:
        starts = {"warm_start": np.asarray(warm_start, dtype=np.float64)}
    else:
        starts = {}
        if start in ("max", "both"):
            starts["max"] = max_dimming(panel, target)
        if start in ("cnn", "both"):
            starts["cnn"] = _cnn_start(panel, target, power_weight, precision, cnn_weights)
    runs = {name: descend(x0) for name, x0 in starts.items()}
    won = min(runs, key=lambda name: runs[name][0])       # ties: the first (max)
    _, best_x, trace = runs[won]
    leds = best_x.numpy()[0].astype(np.float64)
    return OptimalResult(leds=np.clip(leds, 0.0, 1.0), trace=np.asarray(trace), start=won)


def optimal(panel: Panel, target: np.ndarray, *, power_weight: float = 0.0, steps: int = 150,
            size: tuple[int, int] | None = None, tol: float = 1e-3, power_budget: float | str | None = None,
            anchor: np.ndarray | None = None, anchor_weight: float = ANCHOR_WEIGHT, precision: str = "float32",
            start: str = "both") -> np.ndarray:
    """LED levels minimising PU21 error + power_weight × mean level (``optimal``).

    Parameters
    ----------
    power_weight : float
        λ, the price of mean LED level in loss units (0 = quality only).
    steps : int
        Most iterations of the spectral projected gradient (default 150; each
        costs one or, rarely, a few forward + backward passes of the twin).
    size : (int, int), optional
        (height, width) of the optimisation grid; default: longer side 480 px.
    tol : float
        Stop once the loss improved by less than this fraction over 20 iterations (checked from the 20th on).
    power_budget : float or "max", optional
        A hard cap on the mean LED level (besides the panel's own); ``"max"``
        uses the power of the ``max`` heuristic, for like-for-like comparisons.
    anchor : array, optional
        For video: the previous frame's LED levels (same shape as the result). The loss adds
        ``anchor_weight`` × mean((L − anchor)²); the solve still starts from ``start``'s frames, not from
        the anchor, so new highlights are lit at once. Wherever the LCD can compensate, the loss
        is flat in many LED directions and a per-frame solve stops wherever the picture's noise leads it:
        on still frames under film grain, LED frames jump by an RMS of 0.1–0.4 a frame. The anchor picks,
        among near-equal solutions, the one nearest the last frame; a real change of content still moves
        the LEDs. Leave it out at a scene cut. :class:`~dualmod.dimming.temporal.TemporalSolver` and
        ``dualmod video`` pass it.
    anchor_weight : float
        μ, the price of the anchor term in loss units (default :data:`ANCHOR_WEIGHT`).
    precision : {"float32", "float64"}
        Arithmetic of the twin. Where the loss is flat, float32 rounding in the gradient (sums over
        thousands of pixels whose terms nearly cancel, in the backlight's synthesis) steers the solver,
        and the result depends on torch's thread count (a Dask worker's single thread against a serial
        run's two). In float64 a serial run and a Dask run agree, for the same quality at about twelve
        times the time: float64 runs the PU21 term through torch's autograd, float32 through the numba
        pass of the module docstring (held-out images on ``fald-1080p-576``, λ = 0: 41.31 against
        41.32 dB, 2.2 s against 0.18 s a frame, medians). The CNN start is then computed on one thread, as its float32
        convolutions vary with the thread count in the last bits. Rounding is also part of the
        frame-to-frame jitter on still pictures under grain: on ``builtin:grain`` with ``fald-1080p-576``
        float64 cuts it from 0.13 to 0.076 (RMS LED level), where the optimum itself moves with the
        grain; for video use ``anchor``.
    start : {"both", "max", "cnn"}
        The frames descended from: the ``max`` heuristic, the shipped CNN's frame at ``power_weight``
        (projected onto the power cap), or both, keeping the lower final loss (default; see the module
        docstring for why and what it gains).
    """
    return optimize_leds(panel, target, power_weight=power_weight, steps=steps, size=size, tol=tol,
                         power_budget=power_budget, anchor=anchor, anchor_weight=anchor_weight,
                         precision=precision, start=start).leds


optimal.validates_target = True   # the twin's resample (its first pass over the target) rejects NaN/Inf/negative values
