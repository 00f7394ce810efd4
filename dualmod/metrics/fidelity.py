# SPDX-License-Identifier: BSD-3-Clause
"""Full-reference fidelity metrics: PU21-PSNR, PU21-SSIM, ΔE_ITP.

- ``pu21_psnr`` — 10·log10(256² / MSE) of PU21-encoded luminance (Mantiuk & Azimi 2021; peak 256 as
  the reference ``pu21_metric``).
- ``pu21_ssim`` — SSIM (Wang et al. 2004: Gaussian window σ = 1.5 px truncated at 11 × 11,
  K1 = 0.01, K2 = 0.03, dynamic range L = 256) of PU21-encoded luminance, mean over the image.
- ``delta_itp`` — mean ΔE_ITP (ITU-R BT.2124): Rec.709 → BT.2020 → ICtCp on absolute cd/m² and
  ΔE_ITP = 720·√(ΔI² + (½ΔCt)² + ΔCp²), all through colour-science. Slow (~1.5 s per 1080p image,
  colour-science works in float64), so not in the default set.

References
----------
Wang, Z., Bovik, A. C., Sheikh, H. R., Simoncelli, E. P. (2004) Image quality assessment: from error
visibility to structural similarity. IEEE TIP 13(4).
ITU-R BT.2124-0 (2019) Objective metric for the assessment of the potential visibility of colour
differences in television.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .context import Pair
from .pu21 import PU21_PSNR_PEAK, mean_squared_difference

__all__ = ["pu21_psnr_metric", "pu21_ssim", "ssim", "delta_itp"]


def pu21_psnr_metric(pair: Pair) -> float:
    """PSNR of PU21-encoded luminance, dB (peak 256)."""
    mse = float(mean_squared_difference(pair.pu_target, pair.pu_displayed))
    return float("inf") if mse == 0 else 10.0 * np.log10(PU21_PSNR_PEAK**2 / mse)


@nb.njit(parallel=True, cache=True, error_model="numpy")
def _products(a, b, aa, bb, ab):
    for i in nb.prange(a.shape[0]):
        for j in range(a.shape[1]):
            x, y = a[i, j], b[i, j]
            aa[i, j] = x * x
            bb[i, j] = y * y
            ab[i, j] = x * y


@nb.njit(parallel=True, cache=True, error_model="numpy")
def _ssim_rows(mu_a, mu_b, saa, sbb, sab, c1, c2):
    """Per-row sums of the SSIM map (summed by the caller: see pu21.mean_squared_difference)."""
    h = mu_a.shape[0]
    rows = np.zeros(h)
    for i in nb.prange(h):
        s = 0.0
        for j in range(mu_a.shape[1]):
            ma, mb = mu_a[i, j], mu_b[i, j]
            va, vb, cov = saa[i, j] - ma * ma, sbb[i, j] - mb * mb, sab[i, j] - ma * mb
            s += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
        rows[i] = s
    return rows


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 256.0) -> float:
    """Mean SSIM of two single-channel images (Gaussian window σ 1.5, 11 × 11, reflected borders)."""
    from ..imaging.io import _cv2

    cv2 = _cv2()
    a = np.ascontiguousarray(a, np.float32)
    b = np.ascontiguousarray(b, np.float32)
    aa, bb, ab = np.empty_like(a), np.empty_like(a), np.empty_like(a)
    _products(a, b, aa, bb, ab)
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    c1, c2 = np.float32((0.01 * data_range) ** 2), np.float32((0.03 * data_range) ** 2)
    return float(_ssim_rows(blur(a), blur(b), blur(aa), blur(bb), blur(ab), c1, c2).sum() / a.size)


def pu21_ssim(pair: Pair) -> float:
    """SSIM of PU21-encoded luminance (dynamic range 256)."""
    return ssim(pair.pu_target, pair.pu_displayed, 256.0)


def delta_itp(pair: Pair) -> float:
    """Mean ΔE_ITP (BT.2124) between target and displayed, through colour-science."""
    import colour

    def ictcp(img):
        rgb2020 = colour.RGB_to_RGB(np.asarray(img, np.float64), "ITU-R BT.709", "ITU-R BT.2020")
        return colour.RGB_to_ICtCp(np.clip(rgb2020, 0.0, 10000.0))

    return float(np.mean(colour.delta_E(ictcp(pair.target), ictcp(pair.displayed), method="ITP")))
