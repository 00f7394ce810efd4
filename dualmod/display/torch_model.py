# SPDX-License-Identifier: BSD-3-Clause
"""The torch twin of the forward model: differentiable in the LED levels, batched.

:class:`TorchDisplay` evaluates DESIGN.md §3 on any sample grid — the full
pixel grid, or a reduced one (``size=(270, 480)``) whose pixel centres are
mapped to full-panel coordinates, x = (j + ½)·W/W' − ½. The PSF is evaluated
at those points, not rescaled, so a reduced model is a point-sampled version
of the full one (what solvers and training need).

Quantisation is optional and differentiable by straight-through estimation:
the forward value is quantised, the gradient is that of the continuous model.
In the continuous LCD model the displayed image is simply
D = clamp(T, ε·B, B) + ambient.

Examples
--------
>>> import torch, dualmod as dm
>>> panel = dm.Panel.load("fald-1080p-576")
>>> disp = TorchDisplay(panel, size=(135, 240))
>>> leds = torch.full((1, panel.n_leds), 0.5, requires_grad=True)
>>> target = torch.full((1, 135, 240, 3), 300.0)
>>> out = disp(leds, target)
>>> out["displayed"].shape
torch.Size([1, 135, 240, 3])
>>> out["displayed"].mean().backward(); leds.grad.shape
torch.Size([1, 576])
"""

from __future__ import annotations

import numpy as np
import torch

from ..panel import Panel
from .backlight import backlight_model, led_response
from .lcd import lcd_model

__all__ = ["TorchDisplay"]


