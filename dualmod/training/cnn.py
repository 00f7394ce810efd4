# SPDX-License-Identifier: BSD-3-Clause
"""Training the ``cnn`` dimming model through the differentiable display (``dualmod train-cnn``).

Loss, per sample, on the torch twin of a training panel at half its resolution, continuous LCD,
no LED quantisation (the :mod:`~dualmod.dimming.optimal` objective):

    f = mean_pixels((PU21(Y_shown) − PU21(Y_target)) / 256)²  +  (λ + 3e-6) · mean(L)

(3e-6, ``TIE_LAMBDA``, picks the dimmer of equally good backlights) with λ drawn per sample (0 with
probability 0.25, else log-uniform in [3e-5, 1e-2]) and fed to the network as its control input.
The batch minimises the mean of log(f + 1e-6): each sample's minimiser is the same as f's, but the
samples weigh alike. With the mean of f itself, a sample at λ = 0.01
(f ≈ 3e-3, mostly power) outweighed one at λ = 0 (f ≈ 1e-5) three hundred times, so the quality end of
the control range was hardly trained (PU21-PSNR 45.8 dB against 52.5 dB with the log, after 1500
steps, on held-out crops; the log is also what a mean PSNR averages).

Panels: 270 × 480 pixels, a fresh one each step, drawn from a seeded family — grid and hex layouts
of 6–37 LED rows, Gaussian and two-Gaussian PSFs of 0.5–1.6 LED pitches, zero and mirror
boundaries, LCD contrast 100–5000, peak 300–4000 cd/m² — and, for a quarter of the steps, one of
the white built-in profiles scaled to that size, so the model generalises beyond the built-in
profiles and still sees them. Images: the ``train`` rows of ``SPLIT.csv`` (the ``test`` images are
never read) plus the procedural scenes, augmented as in Duan et al. (2022): random crops at scales
0.3–1, horizontal and vertical flips, 90° rotations, colour channel permutations, and random
exposure (log-average luminance 5–150 cd/m², re-drawn until at least 5 % of pixels lie between 1 %
of peak and peak), then clipped to the panel's peak.

Seeded and reproducible (one process, 2 threads); writes a loss log (CSV) and shows progress.
Exact commands for the shipped weights (53 + 5.5 min on 2 cores)::

    dualmod train-cnn --data ../shared/data/hdr --out base --steps 8000 --seed 0
    dualmod train-cnn --data ../shared/data/hdr --init base --distill-groups 200 --steps 400 --lr 5e-4 \
        --seed 0 --out dualmod/dimming/weights

The second stage distils ``optimal`` (:func:`optimal_bank`, ``distill_weight`` 10): on the held-out images
it brought the network 0.14–0.31 dB closer to ``optimal``'s curve on ``sim2-hdr47`` and 0.05–0.50 dB on
``fald-1080p-576`` than the same 400 steps without the distillation term (see the README). The paragraph
below measured the first stage.

Training longer paid up to 8000 steps: the same run with 4000 steps reached 37.36 dB at ``max``'s power
on the held-out images on ``fald-1080p-576`` (8000 steps: 38.32 dB) and none of ``max``'s 28.97 dB on
``sim2-hdr47`` (8000 steps: 30.31 dB; both measured before the network's input was taken at the training
size). Beyond that it did not: 11 000 steps (seed 0, 44 min) against the shipped 8000, on the held-out
images, gave 0.0–0.2 dB more on ``sim2-hdr47`` (31.41 against 31.21 dB at λ = 0.001, at less power;
30.87 against 30.84 dB at ``max``'s power) and 0.3–1.3 dB less on ``fald-1080p-576`` (38.55 against
38.89 dB at ``max``'s power; 34.96 against 36.22 dB at λ = 0.01). Continuing the shipped model for 600
steps at lr 5e-4 (built-in share 0.25 or 0.5) did much the same (``sim2-hdr47`` +0.1–0.3 dB,
``fald-1080p-576`` −0.3 to +0.2 dB), and averaging the 8000- and 11 000-step networks' outputs landed
between them.
"""

from __future__ import annotations

