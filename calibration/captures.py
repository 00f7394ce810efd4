# SPDX-License-Identifier: BSD-3-Clause
"""Reading and checking a ``dualmod-captures/1`` folder (DESIGN.md §11), and turning captures into nits.

A capture folder holds ``captures.json`` and linear camera images (``.npy``, ``.exr`` or 16-bit ``.tif``) of
the camera's size. Everything is checked when the folder is opened — unknown fields, missing or unreadable
files, wrong image sizes, corners outside the camera frame, saturated captures — so a fit never starts on a
folder it cannot finish, and every error names the file and the field.

From camera value to panel luminance (the LCD is fully open in every capture)::

    nits(u, v) = (I(u, v) − dark(u, v) · t / t_dark) / (flat_field(u, v) · units_per_nit_second · t)

with t the capture's exposure: the dark frame holds dark current and hot pixels, which grow with exposure.
A 3×3 median then removes the hot pixels the dark frame did not cancel, and :func:`panel_samples` maps panel
points to camera pixels through the homography fixed by ``panel_corners_px`` (the panel's outer pixel edges
(−½, −½) … (W−½, H−½)) and samples the (3×3 box-filtered) camera image there.

Saturation: a ``.tif`` saturates at its integer maximum; float images at ``camera.saturation`` when given
(an optional field this reader adds to the format), else at the image maximum when at least
:data:`SAT_TIE_PIXELS` pixels share it (noise makes exact ties impossible below the clip). Saturated pixels
are left out of the fit; more than :data:`MAX_SATURATED_FRACTION` of the panel area saturated in one image is
an error (shorten that exposure).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from dualmod.errors import DualmodError, ProfileError

__all__ = ["CaptureError", "Capture", "CaptureSet", "load_captures", "homography", "apply_homography",
           "FORMAT", "MAX_SATURATED_FRACTION", "SAT_TIE_PIXELS", "led_groups", "default_groups", "led_pitch",
           "leds_table"]

FORMAT = "dualmod-captures/1"
#: Largest share of the panel's area that may be saturated in one image before the folder is refused.
MAX_SATURATED_FRACTION = 0.002
#: A float image whose maximum is shared by at least this many pixels is taken as clipped there.
SAT_TIE_PIXELS = 6

_TOP = {"format", "panel", "camera", "panel_corners_px", "dark", "dark_exposure_s", "flat", "captures"}
_PANEL = {"width", "height", "leds"}
_CAMERA = {"width", "height", "linear", "units_per_nit_second", "flat_field", "saturation"}
_CAPTURE = {"file", "leds_on", "level", "exposure_s"}
IMAGE_SUFFIXES = (".npy", ".exr", ".tif", ".tiff")


class CaptureError(DualmodError, ValueError):
    """A capture folder is incomplete, inconsistent or unusable; the message names the file and field."""


@dataclass
class Capture:
    """One camera image: which LEDs were lit (indices into the panel's LEDs), at what level and exposure."""

    file: str
    leds_on: np.ndarray
    level: float
    exposure_s: float
    image: np.ndarray = field(repr=False)
    saturated: np.ndarray | None = field(default=None, repr=False)  # bool mask (camera pixels) or None


@dataclass
class CaptureSet:
    """A checked capture folder, images loaded (float64, camera units).

    Attributes
    ----------
    root : Path
    panel : dualmod.Panel
        The panel geometry from ``captures.json`` (its PSF and LCD are placeholders, not measurements).
    leds_table : dict
        The ``panel.leds`` table as written (profile keys).
    camera : dict
        ``width``, ``height``, ``units_per_nit_second``, ``saturation`` (or None).
    flat_field : ndarray or None
        Relative camera response per pixel.
    corners : ndarray of shape (4, 2)
        Camera pixels of the panel corners TL, TR, BR, BL.
    dark : ndarray, dark_exposure_s : float
    captures : list of Capture
        The ``flat`` capture (all LEDs lit), when present, comes first and has ``file`` of the flat entry.
    """

    root: Path
    panel: object
    leds_table: dict
    camera: dict
    flat_field: np.ndarray | None
    corners: np.ndarray
    dark: np.ndarray
    dark_exposure_s: float
    captures: list[Capture]

    @property
    def H(self) -> np.ndarray:
        """Homography from panel (x, y) to camera (u, v) pixels."""
        w, h = self.panel.width, self.panel.height
        src = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
        return homography(src, self.corners)

    def nits(self, cap: Capture) -> np.ndarray:
        """Panel luminance seen by each camera pixel in a capture (dark-subtracted, flat-fielded, hot pixels
        removed by a 3×3 median); saturated pixels are NaN."""
        img = cap.image - self.dark * (cap.exposure_s / self.dark_exposure_s)
        img = ndimage.median_filter(img, size=3, mode="nearest")
        scale = self.camera["units_per_nit_second"] * cap.exposure_s
        out = img / (scale if self.flat_field is None else scale * self.flat_field)
        if cap.saturated is not None:
            out[cap.saturated] = np.nan
        return out

    def sample_grid(self, max_samples: int = 200) -> tuple[np.ndarray, np.ndarray, int]:
        """Panel points to sample: centres of ``step``×``step`` pixel blocks, at most ``max_samples`` a row.

        The outermost blocks are left out: a camera pixel there sees the panel's edge and the dark
        surround at once.
        """
        w, h = self.panel.width, self.panel.height
        step = max(1, math.ceil(max(w, h) / max_samples))
        xs = np.arange(w // step) * step + (step - 1) / 2.0
        ys = np.arange(h // step) * step + (step - 1) / 2.0
        return xs[1:-1], ys[1:-1], step

    def panel_samples(self, cap: Capture, xs: np.ndarray, ys: np.ndarray, step: int) -> np.ndarray:
        """Panel nits at the points (xs, ys) (a grid); shape (len(ys), len(xs)).

        The camera image is box-filtered over up to 3×3 pixels and sampled bilinearly at each point; a
        point whose filter touches a saturated pixel is NaN.
        """
        img = self.nits(cap)
        bad = np.isnan(img)
        # average over at most 3×3 camera pixels: enough to tame noise, too little to blur a PSF's peak
        foot = max(1, min(3, int(round(step * self.camera_pixels_per_panel_pixel()))))
        if foot > 1:
            img = ndimage.uniform_filter(np.where(bad, 0.0, img), size=foot, mode="nearest")
            if bad.any():
                bad = ndimage.uniform_filter(bad.astype(np.float64), size=foot, mode="nearest") > 0
        gx, gy = np.meshgrid(xs, ys)
        u, v = apply_homography(self.H, gx, gy)
        out = ndimage.map_coordinates(img, [v, u], order=1, mode="nearest")
        if bad.any():
            out[ndimage.map_coordinates(bad.astype(np.float64), [v, u], order=1, mode="nearest") > 0] = np.nan
        return out

    def camera_pixels_per_panel_pixel(self) -> float:
        """Mean linear scale of the panel's image on the sensor."""
        c = self.corners
        top, bottom = np.linalg.norm(c[1] - c[0]), np.linalg.norm(c[2] - c[3])
        left, right = np.linalg.norm(c[3] - c[0]), np.linalg.norm(c[2] - c[1])
        return 0.5 * ((top + bottom) / 2 / self.panel.width + (left + right) / 2 / self.panel.height)


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3×3 projective map taking four points ``src`` to ``dst`` (direct linear transform, h33 = 1).

    Examples
    --------
    >>> H = homography(np.array([[0, 0], [1, 0], [1, 1], [0, 1.]]), np.array([[2, 1], [4, 1], [4, 3], [2, 3.]]))
    >>> [round(float(v), 6) for v in apply_homography(H, 0.5, 0.5)]
    [3.0, 2.0]
    """
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for k, ((x, y), (u, v)) in enumerate(zip(np.asarray(src, float), np.asarray(dst, float))):
        a[2 * k] = [x, y, 1, 0, 0, 0, -u * x, -u * y]
        a[2 * k + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y]
        b[2 * k], b[2 * k + 1] = u, v
    try:
        h = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        raise CaptureError("panel_corners_px: the four corners are degenerate (three on a line?)") from None
    return np.append(h, 1.0).reshape(3, 3)


def apply_homography(H: np.ndarray, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Map points (x, y) through homography ``H``; broadcasting."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = H[2, 0] * x + H[2, 1] * y + H[2, 2]
    return (H[0, 0] * x + H[0, 1] * y + H[0, 2]) / w, (H[1, 0] * x + H[1, 1] * y + H[1, 2]) / w


def led_groups(positions: np.ndarray, min_distance: float) -> list[list[int]]:
    """Split LEDs into groups whose members are all at least ``min_distance`` pixels apart (greedy, in order).

    One capture lights one group: its LEDs' light overlaps a little (the fit models that) but each LED's
    centre stands out. On a grid with pitch p, ``min_distance = 4p`` gives 16 groups.
    """
    pos = np.asarray(positions, dtype=np.float64)
    groups: list[list[int]] = []
    members: list[np.ndarray] = []
    for i, p in enumerate(pos):
        for k, m in enumerate(members):
            if np.min(np.hypot(*(pos[m] - p).T)) >= min_distance:
                groups[k].append(i)
                members[k] = np.asarray(groups[k])
                break
        else:
            groups.append([i])
            members.append(np.asarray([i]))
    return groups


def led_pitch(positions: np.ndarray) -> float:
    """Median distance from each LED to its nearest neighbour (pixels)."""
    pos = np.asarray(positions, dtype=np.float64)
    if len(pos) < 2:
        return float("inf")
    d = np.hypot(pos[:, None, 0] - pos[None, :, 0], pos[:, None, 1] - pos[None, :, 1])
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(axis=1)))


def leds_table(panel, folder) -> dict:
    """The ``panel.leds`` entry of captures.json (a profile's layout keys) for ``panel``; a ``positions``
    layout gets its ``leds.csv`` written into ``folder`` beside it."""
    leds = panel.leds
    if leds.layout != "positions":
        return {"layout": leds.layout, "rows": leds.rows, "cols": leds.cols}
    from dualmod._io import atomic_write

    atomic_write(Path(folder) / "leds.csv",
                 lambda p: np.savetxt(p, panel.led_positions, delimiter=",", fmt="%.6f"))
    return {"layout": "positions", "positions_file": "leds.csv"}


def default_groups(panel, spacing: float = 4.0) -> list[list[int]]:
    """LED groups to light one capture each, members at least ``spacing`` LED pitches apart.

    A grid gets the regular sub-lattices (row mod s, column mod s), s = ⌈spacing⌉: s² captures; other
    layouts the greedy :func:`led_groups`.
    """
    leds = panel.leds
    if leds.layout == "grid":
        s = max(1, int(math.ceil(spacing)))
        idx = np.arange(panel.n_leds).reshape(leds.rows, leds.cols)
        groups = [idx[a::s, b::s].ravel().tolist() for a in range(s) for b in range(s)]
        return [g for g in groups if g]
    return led_groups(panel.led_positions, spacing * led_pitch(panel.led_positions))


# ----------------------------------------------------------------------------------------------- loading
class _Reader:
    def __init__(self, root: Path):
        self.root = root
        self.json = root / "captures.json"

    def err(self, where: str, message: str) -> CaptureError:
        return CaptureError(f"{self.json}: {where}: {message}")

    def table(self, d, where: str, allowed: set[str], required: set[str]) -> dict:
        if not isinstance(d, dict):
            raise self.err(where, f"must be an object, got {type(d).__name__}")
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise self.err(where, f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
        missing = sorted(required - set(d))
        if missing:
            raise self.err(where, f"missing field(s) {', '.join(missing)}")
        return d

    def number(self, d: dict, key: str, where: str, *, positive: bool = True, hi: float | None = None) -> float:
        v = d[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise self.err(f"{where}.{key}", f"must be a finite number, got {v!r}")
        if positive and v <= 0:
            raise self.err(f"{where}.{key}", f"must be > 0, got {v!r}")
        if hi is not None and v > hi:
            raise self.err(f"{where}.{key}", f"must be ≤ {hi:g}, got {v!r}")
        return float(v)

    def integer(self, d: dict, key: str, where: str) -> int:
        v = d[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise self.err(f"{where}.{key}", f"must be a positive integer, got {v!r}")
        return v

    def image(self, name, where: str, shape: tuple[int, int]) -> tuple[np.ndarray, float | None]:
        """(image as float64 (H, W), its integer saturation level or None)."""
        if not isinstance(name, str) or not name:
            raise self.err(where, f"must be a file name, got {name!r}")
        path = self.root / name
        if not path.is_file():
            raise CaptureError(f"{path}: missing ({where} in {self.json})")
        suffix = path.suffix.lower()
        sat = None
        try:
            if suffix == ".npy":
                img = np.load(path, allow_pickle=False)
            elif suffix == ".exr":
                from dualmod.imaging.io import read_image

                img = read_image(path, sanitize=False)
            elif suffix in (".tif", ".tiff"):
                from dualmod.imaging.io import _cv2

                cv2 = _cv2()
                img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
                if img is None:
                    raise ValueError("not a readable TIFF")
                if img.ndim == 3:
                    img = img[..., ::-1]  # OpenCV's BGR
            else:
                raise CaptureError(f"{path}: camera images are {', '.join(IMAGE_SUFFIXES)}, not {suffix or 'none'}")
        except DualmodError as exc:
            raise CaptureError(f"{path}: {exc}") from None
        except (OSError, ValueError) as exc:
            raise CaptureError(f"{path}: cannot read ({exc})") from None
        if img.dtype.kind in "ui":
            sat = float(np.iinfo(img.dtype).max)
        elif img.dtype.kind != "f":
            raise CaptureError(f"{path}: camera image must be numeric, got dtype {img.dtype}")
        img = np.asarray(img, dtype=np.float64)
        if img.ndim == 3 and img.shape[2] == 3:  # linear RGB camera: luminance (DESIGN §2)
            from dualmod.imaging.colour import luminance

            img = luminance(img).astype(np.float64)
        elif img.ndim == 3 and img.shape[2] == 1:
            img = img[..., 0]
        if img.shape != shape:
            raise CaptureError(f"{path}: image is {_size(img.shape)}, the camera in {self.json.name} is "
                               f"{shape[1]}×{shape[0]} (width×height)")
        if not np.all(np.isfinite(img)):
            raise CaptureError(f"{path}: image has NaN or Inf pixels ({int(np.sum(~np.isfinite(img)))})")
        return img, sat


def _size(shape) -> str:
    return f"{shape[1]}×{shape[0]}" + (f"×{shape[2]}" if len(shape) == 3 else "") if len(shape) >= 2 else str(shape)


def load_captures(folder) -> CaptureSet:
    """Open and check a ``dualmod-captures/1`` folder; every image is read and checked here.

    Raises
    ------
    CaptureError
        Naming the file and field: a missing or unknown field, a missing or unreadable image, an image of the
        wrong size, corners outside the camera frame, a saturated capture.
    """
    from dualmod import Panel

    root = Path(folder)
    r = _Reader(root)
    if not root.is_dir():
        raise CaptureError(f"{root}: no such capture folder")
    if not r.json.is_file():
        raise CaptureError(f"{root}: no captures.json (the {FORMAT} index) in this folder")
    try:
        data = json.loads(r.json.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CaptureError(f"{r.json}: not valid JSON ({exc})") from None
    r.table(data, "top level", _TOP, {"format", "panel", "camera", "panel_corners_px", "dark", "dark_exposure_s",
                                      "captures"})
    if data["format"] != FORMAT:
        raise r.err("format", f"must be {FORMAT!r}, got {data['format']!r}")
    p = r.table(data["panel"], "panel", _PANEL, _PANEL)
    width, height = r.integer(p, "width", "panel"), r.integer(p, "height", "panel")
    leds = p["leds"]
    if not isinstance(leds, dict):
        raise r.err("panel.leds", "must be an object with the keys of a profile's [leds] table")
    try:
        panel = Panel.from_dict({"panel": {"name": root.name or "captured", "width": width, "height": height,
                                           "peak_nits": 1.0},
                                 "leds": dict(leds), "psf": {"model": "gaussian", "sigma": max(width, height) / 8},
                                 "lcd": {"response": "gamma", "gamma": 2.2, "bit_depth": 8, "contrast_ratio": 1000.0}},
                                source=str(r.json), base_dir=root)
    except ProfileError as exc:
        raise CaptureError(f"panel.leds: {exc}") from None
    n = panel.n_leds

    c = r.table(data["camera"], "camera", _CAMERA, {"width", "height", "units_per_nit_second"})
    cw, ch = r.integer(c, "width", "camera"), r.integer(c, "height", "camera")
    if c.get("linear", True) is not True:
        raise r.err("camera.linear", "must be true: linearise the camera images (raw values) before fitting")
    camera = {"width": cw, "height": ch, "units_per_nit_second": r.number(c, "units_per_nit_second", "camera"),
              "saturation": r.number(c, "saturation", "camera") if "saturation" in c else None}
    shape = (ch, cw)
    flat_field = None
    if "flat_field" in c:
        flat_field, _ = r.image(c["flat_field"], "camera.flat_field", shape)
        if np.any(flat_field <= 0):
            raise CaptureError(f"{root / c['flat_field']}: the flat field must be > 0 everywhere "
                               f"({int(np.sum(flat_field <= 0))} pixels are not)")

    try:
        corners = np.asarray(data["panel_corners_px"], dtype=np.float64)
    except (TypeError, ValueError):
        corners = None
    if corners is None or corners.shape != (4, 2) or not np.all(np.isfinite(corners)):
        raise r.err("panel_corners_px", "must be four [x, y] camera pixels: top-left, top-right, bottom-right, "
                    "bottom-left")
    outside = [k for k, (x, y) in enumerate(corners) if not (-0.5 <= x <= cw - 0.5 and -0.5 <= y <= ch - 0.5)]
    if outside:
        names = ["top-left", "top-right", "bottom-right", "bottom-left"]
        raise r.err("panel_corners_px", f"corner(s) {', '.join(names[k] for k in outside)} lie outside the "
                    f"{cw}×{ch} camera frame: the whole panel must be in view")
    edges = np.roll(corners, -1, axis=0) - corners
    cross = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    if not (np.all(cross > 0) or np.all(cross < 0)):
        raise r.err("panel_corners_px", "the corners do not form a convex quadrilateral in the order top-left, "
                    "top-right, bottom-right, bottom-left")

    dark, _ = r.image(data["dark"], "dark", shape)
    dark_exposure = r.number(data, "dark_exposure_s", "top level")

    entries = []
    if "flat" in data:
        f = r.table(data["flat"], "flat", _CAPTURE, _CAPTURE)
        entries.append(("flat", f))
    caps = data["captures"]
    if not isinstance(caps, list) or not caps:
        raise r.err("captures", "must be a non-empty list")
    entries += [(f"captures[{k}]", r.table(e, f"captures[{k}]", _CAPTURE, _CAPTURE)) for k, e in enumerate(caps)]

    out = CaptureSet(root, panel, dict(leds), camera, flat_field, corners, dark, dark_exposure, [])
    gx, gy = np.meshgrid(np.arange(cw), np.arange(ch))
    px, py = apply_homography(np.linalg.inv(out.H), gx, gy)
    inside = (px >= -0.5) & (px <= width - 0.5) & (py >= -0.5) & (py <= height - 0.5)
    area = max(1, int(inside.sum()))
    seen: set[str] = set()
    for where, e in entries:
        on = e["leds_on"]
        if on == "all":
            idx = np.arange(n)
        else:
            if (not isinstance(on, list) or not on
                    or not all(isinstance(i, int) and not isinstance(i, bool) for i in on)):
                raise r.err(f"{where}.leds_on", f"must be \"all\" or a non-empty list of LED indices, got {on!r}")
            idx = np.asarray(on, dtype=np.int64)
            if idx.min() < 0 or idx.max() >= n:
                raise r.err(f"{where}.leds_on", f"LED indices must lie in 0…{n - 1} (the panel has {n} LEDs)")
            if np.unique(idx).size != idx.size:
                raise r.err(f"{where}.leds_on", "lists an LED twice")
        level = r.number(e, "level", where, hi=1.0)
        exposure = r.number(e, "exposure_s", where)
        if e["file"] in seen:
            raise r.err(f"{where}.file", f"{e['file']} is used by two captures")
        seen.add(e["file"])
        img, int_sat = r.image(e["file"], f"{where}.file", shape)
        sat_level = int_sat if int_sat is not None else camera["saturation"]
        if sat_level is None:
            top = img.max()
            if top > 0 and np.count_nonzero(img >= top) >= SAT_TIE_PIXELS:
                sat_level = top
        saturated = None
        if sat_level is not None:
            saturated = (img >= sat_level) & inside
            clumps = ndimage.binary_opening(saturated)  # isolated clipped pixels (hot pixels) are not saturation
            frac = clumps.sum() / area
            if frac > MAX_SATURATED_FRACTION:
                raise CaptureError(f"{root / e['file']}: {100 * frac:.2f} % of the panel is saturated "
                                   f"(limit {100 * MAX_SATURATED_FRACTION:g} %): shorten its exposure "
                                   f"({exposure:g} s) or lower its level")
            # isolated clipped pixels (hot pixels) go with the median filter; clumps are left out of the fit
            saturated = ndimage.binary_dilation(clumps) if clumps.any() else None
        out.captures.append(Capture(e["file"], idx, level, exposure, img, saturated))
    return out
