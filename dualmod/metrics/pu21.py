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

import numba as nb
import numpy as np

from ..display._fastmath import exp2f, log2f
from ..imaging.colour import REC709_LUMINANCE

__all__ = ["PU21_BANDING_GLARE", "PU21_Y_MIN", "PU21_Y_MAX", "pu21_encode", "pu21_decode", "pu21_encode_torch",
           "psnr_of_pu21",
           "pu21_of_rgb", "pu21_psnr", "PU21_PSNR_PEAK"]

#: p1 … p7 of the ``banding_glare`` variant (Mantiuk & Azimi 2021, Table 1; pu21_encoder.m).
PU21_BANDING_GLARE = (0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166, 0.9099517204,
                      596.3148142)
#: Luminance range of the encoding, cd/m².
PU21_Y_MIN, PU21_Y_MAX = 0.005, 10000.0
#: The parameters as float32, as the numba kernels take them.
PU21_ARRAY = np.array(PU21_BANDING_GLARE, np.float32)
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
    ref = np.asarray(reference)
    tst = np.asarray(test)
    if ref.shape != tst.shape:
        raise ValueError(f"shapes differ: {ref.shape} vs {tst.shape}")
    if ref.ndim == 3:
        return psnr_of_pu21(pu21_of_rgb(ref), pu21_of_rgb(tst))
    return psnr_of_pu21(pu21_encode(ref), pu21_encode(tst))


def psnr_of_pu21(reference_pu21, test_pu21) -> float:
    """:func:`pu21_psnr` from images already PU21-encoded (2-D arrays), for callers that keep them."""
    a = np.ascontiguousarray(reference_pu21, dtype=np.float32)
    b = np.ascontiguousarray(test_pu21, dtype=np.float32)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"expected two PU21 images of one (H, W) shape, got {a.shape} and {b.shape}")
    mse = float(mean_squared_difference(a, b))
    return float("inf") if mse == 0 else 10.0 * np.log10(PU21_PSNR_PEAK**2 / mse)


@nb.njit(inline="always", fastmath={"contract"})
def pu21_px_slope(y, p1, p2, p3, p4, p5, p6, p7):
    """(PU21(y), dPU21/dy) of one luminance value (float32 parameters): the clamp, then polynomial
    log2/exp2 powers; the slope is analytic and 0 where a clamp holds (y outside [0.005, 10000] cd/m², or
    the encoding's floor at 0). A kernel that takes only the value (:func:`pu21_px`) does not compute the
    slope: inlined, its dead code is dropped.

    dV/dy = p7·p5·R^p5/R · (p2 − p1·p3)/(1 + p3·y^p4)² · p4·y^p4/y, with R = (p1 + p2·y^p4)/(1 + p3·y^p4).
    """
    yc = min(max(y, np.float32(PU21_Y_MIN)), np.float32(PU21_Y_MAX))
    yp = exp2f(p4 * log2f(yc))
    den = np.float32(1.0) + p3 * yp
    ratio = (p1 + p2 * yp) / den
    rp = exp2f(p5 * log2f(ratio))
    v = p7 * (rp - p6)
    slope = (p7 * p5 * (p2 - p1 * p3) * p4) * (rp * yp) / (ratio * den * den * yc)
    inside = (y >= np.float32(PU21_Y_MIN)) & (y <= np.float32(PU21_Y_MAX)) & (v >= np.float32(0.0))
    return max(v, np.float32(0.0)), (slope if inside else np.float32(0.0))


@nb.njit(inline="always", fastmath={"contract"})
def pu21_px(y, p1, p2, p3, p4, p5, p6, p7):
    """PU21 of one luminance value (float32 parameters): :func:`pu21_px_slope`'s value.

    Inlined into the numba kernels that encode images (here, and the learned metrics' feature pass), so
    every PU21 map in the package comes from one expression.
    """
    return pu21_px_slope(y, p1, p2, p3, p4, p5, p6, p7)[0]


_WR, _WG, _WB = (np.float32(v) for v in REC709_LUMINANCE)


@nb.njit(inline="always")
def luminance_px(r, g, b):
    """Rec.709 luminance of one linear RGB pixel (float32; the weights of ``REC709_LUMINANCE``)."""
    return _WR * r + _WG * g + _WB * b


@nb.njit(inline="always", fastmath={"contract"})
def pu21_rgb_row(row, lum, out, p):
    """Luminance of one RGB row (W, 3) into lum, then its PU21 into out (may be lum itself); p = PU21_ARRAY.

    Luminance first (strided reads), then the powers on a contiguous row. The one row loop of every
    kernel that encodes RGB images (:func:`luminance_and_pu21`, the learned metrics' feature pass).
    """
    p1, p2, p3, p4, p5, p6, p7 = p[0], p[1], p[2], p[3], p[4], p[5], p[6]  # loaded once, not per pixel
    for j in range(row.shape[0]):
        lum[j] = luminance_px(row[j, 0], row[j, 1], row[j, 2])
    for j in range(row.shape[0]):
        out[j] = pu21_px(lum[j], p1, p2, p3, p4, p5, p6, p7)


@nb.njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def _pu21_of_rgb(rgb, lum, out, p):
    """Rec.709 luminance of rgb (H, W, 3) float32 into lum, and its PU21 into out (polynomial log2/exp2)."""
    for i in nb.prange(rgb.shape[0]):
        pu21_rgb_row(rgb[i], lum[i], out[i], p)


def luminance_and_pu21(rgb) -> tuple[np.ndarray, np.ndarray]:
    """(Y, PU21(Y)) of a linear RGB image (H, W, 3) in cd/m², both float32 (H, W), in one numba pass.

    The fast path of :func:`pu21_encode` (relative error < 1e-5, tested).
    """
    a = np.ascontiguousarray(rgb, dtype=np.float32)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {a.shape}")
    lum = np.empty(a.shape[:2], np.float32)
    out = np.empty(a.shape[:2], np.float32)
    _pu21_of_rgb(a, lum, out, PU21_ARRAY)
    return lum, out


def pu21_of_rgb(rgb) -> np.ndarray:
    """PU21 of the luminance of a linear RGB image (H, W, 3) in cd/m², float32 (H, W)."""
    return luminance_and_pu21(rgb)[1]


def mean_squared_difference(a, b) -> float:
    """mean((a − b)²) of two float32 2-D arrays, accumulated in float64.

    Row sums in parallel, then their sum here: a ``rows.sum()`` inside the parallel kernel would become a
    parfor reduction whose partial sums, and so whose last bits, depend on the thread count (a Dask
    worker with one thread would not reproduce a two-thread serial run).
    """
    return float(_squared_row_sums(a, b).sum() / a.size)


@nb.njit(parallel=True, cache=True, error_model="numpy")
def _squared_row_sums(a, b):
    h = a.shape[0]
    rows = np.zeros(h)
    for i in nb.prange(h):
        s = 0.0
        for j in range(a.shape[1]):
            d = np.float64(a[i, j]) - np.float64(b[i, j])
            s += d * d
        rows[i] = s
    return rows
