# SPDX-License-Identifier: BSD-3-Clause
"""Fitting the LED point-spread function and ``peak_nits`` to camera captures.

Every capture k lights a set of LEDs at level ℓ_k with the LCD open, so the panel shows the backlight of
DESIGN.md §3 step 2. At panel sample points p the model is

    Y_k(p) = A · ℓ_k · Σ_{i lit in k} ρ_i · psf_θ(p − x_i),        peak_nits = A · Σ_{all i} ρ_i · psf_θ(c − x_i)

(for the ``mirror`` boundary the sum includes the LEDs' mirror images, ρ_i = ρⁿ after n reflections, and
the edge reflectance ρ is fitted too unless given; c is the panel centre). All lit LEDs of a capture are
modelled together — their light overlaps — and all captures are fitted jointly, so the all-LEDs ``flat``
capture pins ``peak_nits`` while the sparse captures pin the shape.

Models (``psf.model`` of the profile written):

- ``gaussian`` (θ = σ) and ``gaussian_mixture`` (two terms, θ = σ₁, σ₂, w₁; w₂ = 1 − w₁): A is solved in
  closed form for each θ (variable projection) and θ by :func:`scipy.optimize.least_squares`; several
  starting points, the best kept.
- ``radial_table``: the model is linear in the table values, so they are a non-negative linear least-squares
  solution (:func:`scipy.optimize.lsq_linear`) on :data:`TABLE_KNOTS` radii out to 4 σ₂ of the mixture fit.
- ``auto``: each model is fitted with one capture in ``n_folds`` held out, in turn; the residual on the
  held-out captures decides. The simplest model within :data:`AUTO_TOLERANCE` of the best held-out residual
  wins (a more flexible model must earn its parameters).

Parameter uncertainties are 1 σ from the Jacobian at the optimum, s²(JᵀJ)⁻¹ with s² the residual variance —
they assume independent residuals, so read them as lower bounds when the model is imperfect.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares, lsq_linear

from dualmod.display.backlight import virtual_leds
from dualmod.panel import PsfSpec

from .captures import CaptureError, CaptureSet, led_pitch

__all__ = ["fit_psf", "prepare", "FitData", "PsfFit", "MODELS", "AUTO_TOLERANCE", "TABLE_KNOTS"]

MODELS = ("gaussian", "gaussian_mixture", "radial_table")
#: ``auto`` keeps the simplest model whose held-out rms is within this fraction of the best one's.
AUTO_TOLERANCE = 0.02
#: Radii of a fitted ``radial_table`` (the last is the support edge, value 0).
TABLE_KNOTS = 25
#: The all-LEDs capture is smooth: it is sampled on a coarser grid of at most this many points.
FLAT_SAMPLES = 2500
#: Samples per panel row (the panel is averaged over square blocks of this many columns' width).
SAMPLES_PER_ROW = 160


@dataclass
class _Cap:
    name: str
    y: np.ndarray            # (M,) measured nits at valid samples
    xs: np.ndarray           # the capture's sample grid (panel x of its columns, y of its rows)
    ys: np.ndarray
    ix: np.ndarray           # (M,) column and row of each valid sample in that grid
    iy: np.ndarray
    vx: np.ndarray           # (n,) lit LEDs and, for 'mirror', their images
    vy: np.ndarray
    nref: np.ndarray         # (n,) reflections behind each: 0 = the LED itself
    level: float
    is_flat: bool

    @property
    def pts(self) -> np.ndarray:
        """(M, 2) panel x, y of the valid samples."""
        return np.stack([self.xs[self.ix], self.ys[self.iy]], axis=1)

    @property
    def r2(self) -> np.ndarray:
        """(M, n) squared distance from each sample to each lit (virtual) LED."""
        p = self.pts
        return (p[:, 0, None] - self.vx[None, :]) ** 2 + (p[:, 1, None] - self.vy[None, :]) ** 2

    def gauss(self, sigmas, weights, w_led: np.ndarray) -> np.ndarray:
        """Σ_i w_led[i] Σ_k weights[k] exp(−|p − x_i|² / 2σ_k²) at the valid samples, by separability:
        an (ny × n)·(n × nx) product per term instead of M·n exponentials."""
        out = 0.0
        for s, w in zip(sigmas, weights):
            c = -0.5 / (s * s)
            gx = np.exp(c * (self.xs[None, :] - self.vx[:, None]) ** 2)
            gy = np.exp(c * (self.ys[None, :] - self.vy[:, None]) ** 2) * (w * w_led)[:, None]
            out = out + gy.T @ gx
        return out[self.iy, self.ix]


@dataclass
class FitData:
    """Captures reduced to panel-space samples, ready for any model."""

    caps: list[_Cap]
    centre_r2: np.ndarray    # squared distance from the panel centre to every (virtual) LED
    centre_nref: np.ndarray
    pitch: float
    panel: object
    boundary: str
    edge_reflectance: float | None   # None: fitted
    grid: tuple              # (xs, ys, step) of the sample grid
    excluded: int            # samples left out (saturated)

    def subset(self, keep) -> "FitData":
        return FitData([c for k, c in enumerate(self.caps) if keep(k, c)], self.centre_r2, self.centre_nref,
                       self.pitch, self.panel, self.boundary, self.edge_reflectance, self.grid, self.excluded)

    @property
    def fit_rho(self) -> bool:
        return self.boundary == "mirror" and self.edge_reflectance is None

    @property
    def y(self) -> np.ndarray:
        return np.concatenate([c.y for c in self.caps])


def prepare(cs: CaptureSet, *, boundary: str = "zero", edge_reflectance: float | None = 1.0,
            max_samples: int = SAMPLES_PER_ROW) -> FitData:
    """Dark-subtract, flat-field and resample every capture onto a panel grid (see :mod:`.captures`)."""
    # reflectance ½ marks each mirror image with its number of reflections n (weight 2⁻ⁿ)
    panel = cs.panel.replace(psf=PsfSpec(model="gaussian", sigma=1.0, boundary=boundary, edge_reflectance=0.5))
    v = virtual_leds(panel)
    nref = np.rint(-np.log2(v.weight)).astype(np.int64)
    xs, ys, step = cs.sample_grid(max_samples)
    caps, excluded = [], 0
    fstride = max(1, int(math.ceil(math.sqrt(xs.size * ys.size / FLAT_SAMPLES))))
    for c in cs.captures:
        img = cs.panel_samples(c, xs, ys, step)
        is_flat = c.leds_on.size == panel.n_leds and len(cs.captures) > 1
        f = fstride if is_flat else 1
        img = img[::f, ::f]
        iy, ix = np.nonzero(np.isfinite(img))
        excluded += img.size - iy.size
        lit = np.isin(v.src, c.leds_on)
        caps.append(_Cap(c.file, img[iy, ix], xs[::f], ys[::f], ix, iy, v.x[lit], v.y[lit], nref[lit], c.level,
                         is_flat))
    cx, cy = (panel.width - 1) / 2.0, (panel.height - 1) / 2.0
    pitch = led_pitch(panel.led_positions)
    if not math.isfinite(pitch):  # a single LED
        pitch = float(max(panel.width, panel.height)) / 2
    return FitData(caps, (cx - v.x) ** 2 + (cy - v.y) ** 2, nref, pitch, panel, boundary,
                   edge_reflectance if boundary == "mirror" else 1.0,
                   (xs, ys, step), excluded)


# ------------------------------------------------------------------------------------------------- models
def _gauss_sum(r2: np.ndarray, sigmas, weights) -> np.ndarray:
    out = 0.0
    for s, w in zip(sigmas, weights):
        out = out + w * np.exp(r2 * (-0.5 / (s * s)))
    return out


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _shape_params(model: str, theta: np.ndarray) -> tuple[list[float], list[float]]:
    if model == "gaussian":
        return [math.exp(theta[0])], [1.0]
    w1 = _sigmoid(theta[2])
    return [math.exp(theta[0]), math.exp(theta[1])], [w1, 1.0 - w1]


def _rho(data: FitData, model: str, theta: np.ndarray) -> float:
    """The edge reflectance: fitted (θ's last entry) or fixed."""
    return _sigmoid(theta[_N_SHAPE[model]]) if data.fit_rho else float(data.edge_reflectance)


_N_SHAPE = {"gaussian": 1, "gaussian_mixture": 3}


def _unit_prediction(data: FitData, model: str, theta: np.ndarray) -> np.ndarray:
    sig, wts = _shape_params(model, theta)
    rho = _rho(data, model, theta)
    return np.concatenate([c.gauss(sig, wts, c.level * rho ** c.nref) for c in data.caps])


def _norm(data: FitData, model: str, theta: np.ndarray) -> float:
    sig, wts = _shape_params(model, theta)
    return float(_gauss_sum(data.centre_r2, sig, wts) @ _rho(data, model, theta) ** data.centre_nref)


def _vp_residual(theta, data, model, y):
    g = _unit_prediction(data, model, theta)
    a = float(g @ y) / max(float(g @ g), 1e-300)
    return a * g - y


def _fit_gaussians(data: FitData, model: str, starts: list[np.ndarray]) -> dict:
    y = data.y
    hi = math.log(4.0 * max(data.panel.width, data.panel.height))
    lo = math.log(0.3)
    n = _N_SHAPE[model]
    lb = np.array([lo, lo, -12.0][:n] + [-8.0] * data.fit_rho)
    ub = np.array([hi, hi, 12.0][:n] + [8.0] * data.fit_rho)
    best = None
    for th0 in starts:
        sol = least_squares(_vp_residual, np.clip(th0, lb + 1e-9, ub - 1e-9), bounds=(lb, ub), args=(data, model, y),
                            x_scale=1.0, xtol=1e-6, ftol=1e-7, max_nfev=50)
        if best is None or sol.cost < best.cost:
            best = sol
    theta = best.x
    if model == "gaussian_mixture" and theta[0] > theta[1]:  # term 1 is the narrow one
        theta = np.array([theta[1], theta[0], -theta[2], *theta[3:]])
    g = _unit_prediction(data, model, theta)
    a = float(g @ y) / float(g @ g)
    return {"theta": theta, "amplitude": a, "pred": a * g}


def _derived(model: str, p: np.ndarray, data: FitData) -> np.ndarray:
    """(peak_nits, shape parameters…) from (ln A, θ)."""
    theta = p[1:]
    peak = math.exp(p[0]) * _norm(data, model, theta)
    sig, wts = _shape_params(model, theta)
    shape = [sig[0]] if model == "gaussian" else [sig[0], sig[1], wts[0]]
    return np.array([peak, *shape, _rho(data, model, theta)])


def _uncertainty(data: FitData, model: str, amplitude: float, theta: np.ndarray) -> np.ndarray:
    """1-σ of (peak, shape parameters) from the full Jacobian in (ln A, θ)."""
    y = data.y
    p0 = np.concatenate([[math.log(amplitude)], theta])

    def resid(p):
        return math.exp(p[0]) * _unit_prediction(data, model, p[1:]) - y

    r0 = resid(p0)
    eps = 1e-6
    jac = np.stack([(resid(p0 + eps * e) - r0) / eps for e in np.eye(p0.size)], axis=1)
    dof = max(1, y.size - p0.size)
    s2 = float(r0 @ r0) / dof
    try:
        cov = s2 * np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        return np.full(p0.size, np.nan)
    d0 = _derived(model, p0, data)
    gd = np.stack([(_derived(model, p0 + eps * e, data) - d0) / eps for e in np.eye(p0.size)], axis=1)
    return np.sqrt(np.maximum(np.diag(gd @ cov @ gd.T), 0.0))


def _table_design(data: FitData, radius: np.ndarray, rho: float) -> np.ndarray:
    """Columns: the prediction of each table value (all but the last, which is 0) per unit value."""
    k = radius.size - 1
    dr = radius[1] - radius[0]
    cols = []
    for c in data.caps:
        near = (np.abs(c.vx - c.vx.clip(-0.5, data.panel.width - 0.5)) < radius[-1]) & \
               (np.abs(c.vy - c.vy.clip(-0.5, data.panel.height - 0.5)) < radius[-1])  # images that reach in
        c = _Cap(c.name, c.y, c.xs, c.ys, c.ix, c.iy, c.vx[near], c.vy[near], c.nref[near], c.level, c.is_flat)
        r = np.sqrt(c.r2) / dr
        j = np.floor(r).astype(np.int64)
        f = r - j
        m = np.broadcast_to(np.arange(c.y.size)[:, None], r.shape)
        w = np.broadcast_to(rho ** c.nref[None, :] * c.level, r.shape)
        ok = j < k
        a = np.bincount(m[ok] * k + j[ok], (w * (1 - f))[ok], minlength=c.y.size * k)
        ok1 = j + 1 < k
        a += np.bincount(m[ok1] * k + j[ok1] + 1, (w * f)[ok1], minlength=c.y.size * k)
        cols.append(a.reshape(c.y.size, k))
    return np.concatenate(cols)


def _table_norm_row(data: FitData, radius: np.ndarray, rho: float) -> np.ndarray:
    k = radius.size - 1
    e = np.eye(radius.size)[:, :k]
    r = np.sqrt(data.centre_r2)
    return np.stack([np.interp(r, radius, e[:, i], right=0.0) @ rho ** data.centre_nref for i in range(k)])


def _fit_table(data: FitData, radius: np.ndarray, rho: float) -> dict:
    X = _table_design(data, radius, rho)
    y = data.y
    sol = lsq_linear(X, y, bounds=(0.0, np.inf), method="bvls")
    v = sol.x
    pred = X @ v
    dof = max(1, y.size - v.size)
    s2 = float((pred - y) @ (pred - y)) / dof
    crow = _table_norm_row(data, radius, rho)
    peak = float(crow @ v)
    try:
        cov = s2 * np.linalg.inv(X.T @ X)
        peak_sd = float(math.sqrt(max(crow @ cov @ crow, 0.0)))
        v_sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
    except np.linalg.LinAlgError:
        peak_sd, v_sd = float("nan"), np.full(v.size, np.nan)
    return {"values": v, "values_sd": v_sd, "pred": pred, "peak": peak, "peak_sd": peak_sd, "rho": rho}


# ------------------------------------------------------------------------------------------------- results
@dataclass
class PsfFit:
    """A fitted PSF and peak, with its quality.

    Attributes
    ----------
    model : str
        The model chosen.
    psf : dict
        The ``[psf]`` table of the profile (model parameters, boundary).
    peak_nits, peak_nits_sd : float
    params_sd : dict
        1-σ uncertainty of each shape parameter (lists for tables).
    rms_nits : float
        Residual rms over all samples; ``rms_pct_peak`` the same in % of ``peak_nits``.
    per_capture_rms : dict
        Capture file → rms (nits).
    heldout_rms : dict
        Model → held-out rms (nits), when ``auto`` compared them.
    candidates : dict
        Model → its fitted ``[psf]`` table and peak (for the figure and the report).
    """

    model: str
    psf: dict
    peak_nits: float
    peak_nits_sd: float
    params_sd: dict
    rms_nits: float
    rms_pct_peak: float
    per_capture_rms: dict
    heldout_rms: dict
    candidates: dict
    n_samples: int
    n_excluded: int
    seconds: float
    data: FitData = field(repr=False)
    pred: np.ndarray = field(repr=False)
    #: the ``[leds]`` layout keys of the captures (a positions file as an absolute path)
    layout: dict = field(default_factory=dict)

    def report(self) -> dict:
        """The fit report as JSON-able data."""
        return {"model": self.model, "psf": self.psf, "peak_nits": self.peak_nits, "peak_nits_sd": self.peak_nits_sd,
                "params_sd": self.params_sd, "rms_nits": self.rms_nits, "rms_pct_peak": self.rms_pct_peak,
                "per_capture_rms_nits": self.per_capture_rms, "heldout_rms_nits": self.heldout_rms,
                "candidates": {k: {"psf": v["psf"], "peak_nits": v["peak_nits"]} for k, v in self.candidates.items()},
                "samples": self.n_samples, "samples_excluded_saturated": self.n_excluded,
                "sample_step_px": self.data.grid[2], "led_pitch_px": self.data.pitch,
                "seconds": round(self.seconds, 2),
                "uncertainty_note": "1-sigma from the Jacobian, assuming independent residuals"}

    def profile(self, base: dict | None = None, name: str | None = None) -> dict:
        """A complete profile dict: geometry, LED layout, PSF and peak from the captures; everything else
        (LED drive and response, ``[lcd]``, ambient) from ``base`` — a TOML-shaped profile dict, see
        :func:`calibration.cli.base_profile` — or DESIGN §4 defaults (the LCD then is a placeholder)."""
        p = self.data.panel
        out = {k: dict(v) for k, v in (base or {}).items()}
        panel = out.setdefault("panel", {})
        panel.update(name=name or panel.get("name", "calibrated"), width=p.width, height=p.height,
                     peak_nits=_sig(self.peak_nits))
        leds = {k: v for k, v in out.get("leds", {}).items() if k not in ("layout", "rows", "cols", "positions_file")}
        out["leds"] = {**self.layout, **leds}
        out["psf"] = dict(self.psf)
        out.setdefault("lcd", {"response": "gamma", "gamma": 2.2, "bit_depth": 8, "contrast_ratio": 1000.0})
        return {k: out[k] for k in ("panel", "leds", "psf", "lcd")}


def _sig(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


def _psf_table(model: str, data: FitData, fit: dict, radius=None) -> tuple[dict, dict]:
    t: dict = {"model": model}
    sd: dict = {}
    if model == "gaussian":
        t["sigma"] = _sig(math.exp(fit["theta"][0]))
        sd["sigma"] = fit.get("sd", [np.nan, np.nan])[1]
    elif model == "gaussian_mixture":
        sig, wts = _shape_params(model, fit["theta"])
        t["weights"] = [_sig(w) for w in wts]
        t["sigmas"] = [_sig(s) for s in sig]
        s = fit.get("sd", [np.nan] * 4)
        sd.update(sigmas=[float(s[1]), float(s[2])], weights=[float(s[3]), float(s[3])])
    else:
        v, v_sd = fit["values"], fit["values_sd"]
        v0 = v[0] if v[0] > 0 else max(v.max(), 1e-300)
        t["radius"] = [_sig(r) for r in radius]
        t["value"] = [_sig(x) for x in np.append(v / v0, 0.0)]
        sd["value"] = [float(x) for x in np.append(v_sd / v0, 0.0)]
    t["boundary"] = data.boundary
    if data.boundary == "mirror":
        if model == "radial_table":
            t["edge_reflectance"] = _sig(fit["rho"])
        else:
            t["edge_reflectance"] = _sig(_rho(data, model, fit["theta"]))
            if data.fit_rho:
                sd["edge_reflectance"] = float(fit.get("sd", [np.nan] * 5)[-1])
    return t, sd


def _with_rho(data: FitData, starts: list[np.ndarray], prev: dict | None) -> list[np.ndarray]:
    """Append the starting logit of the edge reflectance (the previous fit's, else ρ = 0.7) when it is fitted."""
    if not data.fit_rho:
        return starts
    x = float(prev["theta"][-1]) if prev else 0.85
    return [np.append(s, x) for s in starts]


def _fit_model(data: FitData, model: str, gauss: dict | None = None, mix: dict | None = None,
               with_sd: bool = False, init: np.ndarray | None = None) -> tuple[dict, dict]:
    """Fit one model; returns (raw fit, {"psf": table, "peak_nits": …, "pred": …}). ``init``: the only start."""
    pitch = data.pitch
    if init is not None and model != "radial_table":
        fit = _fit_gaussians(data, model, [init])
    elif model == "gaussian":
        starts = [np.array([math.log(pitch * f)]) for f in (0.5, 1.0, 2.0)]
        fit = _fit_gaussians(data, model, _with_rho(data, starts, None))
    elif model == "gaussian_mixture":
        sg = math.exp(gauss["theta"][0]) if gauss else pitch
        starts = [np.array([math.log(sg * a), math.log(sg * b), 0.8]) for a, b in ((0.7, 2.0), (0.5, 3.0))]
        fit = _fit_gaussians(data, model, _with_rho(data, starts, gauss))
    else:
        sig, _ = _shape_params("gaussian_mixture", mix["theta"]) if mix else ([pitch], None)
        rho = _rho(data, "gaussian_mixture", mix["theta"]) if mix else (data.edge_reflectance or 0.5)
        rmax = min(4.0 * max(sig), math.hypot(data.panel.width, data.panel.height))
        radius = np.linspace(0.0, rmax, TABLE_KNOTS)
        fit = _fit_table(data, radius, rho)
        fit["radius"] = radius
    if model != "radial_table":
        fit["peak"] = fit["amplitude"] * _norm(data, model, fit["theta"])
        if with_sd:
            fit["sd"] = _uncertainty(data, model, fit["amplitude"], fit["theta"])
            fit["peak_sd"] = float(fit["sd"][0])
    table, sd = _psf_table(model, data, fit, fit.get("radius"))
    return fit, {"psf": table, "peak_nits": _sig(fit["peak"]), "sd": sd, "pred": fit["pred"]}


def _fit_all(data: FitData, models, with_sd: bool = False, init: dict | None = None) -> dict:
    """Fit ``models`` (and the simpler ones they start from); ``init``: model → θ to start from."""
    raw, out = {}, {}
    for m in MODELS:
        if m not in models and not (m == "gaussian" and "gaussian_mixture" in models) \
                and not (m == "gaussian_mixture" and "radial_table" in models):
            continue
        raw[m], out[m] = _fit_model(data, m, raw.get("gaussian"), raw.get("gaussian_mixture"), with_sd,
                                    (init or {}).get(m))
    return {m: (raw[m], out[m]) for m in models}


def _psf_and_amplitude(data: FitData, psf: dict, peak: float):
    """The PSF a fitted ``[psf]`` table describes, its edge reflectance, and the amplitude giving ``peak``."""
    from dualmod.display.psf import make_psf

    f = make_psf(PsfSpec(model=psf["model"], sigma=psf.get("sigma", 1.0), weights=tuple(psf.get("weights", ())),
                         sigmas=tuple(psf.get("sigmas", ())), radius=tuple(psf.get("radius", ())),
                         value=tuple(psf.get("value", ()))))
    rho = psf.get("edge_reflectance", 1.0)
    return f, rho, peak / float(f.evaluate(np.sqrt(data.centre_r2), 0.0) @ rho ** data.centre_nref)


def _predict_table(data: FitData, psf: dict, peak: float) -> np.ndarray:
    """Predictions of a fitted model on other captures (for held-out scoring)."""
    f, rho, a = _psf_and_amplitude(data, psf, peak)
    if f.terms is not None:  # Gaussian models: separable
        sig, wts = [t.sigma for t in f.terms], [t.weight for t in f.terms]
        return np.concatenate([c.gauss(sig, wts, a * c.level * rho ** c.nref) for c in data.caps])
    return np.concatenate([a * c.level * (f.evaluate(np.sqrt(c.r2), 0.0) @ rho ** c.nref) for c in data.caps])


def fit_psf(cs: CaptureSet, model: str = "auto", *, boundary: str = "zero", edge_reflectance: float | None = None,
            n_folds: int = 4, max_samples: int = SAMPLES_PER_ROW, progress=None) -> PsfFit:
    """Fit the PSF and ``peak_nits`` of a capture set.

    Parameters
    ----------
    cs : CaptureSet
        From :func:`calibration.captures.load_captures`.
    model : {"auto", "gaussian", "gaussian_mixture", "radial_table"}
    boundary : {"zero", "mirror"}
        The panel's boundary model.
    edge_reflectance : float, optional
        For ``mirror``: the reflectance per reflection; None fits it.
    n_folds : int
        Held-out folds for ``auto`` (captures are dealt round-robin; the all-LEDs capture always trains).
    progress : callable, optional
        Called with a short message per step.
    """
    if model != "auto" and model not in MODELS:
        raise CaptureError(f"unknown PSF model {model!r}; valid: auto, {', '.join(MODELS)}")
    t0 = time.perf_counter()
    say = progress or (lambda msg: None)
    data = prepare(cs, boundary=boundary, edge_reflectance=edge_reflectance, max_samples=max_samples)
    sparse = [k for k, c in enumerate(data.caps) if not c.is_flat]
    heldout: dict = {}
    models = MODELS if model == "auto" else (model,)
    folds = min(n_folds, len(sparse))
    if model == "auto" and folds < 2:
        raise CaptureError(f"{cs.root}: 'auto' needs at least 2 captures besides the flat one to compare "
                           "models on held-out captures; name a model with --model")
    say(f"fitting {', '.join(models)} on all captures")
    fits = _fit_all(data, models, with_sd=True)
    if model == "auto":
        # each fold starts from the all-captures optimum: a few iterations instead of a search
        warm = {m: raw["theta"] for m, (raw, _) in fits.items() if "theta" in raw}
        sq = {m: 0.0 for m in models}
        count = 0
        for f in range(folds):
            test = {k for i, k in enumerate(sparse) if i % folds == f}
            say(f"held-out fold {f + 1}/{folds}")
            train = data.subset(lambda k, c, t=test: k not in t)
            held = data.subset(lambda k, c, t=test: k in t)
            fold = _fit_all(train, models, init=warm)
            for m in models:
                r = _predict_table(held, fold[m][1]["psf"], fold[m][1]["peak_nits"]) - held.y
                sq[m] += float(r @ r)
            count += held.y.size
        heldout = {m: math.sqrt(sq[m] / count) for m in models}
        best = min(heldout.values())
        chosen = next(m for m in models if heldout[m] <= best * (1 + AUTO_TOLERANCE))
    else:
        chosen = model
    raw, res = fits[chosen]
    pred = res["pred"]
    y = data.y
    resid = pred - y
    per, start = {}, 0
    for c in data.caps:
        r = resid[start:start + c.y.size]
        per[c.name] = float(math.sqrt(np.mean(r * r)))
        start += c.y.size
    rms = float(math.sqrt(np.mean(resid * resid)))
    peak = float(res["peak_nits"])
    return PsfFit(chosen, res["psf"], peak, float(raw.get("peak_sd", np.nan)), res["sd"], rms,
                  100.0 * rms / peak, per, heldout,
                  {m: {"psf": v[1]["psf"], "peak_nits": v[1]["peak_nits"]} for m, v in fits.items()},
                  int(y.size), data.excluded, time.perf_counter() - t0, data, pred, _layout(cs))


def _layout(cs: CaptureSet) -> dict:
    t = {k: v for k, v in cs.leds_table.items() if k in ("layout", "rows", "cols", "positions_file")}
    if "positions_file" in t:
        t["positions_file"] = str((cs.root / t["positions_file"]).resolve())
    return t


def fit_figure(fit: PsfFit, path) -> None:
    """Measured versus fitted: a profile through one LED, the radial fall-off, a residual map, model scores."""
    from matplotlib.figure import Figure  # no pyplot: no global backend switch, nothing left open

    from dualmod._io import atomic_path

    data = fit.data
    caps = data.caps
    sparse = [k for k, c in enumerate(caps) if not c.is_flat] or [0]
    centre = np.array([(data.panel.width - 1) / 2, (data.panel.height - 1) / 2])
    # the sparse capture with a lit LED nearest the centre, and that LED's row of samples
    best = min(sparse, key=lambda k: float(np.min(np.hypot(*(caps[k].pts[np.argmin(caps[k].r2, axis=0)]
                                                              - centre).T))))
    cap = caps[best]
    start = sum(c.y.size for c in caps[:best])
    pred = fit.pred[start:start + cap.y.size]
    led = cap.pts[np.argmin(cap.r2, axis=0)]
    led = led[np.argmin(np.hypot(*(led - centre).T))]
    row = np.abs(cap.pts[:, 1] - led[1]) <= data.grid[2] / 2
    order = np.argsort(cap.pts[row, 0])
    fig = Figure(figsize=(11, 8))
    ax = fig.subplots(2, 2)
    a = ax[0, 0]
    a.plot(cap.pts[row, 0][order], cap.y[row][order], ".", ms=3, color="k", label="measured")
    for m, cand in fit.candidates.items():
        one = data.subset(lambda k, c: k == best)
        p = _predict_table(one, cand["psf"], cand["peak_nits"])
        a.plot(cap.pts[row, 0][order], p[row][order], "-" if m == fit.model else "--", lw=1.2,
               label=f"{m}{' (chosen)' if m == fit.model else ''}")
    a.set(title=f"{cap.name}: row y≈{led[1]:.0f}", xlabel="panel x (px)", ylabel="cd/m²")
    a.legend(fontsize=8)
    a = ax[0, 1]
    r = np.sqrt(np.concatenate([c.r2.min(axis=1) for k, c in enumerate(caps) if k in sparse]))
    yy = np.concatenate([c.y / c.level for k, c in enumerate(caps) if k in sparse])
    pick = np.random.default_rng(0).choice(r.size, size=min(r.size, 4000), replace=False)
    a.semilogy(r[pick], np.maximum(yy[pick], 1e-3), ".", ms=2, color="0.4", label="measured / level")
    rr = np.linspace(0, r.max(), 300)
    for m, cand in fit.candidates.items():
        f, _, amp = _psf_and_amplitude(data, cand["psf"], cand["peak_nits"])
        a.semilogy(rr, np.maximum(amp * f.evaluate(rr, 0.0), 1e-3), "-" if m == fit.model else "--", label=m)
    a.set(title="fall-off with distance to the nearest lit LED", xlabel="distance (px)", ylabel="cd/m² per level")
    a.legend(fontsize=8)
    a = ax[1, 0]
    res = pred - cap.y
    lim = float(np.max(np.abs(res))) or 1.0
    sc = a.scatter(cap.pts[:, 0], cap.pts[:, 1], c=res, s=3, cmap="coolwarm", vmin=-lim, vmax=lim, marker="s")
    a.set(title=f"{cap.name}: fitted − measured (cd/m²)", xlim=(-0.5, data.panel.width - 0.5),
          ylim=(data.panel.height - 0.5, -0.5), aspect="equal")
    fig.colorbar(sc, ax=a, shrink=0.8)
    a = ax[1, 1]
    if fit.heldout_rms:
        names = list(fit.heldout_rms)
        a.bar(names, [fit.heldout_rms[n] for n in names], color=["C1" if n == fit.model else "C0" for n in names])
        a.set(title="held-out rms residual by model (auto)", ylabel="cd/m²")
    else:
        names = list(fit.per_capture_rms)
        a.bar(range(len(names)), [fit.per_capture_rms[n] for n in names])
        a.set(title="rms residual per capture", ylabel="cd/m²", xlabel="capture")
    fig.suptitle(f"PSF fit: {fit.model}, peak {fit.peak_nits:.1f} ± {fit.peak_nits_sd:.2g} cd/m², "
                 f"rms {fit.rms_pct_peak:.2f} % of peak")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
