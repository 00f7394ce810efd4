# SPDX-License-Identifier: BSD-3-Clause
"""Fitting a scene-linear image to a panel: size, absolute scale, and range.

:func:`prepare_target` does three things, in order:

1. **Resize and letterbox** to the panel resolution, keeping the aspect
   ratio: downscaling uses area averaging (``cv2.INTER_AREA``, a proper
   anti-aliasing filter for integer and fractional factors), upscaling
   bicubic interpolation (clamped at 0 against ringing); the bars are black
   (0 cd/m²).
2. **Exposure**: scene values × nits per unit. A number is used as given.
   ``"auto"`` scales the image so that its log-average luminance
   exp(mean(ln Y)) over pixels with Y > 0 (Reinhard et al. 2002's "key")
   lands at 18 % of the BT.2408 HDR reference white, 0.18 × 203 =
   :data:`AUTO_KEY_NITS` ≈ 36.5 cd/m². It depends only on the pixels, so it
   is deterministic.
3. **Fit the panel's range**: ``"clip"`` clips each channel at
   ``peak_nits``; ``"rolloff"`` applies the BT.2390 EETF knee to max(R, G, B)
   in the PQ domain (source range 0 … image maximum, target 0 … peak_nits,
   knee start KS = 1.5·maxLum − 0.5) and scales the three channels by the same
   factor, which keeps hue and keeps everything below the knee unchanged.

References
----------
Reinhard, E. et al. (2002) Photographic tone reproduction for digital images. ACM TOG 21(3).
ITU-R BT.2390-11 (2023) High dynamic range television for production and international
programme exchange, §5.4.1 (EETF).
ITU-R BT.2408-7 (2023) Guidance for operational practices in HDR television production.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..panel import Panel
from .colour import luminance
from .io import _cv2, sanitize_image

__all__ = ["prepare_target", "letterbox", "auto_exposure", "eetf_bt2390", "AUTO_KEY_NITS", "FITS"]

#: Where ``exposure="auto"`` puts the log-average luminance: 18 % of 203 cd/m² (BT.2408 reference white).
AUTO_KEY_NITS = 0.18 * 203.0
FITS = ("clip", "rolloff")


def letterbox(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize keeping aspect ratio and centre on a black (height, width, 3) canvas."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):  # already the panel's size: one copy (the caller scales it in place)
        return np.array(image, dtype=np.float32, copy=True)
    s = min(width / w, height / h)
    nw, nh = max(1, min(width, round(w * s))), max(1, min(height, round(h * s)))
    if (nh, nw) == (h, w):
        resized = image
    else:
        cv2 = _cv2()
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
        resized = cv2.resize(np.ascontiguousarray(image, dtype=np.float32), (nw, nh), interpolation=interp)
        resized = np.maximum(resized, 0.0)
    out = np.zeros((height, width, 3), np.float32)
    y0, x0 = (height - nh) // 2, (width - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = resized
    return out


def auto_exposure(image: np.ndarray) -> float:
    """Nits per unit that put the log-average luminance at :data:`AUTO_KEY_NITS`."""
    y = luminance(image)
    y = y[y > 0]
    if y.size == 0:
        return 1.0
    log_avg = float(np.exp(np.mean(np.log(y.astype(np.float64)))))
    return AUTO_KEY_NITS / log_avg


def eetf_bt2390(lum: np.ndarray, source_max: float, target_max: float) -> np.ndarray:
    """BT.2390 EETF (knee and Hermite roll-off in PQ) from [0, source_max] to [0, target_max] nits."""
    from colour.models import eotf_inverse_ST2084, eotf_ST2084

    if source_max <= target_max:
        return np.asarray(lum, dtype=np.float64)
    e_src = float(eotf_inverse_ST2084(source_max))
    max_lum = float(eotf_inverse_ST2084(target_max)) / e_src
    ks = max(1.5 * max_lum - 0.5, 0.0)
    e1 = np.asarray(eotf_inverse_ST2084(np.clip(lum, 0.0, source_max)), dtype=np.float64) / e_src
    t = np.clip((e1 - ks) / (1.0 - ks), 0.0, 1.0)
    t2, t3 = t * t, t * t * t
    spline = (2 * t3 - 3 * t2 + 1) * ks + (t3 - 2 * t2 + t) * (1 - ks) + (-2 * t3 + 3 * t2) * max_lum
    e2 = np.where(e1 < ks, e1, spline)
    return np.minimum(np.asarray(eotf_ST2084(e2 * e_src), dtype=np.float64), target_max)


def prepare_target(panel: Panel, image, exposure: str | float = "auto", fit: str = "clip") -> np.ndarray:
    """Fit a scene-linear RGB image to a panel, in cd/m² (see the module docstring).

    Parameters
    ----------
    panel : Panel
    image : array_like of shape (h, w, 3) or (h, w)
        Linear RGB (relative scene values).
    exposure : "auto" or float
        Nits per unit of ``image``, or automatic (log-average → 36.5 cd/m²).
    fit : {"clip", "rolloff"}

    Returns
    -------
    ndarray of shape (panel.height, panel.width, 3), float32, cd/m², within [0, peak_nits].

    Examples
    --------
    >>> import numpy as np, dualmod as dm
    >>> panel = dm.Panel.load("fald-1080p-576")
    >>> img = np.ones((100, 400, 3), np.float32)      # 4:1, letterboxed into 16:9
    >>> t = prepare_target(panel, img, exposure=120.0)
    >>> t.shape, float(t[540, 960, 0]), float(t[0, 960, 0])
    ((1080, 1920, 3), 120.0, 0.0)
    """
    a = np.asarray(image)
    if a.dtype == object or not np.issubdtype(a.dtype, np.number):
        raise InputError(f"image must be a numeric array, got dtype {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or min(a.shape[:2]) < 1:
        raise InputError(f"image must have shape (h, w, 3), got {np.shape(image)}")
    a = sanitize_image(a[..., :3], "image")
    if isinstance(exposure, str):
        if exposure != "auto":
            raise InputError(f"exposure must be 'auto' or a number of nits per unit, got {exposure!r}")
        scale = auto_exposure(a)
    else:
        scale = float(exposure)
        if not np.isfinite(scale) or scale <= 0:
            raise InputError(f"exposure must be a positive number of nits per unit, got {exposure!r}")
    if fit not in FITS:
        raise InputError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")
    out = letterbox(a, panel.height, panel.width)
    out *= np.float32(scale)
    peak = panel.peak_nits
    if fit == "clip":
        np.minimum(out, np.float32(peak), out=out)
    else:
        m = out.max(axis=2)
        src_max = float(m.max())
        if src_max > peak:
            mapped = eetf_bt2390(m, src_max, peak)
            ratio = np.where(m > 0, mapped / np.maximum(m, 1e-30), 0.0).astype(np.float32)
            out *= ratio[..., None]
            np.minimum(out, np.float32(peak), out=out)
    return out
