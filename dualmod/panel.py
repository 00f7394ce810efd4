# SPDX-License-Identifier: BSD-3-Clause
"""Panel profiles: what a dual-modulation display is made of.

A panel profile is a TOML file (schema in DESIGN.md section 4) describing the
LCD, the LED backlight, the LEDs' point-spread function (PSF) and the viewing
conditions. It is parsed as data into frozen dataclasses and validated: every
error names the file, the field and the allowed values, and unknown fields are
errors, not silently ignored.

Profiles are found, in this order: an explicit path to a ``.toml`` file; a
built-in name (``Panel.builtins()``); ``NAME.toml`` in one of the folders
listed in the environment variable ``DUALMOD_PROFILES`` (``os.pathsep``
separated).

Units: luminance in cd/m² (nits), illuminance in lux, distances in LCD pixels.

Examples
--------
>>> import dualmod as dm
>>> panel = dm.Panel.load("fald-1080p-576")
>>> panel.width, panel.height, panel.n_leds
(1920, 1080, 576)
>>> panel.led_positions[0].tolist()
[29.5, 29.5]
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import ProfileError

__all__ = ["Panel", "LedSpec", "PsfSpec", "LcdSpec", "LED_LAYOUTS", "PSF_MODELS", "LCD_RESPONSES",
           "LED_RESPONSES", "BOUNDARIES"]

LED_LAYOUTS = ("grid", "hex", "positions")
PSF_MODELS = ("gaussian", "gaussian_mixture", "radial_table", "image")
LCD_RESPONSES = ("gamma", "srgb", "lut")
LED_RESPONSES = ("linear", "gamma", "lut")
BOUNDARIES = ("zero", "mirror")


def _frozen_array(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _digest(a: np.ndarray | None) -> str:
    if a is None:
        return ""
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float64).tobytes()
                          + str(a.shape).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LedSpec:
    """The LED backlight: layout, drive quantisation and response.

    Attributes
    ----------
    layout : {"grid", "hex", "positions"}
    rows, cols : int
        Grid size; for ``hex``, rows alternate ``cols`` and ``cols - 1`` LEDs,
        odd rows shifted by half a pitch.
    positions : ndarray of shape (N, 2) or None
        LED centres (x, y) in pixels, for ``layout = "positions"``.
    bit_depth : int
        Drive resolution b; drive codes are 0 … 2**b − 1.
    response : {"linear", "gamma", "lut"}
        Light fraction as a function of drive fraction (DESIGN §3 step 1).
    gamma : float
        Exponent of the ``gamma`` response (light = drive**gamma).
    lut : ndarray of shape (K, 2) or None
        ``lut`` response: (drive code, relative light), monotone, from 0 to 1.
    channels : {1, 3}
        1 = white backlight, 3 = RGB backlight.
    max_mean_level : float
        Power cap: the mean LED level (all-on = 1) a solver may use.
    """

    layout: str = "grid"
    rows: int = 0
    cols: int = 0
    positions: np.ndarray | None = field(default=None, compare=False, repr=False)
    positions_digest: str = field(default="", repr=False)
    bit_depth: int = 12
    response: str = "linear"
    gamma: float = 2.2
    lut: np.ndarray | None = field(default=None, compare=False, repr=False)
    lut_digest: str = field(default="", repr=False)
    channels: int = 1
    max_mean_level: float = 1.0


@dataclass(frozen=True)
class PsfSpec:
    """The light spread of one LED on the LCD plane (relative units).

    Attributes
    ----------
    model : {"gaussian", "gaussian_mixture", "radial_table", "image"}
    sigma : float
        ``gaussian``: standard deviation in pixels.
    weights, sigmas : tuple of float
        ``gaussian_mixture``: Σ weights[k]·exp(−r²/(2·sigmas[k]²)).
    radius, value : tuple of float
        ``radial_table``: value at radius (pixels), linearly interpolated,
        zero beyond the last radius.
    image : ndarray of shape (h, w) or None
        ``image``: a measured kernel sampled on the pixel grid, centred at
        ((w−1)/2, (h−1)/2), bilinearly interpolated, zero outside.
    boundary : {"zero", "mirror"}
        ``mirror`` reflects LED images across the four panel edges (and the
        corners) with ``edge_reflectance`` per reflection.
    edge_reflectance : float
    """

    model: str = "gaussian"
    sigma: float = 60.0
    weights: tuple[float, ...] = ()
    sigmas: tuple[float, ...] = ()
    radius: tuple[float, ...] = ()
    value: tuple[float, ...] = ()
    image: np.ndarray | None = field(default=None, compare=False, repr=False)
    image_digest: str = field(default="", repr=False)
    boundary: str = "zero"
    edge_reflectance: float = 1.0


@dataclass(frozen=True)
class LcdSpec:
    """The LCD: response, code depth and leakage.

    Attributes
    ----------
    response : {"gamma", "srgb", "lut"}
        Relative transmittance f(v) of the normalised code v (DESIGN §3 step 3).
    gamma : float
        Exponent of the ``gamma`` response.
    lut : ndarray of shape (K, 2) or None
        ``lut`` response: (code, relative transmittance), monotone, f(0)=0, f(1)=1.
    bit_depth : int
        6 … 16 bits.
    contrast_ratio : float
        Full-on over full-off transmittance; leakage ε = 1 / contrast_ratio.
    """

    response: str = "gamma"
    gamma: float = 2.2
    lut: np.ndarray | None = field(default=None, compare=False, repr=False)
    lut_digest: str = field(default="", repr=False)
    bit_depth: int = 8
    contrast_ratio: float = 1000.0

    @property
    def leakage(self) -> float:
        """ε = 1 / contrast_ratio."""
        return 1.0 / self.contrast_ratio


@dataclass(frozen=True)
class Panel:
    """A dual-modulation display: LCD in front of a grid of dimmable LEDs.

    Load one with :meth:`Panel.load`. Instances are immutable and hashable,
    so derived models (PSF tables, LUTs) can be cached per panel.

    Attributes
    ----------
    name : str
    width, height : int
        LCD resolution in pixels. Pixel (row i, column j) has its centre at
        (x=j, y=i).
    peak_nits : float
        Luminance (cd/m²) at the panel centre with all LEDs at 1 and the LCD
        fully open.
    ambient_lux : float
        Illuminance on the screen (lux).
    reflectance : float
        Screen reflectance k_refl; reflected ambient light adds
        ambient_lux·reflectance/π cd/m² everywhere.
    leds : LedSpec
    psf : PsfSpec
    lcd : LcdSpec
    source : str
        Where the profile came from (file path or ``builtin:NAME``).
    """

    name: str
    width: int
    height: int
    peak_nits: float
    leds: LedSpec
    psf: PsfSpec
    lcd: LcdSpec
    ambient_lux: float = 0.0
    reflectance: float = 0.0
    source: str = field(default="", compare=False)

    # ------------------------------------------------------------------ loading
    @staticmethod
    def builtins() -> list[str]:
        """Names of the built-in profiles, sorted."""
        folder = resources.files("dualmod") / "profiles"
        return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))

    @classmethod
    def load(cls, name_or_path: str | os.PathLike) -> "Panel":
        """Load a profile by built-in name or from a ``.toml`` file.

        Parameters
        ----------
        name_or_path : str or path-like
            A path to a TOML profile, a built-in name (see :meth:`builtins`),
            or a name found as ``NAME.toml`` in ``$DUALMOD_PROFILES``.

        Raises
        ------
        ProfileError
            The profile cannot be found, read or validated.
        """
        if isinstance(name_or_path, Panel):
            return name_or_path
        path, source = cls.locate(name_or_path)
        return cls._from_file(path, source=source)

    @classmethod
    def locate(cls, name_or_path: str | os.PathLike) -> tuple[Path, str]:
        """The TOML file :meth:`load` reads for a name or path, and the source name its errors use."""
        text = os.fspath(name_or_path)
        path = Path(text)
        if path.suffix == ".toml" or os.sep in text or (os.altsep and os.altsep in text):
            if not path.is_file():
                raise ProfileError("no such profile file", source=text)
            return path, text
        builtin = resources.files("dualmod") / "profiles" / f"{text}.toml"
        if builtin.is_file():
            with resources.as_file(builtin) as p:  # a real file: the package is installed unzipped
                return Path(p), f"builtin:{text}"
        for folder in filter(None, os.environ.get("DUALMOD_PROFILES", "").split(os.pathsep)):
            candidate = Path(folder) / f"{text}.toml"
            if candidate.is_file():
                return candidate, str(candidate)
        if path.is_file():
            return path, text
        raise ProfileError(f"unknown panel profile; built-in profiles are {', '.join(cls.builtins())}, "
                           "or give a path to a .toml file", source=text)

    @classmethod
    def _from_file(cls, path: Path, source: str | None = None) -> "Panel":
        src = source or str(path)
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(f"not valid TOML ({exc})", source=src) from None
        except OSError as exc:
            raise ProfileError(f"cannot read ({exc.strerror})", source=src) from None
        return cls.from_dict(data, source=src, base_dir=path.parent, default_name=path.stem)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>",
                  base_dir: str | os.PathLike | None = None, default_name: str = "panel") -> "Panel":
        """Build and validate a panel from a parsed TOML mapping.

        Relative file names in the profile (``positions_file``, ``lut_file``,
        PSF ``file``) are resolved against ``base_dir``.
        """
        return _Parser(data, source, Path(base_dir) if base_dir else Path.cwd(), default_name).panel()

    # --------------------------------------------------------------- geometry
    @property
    def n_leds(self) -> int:
        """Number of LEDs (zones) N."""
        return int(self.led_positions.shape[0])

    @property
    def led_positions(self) -> np.ndarray:
        """LED centres, shape (N, 2), as (x, y) in pixels, row-major for grids."""
        cached = self.__dict__.get("_led_positions")
        if cached is None:
            from .display.layout import led_positions

            cached = led_positions(self)
            object.__setattr__(self, "_led_positions", cached)
        return cached

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return (self.height, self.width)

    @property
    def ambient_nits(self) -> float:
        """Reflected ambient light E_amb·k_refl/π in cd/m²."""
        return self.ambient_lux * self.reflectance / math.pi

    @property
    def black_nits(self) -> float:
        """Black level with all LEDs at 1: peak/contrast + reflected ambient, cd/m²."""
        return self.peak_nits / self.lcd.contrast_ratio + self.ambient_nits

    def replace(self, **changes: Any) -> "Panel":
        """A copy with top-level fields replaced (``leds=``, ``psf=``, ``lcd=`` take specs)."""
        return dataclasses.replace(self, **changes)

    def __hash__(self) -> int:  # dataclass hash, but cached: panels key model caches
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.name, self.width, self.height, self.peak_nits, self.leds, self.psf, self.lcd,
                      self.ambient_lux, self.reflectance))
            object.__setattr__(self, "_hash", h)
        return h


# ---------------------------------------------------------------------- parsing
_ALLOWED = {
    "panel": {"name", "width", "height", "peak_nits", "ambient_lux", "reflectance"},
    "leds": {"layout", "rows", "cols", "positions_file", "bit_depth", "response", "gamma", "lut_file",
             "channels", "max_mean_level"},
    "psf": {"model", "sigma", "weights", "sigmas", "radius", "value", "file", "boundary", "edge_reflectance"},
    "lcd": {"response", "gamma", "lut_file", "bit_depth", "contrast_ratio"},
}
_PSF_PARAMS = {"gaussian": {"sigma"}, "gaussian_mixture": {"weights", "sigmas"},
               "radial_table": {"radius", "value"}, "image": {"file"}}


class _Parser:
    def __init__(self, data: Mapping[str, Any], source: str, base_dir: Path, default_name: str):
        self.data = data
        self.src = source
        self.base = base_dir
        self.default_name = default_name

    def err(self, field: str, message: str) -> ProfileError:
        return ProfileError(message, source=self.src, field=field)

    def table(self, name: str, required: bool = True) -> dict:
        t = self.data.get(name)
        if t is None:
            if required:
                raise self.err(name, f"missing table [{name}]")
            return {}
        if not isinstance(t, dict):
            raise self.err(name, f"must be a table [{name}]")
        unknown = sorted(set(t) - _ALLOWED[name])
        if unknown:
            raise self.err(f"{name}.{unknown[0]}", f"unknown field; allowed fields of [{name}] are "
                           + ", ".join(sorted(_ALLOWED[name])))
        return dict(t)

    # typed getters ---------------------------------------------------------
    def number(self, t: dict, table: str, key: str, default: float | None = None, *, lo: float | None = None,
               hi: float | None = None, lo_open: bool = False) -> float:
        name = f"{table}.{key}"
        if key not in t:
            if default is None:
                raise self.err(name, "required field is missing")
            return float(default)
        v = t[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.err(name, f"must be a number, got {v!r}")
        v = float(v)
        if not math.isfinite(v):
            raise self.err(name, f"must be finite, got {v!r}")
        rng = f"{'(' if lo_open else '['}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        if lo is not None and (v < lo or (lo_open and v == lo)):
            raise self.err(name, f"must be in {rng}, got {v:g}")
        if hi is not None and v > hi:
            raise self.err(name, f"must be in {rng}, got {v:g}")
        return v

    def integer(self, t: dict, table: str, key: str, default: int | None = None, *, lo: int | None = None,
                hi: int | None = None) -> int:
        name = f"{table}.{key}"
        if key not in t:
            if default is None:
                raise self.err(name, "required field is missing")
            return int(default)
        v = t[key]
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.err(name, f"must be an integer, got {v!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.err(name, f"must be an integer in [{lo}, {hi if hi is not None else 'inf'}], got {v}")
        return v

    def choice(self, t: dict, table: str, key: str, allowed: tuple[str, ...], default: str | None = None) -> str:
        name = f"{table}.{key}"
        if key not in t:
            if default is None:
                raise self.err(name, f"required field is missing; allowed values: {', '.join(allowed)}")
            return default
        v = t[key]
        if v not in allowed:
            raise self.err(name, f"must be one of {', '.join(allowed)}; got {v!r}")
        return v

    def numbers(self, t: dict, table: str, key: str) -> tuple[float, ...]:
        name = f"{table}.{key}"
        if key not in t:
            raise self.err(name, "required field is missing")
        v = t[key]
        if not isinstance(v, list) or not v:
            raise self.err(name, "must be a non-empty array of numbers")
        out = []
        for x in v:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
                raise self.err(name, f"must contain finite numbers only, got {x!r}")
            out.append(float(x))
        return tuple(out)

    def path(self, t: dict, table: str, key: str) -> Path:
        name = f"{table}.{key}"
        if key not in t:
            raise self.err(name, "required field is missing")
        v = t[key]
        if not isinstance(v, str) or not v:
            raise self.err(name, "must be a file name")
        p = Path(v)
        if not p.is_absolute():
            p = self.base / p
        if not p.is_file():
            raise self.err(name, f"file not found: {p}")
        return p

    def only(self, t: dict, table: str, keys: set[str], why: str) -> None:
        for k in sorted(set(t) & keys):
            raise self.err(f"{table}.{k}", f"not used {why}")

    # tables ------------------------------------------------------------------
    def panel(self) -> Panel:
        extra = sorted(set(self.data) - set(_ALLOWED))
        if extra:
            raise self.err(extra[0], "unknown table; allowed tables are [panel], [leds], [psf], [lcd]")
        p = self.table("panel")
        name = p.get("name", self.default_name)
        if not isinstance(name, str) or not name:
            raise self.err("panel.name", "must be a non-empty string")
        width = self.integer(p, "panel", "width", lo=1, hi=65536)
        height = self.integer(p, "panel", "height", lo=1, hi=65536)
        peak = self.number(p, "panel", "peak_nits", lo=0.0, lo_open=True)
        ambient = self.number(p, "panel", "ambient_lux", 0.0, lo=0.0)
        refl = self.number(p, "panel", "reflectance", 0.0, lo=0.0, hi=1.0)
        leds = self.leds(width, height)
        psf = self.psf()
        lcd = self.lcd()
        panel = Panel(name=name, width=width, height=height, peak_nits=peak, leds=leds, psf=psf, lcd=lcd,
                      ambient_lux=ambient, reflectance=refl, source=self.src)
        try:
            panel.led_positions  # noqa: B018 - validates the layout against the panel size
        except ValueError as exc:
            raise self.err("leds", str(exc)) from None
        return panel

    def leds(self, width: int, height: int) -> LedSpec:
        t = self.table("leds")
        layout = self.choice(t, "leds", "layout", LED_LAYOUTS)
        rows = cols = 0
        positions = None
        if layout in ("grid", "hex"):
            self.only(t, "leds", {"positions_file"}, f"by layout '{layout}' (use layout = \"positions\")")
            rows = self.integer(t, "leds", "rows", lo=1, hi=4096)
            cols = self.integer(t, "leds", "cols", lo=2 if layout == "hex" else 1, hi=4096)
        else:
            self.only(t, "leds", {"rows", "cols"}, "by layout 'positions'")
            positions = self.read_table(self.path(t, "leds", "positions_file"), "leds.positions_file", 2)
        bit_depth = self.integer(t, "leds", "bit_depth", 12, lo=1, hi=16)
        response = self.choice(t, "leds", "response", LED_RESPONSES, "linear")
        gamma = 2.2
        lut = None
        if response == "gamma":
            self.only(t, "leds", {"lut_file"}, "by response 'gamma'")
            gamma = self.number(t, "leds", "gamma", 2.2, lo=0.0, lo_open=True, hi=10.0)
        elif response == "lut":
            self.only(t, "leds", {"gamma"}, "by response 'lut'")
            lut = self.response_lut(self.path(t, "leds", "lut_file"), "leds.lut_file", 2 ** bit_depth - 1)
        else:
            self.only(t, "leds", {"gamma", "lut_file"}, "by response 'linear'")
        channels = self.integer(t, "leds", "channels", 1, lo=1, hi=3)
        if channels == 2:
            raise self.err("leds.channels", "must be 1 (white) or 3 (RGB), got 2")
        cap = self.number(t, "leds", "max_mean_level", 1.0, lo=0.0, lo_open=True, hi=1.0)
        return LedSpec(layout=layout, rows=rows, cols=cols,
                       positions=None if positions is None else _frozen_array(positions),
                       positions_digest=_digest(positions), bit_depth=bit_depth, response=response, gamma=gamma,
                       lut=None if lut is None else _frozen_array(lut), lut_digest=_digest(lut),
                       channels=channels, max_mean_level=cap)

    def psf(self) -> PsfSpec:
        t = self.table("psf")
        model = self.choice(t, "psf", "model", PSF_MODELS)
        unused = set().union(*_PSF_PARAMS.values()) - _PSF_PARAMS[model]
        self.only(t, "psf", unused, f"by model '{model}'")
        kw: dict[str, Any] = {}
        if model == "gaussian":
            kw["sigma"] = self.number(t, "psf", "sigma", lo=0.0, lo_open=True, hi=1e5)
        elif model == "gaussian_mixture":
            w = self.numbers(t, "psf", "weights")
            s = self.numbers(t, "psf", "sigmas")
            if len(w) != len(s):
                raise self.err("psf.sigmas", f"must have as many entries as psf.weights ({len(w)}), got {len(s)}")
            if any(x <= 0 for x in w):
                raise self.err("psf.weights", "must all be > 0")
            if any(x <= 0 or x > 1e5 for x in s):
                raise self.err("psf.sigmas", "must all be in (0, 1e5] pixels")
            kw.update(weights=w, sigmas=s)
        elif model == "radial_table":
            r = self.numbers(t, "psf", "radius")
            v = self.numbers(t, "psf", "value")
            if len(r) != len(v) or len(r) < 2:
                raise self.err("psf.value", "radius and value must have the same length (at least 2)")
            if r[0] != 0.0 or any(b <= a for a, b in zip(r, r[1:])):
                raise self.err("psf.radius", "must start at 0 and increase strictly")
            if any(x < 0 for x in v) or v[0] <= 0:
                raise self.err("psf.value", "must be >= 0 with value[0] > 0")
            if r[-1] > 1e5:
                raise self.err("psf.radius", "must stay below 1e5 pixels")
            kw.update(radius=r, value=v)
        else:
            img = self.read_psf_image(self.path(t, "psf", "file"))
            kw.update(image=_frozen_array(img), image_digest=_digest(img))
        boundary = self.choice(t, "psf", "boundary", BOUNDARIES, "zero")
        refl = self.number(t, "psf", "edge_reflectance", 1.0, lo=0.0, hi=1.0)
        return PsfSpec(model=model, boundary=boundary, edge_reflectance=refl, **kw)

    def lcd(self) -> LcdSpec:
        t = self.table("lcd")
        response = self.choice(t, "lcd", "response", LCD_RESPONSES)
        bit_depth = self.integer(t, "lcd", "bit_depth", lo=6, hi=16)
        cr = self.number(t, "lcd", "contrast_ratio", lo=1.0, lo_open=True, hi=1e9)
        gamma = 2.2
        lut = None
        if response == "gamma":
            self.only(t, "lcd", {"lut_file"}, "by response 'gamma'")
            gamma = self.number(t, "lcd", "gamma", 2.2, lo=0.2, hi=10.0)
        elif response == "lut":
            self.only(t, "lcd", {"gamma"}, "by response 'lut'")
            lut = self.response_lut(self.path(t, "lcd", "lut_file"), "lcd.lut_file", 2 ** bit_depth - 1)
        else:
            self.only(t, "lcd", {"gamma", "lut_file"}, "by response 'srgb'")
        return LcdSpec(response=response, gamma=gamma, lut=None if lut is None else _frozen_array(lut),
                       lut_digest=_digest(lut), bit_depth=bit_depth, contrast_ratio=cr)

    # files -------------------------------------------------------------------
    def read_table(self, path: Path, field: str, ncols: int) -> np.ndarray:
        rows = []
        try:
            with open(path, newline="") as fh:
                for lineno, row in enumerate(csv.reader(fh), 1):
                    cells = [c.strip() for c in row if c.strip()]
                    if not cells or cells[0].startswith("#"):
                        continue
                    try:
                        values = [float(c) for c in cells]
                    except ValueError:
                        if not rows:  # a header line
                            continue
                        raise self.err(field, f"{path}:{lineno}: not a number in {row!r}") from None
                    if len(values) != ncols:
                        raise self.err(field, f"{path}:{lineno}: expected {ncols} columns, got {len(values)}")
                    rows.append(values)
        except (OSError, UnicodeDecodeError) as exc:
            raise self.err(field, f"cannot read {path} ({exc})") from None
        a = np.asarray(rows, dtype=np.float64).reshape(-1, ncols)
        if a.shape[0] == 0:
            raise self.err(field, f"{path}: no data rows")
        if not np.all(np.isfinite(a)):
            raise self.err(field, f"{path}: values must be finite")
        return a

    def response_lut(self, path: Path, field: str, max_code: int) -> np.ndarray:
        a = self.read_table(path, field, 2)
        code, val = a[:, 0], a[:, 1]
        if a.shape[0] < 2 or np.any(np.diff(code) <= 0):
            raise self.err(field, f"{path}: codes must increase strictly (at least 2 rows)")
        if code[0] != 0 or code[-1] != max_code:
            raise self.err(field, f"{path}: codes must run from 0 to {max_code} (2**bit_depth - 1), "
                           f"got {code[0]:g} to {code[-1]:g}")
        if np.any(np.diff(val) < 0):
            raise self.err(field, f"{path}: values must not decrease")
        if abs(val[0]) > 1e-9 or abs(val[-1] - 1.0) > 1e-6:
            raise self.err(field, f"{path}: values must run from 0 to 1 (relative), got {val[0]:g} to {val[-1]:g}")
        out = np.stack([code / max_code, val], axis=1)
        out[0, 1], out[-1, 1] = 0.0, 1.0
        return out

    def read_psf_image(self, path: Path) -> np.ndarray:
        field = "psf.file"
        suffix = path.suffix.lower()
        try:
            if suffix == ".npy":
                img = np.load(path, allow_pickle=False)
            elif suffix in (".csv", ".txt"):
                img = np.loadtxt(path, delimiter=",", ndmin=2)
            elif suffix == ".exr":
                from .imaging.colour import luminance
                from .imaging.io import read_image

                img = luminance(read_image(path, sanitize=False)).astype(np.float64)
            else:
                raise self.err(field, f"{path}: unsupported kernel file type; use .npy, .csv or .exr")
        except ProfileError:
            raise
        except Exception as exc:  # any reader failure is a bad file, not a crash
            raise self.err(field, f"cannot read kernel {path} ({exc})") from None
        img = np.asarray(img, dtype=np.float64)
        if img.ndim == 3 and img.shape[2] == 3:
            from .imaging.colour import luminance

            img = luminance(img).astype(np.float64)
        if img.ndim != 2 or min(img.shape) < 1 or max(img.shape) > 8192:
            raise self.err(field, f"{path}: kernel must be a 2-D array up to 8192 px, got shape {img.shape}")
        if not np.all(np.isfinite(img)) or np.any(img < 0) or img.max() <= 0:
            raise self.err(field, f"{path}: kernel values must be finite, >= 0 and not all 0")
        return img