import csv
import math
import sys
import time
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..dimming.cnn import TRAINING_SIZE
from ..imaging.colour import luminance
from ..panel import Panel

__all__ = ["training_panels", "ImagePool", "train_cnn", "panel_family", "batch_loss", "scaled_panel", "optimal_bank"]

PANEL_H, PANEL_W = TRAINING_SIZE      # the network computes its input at this size too
#: The per-sample objective is log(loss + LOG_FLOOR): 1e-6 is a PU21-PSNR of 60 dB.
LOG_FLOOR = 1e-6
#: The white built-in profiles (scaled to the training size) make this share of the training panels.
WHITE_BUILTINS = ("fald-1080p-576", "sim2-hdr47", "miniled-4k-2304", "brightside-dr37p")
BUILTIN_SHARE = 0.25
#: The loss simulates the display at this fraction of the training panel's resolution.
TWIN_SCALE = 0.5
#: Added to every sample's λ in the loss (not to the control input): at λ = 0 the loss is flat wherever
#: the LCD can compensate, and the network's LEDs there drifted up (mean level 0.49 against the
#: optimiser's 0.34 on the held-out images); this breaks the tie towards the dimmer backlight.
TIE_LAMBDA = 3e-6


def panel_family(rng: np.random.Generator) -> Panel:
    """One random training panel (see the module docstring)."""
    if rng.random() < BUILTIN_SHARE:
        return scaled_builtin(str(rng.choice(WHITE_BUILTINS)))
    layout = "grid" if rng.random() < 0.6 else "hex"
    rows = int(rng.choice([6, 9, 12, 18, 24, 30, 37]))
    cols = max(2, round(rows * 16 / 9 * rng.uniform(0.9, 1.1)))
    pitch = math.sqrt(PANEL_H * PANEL_W / (rows * cols))
    rel = float(np.exp(rng.uniform(np.log(0.5), np.log(1.6))))
    if rng.random() < 0.6:
        psf = {"model": "gaussian", "sigma": rel * pitch}
    else:
        w0 = float(rng.uniform(0.6, 0.85))
        psf = {"model": "gaussian_mixture", "weights": [w0, 1 - w0], "sigmas": [rel * pitch, rel * pitch * 3]}
    if rng.random() < 0.5:
        psf.update(boundary="mirror", edge_reflectance=float(rng.uniform(0.3, 0.9)))
    else:
        psf["boundary"] = "zero"
    contrast = float(np.exp(rng.uniform(np.log(100), np.log(5000))))
    peak = float(np.exp(rng.uniform(np.log(300), np.log(4000))))
    data = {"panel": {"name": "train", "width": PANEL_W, "height": PANEL_H, "peak_nits": round(peak, 1)},
            "leds": {"layout": layout, "rows": rows, "cols": cols, "bit_depth": 12, "response": "linear"},
            "psf": psf,
            "lcd": {"response": "gamma", "gamma": 2.2, "bit_depth": 8, "contrast_ratio": round(contrast, 1)}}
    return Panel.from_dict(data, source="<training panel>")


@lru_cache(maxsize=None)
def scaled_builtin(name: str) -> Panel:
    """A built-in profile at the training size (all built-ins are 16:9)."""
    return scaled_panel(Panel.load(name))


def scaled_panel(panel: Panel) -> Panel:
    """``panel`` at the training size, PSF widths scaled with it: the same display in LED pitches.

    Raises
    ------
    ValueError
        For what the training cannot represent: an RGB backlight, an LED layout given as
        positions, a PSF other than ``gaussian``/``gaussian_mixture``, or an aspect ratio other than 16:9.
    """
    import dataclasses

    why = ("it has an RGB backlight (train on white ones)" if panel.leds.channels != 1 else
           "its LEDs are placed by 'positions' (grid or hex only)" if panel.leds.layout not in ("grid", "hex") else
           f"its PSF is {panel.psf.model!r} (gaussian or gaussian_mixture only)"
           if panel.psf.model not in ("gaussian", "gaussian_mixture") else
           f"it is {panel.width} x {panel.height}, not 16:9" if abs(panel.width * PANEL_H / (panel.height * PANEL_W) - 1) > 0.02
           else None)
    if why:
        raise ValueError(f"panel {panel.name!r} cannot be scaled to the {PANEL_W} x {PANEL_H} training size: {why}")
    s = PANEL_W / panel.width
    psf = dataclasses.replace(panel.psf, sigma=panel.psf.sigma * s, sigmas=tuple(v * s for v in panel.psf.sigmas))
    return panel.replace(width=PANEL_W, height=PANEL_H, psf=psf)


