# SPDX-License-Identifier: BSD-3-Clause
"""Tone mapping for previews: Reinhard et al. (2002) global and local operators.

Reference: E. Reinhard, M. Stark, P. Shirley, J. Ferwerda, "Photographic tone reproduction for
digital images", ACM Transactions on Graphics 21(3), 2002 (SIGGRAPH). Equations cited below are
that paper's.

Both operators work on luminance (Rec. 709 weights) and keep colour ratios:
``C_d = C_w · L_d / L_w``. The result is display-referred linear RGB in [0, 1]; :func:`to_srgb8`
encodes it for a PNG. Use them to *look* at HDR images; measure with :mod:`dualmod.metrics`.

Examples
--------
>>> import numpy as np
>>> img = np.full((8, 8, 3), 10.0, np.float32)
>>> img[0, 0] = 1000.0                                   # the brightest pixel becomes white (L_white)
>>> out = reinhard_global(img)
>>> float(out[0, 0, 0]), bool(0 < out[4, 4, 0] < 1)
(1.0, True)
"""

from __future__ import annotations

import numpy as np

from .colour import luminance

__all__ = ["reinhard_global", "reinhard_local", "to_srgb8", "TONEMAPS", "log_average"]

_DELTA = 1e-6


def log_average(lum: np.ndarray) -> float:
    """Reinhard 2002 eq. 1, the log-average luminance: exp(mean(log(δ + L_w))), δ = 1e-6."""
    return float(np.exp(np.mean(np.log(_DELTA + lum, dtype=np.float64))))


def _apply(img: np.ndarray, lum: np.ndarray, ld: np.ndarray) -> np.ndarray:
    """C_d = C_w · L_d / L_w, clipped to [0, 1]."""
    ratio = np.where(lum > 0, ld / np.maximum(lum, 1e-30), 0.0)
    return np.clip(img * ratio[..., None], 0.0, 1.0).astype(np.float32)


def reinhard_global(img: np.ndarray, *, key: float = 0.18, white: float | None = None) -> np.ndarray:
    """Eqs. 2 and 4: L = a·L_w / L̄_w, L_d = L (1 + L / L_white²) / (1 + L).

    Parameters
    ----------
    img : ndarray of shape (H, W, 3)
        Linear RGB, any absolute scale (cd/m² or scene units).
    key : float
        a, the key value ("middle grey" the log average maps to).
    white : float, optional
        L_white, the smallest scaled luminance mapped to white; default the image's maximum.
    """
    img = np.asarray(img, dtype=np.float32)
    lum = luminance(img).astype(np.float64)
    scaled = key / log_average(lum) * lum
    lw = float(scaled.max()) if white is None else float(white)
    ld = scaled * (1.0 + scaled / max(lw * lw, 1e-30)) / (1.0 + scaled)
    return _apply(img, lum, ld)


def reinhard_local(img: np.ndarray, *, key: float = 0.18, phi: float = 8.0, eps: float = 0.05, scales: int = 8,
                   alpha: float = 0.35) -> np.ndarray:
    """Eqs. 5–9, automatic dodging and burning: L_d = L / (1 + V1(x, y, s_m)).

    V_i is L blurred by the Gaussian R_i of Eq. 5 (σ = α_i·s/√2, α_1 = ``alpha``, α_2 = 1.6·α_1)
    at scales s = 1.6^k (k < ``scales``); V = (V1 − V2) / (2^φ·a/s² + V1) (Eq. 7), and s_m is the
    largest scale with |V| < ε (Eq. 8), chosen per pixel.
    """
    from scipy.ndimage import gaussian_filter

    img = np.asarray(img, dtype=np.float32)
    lum = luminance(img).astype(np.float64)
    scaled = key / log_average(lum) * lum
    chosen = np.zeros_like(scaled)
    done = np.zeros(scaled.shape, bool)
    v1 = gaussian_filter(scaled, alpha / np.sqrt(2.0), mode="nearest")
    prev = v1                                    # V1 at the largest scale so far with |V| < ε
    for k in range(scales):
        s = 1.6 ** k
        v2 = gaussian_filter(scaled, 1.6 * alpha * s / np.sqrt(2.0), mode="nearest")
        v = (v1 - v2) / (2.0 ** phi * key / (s * s) + v1)
        newly = ~done & (np.abs(v) >= eps)
        chosen[newly] = prev[newly]
        done |= newly
        prev = v1
        v1 = v2                                  # the next scale's centre is this scale's surround (×1.6)
    chosen[~done] = prev[~done]
    ld = scaled / (1.0 + chosen)
    return _apply(img, lum, ld)


def to_srgb8(img: np.ndarray) -> np.ndarray:
    """Display-referred linear [0, 1] → 8-bit sRGB (IEC 61966-2-1 curve, via colour-science)."""
    import colour

    enc = colour.cctf_encoding(np.clip(img, 0.0, 1.0), function="sRGB")
    return np.round(enc * 255.0).astype(np.uint8)


#: Preview operators by name.
TONEMAPS = {"reinhard_global": reinhard_global, "reinhard_local": reinhard_local}
