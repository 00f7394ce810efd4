# SPDX-License-Identifier: BSD-3-Clause
"""The LCD: response, leakage, compensation and the image shown (DESIGN.md §3 steps 3–5).

With leakage ε = 1 / contrast_ratio, M = 2**bit_depth − 1 and f the LCD
response (:mod:`dualmod.display.response`):

- effective transmittance of code v: τ(v) = ε + (1 − ε)·f(v / M)
- compensation (what the controller sends for target T over backlight B):
  t = clip((T/B − ε)/(1 − ε), 0, 1), code = round(f⁻¹(t)·M) (half up),
  code 0 where B = 0
- displayed image: D = B·τ(code) + E_amb·k_refl/π

The kernels never call ``pow``. For ``gamma`` responses (γ ≥ 0.8) a
vectorised kernel computes codes with polynomial log2/exp2 (relative error
~1e-6, measured per model as ``x_error``): a code may differ from the exact round-half-up by one
only where t lies within γ·x_error (≈ 4e-6 relative) of a rounding tie —
far below one code step at any bit depth. Other
responses search the threshold table from a bit-pattern-indexed bucket table
and give exactly :meth:`dualmod.display.response.Response.quantize` of the
kernel's float32 t.

Examples
--------
>>> import numpy as np, dualmod as dm
>>> panel = dm.Panel.load("fald-1080p-576")
>>> model = lcd_model(panel)
>>> bool(model.tau[0] == np.float32(1 / panel.lcd.contrast_ratio))
True
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..panel import Panel
from . import _kernels
from ._fastmath import invalid_values_error, pow_coefs
from .response import Response

__all__ = ["LcdModel", "lcd_model", "compensate", "show", "transmittance"]


class LcdModel:
    """Tables of one panel's LCD (cached per panel by :func:`lcd_model`).

    Attributes
    ----------
    response : Response
    leakage : float
        ε = 1 / contrast_ratio.
    tau : ndarray of shape (M + 1,), float32
        τ(v) for every code v.
    tau64 : ndarray of shape (M + 1,), float64
    ambient_nits : float
        Reflected ambient E_amb·k_refl/π in cd/m².
    """

    def __init__(self, panel: Panel):
        spec = panel.lcd
        self.response = Response(spec.response, spec.bit_depth, gamma=spec.gamma, lut=spec.lut)
        self.leakage = 1.0 / spec.contrast_ratio
        self.tau64 = self.leakage + (1.0 - self.leakage) * self.response.levels
        self.tau = self.tau64.astype(np.float32)
        self.ambient_nits = panel.ambient_nits
        self.thresholds = np.ascontiguousarray(self.response.thresholds_f32)
        self.bucket_shift, self.bucket_base, self.bucket_code = self._buckets()
        self.gamma_kernel = self._gamma_kernel_params()

    def _buckets(self) -> tuple[int, int, np.ndarray]:
        """Index table over the float32 bits of t: bucket j covers t in [start_j, start_{j+1}).

        Buckets are 2**-k wide relative to t (k mantissa bits kept), from the
        octave below the first non-zero threshold up to 1. k is the smallest
        value (≤ 14) for which no bucket holds more than one threshold.
        """
        th = self.thresholds[:-1].astype(np.float64)
        positive = th[th > 0]
        tmin = float(positive[0]) / 2 if positive.size else 0.5
        lo_bits = int(np.array([tmin], np.float32).view(np.int32)[0])
        one_bits = int(np.array([1.0], np.float32).view(np.int32)[0])
        for k in range(4, 15):
            shift = 23 - k
            base = lo_bits >> shift
            nb = (one_bits >> shift) - base + 1
            starts = (((np.arange(nb, dtype=np.int64) + base) << shift).astype(np.int32)
                      .view(np.float32).astype(np.float64))
            starts[0] = 0.0
            code = np.searchsorted(th, starts, side="right")
            per_bucket = np.diff(np.append(code, th.size))
            if per_bucket.max(initial=0) <= 1:
                break
        return shift, base, code.astype(np.uint16)

    def _gamma_kernel_params(self) -> tuple[float, np.ndarray] | None:
        """(x_error, coefs) for the vectorised gamma kernel, or None where it would not be accurate.

        x_error: the largest |x_kernel − M·t**(1/γ)| / (M·t**(1/γ)) measured
        over float32 t from 1e-12 to 1 (the kernel's relative rounding noise).
        coefs: :func:`~dualmod.display._fastmath.pow_coefs` of 1/γ, then the
        coefficients s0 … s4 of the least-squares (Chebyshev-node) fit of
        ((1 + u)**γ − 1)/u on −0.2 ≤ u ≤ 1/3 (codes ≥ 2), accepted if
        1 + u·s(u) is within 1e-6 relative of (1 + u)**γ there. γ < 0.8 is
        refused: t = 1e-30 would need 2**y below the normal range.
        """
        r = self.response
        if r.kind != "gamma" or r.gamma < 0.8:
            return None
        g, m = r.gamma, r.max_code
        nodes = np.cos(np.linspace(0.0, np.pi, 2001))
        lo, hi = -0.2, 1.0 / 3.0
        u = (nodes * (hi - lo) + (hi + lo)) / 2
        u = u[np.abs(u) > 1e-6]
        s = np.polynomial.Chebyshev.fit(u, np.expm1(g * np.log1p(u)) / u, 4).convert(
            kind=np.polynomial.Polynomial).coef
        coefs = np.concatenate([pow_coefs(1.0 / g), s])
        t = np.concatenate([np.geomspace(1e-12, 1.0, 100_001), np.linspace(1e-6, 1.0, 100_001)]).astype(np.float32)
        x = _kernels.gamma_code_x(t, coefs, m).astype(np.float64)
        exact = m * t.astype(np.float64) ** (1.0 / g)
        x_error = float(np.max(np.abs(x / exact - 1)))
        uu = np.linspace(lo, hi, 4001)
        series = 1 + uu * np.polynomial.polynomial.polyval(uu, s)
        if x_error > 5e-6 or np.max(np.abs(series / (1 + uu) ** g - 1)) > 1e-6:
            return None
        return x_error, coefs

    def compensate(self, target: np.ndarray, backlight: np.ndarray, codes: np.ndarray | None = None,
                   displayed: np.ndarray | None = None, *, exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Codes and displayed image for float32 target (H, W, 3) over backlight (H, W, Cb).

        Raises :class:`~dualmod.errors.InputError` if the target holds NaN,
        Inf or negative values (checked inside the kernel's single pass).

        ``exact=True`` forces the threshold-search kernel (bit-exact
        round-half-up) instead of the vectorised gamma kernel.
        """
        shape = target.shape
        if codes is None or codes.shape != shape or codes.dtype != np.uint16:
            codes = np.empty(shape, np.uint16)
        if displayed is None or displayed.shape != shape or displayed.dtype != np.float32:
            displayed = np.empty(shape, np.float32)
        invalid = np.empty(shape[0], np.int32)
        if self.gamma_kernel is not None and not exact:
            _kernels.lcd_compensate_gamma(target, backlight, self.leakage, self.response.gamma,
                                          self.response.max_code, self.gamma_kernel[1], self.ambient_nits,
                                          codes, displayed, invalid)
        else:
            _kernels.lcd_compensate(target, backlight, self.leakage, self.thresholds, self.bucket_code,
                                    self.bucket_shift, self.bucket_base, self.tau, self.ambient_nits, codes,
                                    displayed, invalid)
        if invalid.any():
            raise invalid_values_error(target)
        return codes, displayed

    def show(self, codes: np.ndarray, backlight: np.ndarray, displayed: np.ndarray | None = None) -> np.ndarray:
        """Displayed image (H, W, 3) float32 for given codes over backlight (H, W, Cb)."""
        if displayed is None or displayed.shape != codes.shape or displayed.dtype != np.float32:
            displayed = np.empty(codes.shape, np.float32)
        _kernels.lcd_show(codes, backlight, self.tau, self.ambient_nits, displayed)
        return displayed


@lru_cache(maxsize=16)
def lcd_model(panel: Panel) -> LcdModel:
    """The (cached) :class:`LcdModel` of a panel."""
    return LcdModel(panel)


def _as_hwc(backlight: np.ndarray) -> np.ndarray:
    b = np.ascontiguousarray(backlight, dtype=np.float32)
    return b[..., None] if b.ndim == 2 else b


def transmittance(panel: Panel, codes) -> np.ndarray:
    """τ(code) = ε + (1 − ε)·f(code/M) for integer codes, float32."""
    return lcd_model(panel).tau[np.asarray(codes, dtype=np.int64)]


def compensate(panel: Panel, target: np.ndarray, backlight: np.ndarray) -> np.ndarray:
    """LCD codes (H, W, 3) uint16 that best reproduce ``target`` (nits) over ``backlight`` (nits)."""
    t = np.ascontiguousarray(target, dtype=np.float32)
    return lcd_model(panel).compensate(t, _as_hwc(backlight))[0]


def show(panel: Panel, codes: np.ndarray, backlight: np.ndarray) -> np.ndarray:
    """The image shown, D = B·τ(code) + E_amb·k_refl/π, (H, W, 3) float32 nits."""
    return lcd_model(panel).show(np.ascontiguousarray(codes, dtype=np.uint16), _as_hwc(backlight))