def training_panels(count: int, seed: int) -> list[Panel]:
    rng = np.random.default_rng(seed)
    return [panel_family(rng) for _ in range(count)]


def split_files(data_dir, split: str) -> list[Path]:
    """Image files of one split (``train`` or ``test``) from ``SPLIT.csv`` in ``data_dir``."""
    from ..imaging.inputs import read_split

    return [Path(data_dir) / f for f, s in read_split(data_dir).items() if s == split]


class ImagePool:
    """Training images held at most 960 px wide, and the augmented targets drawn from them."""

    def __init__(self, files, *, scenes: bool = True, max_side: int = 960):
        import cv2

        from ..errors import ImageSanitizedWarning
        from ..imaging.io import read_image
        from ..imaging.scenes import SCENES, scene

        self.images = []
        for f in files:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ImageSanitizedWarning)   # a few negative pixels: set to 0
                img = read_image(f)
            s = max_side / max(img.shape[:2])
            if s < 1:
                img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
            self.images.append(np.ascontiguousarray(img, np.float32))
        if scenes:
            self.images += [scene(name, 540, 960).astype(np.float32) for name in SCENES]
        if not self.images:
            raise ValueError("no training images")

    def draw(self, rng: np.random.Generator, panel: Panel) -> np.ndarray:
        """One augmented target (PANEL_H, PANEL_W, 3) in cd/m², clipped to the panel peak."""
        import cv2

        img = self.images[int(rng.integers(len(self.images)))]
        rotate = rng.random() < 0.25
        aspect = PANEL_H / PANEL_W if not rotate else PANEL_W / PANEL_H     # crop height / width
        h, w = img.shape[:2]
        ch_max, cw_max = (h, h / aspect) if h / aspect <= w else (w * aspect, w)
        s = float(rng.uniform(0.3, 1.0))
        ch, cw = max(8, int(ch_max * s)), max(8, int(cw_max * s))
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = img[y0:y0 + ch, x0:x0 + cw]
        if rotate:
            crop = np.rot90(crop, k=int(rng.choice([1, 3])))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if rng.random() < 0.2:
            crop = crop[::-1]
        crop = crop[..., rng.permutation(3)]
        out = cv2.resize(np.ascontiguousarray(crop), (PANEL_W, PANEL_H), interpolation=cv2.INTER_AREA)
        out = np.maximum(out, 0.0)
        lum = luminance(out)
        logavg = float(np.exp(np.mean(np.log(lum + 1e-6))))
        peak = panel.peak_nits
        for _ in range(8):
            key = float(np.exp(rng.uniform(np.log(5.0), np.log(150.0))))
            scaled = lum * (key / max(logavg, 1e-6))
            if np.mean((scaled > 0.01 * peak) & (scaled < peak)) >= 0.05:
                break
        return np.minimum(out * (key / max(logavg, 1e-6)), peak).astype(np.float32)


def _draw_lambda(rng: np.random.Generator) -> float:
    return 0.0 if rng.random() < 0.25 else float(np.exp(rng.uniform(np.log(3e-5), np.log(1e-2))))