class TorchDisplay(torch.nn.Module):
    """Differentiable display model of a panel on a (possibly reduced) sample grid.

    Parameters
    ----------
    panel : Panel
    size : (int, int), optional
        (height, width) of the sample grid; default the panel resolution.
    dtype : torch.dtype
        float32 (default) or float64.
    """

    def __init__(self, panel: Panel, size: tuple[int, int] | None = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.panel = panel
        h, w = size if size is not None else (panel.height, panel.width)
        self.size = (int(h), int(w))
        self.dtype = dtype
        self.channels = panel.leds.channels
        model = backlight_model(panel)  # shared, cached geometry: vleds, PSF, normalisation
        v = model.vleds
        xs = (np.arange(w) + 0.5) * panel.width / w - 0.5
        ys = (np.arange(h) + 0.5) * panel.height / h - 0.5
        f = dict(dtype=dtype)
        if model.psf.terms is not None:
            # Separable PSF terms: B_k(y, x) = Σ_r gy_k(y − y_r)·Σ_{LED i in row r} l_i·gx_k(x − x_i). The
            # virtual LEDs (mirror images included) are laid out in rows of m places, padded with zero weight,
            # so that the row sums of all terms are one batched matrix product (one small product per row)
            # and the column spread one more, with no scatter. On sim2-hdr47 (6038 virtual LEDs in 69 rows of
            # 87–88) a loss-and-gradient's backlight takes 0.55 against 2.9 ms on a 90 × 160 grid (float32).
            # A row longer than m is split into sub-rows (each repeats its row's vertical profile). The work,
            # and the table's size with it, goes as (sub-rows)·(H' + m), which m minimises: a grid or hex layout
            # keeps its rows (m = the longest), while a ``positions`` layout of mostly lone LEDs and one long
            # row (960 LEDs, 40 of them sharing one y) splits that row instead of padding every other one to 40
            # places (a 38× larger table).
            self.separable = True
            tables, nterms = model.tables, len(model.psf.terms)
            row_y, row_ptr, order = tables["row_y"], tables["row_ptr"], tables["row_members"]  # LEDs row by row
            count = np.diff(row_ptr)
            m = int(max(np.unique(count), key=lambda c: (-int(np.sum(-(-count // c))) * (h + c), c)))
            pieces = -(-count // m)                                  # sub-rows of each row
            place = np.arange(order.size) - np.repeat(row_ptr[:-1], count)               # within its row
            sub = np.repeat(np.cumsum(pieces) - pieces, count) + place // m
            nr = int(pieces.sum())
            slot = np.full((nr, m), -1, np.int64)                    # virtual LED of each (sub-row, place), −1: pad
            slot[sub, place % m] = order
            sub_y = np.repeat(row_y, pieces)
            real, vi = slot >= 0, np.maximum(slot, 0)
            # (sub-rows, places, terms, W), in the twin's dtype (the profiles are evaluated in float64, rounded once)
            npd = torch.empty((), dtype=dtype).numpy().dtype
            gx = np.zeros((nr, m, nterms, w), npd)
            gy = np.zeros((h, nterms, nr))
            # each distinct LED x (a grid's columns, mirror images included) once, in blocks, so that the float64
            # temporaries stay small (sim2-hdr47 at 1080p: 176 of 6038; 2.3 s and 386 MB at peak before)
            ux, ui = np.unique(v.x, return_inverse=True)
            for k, t in enumerate(model.psf.terms):
                prof = np.empty((ux.size, w), npd)
                for a in range(0, ux.size, 256):
                    dx = xs[None, :] - ux[a:a + 256, None]
                    prof[a:a + 256] = np.where(np.abs(dx) <= t.radius, t.weight * model.scale * t.profile(dx), 0.0)
                gx[:, :, k] = prof[ui[vi]]
                dy = ys[:, None] - sub_y[None, :]
                gy[:, k] = np.where(np.abs(dy) <= t.radius, t.profile(dy), 0.0)
            # a pad slot reads LED 0 at zero weight, so its gx columns (those of LED 0's x) add nothing
            self.register_buffer("src", torch.as_tensor(np.where(real, v.src[vi], 0), dtype=torch.long))  # (nr, m)
            self.register_buffer("vweight", torch.as_tensor(np.where(real, v.weight[vi], 0.0), **f))
            self.register_buffer("gx", torch.as_tensor(gx.reshape(nr, m, nterms * w), **f))
            self.register_buffer("gy", torch.as_tensor(gy.reshape(h, nterms * nr), **f))
            self.nterms = nterms
        else:
            self.separable = False
            self.register_buffer("src", torch.as_tensor(v.src, dtype=torch.long))
            self.register_buffer("vweight", torch.as_tensor(v.weight, **f))
            rows, cols, vals = [], [], []
            r = model.psf.radius
            for i in range(len(v)):
                jx = np.nonzero(np.abs(xs - v.x[i]) <= r + 1)[0]
                jy = np.nonzero(np.abs(ys - v.y[i]) <= r + 1)[0]
                if jx.size == 0 or jy.size == 0:
                    continue
                val = model.scale * model.psf.evaluate_flipped(xs[jx][None, :] - v.x[i], ys[jy][:, None] - v.y[i],
                                                                bool(v.flip_x[i]), bool(v.flip_y[i]))
                yy, xx = np.nonzero(val)
                rows.append((jy[yy] * w + jx[xx]).astype(np.int64))
                cols.append(np.full(yy.size, i, np.int64))
                vals.append(val[yy, xx])
            idx = torch.as_tensor(np.stack([np.concatenate(rows), np.concatenate(cols)]))
            mat = torch.sparse_coo_tensor(idx, torch.as_tensor(np.concatenate(vals), **f), (h * w, len(v)),
                                          check_invariants=True)
            self.register_buffer("psf_matrix", mat.coalesce())
        lresp = led_response(panel)
        self.register_buffer("led_thresholds", torch.tensor(lresp.thresholds, dtype=torch.float64))
        self.register_buffer("led_levels", torch.tensor(lresp.levels, **f))
        lcd = lcd_model(panel)
        self.leakage = lcd.leakage
        self.ambient = lcd.ambient_nits
        self.register_buffer("lcd_thresholds", torch.tensor(lcd.response.thresholds, dtype=torch.float64))
        self.register_buffer("tau", torch.tensor(lcd.tau64, **f))

    # ------------------------------------------------------------------------
    def _levels(self, leds: torch.Tensor) -> torch.Tensor:
        """(B, N, C) from (N,), (N, 1), (B, N) or (B, N, 1) on white panels; (N,), (N, 3) or (B, N, 3) on RGB."""
        n = self.panel.n_leds
        if leds.dim() == 1:
            leds = leds[None, :, None]
        elif leds.dim() == 2:
            white_batch = self.channels == 1 and leds.shape[1] == n
            leds = leds[:, :, None] if white_batch else leds[None]
        if leds.dim() != 3 or leds.shape[1] != n or leds.shape[2] not in (1, self.channels):
            raise ValueError(f"expected LED levels for {n} LEDs x {self.channels} channels, "
                             f"got shape {tuple(leds.shape)}")
        if leds.shape[2] != self.channels:
            leds = leds.expand(-1, -1, self.channels)
        return leds

    def quantize_leds(self, leds: torch.Tensor) -> torch.Tensor:
        """LED drive quantisation with a straight-through gradient."""
        d = torch.bucketize(leds.detach().to(torch.float64).clamp(0, 1), self.led_thresholds, right=True)
        q = self.led_levels[d].to(leds.dtype)
        return leds + (q - leds).detach()

    def backlight(self, leds: torch.Tensor, *, quantize: bool = True) -> torch.Tensor:
        """Backlight (B, H', W', C) in nits for LED levels (B, N[, C]) in [0, 1]."""
        lv = self._levels(leds)
        if quantize:
            lv = self.quantize_leds(lv)
        lv = lv.to(self.vweight.dtype)
        bsz, nch, (h, w) = lv.shape[0], lv.shape[2], self.size
        if self.separable:
            nr, m = self.src.shape
            vl = lv[:, self.src, :] * self.vweight[None, :, :, None]                      # (B, nr, m, C)
            rows = torch.bmm(vl.permute(1, 0, 3, 2).reshape(nr, bsz * nch, m), self.gx)    # (nr, B·C, K·W)
            rows = rows.reshape(nr, bsz, nch, self.nterms, w).permute(1, 3, 0, 4, 2).reshape(bsz, -1, w * nch)
            return torch.matmul(self.gy, rows).reshape(bsz, h, w, nch)                    # (B, H, W, C)
        vl = lv[:, self.src, :] * self.vweight[None, :, None]  # (B, Nv, C)
        flat = vl.permute(1, 0, 2).reshape(vl.shape[1], -1)  # (Nv, B*C)
        img = torch.sparse.mm(self.psf_matrix, flat).reshape(h, w, bsz, self.channels)
        return img.permute(2, 0, 1, 3)

    def forward(self, leds: torch.Tensor, target: torch.Tensor | None = None, *, quantize_leds: bool = True,
                lcd: str = "quantized") -> dict:
        """Simulate; returns a dict with ``backlight`` (B, H', W', C) and, with a target,
        ``displayed`` (B, H', W', 3), ``t`` and (quantised LCD) ``codes``.

        Parameters
        ----------
        leds : Tensor of shape (N,), (B, N) or (B, N, C), values in [0, 1]
        target : Tensor of shape (H', W', 3) or (B, H', W', 3), nits
        quantize_leds : bool
            Quantise LED drive (straight-through gradient).
        lcd : {"quantized", "continuous"}
            Quantise LCD codes (straight-through) or use the ideal continuous LCD.
        """
        b = self.backlight(leds, quantize=quantize_leds)
        out = {"backlight": b}
        if target is None:
            return out
        if target.dim() == 3:
            target = target[None]
        target = target.to(b.dtype)
        eps = self.leakage
        lit = b > 0
        # b ≥ 1e-12 in the ratio: the same t (a tinier b saturates t at 1 anyway), and a finite gradient
        safe_b = torch.where(lit, b.clamp(min=1e-12), torch.ones_like(b))
        t = torch.where(lit, ((target / safe_b - eps) / (1 - eps)).clamp(0, 1), torch.zeros_like(target))
        cont = b * (eps + (1 - eps) * t) + self.ambient
        out["t"] = t
        if lcd == "continuous":
            out["displayed"] = cont
            return out
        if lcd != "quantized":
            raise ValueError(f"lcd must be 'quantized' or 'continuous', got {lcd!r}")
        codes = torch.bucketize(t.detach().to(torch.float64), self.lcd_thresholds, right=True)
        quant = b * self.tau[codes] + self.ambient
        out["codes"] = codes
        out["displayed"] = cont + (quant - cont).detach()
        return out

    def resample(self, image: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Area-average a full-resolution image (…, H, W, 3) to the sample grid.

        A single numpy image (H, W, 3), what the solvers pass on every call, is averaged by a numba
        kernel in one pass (float64 sums; 1.4–1.5 ms against 4.7–4.8 ms for torch's ``interpolate(mode="area")``
        on a 1080p target, whose windows it reproduces) into a tensor of this model's dtype. The pass checks
        every value: a NaN, infinite or negative one raises :class:`~dualmod.errors.InputError` (so the
        solvers that start here, ``optimal`` and ``cnn``'s refinement, need no scan of their own).
        """
        if isinstance(image, np.ndarray):
            from ._kernels import area_resample
            from ._fastmath import invalid_values_error

            if image.ndim != 3:
                raise ValueError(f"resample takes one (H, W, C) image as an array, got shape {image.shape}")
            image = np.ascontiguousarray(image, np.float64 if image.dtype == np.float64 else np.float32)
            out = np.empty(self.size + image.shape[2:], np.float64 if self.dtype == torch.float64 else np.float32)
            invalid = np.empty(out.shape[0], np.int32)
            area_resample(image, out, invalid, np.float64)
            if invalid.any():
                raise invalid_values_error(image)
            return torch.from_numpy(out)
        x = image if image.dim() == 4 else image[None]
        x = torch.nn.functional.interpolate(x.permute(0, 3, 1, 2), size=self.size, mode="area")
        x = x.permute(0, 2, 3, 1)
        return x if image.dim() == 4 else x[0]

