# SPDX-License-Identifier: BSD-3-Clause
"""LED zones and per-zone image statistics, in one pass over the image.

The zone of an LED is the set of pixels it is responsible for:

- ``grid``: its cell; pixel column j belongs to cell ⌊(j + ½)·cols / W⌋ and
  row i to ⌊(i + ½)·rows / H⌋;
- ``hex`` and ``positions``: its Voronoi cell (the pixels nearer to it than
  to any other LED; ties go to the lower index).

Zones are stored run-length encoded: every zone meets an image row in one
run of consecutive pixels (Voronoi cells are convex), so the statistics
kernel reads each zone as a few contiguous runs, in parallel over zones.

Statistics are of the *pixel value* v = max(R, G, B) / peak_nits for white
backlights (the LED must cover the brightest channel), and of each channel
separately for RGB backlights.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numba as nb
import numpy as np

from ..errors import InputError
from ..panel import Panel

__all__ = ["ZoneMap", "zone_map", "zone_stats", "ZoneStats"]


@dataclass(frozen=True)
class ZoneMap:
    """Run-length encoded zones of a panel.

    Attributes
    ----------
    run_row, run_x0, run_x1 : ndarray of shape (R,)
        Row and half-open column range [x0, x1) of each run.
    zone_ptr, zone_runs : ndarray
        CSR list of the runs of each zone (zone i: zone_runs[zone_ptr[i]:zone_ptr[i+1]]).
    sizes : ndarray of shape (N,)
        Pixels per zone (0 for an LED whose Voronoi cell misses the image).
    """

    run_row: np.ndarray
    run_x0: np.ndarray
    run_x1: np.ndarray
    zone_ptr: np.ndarray
    zone_runs: np.ndarray
    sizes: np.ndarray

    def labels(self, height: int, width: int) -> np.ndarray:
        """The zone index of every pixel, (H, W) int32 (for plots and tests)."""
        out = np.full((height, width), -1, np.int32)
        for z in range(self.sizes.size):
            for r in self.zone_runs[self.zone_ptr[z]:self.zone_ptr[z + 1]]:
                out[self.run_row[r], self.run_x0[r]:self.run_x1[r]] = z
        return out


def _grid_labels_rows(panel: Panel):
    h, w = panel.height, panel.width
    rows, cols = panel.leds.rows, panel.leds.cols
    cell_y = ((np.arange(h) + 0.5) * rows / h).astype(np.int64)
    cell_x = ((np.arange(w) + 0.5) * cols / w).astype(np.int64)
    xs = [0] + list(np.nonzero(np.diff(cell_x))[0] + 1) + [w]
    runs = []
    for y in range(h):
        for a, b in zip(xs[:-1], xs[1:]):
            runs.append((y, a, b, cell_y[y] * cols + cell_x[a]))
    return np.array(runs, dtype=np.int64)


def _voronoi_rows(panel: Panel):
    from scipy.spatial import cKDTree

    h, w = panel.height, panel.width
    tree = cKDTree(panel.led_positions)
    xs = np.arange(w, dtype=np.float64)
    runs = []
    for y in range(h):
        lab = tree.query(np.stack([xs, np.full(w, float(y))], axis=1))[1]
        cut = np.nonzero(np.diff(lab))[0] + 1
        starts = np.concatenate([[0], cut])
        ends = np.concatenate([cut, [w]])
        runs.extend((y, a, b, lab[a]) for a, b in zip(starts, ends))
    return np.array(runs, dtype=np.int64)


@lru_cache(maxsize=16)
def zone_map(panel: Panel) -> ZoneMap:
    """The (cached) :class:`ZoneMap` of a panel."""
    runs = _grid_labels_rows(panel) if panel.leds.layout == "grid" else _voronoi_rows(panel)
    n = panel.n_leds
    order = np.argsort(runs[:, 3], kind="stable")
    counts = np.bincount(runs[:, 3], minlength=n)
    sizes = np.bincount(runs[:, 3], weights=runs[:, 2] - runs[:, 1], minlength=n).astype(np.int64)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return ZoneMap(runs[:, 0].copy(), runs[:, 1].copy(), runs[:, 2].copy(), ptr, order.astype(np.int64), sizes)


@dataclass(frozen=True)
class ZoneStats:
    """Per-zone statistics on the 0–1 scale of peak_nits, each (N,) or (N, 3) for RGB backlights.

    ``percentile`` is None unless requested.
    """

    max: np.ndarray
    mean: np.ndarray
    percentile: np.ndarray | None


@nb.njit(cache=True, error_model="numpy", nogil=True, fastmath={"reassoc", "contract"})
def _run_max_sum(row, x0, x1, c, per_channel, buf, k):
    """Max, invalid-value flag (NaN, Inf, negative) and sum over one run; values also copied to buf[k:]."""
    mx = np.float32(0.0)
    mn = np.float32(0.0)
    every = np.float32(0.0)  # sum of all channels: NaN and Inf propagate into it
    sm = np.float32(0.0)
    if per_channel:
        for x in range(x0, x1):
            v = row[x, c]
            mx = max(mx, v)
            mn = min(mn, v)
            sm += v
        every = sm
    else:
        for x in range(x0, x1):
            r, g, b = row[x, 0], row[x, 1], row[x, 2]
            v = max(r, max(g, b))
            mx = max(mx, v)
            mn = min(mn, min(r, min(g, b)))
            every += r + g + b
            sm += v
    bad = np.int32(0) if (mn >= np.float32(0.0) and np.isfinite(every)) else np.int32(1)
    if buf.shape[0]:
        for x in range(x0, x1):
            buf[k + x - x0] = row[x, c] if per_channel else max(row[x, 0], max(row[x, 1], row[x, 2]))
    return mx, bad, sm


@nb.njit(cache=True, error_model="numpy", nogil=True)
def _quantile(buf, mx, q):
    """numpy-style (linear) quantile q of buf, exactly, by a 256-bin histogram select.

    The k-th and (k+1)-th order statistics are found by counting into bins
    over [0, mx], then sorting only the one or two bins that hold them.
    """
    n = buf.shape[0]
    pos = q * (n - 1)
    k = int(np.floor(pos))
    frac = pos - k
    nb_ = 256
    cnt = np.zeros(nb_ + 1, np.int64)
    sc = np.float32(nb_) / mx if mx > 0 else np.float32(0.0)
    for i in range(n):
        cnt[min(int(buf[i] * sc), nb_)] += 1
    acc = 0
    b = 0
    while acc + cnt[b] <= k:
        acc += cnt[b]
        b += 1
    b2 = b
    if k + 1 < n and acc + cnt[b] <= k + 1:  # the next order statistic sits in a later bin
        b2 = b + 1
        while cnt[b2] == 0:
            b2 += 1
    sel = np.empty(cnt[b] + (cnt[b2] if b2 != b else 0), np.float32)
    m = 0
    for i in range(n):
        j = min(int(buf[i] * sc), nb_)
        if j == b or j == b2:
            sel[m] = buf[i]
            m += 1
    sel.sort()
    lo = sel[k - acc]
    hi = sel[k + 1 - acc] if k + 1 < n else lo
    return lo + (hi - lo) * frac


@nb.njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def _zone_stats(img, per_channel, run_row, run_x0, run_x1, zone_ptr, zone_runs, sizes, q, out_max, out_mean,
                out_pct, out_bad):
    nz = sizes.shape[0]
    nch = out_max.shape[1]
    for z in nb.prange(nz):
        n = sizes[z]
        for c in range(nch):
            mx = np.float32(0.0)
            bad = np.int32(0)
            sm = 0.0
            buf = np.empty(n if q >= 0 else 0, dtype=np.float32)
            k = 0
            for m in range(zone_ptr[z], zone_ptr[z + 1]):
                r = zone_runs[m]
                rmx, rbad, rsm = _run_max_sum(img[run_row[r]], run_x0[r], run_x1[r], c, per_channel, buf, k)
                mx = max(mx, rmx)
                bad = max(bad, rbad)
                sm += rsm
                k += run_x1[r] - run_x0[r]
            out_max[z, c] = mx
            out_bad[z, c] = bad
            out_mean[z, c] = sm / n if n > 0 else 0.0
            if q >= 0 and n > 0:
                out_pct[z, c] = _quantile(buf, mx, q)


def zone_stats(panel: Panel, target: np.ndarray, *, percentile: float | None = None) -> ZoneStats:
    """Per-zone max, mean (and a percentile) of the target, relative to peak_nits.

    Parameters
    ----------
    panel : Panel
    target : ndarray of shape (H, W, 3), float32, cd/m²
    percentile : float in [0, 1], optional
        CDF level (e.g. 0.95), computed exactly (linear interpolation between
        order statistics, as ``numpy.percentile``).

    Returns
    -------
    ZoneStats

    Raises
    ------
    InputError
        The target holds NaN, Inf or negative values (checked in the same pass).

    Examples
    --------
    >>> import numpy as np, dualmod as dm
    >>> panel = dm.Panel.load("fald-1080p-576")
    >>> t = np.full((panel.height, panel.width, 3), 100.0, np.float32)
    >>> t[0, 0] = 900.0
    >>> s = zone_stats(panel, t)
    >>> round(float(s.max[0]), 6), round(float(s.max[1]), 6), round(float(s.mean[0]), 4)
    (0.9, 0.1, 0.1002)
    """
    zm = zone_map(panel)
    img = np.ascontiguousarray(target, dtype=np.float32)
    per_channel = panel.leds.channels == 3
    nch = 3 if per_channel else 1
    n = panel.n_leds
    out_max = np.zeros((n, nch), np.float32)
    out_mean = np.zeros((n, nch), np.float64)
    out_pct = np.zeros((n, nch), np.float32)
    q = -1.0 if percentile is None else float(percentile)
    if percentile is not None and not 0.0 <= q <= 1.0:
        raise ValueError(f"percentile must be a CDF level in [0, 1], got {percentile}")
    out_bad = np.zeros((n, nch), np.int32)
    _zone_stats(img, per_channel, zm.run_row, zm.run_x0, zm.run_x1, zm.zone_ptr, zm.zone_runs, zm.sizes, q,
                out_max, out_mean, out_pct, out_bad)
    if out_bad.any():
        raise InputError("target has NaN, Inf or negative values (nits must be finite and >= 0)")
    scale = 1.0 / panel.peak_nits
    shape = (n,) if nch == 1 else (n, 3)
    return ZoneStats(max=(out_max * scale).astype(np.float64).reshape(shape),
                     mean=(out_mean * scale).reshape(shape),
                     percentile=None if percentile is None else (out_pct * scale).astype(np.float64).reshape(shape))