def batch_loss(model, panel: Panel, twin, targets: list, lams, teacher=None, distill_weight: float = 0.0):
    """The training loss of a batch (see the module docstring): (loss, PU21 MSE per sample, mean level per sample).

    ``teacher``: LED frames (B, N) to distil (``optimal``'s, from :func:`optimal_bank`); the loss then adds
    ``distill_weight`` × mean((L − teacher)²).
    """
    import torch

    from ..dimming.cnn import features
    from ..imaging.colour import REC709_LUMINANCE
    from ..metrics.pu21 import pu21_encode_torch

    lams = np.asarray(lams, np.float32)
    feats = [features(panel, t, lam) for t, lam in zip(targets, lams)]
    x = torch.from_numpy(np.stack([f[0] for f in feats]))
    base = torch.from_numpy(np.stack([f[1] for f in feats]))[:, None]
    leds = model.sample(panel, model.net(x, base))                      # (B, N)
    wl = torch.as_tensor(REC709_LUMINANCE, dtype=torch.float32)
    with torch.no_grad():
        t = twin.resample(torch.from_numpy(np.stack(targets)))
        v_target = pu21_encode_torch(t @ wl)
    out = twin(leds, t, quantize_leds=False, lcd="continuous")
    err = (pu21_encode_torch(out["displayed"] @ wl) - v_target) / 256.0
    mse = (err * err).mean(dim=(1, 2))
    level = leds.mean(dim=1)
    loss = torch.log(mse + (torch.from_numpy(lams) + TIE_LAMBDA) * level + LOG_FLOOR).mean()
    if teacher is not None and distill_weight > 0:
        loss = loss + distill_weight * ((leds - torch.as_tensor(teacher, dtype=leds.dtype)) ** 2).mean()
    return loss, mse, level


def optimal_bank(pool: "ImagePool", groups: int, *, seed: int = 0, batch: int = 8, panel: Panel | None = None,
                 twin_scale: float | None = None, init: str | None = None, progress: bool = True) -> list[dict]:
    """Teacher frames for distillation: ``groups`` training panels (the family's, or ``panel`` scaled to the
    training size), each with ``batch`` augmented targets and random λ as in training, and ``optimal``'s LED
    frame for each, solved on the training twin's grid at λ + :data:`TIE_LAMBDA` (the training loss's optimum;
    about 0.2 s a target on 2 cores). ``init`` names the model training starts from, as ``train-cnn --init``
    does (``"shipped"`` or a ``--out`` folder): ``optimal`` then descends from the ``max`` heuristic and from
    that model's frame and keeps the better (``start="both"`` with that network), so the bank depends on the
    starting model, not on which model ships; without ``init`` (a fresh network) from ``max`` alone. Seeded;
    a list of dicts (panel, targets (B, H, W, 3) float32, lams, leds (B, N))."""
    from ..dimming.optimal import optimize_leds

    start = "max" if init is None else "both"
    weights = None if init in (None, "shipped") else str(init)

    rng = np.random.default_rng([seed, 2])
    panel_rng = np.random.default_rng([seed, 3])
    ts = TWIN_SCALE if twin_scale is None else float(twin_scale)
    size = (round(PANEL_H * ts), round(PANEL_W * ts))
    fixed = scaled_panel(panel) if panel is not None else None
    bank, t0 = [], time.perf_counter()
    for g in range(groups):
        p = fixed if fixed is not None else panel_family(panel_rng)
        targets = np.stack([pool.draw(rng, p) for _ in range(batch)])
        lams = np.array([_draw_lambda(rng) for _ in range(batch)], np.float32)
        leds = np.stack([optimize_leds(p, t, power_weight=float(lam) + TIE_LAMBDA, size=size, start=start,
                                       cnn_weights=weights).leds for t, lam in zip(targets, lams)])
        bank.append({"panel": p, "targets": targets, "lams": lams, "leds": leds.astype(np.float32)})
        if progress:
            eta = (time.perf_counter() - t0) / (g + 1) * (groups - g - 1)
            print(f"\rteacher frames (optimal): {g + 1}/{groups} groups, eta {eta:4.0f} s", end="", file=sys.stderr,
                  flush=True)
    if progress:
        print(file=sys.stderr)
    return bank


