# SPDX-License-Identifier: BSD-3-Clause
"""LCD and LED responses from photometer readings.

A photometer (spot meter) pointed at the panel reads luminance in cd/m²
(nits) while the panel shows known codes. This module turns such readings
into the ``[lcd]`` and ``[leds]`` tables of a dualmod panel profile
(DESIGN.md §3 and §4), plus quality numbers that say how far to trust them.

The LCD model
-------------
With the backlight fixed at B nits, the LCD shows B·τ(v) for code v, with
τ(v) = ε + (1 − ε)·f(v/M), M = 2**bits − 1, ε = 1/contrast_ratio and f the
response (f(0) = 0, f(1) = 1). From white readings Y(v) (all three channels
at code v)::

    contrast_ratio = Y(M) / Y(0)
    f(v/M)         = (Y(v) − Y(0)) / (Y(M) − Y(0))

B cancels, so the backlight level does not matter as long as it stays
constant during the readings (and the meter is not in the panel's dimming
loop). :func:`fit_lcd` fits either a power law f(x) = x**γ (``gamma``) or a
monotone table through the readings (``lut``), see there for how.

A profile has one LCD response for all three channels. Readings of single
channels (``red``: only red at code v, green and blue at 0) are normalised
the same way, with the channel's own code-0 reading as its black (or the
white code-0 reading when the channel has none: channel-only at code 0 *is*
black) and its own code-M reading as its full level, and reported as the
largest difference from the fitted white response
(:attr:`LcdFit.channel_deviation`).

The LED model
-------------
An LED's light is close to linear in its PWM drive code d, but a driver
usually has a dead zone (an offset) at the bottom and the LED droops at the
top (efficiency falls as it heats: sub-linear). From readings Y(d) at a
fixed spot, LCD white, the relative light is::

    y(d) = (Y(d) − Y(0)) / (Y(M) − Y(0))

Y(0) is what reaches the meter with the measured LED(s) off (other LEDs,
LCD leakage, room light) and cancels. :func:`fit_led` turns y into the
profile's ``[leds] response = "lut"`` table and into a linearising table for
firmware (drive code for each wanted light level).

File formats
------------
Both inputs are CSV text, one reading a line. A ``#`` starts a comment (a
whole line or the rest of a line); blank lines are ignored; the first other
line is the header. Codes are integers (``128`` or ``128.0``), 0 … 65535 (0
… 2**bit_depth − 1 when the bit depth is given); nits are finite numbers
≥ 0.

LCD (:func:`read_lcd_measurements`)::

    # 8-bit panel, backlight all on, meter at the centre
    channel,code,nits
    white,0,0.41
    white,32,5.2
    ...
    white,255,612.0
    red,255,131.5

``channel`` is ``white`` (all three channels at ``code``), ``red``,
``green`` or ``blue`` (only that channel at ``code``, the others at 0).
``white`` needs at least 3 readings including code 0 and code M; a colour
channel needs code M. Y(M) must exceed Y(0), and Y(0) must be > 0 (a
contrast ratio needs a black level: measure black with a longer
integration time if the meter reads 0).

LED (:func:`read_led_measurements`)::

    drive,nits
    0,0.8
    256,31.0
    ...
    4095,402.0

At least 3 readings including drive 0 and drive M, with Y(M) > Y(0).

The bit depth M = 2**bits − 1 is the caller's (``bit_depth``); by default it
is the smallest of 8, 10, 12, 14, 16 bits that holds the largest code read.

Output tables (:meth:`LcdFit.write_lut`, :meth:`LedFit.write_lut`) are CSV
``code,value`` with a header line, codes from 0 to M increasing, values
non-decreasing from exactly 0 to exactly 1: what ``lut_file`` of a profile
reads (linearly interpolated between codes).

Examples
--------
>>> import pathlib, shutil, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> rows = "".join(f"white,{c},{0.5 + 499.5 * (c / 255) ** 2.2:.5f}\\n" for c in range(0, 256, 15))
>>> _ = (folder / "lcd.csv").write_text("channel,code,nits\\n" + rows)
>>> fit = fit_lcd(read_lcd_measurements(folder / "lcd.csv"))
>>> fit.response, round(fit.gamma, 2), round(fit.contrast_ratio)
('gamma', 2.2, 1000)
>>> fit.profile_table()
{'response': 'gamma', 'gamma': 2.2, 'bit_depth': 8, 'contrast_ratio': 1000.0}
>>> shutil.rmtree(folder)
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import isotonic_regression, least_squares

from dualmod._io import atomic_write
from dualmod.display.response import Response
from dualmod.errors import InputError

__all__ = ["LcdMeasurements", "LedMeasurements", "LcdFit", "LedFit", "read_lcd_measurements",
           "read_led_measurements", "fit_lcd", "fit_led", "LCD_CHANNELS", "LCD_MODELS", "AUTO_GAMMA_MAX_ERR",
           "AUTO_LUT_ADVANTAGE", "NOISE_FLOOR", "DEAD_ZONE_LEVEL"]

#: Channels an LCD measurement file may name.
LCD_CHANNELS = ("white", "red", "green", "blue")
#: Models :func:`fit_lcd` accepts.
LCD_MODELS = ("gamma", "lut", "auto")
#: ``model="auto"`` keeps the power law when its largest error of f over the readings is at most this (1 % of
#: full white, about the repeatability of a good photometer).
AUTO_GAMMA_MAX_ERR = 0.01
#: ... or when the table's held-out RMS error is not below the power law's RMS error divided by this: the table
#: must predict unmeasured codes clearly better than the power law to be preferred (see :func:`fit_lcd`).
AUTO_LUT_ADVANTAGE = 1.5
#: Absolute floor of the assumed measurement error of a relative value f (or y), see :func:`fit_lcd`.
NOISE_FLOOR = 1e-3
#: A drive whose relative light is at most this counts as inside the LED's dead zone.
DEAD_ZONE_LEVEL = 1e-3

_BIT_CHOICES = (8, 10, 12, 14, 16)
_LCD_BITS = (6, 16)   # what a profile's lcd.bit_depth allows
_LED_BITS = (1, 16)   # what a profile's leds.bit_depth allows
_MAX_CR = 1e9         # what a profile's lcd.contrast_ratio allows
_TOP_FIT_FROM = 0.6   # droop: the top-10 % slope comes from a quadratic through the readings above 0.6·M
_C_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


# ----------------------------------------------------------------------------------------------- reading
def _read_rows(path: Path, header: tuple[str, ...]) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every data line; checks the header."""
    if not path.is_file():
        raise InputError(f"{path}: no such file; expected a CSV file with header '{','.join(header)}'")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc}); expected a UTF-8 CSV file with header "
                         f"'{','.join(header)}'") from None
    rows: list[tuple[int, list[str]]] = []
    seen_header = False
    for lineno, line in enumerate(text.splitlines(), 1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        cells = [c.strip() for c in next(csv.reader(io.StringIO(content)))]
        while cells and not cells[-1]:   # trailing commas, as spreadsheets write them
            cells.pop()
        if not seen_header:
            if [c.lower() for c in cells] != list(header):
                raise InputError(f"{path}:{lineno}: the header must be '{','.join(header)}', got {content!r}")
            seen_header = True
            continue
        if len(cells) != len(header):
            raise InputError(f"{path}:{lineno}: expected {len(header)} columns ({','.join(header)}), "
                             f"got {len(cells)} in {content!r}")
        rows.append((lineno, cells))
    if not seen_header:
        raise InputError(f"{path}: empty file; expected a CSV file with header '{','.join(header)}'")
    return rows


def _parse_code(path: Path, lineno: int, text: str, what: str, max_code: int) -> int:
    try:
        code = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"{path}:{lineno}: {what} must be an integer 0..{max_code}, got {text!r}") from None
        if not (math.isfinite(value) and value.is_integer()):
            raise InputError(f"{path}:{lineno}: {what} must be an integer 0..{max_code}, got {text!r}") from None
        code = int(value)
    if not 0 <= code <= max_code:
        raise InputError(f"{path}:{lineno}: {what} {code} is out of range; allowed 0..{max_code}"
                         + (" (2**bit_depth - 1)" if max_code != 65535 else " (at most 16 bits)"))
    return code


