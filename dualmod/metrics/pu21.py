# SPDX-License-Identifier: BSD-3-Clause
"""PU21: perceptually uniform encoding of absolute luminance (Mantiuk & Azimi 2021).

    V = p7·(((p1 + p2·Y^p4) / (1 + p3·Y^p4))^p5 − p6),   Y clamped to [0.005, 10000] cd/m²

with the ``banding_glare`` parameters (:data:`PU21_BANDING_GLARE`), as in
the authors' reference MATLAB ``pu21_encoder``. PU21(0.005) = 0,
PU21(100) ≈ 256.38, PU21(10000) ≈ 595.39: 100 cd/m² maps near the top of
an 8-bit sRGB code range, so metrics computed on V (PSNR with peak 256, SSIM)
behave for HDR images as the classic ones do for SDR.

The torch version is the same formula, differentiable, for losses.

References
----------
Mantiuk, R. K., Azimi, M. (2021) PU21: A novel perceptually uniform encoding for adapting existing
quality metrics for HDR. Picture Coding Symposium (PCS). https://github.com/gfxdisp/pu21
"""

from __future__ import annotations

import numpy as np

__all__ = ["PU21_BANDING_GLARE", "PU21_Y_MIN", "PU21_Y_MAX", "pu21_encode", "pu21_decode", "pu21_encode_torch",
           "pu21_psnr", "PU21_PSNR_PEAK"]

#: p1 … p7 of the ``banding_glare`` variant (Mantiuk & Azimi 2021, Table 1; pu21_encoder.m).
PU21_BANDING_GLARE = (0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166, 0.9099517204,
                      596.3148142)
#: Luminance range of the encoding, cd/m².
PU21_Y_MIN, PU21_Y_MAX = 0.005, 10000.0
#: Peak value used for PSNR in the reference ``pu21_metric`` (PU21 of ~100 cd/m²).
PU21_PSNR_PEAK = 256.0


def pu21_encode(y, params=PU21_BANDING_GLARE) -> np.ndarray:
    """PU21 values of absolute luminance ``y`` (cd/m²), float64.

    Examples
    --------
    >>> [round(float(v), 2) for v in pu21_encode([0.005, 100.0, 10000.0])]
    [0.0, 256.38, 595.39]
    """
    p1, p2, p3, p4, p5, p6, p7 = params
    yc = np.clip(np.asarray(y, dtype=np.float64), PU21_Y_MIN, PU21_Y_MAX)
    yp = yc ** p4
    return np.maximum(p7 * (((p1 + p2 * yp) / (1.0 + p3 * yp)) ** p5 - p6), 0.0)


def pu21_decode(v, params=PU21_BANDING_GLARE) -> np.ndarray:
    """Luminance (cd/m²) of PU21 values ``v``: the inverse of :func:`pu21_encode` on [0.005, 10000]."""
    p1, p2, p3, p4, p5, p6, p7 = params
    vp = np.maximum(np.asarray(v, dtype=np.float64) / p7 + p6, 0.0) ** (1.0 / p5)
    return (np.maximum(vp - p1, 0.0) / (p2 - p3 * vp)) ** (1.0 / p4)


def pu21_encode_torch(y, params=PU21_BANDING_GLARE):
    """:func:`pu21_encode` for torch tensors (differentiable inside the clamp range)."""
    import torch

    p1, p2, p3, p4, p5, p6, p7 = params
    yp = torch.clamp(y, PU21_Y_MIN, PU21_Y_MAX) ** p4
    return torch.clamp(p7 * (((p1 + p2 * yp) / (1.0 + p3 * yp)) ** p5 - p6), min=0.0)


def pu21_psnr(reference, test) -> float:
    """PSNR (dB) of PU21-encoded luminance, peak 256 (as the reference ``pu21_metric``).

    Parameters
    ----------
    reference, test : ndarray of shape (H, W, 3) (linear Rec.709 RGB) or (H, W) (luminance), cd/m²
    """
    from ..imaging.colour import luminance

    ref = np.asarray(reference, dtype=np.float64)
    tst = np.asarray(test, dtype=np.float64)
    if ref.shape != tst.shape:
        raise ValueError(f"shapes differ: {ref.shape} vs {tst.shape}")
    if ref.ndim == 3:
        ref, tst = luminance(ref).astype(np.float64), luminance(tst).astype(np.float64)
    mse = float(np.mean((pu21_encode(ref) - pu21_encode(tst)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(PU21_PSNR_PEAK**2 / mse)