def train_cnn(pool: ImagePool, *, steps: int = 8000, batch: int = 8, panels: int | None = None, seed: int = 0,
              lr: float = 2e-3, width: int = 24, deep: int = 48, log_path=None, progress: bool = True,
              model=None, fixed_lambda: float | None = None, twin_scale: float | None = None,
              panel: Panel | None = None, bank: list | None = None, distill_weight: float = 0.0):
    """Train a :class:`~dualmod.dimming.cnn.CnnModel`; returns (model, loss history as a list of dicts).

    ``panels``: None draws a fresh panel from :func:`panel_family` for every step; a number trains on
    that many panels drawn once (tests). ``panel``: train on that one display (at the training size,
    :func:`scaled_panel`), to fine-tune a ``model`` for it. ``fixed_lambda`` replaces the random power
    weights (tests); ``model`` continues training one (in place). ``bank`` (from :func:`optimal_bank`): every
    step trains on one of its groups (panel, targets, λ) instead of drawing them, adding ``distill_weight`` ×
    mean((L − optimal's L)²) to the loss.
    """
    import torch

    from ..dimming.cnn import CnnModel
    from ..display.torch_model import TorchDisplay

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = model or CnnModel(width=width, deep=deep)
    net = model.net
    # NCHW, as the shipped weights were trained: a loaded model (--init) comes channels-last for inference,
    # and oneDNN's NHWC convolutions round differently, so a seeded fine-tune would not be reproduced
    net.to(memory_format=torch.contiguous_format)
    net.train()
    if panel is not None and panels is not None:
        raise ValueError("give panels (a drawn family) or panel (one display), not both")
    if bank is not None and not bank:
        raise ValueError("bank is empty")
    fam = training_panels(panels, seed) if panels is not None else [scaled_panel(panel)] if panel is not None else None
    panel_rng = np.random.default_rng([seed, 1])
    ts = TWIN_SCALE if twin_scale is None else float(twin_scale)
    if not 0 < ts <= 1:
        raise ValueError(f"twin_scale must lie in (0, 1], got {ts}")
    twin_of = lru_cache(maxsize=8)(lambda p: TorchDisplay(p, size=(round(PANEL_H * ts), round(PANEL_W * ts))))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    # one-cycle needs a warm-up and an anneal phase of a few steps each: below 10 steps (tests, smoke runs) lr is constant
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=max(0.05, 3.0 / steps))
             if steps >= 10 else None)
    history = []
    log_f = open(log_path, "w", newline="") if log_path else None
    writer = csv.writer(log_f) if log_f else None
    if writer:
        writer.writerow(["step", "loss", "pu21_mse", "mean_level", "seconds"])
    t0 = time.perf_counter()
    run_loss = None
    try:
        for step in range(steps):
            teacher = None
            if bank is not None:
                group = bank[int(rng.integers(len(bank)))]
                p, targets, lams, teacher = group["panel"], list(group["targets"]), group["lams"], group["leds"]
            else:
                p = fam[int(rng.integers(len(fam)))] if fam is not None else panel_family(panel_rng)
                targets = [pool.draw(rng, p) for _ in range(batch)]
                lams = np.array([_draw_lambda(rng) if fixed_lambda is None else fixed_lambda for _ in range(batch)],
                                np.float32)
            twin = twin_of(p)
            loss, mse, level = batch_loss(model, p, twin, targets, lams, teacher, distill_weight)
            opt.zero_grad()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss is {float(loss)} at step {step}")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            if sched is not None:
                sched.step()
            rec = {"step": step, "loss": float(loss.detach()), "pu21_mse": float(mse.detach().mean()),
                   "mean_level": float(level.detach().mean()),
                   "seconds": time.perf_counter() - t0}
            history.append(rec)
            run_loss = rec["loss"] if run_loss is None else 0.98 * run_loss + 0.02 * rec["loss"]
            if writer:
                writer.writerow([rec["step"], f"{rec['loss']:.6g}", f"{rec['pu21_mse']:.6g}",
                                 f"{rec['mean_level']:.4f}", f"{rec['seconds']:.1f}"])
            if progress and (step % 10 == 0 or step == steps - 1):
                done = (step + 1) / steps
                bar = "#" * int(30 * done)
                eta = rec["seconds"] / (step + 1) * (steps - step - 1)
                print(f"\r[{bar:<30}] {step + 1}/{steps} loss {run_loss:.5f} eta {eta:5.0f} s", end="",
                      file=sys.stderr, flush=True)
    finally:
        if log_f:
            log_f.close()
        if progress:
            print(file=sys.stderr)
    net.eval()
    return model, history