def _parse_nits(path: Path, lineno: int, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{path}:{lineno}: nits must be a number (cd/m², >= 0), got {text!r}") from None
    if not math.isfinite(value):
        raise InputError(f"{path}:{lineno}: nits must be finite (cd/m², >= 0), got {text!r}")
    if value < 0:
        raise InputError(f"{path}:{lineno}: nits must be >= 0 (cd/m²), got {text!r}")
    return value


def _check_bits(bit_depth: int | None, allowed: tuple[int, int], what: str) -> None:
    if bit_depth is None:
        return
    if isinstance(bit_depth, bool) or not isinstance(bit_depth, (int, np.integer)) \
            or not allowed[0] <= bit_depth <= allowed[1]:
        raise InputError(f"{what} bit_depth must be an integer in [{allowed[0]}, {allowed[1]}], got {bit_depth!r}")


def _infer_bits(largest: int) -> int:
    return next(b for b in _BIT_CHOICES if largest <= (1 << b) - 1)


def _sorted_readings(items: list[tuple[int, float, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) array of (code, nits) sorted by code, and the matching line numbers."""
    items = sorted(items)
    return (np.array([[c, y] for c, y, _ in items], dtype=np.float64).reshape(-1, 2),
            np.array([ln for _, _, ln in items], dtype=np.int64))


def _line_of(lines: np.ndarray, table: np.ndarray, code: int) -> int:
    return int(lines[int(np.searchsorted(table[:, 0], code))])


@dataclass(frozen=True, eq=False)
class LcdMeasurements:
    """Photometer readings of an LCD, as read by :func:`read_lcd_measurements`.

    Attributes
    ----------
    readings : dict of str to ndarray of shape (K, 2)
        Per channel (``white`` always, ``red``/``green``/``blue`` when measured): (code, nits) rows sorted by
        code, codes unique.
    bit_depth : int
        LCD code depth; codes are 0 … 2**bit_depth − 1.
    path : Path
        The file read.
    lines : dict of str to ndarray of int
        The file line of each reading (for error messages).
    """

    readings: dict[str, np.ndarray]
    bit_depth: int
    path: Path
    lines: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def max_code(self) -> int:
        """M = 2**bit_depth − 1."""
        return (1 << self.bit_depth) - 1

    @property
    def white(self) -> np.ndarray:
        """The white (code, nits) readings."""
        return self.readings["white"]


@dataclass(frozen=True, eq=False)
class LedMeasurements:
    """Photometer readings of LED light against drive code, as read by :func:`read_led_measurements`.

    Attributes
    ----------
    readings : ndarray of shape (K, 2)
        (drive code, nits) rows sorted by drive, drives unique.
    bit_depth : int
        LED drive depth; drive codes are 0 … 2**bit_depth − 1.
    path : Path
        The file read.
    lines : ndarray of int
        The file line of each reading (for error messages).
    """

    readings: np.ndarray
    bit_depth: int
    path: Path
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)

    @property
    def max_code(self) -> int:
        """M = 2**bit_depth − 1."""
        return (1 << self.bit_depth) - 1


def _validate_lcd(readings: dict[str, np.ndarray], lines: dict[str, np.ndarray], bits: int, path: Path) -> None:
    m = (1 << bits) - 1
    white = readings.get("white")
    if white is None or white.shape[0] < 3:
        n = 0 if white is None else white.shape[0]
        raise InputError(f"{path}: needs at least 3 'white' readings including code 0 (black) and code {m} "
                         f"(full white, {bits}-bit), got {n}")
    for ch, table in readings.items():
        top = int(table[-1, 0])
        if top > m:
            raise InputError(f"{path}:{_line_of(lines[ch], table, top)}: code {top} is out of range for a "
                             f"{bits}-bit LCD; allowed 0..{m}")
    codes = white[:, 0]
    if codes[0] != 0 or codes[-1] != m:
        missing = " and ".join(s for s, ok in (("code 0 (black)", codes[0] == 0),
                                               (f"code {m} (full white, {bits}-bit)", codes[-1] == m)) if not ok)
        raise InputError(f"{path}: 'white' readings must include code 0 (black) and code {m} "
                         f"(full white, {bits}-bit); missing {missing}")
    y0, ym = white[0, 1], white[-1, 1]
    if ym <= y0:
        raise InputError(f"{path}:{_line_of(lines['white'], white, m)}: full white ({ym:g} nits at code {m}) must "
                         f"be brighter than black ({y0:g} nits at code 0, line {lines['white'][0]})")
    if y0 <= 0:
        raise InputError(f"{path}:{lines['white'][0]}: black (white at code 0) reads {y0:g} nits; it must be > 0 "
                         "to give a contrast ratio (measure it with a longer integration time)")
    if ym / y0 > _MAX_CR:
        raise InputError(f"{path}: contrast ratio {ym / y0:.3g} exceeds {_MAX_CR:g}, the most a profile allows; "
                         "check the black reading (white at code 0)")
    for ch in LCD_CHANNELS[1:]:
        table = readings.get(ch)
        if table is None:
            continue
        if table[-1, 0] != m:
            raise InputError(f"{path}: '{ch}' readings must include code {m} (the channel's full level) to be "
                             "normalised")
        black = table[0, 1] if table[0, 0] == 0 else y0
        if table[-1, 1] <= black:
            raise InputError(f"{path}:{_line_of(lines[ch], table, m)}: '{ch}' at code {m} ({table[-1, 1]:g} nits) "
                             f"must be brighter than its black ({black:g} nits)")


def read_lcd_measurements(path: str | os.PathLike, *, bit_depth: int | None = None) -> LcdMeasurements:
    """Read LCD photometer readings (``channel,code,nits``, see the module docstring).

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    bit_depth : int, optional
        LCD code depth (6 … 16). Default: the smallest of 8, 10, 12, 14, 16 bits holding the largest code.

    Returns
    -------
    LcdMeasurements

    Raises
    ------
    InputError
        The file is missing or unreadable, or a line is malformed (header, channel, number, NaN/Inf, negative
        nits, code not an integer or out of range, a code repeated within a channel), or the readings cannot
        be normalised (white without code 0 or code M, fewer than 3 white readings, Y(M) <= Y(0), black
        reading 0, a colour channel without code M). The message names the file (and line).
    """
    path = Path(path)
    _check_bits(bit_depth, _LCD_BITS, "LCD")
    limit = 65535 if bit_depth is None else (1 << bit_depth) - 1
    items: dict[str, list[tuple[int, float, int]]] = {}
    seen: dict[tuple[str, int], int] = {}
    for lineno, (channel, code_text, nits_text) in _read_rows(path, ("channel", "code", "nits")):
        ch = channel.lower()
        if ch not in LCD_CHANNELS:
            raise InputError(f"{path}:{lineno}: unknown channel {channel!r}; allowed: {', '.join(LCD_CHANNELS)}")
        code = _parse_code(path, lineno, code_text, "code", limit)
        nits = _parse_nits(path, lineno, nits_text)
        if (ch, code) in seen:
            raise InputError(f"{path}:{lineno}: '{ch}' code {code} is measured twice (first on line "
                             f"{seen[ch, code]}); give one reading per code (average repeats yourself)")
        seen[ch, code] = lineno
        items.setdefault(ch, []).append((code, nits, lineno))
    readings, lines = {}, {}
    for ch in LCD_CHANNELS:
        if ch in items:
            readings[ch], lines[ch] = _sorted_readings(items[ch])
    largest = max((int(t[-1, 0]) for t in readings.values()), default=0)
    bits = bit_depth if bit_depth is not None else _infer_bits(largest)
    _validate_lcd(readings, lines, bits, path)
    return LcdMeasurements(readings=readings, bit_depth=int(bits), path=path, lines=lines)


def _validate_led(table: np.ndarray, lines: np.ndarray, bits: int, path: Path) -> None:
    m = (1 << bits) - 1
    if table.shape[0] < 3:
        raise InputError(f"{path}: needs at least 3 readings including drive 0 and drive {m} ({bits}-bit), "
                         f"got {table.shape[0]}")
    top = int(table[-1, 0])
    if top > m:
        raise InputError(f"{path}:{_line_of(lines, table, top)}: drive {top} is out of range for a {bits}-bit LED "
                         f"driver; allowed 0..{m}")
    if table[0, 0] != 0 or top != m:
        missing = " and ".join(s for s, ok in (("drive 0 (off)", table[0, 0] == 0),
                                               (f"drive {m} (full, {bits}-bit)", top == m)) if not ok)
        raise InputError(f"{path}: readings must include drive 0 (off) and drive {m} (full, {bits}-bit); "
                         f"missing {missing}")
    if table[-1, 1] <= table[0, 1]:
        raise InputError(f"{path}:{lines[-1]}: full drive ({table[-1, 1]:g} nits at drive {m}) must be brighter "
                         f"than off ({table[0, 1]:g} nits at drive 0, line {lines[0]})")


def read_led_measurements(path: str | os.PathLike, *, bit_depth: int | None = None) -> LedMeasurements:
    """Read LED photometer readings (``drive,nits``, see the module docstring).

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    bit_depth : int, optional
        LED drive depth (1 … 16). Default: the smallest of 8, 10, 12, 14, 16 bits holding the largest drive.

    Returns
    -------
    LedMeasurements

    Raises
    ------
    InputError
        The file is missing or unreadable, a line is malformed (header, number, NaN/Inf, negative nits, drive
        not an integer or out of range, a drive repeated), or the readings cannot be normalised (no drive 0 or
        drive M, fewer than 3 readings, Y(M) <= Y(0)). The message names the file (and line).
    """
    path = Path(path)
    _check_bits(bit_depth, _LED_BITS, "LED")
    limit = 65535 if bit_depth is None else (1 << bit_depth) - 1
    items: list[tuple[int, float, int]] = []
    seen: dict[int, int] = {}
    for lineno, (drive_text, nits_text) in _read_rows(path, ("drive", "nits")):
        drive = _parse_code(path, lineno, drive_text, "drive", limit)
        nits = _parse_nits(path, lineno, nits_text)
        if drive in seen:
            raise InputError(f"{path}:{lineno}: drive {drive} is measured twice (first on line {seen[drive]}); "
                             "give one reading per drive (average repeats yourself)")
        seen[drive] = lineno
        items.append((drive, nits, lineno))
    table, lines = _sorted_readings(items)
    bits = bit_depth if bit_depth is not None else _infer_bits(int(table[-1, 0]) if len(table) else 0)
    _validate_led(table, lines, bits, path)
    return LedMeasurements(readings=table, bit_depth=int(bits), path=path, lines=lines)


# ----------------------------------------------------------------------------------------------- fitting
def _sigma(f: np.ndarray, eps: float) -> np.ndarray:
    """Assumed error of relative values f: relative (photometers are ~1 % of reading), floored."""
    return np.maximum(f, 0.0) + eps + NOISE_FLOOR


def _fit_power(x: np.ndarray, f: np.ndarray, sigma: np.ndarray, lo: float, hi: float) -> float:
    """γ minimising Σ((x**γ − f)/σ)² over 0 < x < 1."""
    inner = (x > 0) & (x < 1)
    xi, fi, si = x[inner], f[inner], sigma[inner]
    if xi.size == 0:
        return 1.0
    ok = (fi > 1e-4) & (fi < 1 - 1e-4)
    g0 = float(np.median(np.log(fi[ok]) / np.log(xi[ok]))) if ok.any() else 2.2
    g0 = min(max(g0, lo * 1.01), hi * 0.99)
    res = least_squares(lambda g: (xi ** g[0] - fi) / si, x0=[g0], bounds=([lo], [hi]), x_scale=[1.0])
    return float(res.x[0])


def _fit_power_shape(x: np.ndarray, f: np.ndarray, sigma: np.ndarray, g0: float) -> tuple[float, float]:
    """(γ, rms) of f ≈ a + b·x**γ with free black a and gain b; rms over all readings, per degree of freedom."""
    dof = x.size - 3
    if dof < 2:
        return g0, math.nan
    res = least_squares(lambda p: (p[0] + p[1] * x ** p[2] - f) / sigma, x0=[0.0, 1.0, g0],
                        bounds=([-1.0, 0.0, 0.2], [1.0, 10.0, 10.0]))
    a, b, g = res.x
    err = a + b * x ** g - f
    return float(g), float(np.sqrt(np.sum(err ** 2) / dof))


def _monotone(codes: np.ndarray, f: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(K, 2) table (code, value): isotonic (weighted) through the inner readings, clipped, ends 0 and 1."""
    y = np.array(f, dtype=np.float64)
    if y.size > 2:
        y[1:-1] = isotonic_regression(y[1:-1], weights=1.0 / sigma[1:-1] ** 2, increasing=True).x
    y = np.clip(y, 0.0, 1.0)
    y[0], y[-1] = 0.0, 1.0
    return np.column_stack([np.asarray(codes, np.float64), y])


def _loo_rms(codes: np.ndarray, f: np.ndarray, sigma: np.ndarray) -> float:
    """RMS error at each inner reading of the table built without it (linear interpolation)."""
    errs = []
    for i in range(1, codes.size - 1):
        keep = np.arange(codes.size) != i
        table = _monotone(codes[keep], f[keep], sigma[keep])
        errs.append(np.interp(codes[i], table[:, 0], table[:, 1]) - f[i])
    return float(np.sqrt(np.mean(np.square(errs)))) if errs else 0.0


def _mean_slope(x: np.ndarray, y: np.ndarray, lut: np.ndarray, lo: float, hi: float, *, fit: tuple[float, float],
                degree: int) -> float:
    """Mean slope dy/dx over [lo, hi]: from a least-squares polynomial through the readings with x in ``fit``
    (it averages their noise), or from the table's end points when there are too few readings."""
    inside = (x >= fit[0] - 1e-12) & (x <= fit[1] + 1e-12)
    if np.count_nonzero(inside) >= degree + 3:
        ends = np.polyval(np.polyfit(x[inside], y[inside], degree), [lo, hi])
    else:
        m = lut[-1, 0]
        ends = np.interp([lo * m, hi * m], lut[:, 0], lut[:, 1])
    return float((ends[1] - ends[0]) / (hi - lo))


def _write_table(path: str | os.PathLike, table: np.ndarray, header: str) -> Path:
    lines = [header] + [f"{int(c)},{v:.9g}" for c, v in table]
    text = "\n".join(lines) + "\n"
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def _num(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass(frozen=True, eq=False)
class LcdFit:
    """A fitted LCD response (see :func:`fit_lcd`).

    Attributes
    ----------
    response : {"gamma", "lut"}
        The model the profile should use.
    gamma : float
        The fitted power-law exponent (also reported when ``response`` is ``"lut"``).
    lut : ndarray of shape (K, 2) or None
        (code, relative transmittance): the monotone table at the measured white codes, from (0, 0) to (M, 1).
    bit_depth : int
    contrast_ratio : float
        Y(M)/Y(0) of the white readings.
    black_nits, white_nits : float
        Y(0) and Y(M) (cd/m², at the backlight level used while measuring).
    gamma_rms, gamma_max_err : float
        RMS and largest absolute error of x**γ against f over the white readings with 0 < code < M.
    gamma_shape_rms : float
        RMS error of the power law with free black and white levels, a + b·x**γ, over all white readings per
        degree of freedom (N − 3): the power law's misfit without the noise of the two anchor readings. NaN
        with fewer than 5 readings.
    lut_loo_rms : float
        Leave-one-out RMS error of the table: each inner white reading predicted by the table built from the
        others (what the table's error is at unmeasured codes, noise included).
    channel_deviation : dict of str to float
        Per measured colour channel: largest |f_channel − f_fit| over its readings (f_fit = the chosen
        response).
    n_readings : int
        White readings used.
    source : str
        The measurement file.
    """

    response: str
    gamma: float
    lut: np.ndarray | None
    bit_depth: int
    contrast_ratio: float
    black_nits: float
    white_nits: float
    gamma_rms: float
    gamma_max_err: float
    gamma_shape_rms: float
    lut_loo_rms: float
    channel_deviation: dict[str, float]
    n_readings: int
    source: str = ""

    @property
    def max_code(self) -> int:
        """M = 2**bit_depth − 1."""
        return (1 << self.bit_depth) - 1

    def f(self, x) -> np.ndarray:
        """The chosen response f at normalised codes x ∈ [0, 1] (float64): the simulator's own
        :class:`~dualmod.display.response.Response`, as the written profile will load it."""
        lut = None if self.lut is None else np.stack([self.lut[:, 0] / self.max_code, self.lut[:, 1]], axis=1)
        return Response(self.response, self.bit_depth, gamma=self.gamma, lut=lut).forward(x)

    def profile_table(self, lut_file: str = "lcd.csv") -> dict[str, Any]:
        """The profile's ``[lcd]`` table (DESIGN.md §4).

        Parameters
        ----------
        lut_file : str
            File name to reference for a ``lut`` response (write it with :meth:`write_lut`; relative names are
            resolved against the profile's folder).
        """
        table: dict[str, Any] = {"response": self.response}
        if self.response == "gamma":
            table["gamma"] = round(self.gamma, 4)
        else:
            table["lut_file"] = str(lut_file)
        table["bit_depth"] = int(self.bit_depth)
        table["contrast_ratio"] = float(f"{self.contrast_ratio:.6g}")
        return table

    def write_lut(self, path: str | os.PathLike) -> Path:
        """Write the table as CSV ``code,relative_transmittance`` (atomically); returns the path."""
        if self.lut is None:
            raise InputError("this LCD fit has no table to write")
        return _write_table(path, self.lut, "code,relative_transmittance")

    def summary(self) -> dict[str, Any]:
        """JSON-able numbers of the fit."""
        return {"response": self.response, "gamma": self.gamma, "bit_depth": self.bit_depth,
                "contrast_ratio": self.contrast_ratio, "black_nits": self.black_nits, "white_nits": self.white_nits,
                "gamma_rms": self.gamma_rms, "gamma_max_err": self.gamma_max_err,
                "gamma_shape_rms": _num(self.gamma_shape_rms),
                "lut_loo_rms": _num(self.lut_loo_rms),
                "lut_points": 0 if self.lut is None else int(self.lut.shape[0]),
                "channel_deviation": {k: float(v) for k, v in self.channel_deviation.items()},
                "n_readings": self.n_readings, "source": self.source}


def fit_lcd(meas: LcdMeasurements, *, model: str = "auto", bit_depth: int | None = None) -> LcdFit:
    """Fit the LCD response f and contrast ratio from photometer readings.

    Parameters
    ----------
    meas : LcdMeasurements
        From :func:`read_lcd_measurements`.
    model : {"auto", "gamma", "lut"}
        ``gamma``: f(x) = x**γ. γ minimises Σ((a + b·x_i**γ − f_i)/σ_i)² over the white readings, with
        σ_i = max(f_i, 0) + ε + NOISE_FLOOR: relative error, as a photometer's error is a fraction of its
        reading, so dark codes count as much as bright ones, down to a floor (ε: leakage; 1e-3 of full white:
        the meter's resolution) below which errors no longer matter. The black offset a and gain b are free
        (≈ 0 and 1) so that the noise of the two readings f is normalised with (codes 0 and M) does not bend
        γ; with fewer than 5 readings a and b are fixed at 0 and 1. γ is kept within [0.2, 10], what a profile
        allows. ``gamma_rms`` and ``gamma_max_err`` are the errors of x**γ itself (what the profile uses).

        ``lut``: a table through the white readings, made non-decreasing by weighted isotonic regression
        (weights 1/σ_i²), clipped to [0, 1], with f(0) = 0 and f(1) = 1 exactly; its codes are the measured
        ones (0 … M), the profile interpolates linearly between them.

        ``auto``: ``gamma`` when its largest error ``gamma_max_err`` is at most :data:`AUTO_GAMMA_MAX_ERR`;
        else ``gamma`` too when the table does not predict held-out readings clearly better than the power law
        fits them, ``gamma_shape_rms <= AUTO_LUT_ADVANTAGE * lut_loo_rms`` (the misfit is photometer noise,
        which a table would only trace: with 1 % noise per reading, single readings near white miss any curve
        by more than 1 %); else ``lut``.
    bit_depth : int, optional
        LCD code depth; default the measurements' own.

    Returns
    -------
    LcdFit

    Raises
    ------
    InputError
        Unknown model, or readings that do not fit the bit depth.
    """
    if model not in LCD_MODELS:
        raise InputError(f"LCD model must be one of {', '.join(LCD_MODELS)}; got {model!r}")
    _check_bits(bit_depth, _LCD_BITS, "LCD")
    bits = meas.bit_depth if bit_depth is None else int(bit_depth)
    if bits != meas.bit_depth:
        _validate_lcd(meas.readings, meas.lines or {k: np.zeros(len(v), np.int64) for k, v in meas.readings.items()},
                      bits, meas.path)
    m = (1 << bits) - 1
    white = meas.white
    codes, nits = white[:, 0], white[:, 1]
    y0, ym = float(nits[0]), float(nits[-1])
    cr = ym / y0
    eps = 1.0 / cr
    f = (nits - y0) / (ym - y0)
    x = codes / m
    sigma = _sigma(f, eps)
    gamma, shape_rms = _fit_power_shape(x, f, sigma, _fit_power(x, f, sigma, 0.2, 10.0))
    inner = (codes > 0) & (codes < m)
    err = x[inner] ** gamma - f[inner]
    gamma_rms = float(np.sqrt(np.mean(err ** 2)))
    gamma_max = float(np.max(np.abs(err)))
    lut = _monotone(codes, f, sigma)
    loo = _loo_rms(codes, f, sigma)
    if model == "auto":
        # shape_rms is NaN with fewer than 5 readings: too few to prefer a table
        table_better = shape_rms > AUTO_LUT_ADVANTAGE * loo
        model = "gamma" if gamma_max <= AUTO_GAMMA_MAX_ERR or not table_better else "lut"
    fit = LcdFit(response=model, gamma=gamma, lut=lut, bit_depth=bits, contrast_ratio=cr, black_nits=y0,
                 white_nits=ym, gamma_rms=gamma_rms, gamma_max_err=gamma_max,
                 gamma_shape_rms=shape_rms, lut_loo_rms=loo,
                 channel_deviation={}, n_readings=int(codes.size), source=str(meas.path))
    deviation = {}
    for ch in LCD_CHANNELS[1:]:
        table = meas.readings.get(ch)
        if table is None:
            continue
        black = table[0, 1] if table[0, 0] == 0 else y0
        fc = (table[:, 1] - black) / (table[-1, 1] - black)
        deviation[ch] = float(np.max(np.abs(fc - fit.f(table[:, 0] / m))))
    return dataclasses.replace(fit, channel_deviation=deviation)


@dataclass(frozen=True, eq=False)
class LedFit:
    """A fitted LED drive → light response (see :func:`fit_led`).

    Attributes
    ----------
    lut : ndarray of shape (K, 2)
        (drive code, relative light): monotone, at the measured drives, from (0, 0) to (M, 1).
    bit_depth : int
    off_nits, full_nits : float
        Y(0) and Y(M) (cd/m²).
    linearity : float
        Largest |y(d) − d/M| of the table: how far the LED is from a linear PWM response (0 = linear).
    droop : float
        1 − (mean slope over the top 10 % of drive, 0.9·M … M) / (mean slope over the middle, 0.25·M … 0.75·M),
        slopes of y against d/M. The middle slope is a least-squares line through the readings there, the top
        one comes from a least-squares quadratic through the readings above 0.6·M (a few readings in the top
        10 % alone would give it a noise of several %); with too few readings, from the table. 0 for a linear
        LED; > 0 when light falls behind drive at the top (thermal droop); NaN if the middle is flat.
    gamma : float
        Best-fit power law y = (d/M)**γ over the readings, for information: plain least squares on y
        (absolute light error; a relative weighting would let a dead zone's dark readings decide it).
    dead_zone_code : int
        Largest measured drive whose relative light is at most :data:`DEAD_ZONE_LEVEL` (0: no dead zone seen).
    lut_loo_rms : float
        Leave-one-out RMS error of the table at the inner readings (see :class:`LcdFit`).
    n_readings : int
    source : str
        The measurement file.
    """

    lut: np.ndarray
    bit_depth: int
    off_nits: float
    full_nits: float
    linearity: float
    droop: float
    gamma: float
    dead_zone_code: int
    lut_loo_rms: float
    n_readings: int
    source: str = ""

    @property
    def max_code(self) -> int:
        """M = 2**bit_depth − 1."""
        return (1 << self.bit_depth) - 1

    def light(self, drive) -> np.ndarray:
        """Relative light of drive codes (the table, linearly interpolated), float64."""
        return np.interp(np.asarray(drive, dtype=np.float64), self.lut[:, 0], self.lut[:, 1])

    def profile_table(self, lut_file: str = "leds.csv") -> dict[str, Any]:
        """The response keys of the profile's ``[leds]`` table: ``response``, ``lut_file``, ``bit_depth``.

        Merge them into a ``[leds]`` table that has the layout (DESIGN.md §4); write the file with
        :meth:`write_lut`.
        """
        return {"response": "lut", "lut_file": str(lut_file), "bit_depth": int(self.bit_depth)}

    def write_lut(self, path: str | os.PathLike) -> Path:
        """Write the table as CSV ``code,relative_light`` (atomically); returns the path."""
        return _write_table(path, self.lut, "code,relative_light")

    def linearizing_table(self, entries: int = 256) -> np.ndarray:
        """Drive codes that give evenly spaced light: what firmware applies to linearise the LEDs.

        Entry k is the drive code whose light is k/(entries − 1) of full, found by inverting the monotone
        table with linear interpolation (past a dead zone or a flat step, from its upper end), rounded;
        entry 0 is 0 and the last is M, and entries never decrease.

        Parameters
        ----------
        entries : int
            Table length, 2 … 65536.

        Returns
        -------
        ndarray of shape (entries,), uint16
        """
        if isinstance(entries, bool) or not isinstance(entries, (int, np.integer)) or not 2 <= entries <= 65536:
            raise InputError(f"entries must be an integer in [2, 65536], got {entries!r}")
        xs, ys = self.lut[:, 0], self.lut[:, 1]
        last_of_run = np.concatenate([np.diff(ys) > 0, [True]])
        target = np.arange(entries, dtype=np.float64) / (entries - 1)
        drive = np.rint(np.interp(target, ys[last_of_run], xs[last_of_run]))
        drive[0], drive[-1] = 0.0, float(self.max_code)
        drive = np.maximum.accumulate(np.clip(drive, 0, self.max_code))
        return drive.astype(np.uint16)

    def write_c_header(self, path: str | os.PathLike, entries: int = 256, name: str = "dml_led_linearize") -> Path:
        """Write :meth:`linearizing_table` as a C99 header (atomically); returns the path.

        The header defines ``NAME_ENTRIES`` and ``NAME_MAX_CODE`` (upper case) and ``static const uint16_t
        name[NAME_ENTRIES]``; the firmware core's ``dml_linearize(v, name, NAME_ENTRIES, NAME_MAX_CODE)``
        applies it to a shown value.

        Parameters
        ----------
        path : str or path-like
        entries : int
        name : str
            A C identifier for the array.
        """
        if not isinstance(name, str) or not _C_NAME.match(name):
            raise InputError(f"name must be a C identifier ([A-Za-z_][A-Za-z0-9_]*), got {name!r}")
        table = self.linearizing_table(entries)
        upper = name.upper()
        guard = f"{upper}_H"
        count = f"{upper}_ENTRIES"
        body = []
        for i in range(0, table.size, 12):
            body.append("    " + ", ".join(f"{int(v):5d}" for v in table[i:i + 12]) + ",")
        body[-1] = body[-1].rstrip(",")
        src = Path(self.source).name if self.source else "photometer readings"
        text = "\n".join([
            "/* Generated by dualmod calibration.responses from " + src.replace("*/", "* /") + ". */",
            "/*",
            f" * Linear light level -> LED drive code. {name}[k] is the {self.bit_depth}-bit drive code",
            f" * (0..{self.max_code}) at which the LED gives k / ({count} - 1) of its full light.",
            " * Index it with a linear light level to linearise the LED (dead zone and droop taken out), or",
            f" * call dml_linearize(v, {name}, {count}, {upper}_MAX_CODE) (firmware core, drivers.h).",
            " */",
            f"#ifndef {guard}",
            f"#define {guard}",
            "",
            "#include <stdint.h>",
            "",
            f"#define {count} {table.size}",
            f"#define {upper}_MAX_CODE {self.max_code}",
            "",
            f"static const uint16_t {name}[{count}] = {{",
            *body,
            "};",
            "",
            f"#endif /* {guard} */",
            "",
        ])
        return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))

    def summary(self) -> dict[str, Any]:
        """JSON-able numbers of the fit."""
        return {"bit_depth": self.bit_depth, "off_nits": self.off_nits, "full_nits": self.full_nits,
                "linearity": self.linearity, "droop": _num(self.droop), "gamma": self.gamma,
                "dead_zone_code": self.dead_zone_code, "lut_loo_rms": self.lut_loo_rms,
                "lut_points": int(self.lut.shape[0]), "n_readings": self.n_readings, "source": self.source}


def fit_led(meas: LedMeasurements, *, bit_depth: int | None = None) -> LedFit:
    """Fit the LED drive → light table and its linearity numbers from photometer readings.

    The relative light y(d) = (Y(d) − Y(0)) / (Y(M) − Y(0)) at the measured drives is made non-decreasing by
    weighted isotonic regression (as the ``lut`` model of :func:`fit_lcd`), clipped to [0, 1] with y(0) = 0
    and y(M) = 1: the profile's ``[leds] response = "lut"`` table.

    Parameters
    ----------
    meas : LedMeasurements
        From :func:`read_led_measurements`.
    bit_depth : int, optional
        LED drive depth; default the measurements' own.

    Returns
    -------
    LedFit
    """
    _check_bits(bit_depth, _LED_BITS, "LED")
    bits = meas.bit_depth if bit_depth is None else int(bit_depth)
    if bits != meas.bit_depth:
        lines = meas.lines if meas.lines.size == meas.readings.shape[0] else np.zeros(len(meas.readings), np.int64)
        _validate_led(meas.readings, lines, bits, meas.path)
    m = (1 << bits) - 1
    codes, nits = meas.readings[:, 0], meas.readings[:, 1]
    y0, ym = float(nits[0]), float(nits[-1])
    y = (nits - y0) / (ym - y0)
    x = codes / m
    eps = y0 / (ym - y0)
    sigma = _sigma(y, eps)
    lut = _monotone(codes, y, sigma)
    yt = lut[:, 1]
    linearity = float(np.max(np.abs(yt - lut[:, 0] / m)))

    mid = _mean_slope(x, y, lut, 0.25, 0.75, fit=(0.25, 0.75), degree=1)
    top = _mean_slope(x, y, lut, 0.9, 1.0, fit=(_TOP_FIT_FROM, 1.0), degree=2)
    droop = 1.0 - top / mid if mid > 0 else float("nan")
    dead = lut[:, 0][yt <= DEAD_ZONE_LEVEL]
    return LedFit(lut=lut, bit_depth=bits, off_nits=y0, full_nits=ym, linearity=linearity, droop=float(droop),
                  gamma=_fit_power(x, y, np.ones_like(y), 0.05, 20.0), dead_zone_code=int(dead.max()),
                  lut_loo_rms=_loo_rms(codes, y, sigma), n_readings=int(codes.size), source=str(meas.path))
