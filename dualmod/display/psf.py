# SPDX-License-Identifier: BSD-3-Clause
"""Point-spread functions of one LED on the LCD plane.

Each model maps an offset (dx, dy) in pixels from the LED centre to a relative
light value; the absolute scale is fixed later by the centre normalisation of
DESIGN.md §3 step 2, so only the shape matters here.

========================  =====================================================
model                     psf(dx, dy), r = √(dx² + dy²)
========================  =====================================================
``gaussian``              exp(−r² / 2σ²)
``gaussian_mixture``      Σ_k w_k · exp(−r² / 2σ_k²)
``radial_table``          linear interpolation of ``value`` over ``radius``,
                          0 beyond the last radius
``image``                 bilinear interpolation of a measured kernel centred
                          at ((w−1)/2, (h−1)/2), 0 outside it
========================  =====================================================

Gaussian terms are separable, which the fast backlight path exploits. They
are truncated where a 1-D factor falls below :data:`GAUSS_TRUNCATION`
(1e-7) of its peak, i.e. at |d| > σ·√(2·ln 1e7) ≈ 5.68σ; each dropped sample
is < 1e-7 of its term's weight, and the tests bound the effect on whole
backlights against the untruncated reference (absolute error below 1e-6 of
``peak_nits`` on every built-in profile). Table and image kernels have finite
support and are not truncated.

References
----------
Seetzen, H. et al. (2004) High dynamic range display systems. ACM TOG 23(3).
Zerman, E., Valenzise, G., Dufaux, F. (2016) A dual modulation algorithm for
accurate reproduction of high dynamic range video. IEEE IVMSP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..panel import PsfSpec

__all__ = ["PSF", "GaussianTerm", "make_psf", "PSF_REGISTRY", "GAUSS_TRUNCATION"]

#: Relative level below which a separable Gaussian factor is treated as zero.
GAUSS_TRUNCATION = 1e-7


@dataclass(frozen=True)
class GaussianTerm:
    """One separable term w·exp(−dx²/2σ²)·exp(−dy²/2σ²) with its support radius (pixels)."""

    weight: float
    sigma: float

    @property
    def radius(self) -> float:
        return self.sigma * math.sqrt(-2.0 * math.log(GAUSS_TRUNCATION))

    def profile(self, d: np.ndarray) -> np.ndarray:
        """The 1-D factor exp(−d²/2σ²) (untruncated)."""
        return np.exp(-0.5 * (np.asarray(d, dtype=np.float64) / self.sigma) ** 2)


class PSF:
    """A PSF model: ``evaluate(dx, dy)`` plus what the fast paths need.

    Attributes
    ----------
    radius : float
        Support radius in pixels (half-width of the square outside which the
        model is taken as zero).
    terms : tuple of GaussianTerm or None
        Separable decomposition, when the model has one.
    symmetric : bool
        Whether psf(−dx, dy) = psf(dx, −dy) = psf(dx, dy) (mirror images need
        no flip).
    """

    radius: float
    terms: tuple[GaussianTerm, ...] | None = None
    symmetric: bool = True

    def evaluate(self, dx, dy, *, truncate: bool = False) -> np.ndarray:
        """Relative light at offset (dx, dy) pixels; broadcasting, float64.

        With ``truncate=True`` Gaussian terms are cut at their support radius
        exactly as the fast kernels cut them.
        """
        raise NotImplementedError

    def evaluate_flipped(self, dx, dy, flip_x: bool, flip_y: bool, *, truncate: bool = False) -> np.ndarray:
        """The mirror image of the PSF (for reflections at the panel edges)."""
        return self.evaluate(-dx if flip_x else dx, -dy if flip_y else dy, truncate=truncate)


class _GaussianSum(PSF):
    def __init__(self, terms: tuple[GaussianTerm, ...]):
        self.terms = terms
        self.radius = max(t.radius for t in terms)

    def evaluate(self, dx, dy, *, truncate: bool = False):
        dx = np.asarray(dx, dtype=np.float64)
        dy = np.asarray(dy, dtype=np.float64)
        out = 0.0
        for t in self.terms:
            v = t.weight * t.profile(dx) * t.profile(dy)
            if truncate:
                v = np.where((np.abs(dx) <= t.radius) & (np.abs(dy) <= t.radius), v, 0.0)
            out = out + v
        return np.asarray(out, dtype=np.float64)


class _RadialTable(PSF):
    def __init__(self, radius: tuple[float, ...], value: tuple[float, ...]):
        self.r = np.asarray(radius, dtype=np.float64)
        self.v = np.asarray(value, dtype=np.float64)
        self.radius = float(self.r[-1])

    def evaluate(self, dx, dy, *, truncate: bool = False):
        r = np.hypot(np.asarray(dx, dtype=np.float64), np.asarray(dy, dtype=np.float64))
        return np.interp(r, self.r, self.v, right=0.0)


class _Image(PSF):
    symmetric = False

    def __init__(self, image: np.ndarray):
        self.k = np.asarray(image, dtype=np.float64)
        h, w = self.k.shape
        self.cx, self.cy = (w - 1) / 2.0, (h - 1) / 2.0
        # zero-pad by one sample so bilinear interpolation fades to 0 at the border
        self.kp = np.pad(self.k, 1)
        self.radius = max(self.cx, self.cy) + 1.0  # the padded kernel fades to 0 one sample out

    def evaluate(self, dx, dy, *, truncate: bool = False):
        dx, dy = np.broadcast_arrays(np.asarray(dx, dtype=np.float64), np.asarray(dy, dtype=np.float64))
        u = dx + self.cx + 1.0  # in padded kernel coordinates
        v = dy + self.cy + 1.0
        h, w = self.kp.shape
        inside = (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
        u = np.clip(u, 0, w - 1)
        v = np.clip(v, 0, h - 1)
        x0 = np.minimum(np.floor(u).astype(np.int64), w - 2)
        y0 = np.minimum(np.floor(v).astype(np.int64), h - 2)
        fx, fy = u - x0, v - y0
        k = self.kp
        val = ((1 - fy) * ((1 - fx) * k[y0, x0] + fx * k[y0, x0 + 1])
               + fy * ((1 - fx) * k[y0 + 1, x0] + fx * k[y0 + 1, x0 + 1]))
        return np.where(inside, val, 0.0)


def _gaussian(spec: PsfSpec) -> PSF:
    return _GaussianSum((GaussianTerm(1.0, spec.sigma),))


def _gaussian_mixture(spec: PsfSpec) -> PSF:
    return _GaussianSum(tuple(GaussianTerm(w, s) for w, s in zip(spec.weights, spec.sigmas)))


def _radial_table(spec: PsfSpec) -> PSF:
    return _RadialTable(spec.radius, spec.value)


def _image(spec: PsfSpec) -> PSF:
    return _Image(spec.image)


#: PSF model name -> factory taking a :class:`~dualmod.panel.PsfSpec`.
PSF_REGISTRY: dict[str, Callable[[PsfSpec], PSF]] = {
    "gaussian": _gaussian,
    "gaussian_mixture": _gaussian_mixture,
    "radial_table": _radial_table,
    "image": _image,
}


def make_psf(spec: PsfSpec) -> PSF:
    """The PSF model a profile's ``[psf]`` table describes.

    Examples
    --------
    >>> from dualmod.panel import PsfSpec
    >>> psf = make_psf(PsfSpec(model="gaussian", sigma=10.0))
    >>> float(psf.evaluate(0.0, 0.0)), round(float(psf.evaluate(10.0, 0.0)), 4)
    (1.0, 0.6065)
    """
    try:
        factory = PSF_REGISTRY[spec.model]
    except KeyError:
        raise ValueError(f"unknown PSF model {spec.model!r}; valid: {', '.join(PSF_REGISTRY)}") from None
    return factory(spec)
