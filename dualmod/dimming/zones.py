# SPDX-License-Identifier: BSD-3-Clause
"""LED zones and per-zone image statistics, in one pass over the image.

The zone of an LED is the set of pixels it is responsible for:

- ``grid``: its cell; pixel column j belongs to cell ⌊(j + ½)·cols / W⌋ and
  row i to ⌊(i + ½)·rows / H⌋;
- ``hex`` and ``positions``: its Voronoi cell (the pixels nearer to it than
  to any other LED; ties go to the lower index).

Zones are stored run-length encoded: every zone meets an image row in one
run of consecutive pixels (Voronoi cells are convex). The statistics kernels
stream the image row by row, in parallel over bands of rows (each row is read
once, front to back, as its runs). For a percentile they also write each
zone's values into a contiguous segment and select from it exactly (radix
select on the float bits). Grids use one band per LED row: no zone crosses
a band, so each band finishes its zones, percentiles included, while their
values are still in cache. Other layouts use fixed bands, keep per-band
partial statistics per zone and merge them, then select in parallel over
zones.

Statistics are of the *pixel value* v = max(R, G, B) / peak_nits for white
backlights (the LED must cover the brightest channel), and of each channel
separately for RGB backlights.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numba as nb
import numpy as np

from ..display._fastmath import bits_f32, f32_bits, invalid_values_error
from ..panel import Panel

__all__ = ["ZoneMap", "zone_map", "zone_stats", "ZoneStats"]


@dataclass(frozen=True)
class ZoneMap:
    """Run-length encoded zones of a panel.

    Attributes
    ----------
    run_row, run_x0, run_x1 : ndarray of shape (R,)
        Row and half-open column range [x0, x1) of each run.
    sizes : ndarray of shape (N,)
        Pixels per zone (0 for an LED whose Voronoi cell misses the image).
    row_ptr : ndarray of shape (H + 1,)
        Runs are in row-major order; row y holds runs row_ptr[y]:row_ptr[y+1].
    run_zone : ndarray of shape (R,)
        The zone of each run.
    run_off : ndarray of shape (R,)
        Where a run's pixels start in a per-zone concatenation of the image
        (zone i's pixels fill zone_off[i]:zone_off[i] + sizes[i], row-major).
    zone_off : ndarray of shape (N,)
    band_rows : ndarray of shape (rows + 1,) or None
        Grids only: LED row j covers image rows band_rows[j]:band_rows[j+1] (no zone crosses a band).
    """

    run_row: np.ndarray
    run_x0: np.ndarray
    run_x1: np.ndarray
    sizes: np.ndarray
    row_ptr: np.ndarray
    run_zone: np.ndarray
    run_off: np.ndarray
    zone_off: np.ndarray
    band_rows: np.ndarray | None

    def labels(self, height: int, width: int) -> np.ndarray:
        """The zone index of every pixel, (H, W) int32 (for plots and tests)."""
        out = np.full((height, width), -1, np.int32)
        for y, x0, x1, z in zip(self.run_row, self.run_x0, self.run_x1, self.run_zone):
            out[y, x0:x1] = z
        return out


def _cells(size: int, count: int) -> np.ndarray:
    """Grid cell of each pixel along one axis: ⌊(i + ½)·count / size⌋."""
    return ((np.arange(size) + 0.5) * count / size).astype(np.int64)


def _grid_labels_rows(panel: Panel):
    h, w = panel.height, panel.width
    rows, cols = panel.leds.rows, panel.leds.cols
    cell_y = _cells(h, rows)
    cell_x = _cells(w, cols)
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
    length = runs[:, 2] - runs[:, 1]
    sizes = np.bincount(runs[:, 3], weights=length, minlength=panel.n_leds).astype(np.int64)
    zone_off = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    # the per-zone concatenation: runs sorted by zone (stably, so row-major within a zone), end to end
    order = np.argsort(runs[:, 3], kind="stable")
    run_off = np.empty(len(runs), np.int64)
    run_off[order] = np.cumsum(length[order]) - length[order]
    row_ptr = np.searchsorted(runs[:, 0], np.arange(panel.height + 1)).astype(np.int64)
    band_rows = None
    if panel.leds.layout == "grid":
        band_rows = np.searchsorted(_cells(panel.height, panel.leds.rows), np.arange(panel.leds.rows + 1))
    return ZoneMap(runs[:, 0].copy(), runs[:, 1].copy(), runs[:, 2].copy(), sizes, row_ptr, runs[:, 3].copy(),
                   run_off, zone_off, None if band_rows is None else band_rows.astype(np.int64))


@dataclass(frozen=True)
class ZoneStats:
    """Per-zone statistics on the 0–1 scale of peak_nits, each (N,) or (N, 3) for RGB backlights.

    ``percentile`` is None unless requested.
    """

    max: np.ndarray
    mean: np.ndarray
    percentile: np.ndarray | None


# A value's *key* is its float32 bit pattern with the sign cleared (−0.0 is 0): for non-negative floats
# keys order like the values, so order statistics can be selected on integer bits (radix select).
_SMALL = 48  # candidate sets this small are sorted
_WIDTH = 9  # bits resolved per radix level (512 bins)
_NO_KEY = 0x7FFFFFFF  # above every key of a finite float32


@nb.njit(cache=True, error_model="numpy", nogil=True, fastmath={"reassoc", "contract"})
def _run_max_sum(row, x0, x1, c, per_channel, keys, k):
    """Max, invalid-value flag (NaN, Inf, negative), sum and smallest key over one run.

    If ``keys`` is not empty, the values' keys go to keys[k:].
    """
    mx = np.float32(0.0)
    vmin = np.float32(np.inf)
    mn = np.float32(0.0)
    every = np.float32(0.0)  # sum of all channels: NaN and Inf propagate into it
    sm = np.float32(0.0)
    want_keys = keys.shape[0] > 0
    o = k - x0
    if per_channel:
        for x in range(x0, x1):
            v = row[x, c]
            mx = max(mx, v)
            vmin = min(vmin, v)
            mn = min(mn, v)
            sm += v
        every = sm
        if want_keys:
            for x in range(x0, x1):
                keys[o + x] = f32_bits(row[x, c]) & np.int32(_NO_KEY)
    else:
        for x in range(x0, x1):  # LLVM unswitches the loop-invariant test: two loops, one storing keys
            r, g, b = row[x, 0], row[x, 1], row[x, 2]
            v = max(r, max(g, b))
            mx = max(mx, v)
            vmin = min(vmin, v)
            mn = min(mn, min(r, min(g, b)))
            every += r + g + b
            sm += v
            if want_keys:
                keys[o + x] = f32_bits(v) & np.int32(_NO_KEY)
    bad = np.int32(0) if (mn >= np.float32(0.0) and np.isfinite(every)) else np.int32(1)
    kmin = f32_bits(vmin) & np.int32(_NO_KEY)
    return mx, bad, sm, kmin


@nb.njit(cache=True, error_model="numpy", nogil=True)
def _level(top):
    """(shift, mask) of the radix level that resolves bits top−_WIDTH … top−1 (or all below top)."""
    width = min(_WIDTH, top)
    return top - width, (1 << width) - 1


@nb.njit(cache=True, error_model="numpy", nogil=True)
def _select_pair(keys, hist, k, shift, mask):
    """The k-th and (k+1)-th smallest (0-based) of ``keys``, exactly, by radix select.

    All keys agree above bit shift + width; ``hist`` counts their bits
    (key >> shift) & mask. Each level keeps the keys of the bin holding rank
    k; when rank k+1 falls in a later bin, the pair is the largest key of
    the one bin and the smallest of the next non-empty one (one pass). Ends
    when at most ``_SMALL`` keys remain (sorted) or every bit is fixed (the
    rest are equal). O(n) passes whatever the distribution. Rank k+1 is
    clamped to the last key.
    """
    m = keys.shape[0]
    if k + 1 >= m:
        k1 = k
    else:
        k1 = k + 1
    while True:
        acc = 0
        b = 0
        while acc + hist[b] <= k:
            acc += hist[b]
            b += 1
        k -= acc
        k1 -= acc
        cnt = hist[b]
        if k1 >= cnt:
            b2 = b + 1
            while hist[b2] == 0:
                b2 += 1
            lo = np.int32(0)
            hi = np.int32(_NO_KEY)
            for i in range(m):
                key = keys[i]
                kb = (key >> shift) & mask
                lo = max(lo, key if kb == b else np.int32(0))
                hi = min(hi, key if kb == b2 else np.int32(_NO_KEY))
            return lo, hi
        nxt = np.empty(cnt + 1, np.int32)  # +1: the branch-free store below may write one past the last
        j = 0
        if 8 * cnt < m:  # a rare bin: a well-predicted branch beats a store per key
            for i in range(m):
                key = keys[i]
                if ((key >> shift) & mask) == b:
                    nxt[j] = key
                    j += 1
        else:
            for i in range(m):
                key = keys[i]
                nxt[j] = key
                j += ((key >> shift) & mask) == b
        keys = nxt
        m = cnt
        if shift == 0:
            return keys[0], keys[0]  # every bit is fixed: the remaining keys are equal
        if m <= _SMALL:
            s = np.sort(keys[:m])
            return s[k], s[k1]
        shift, mask = _level(shift)
        hist = np.zeros(mask + 1, np.int32)
        for i in range(m):
            hist[(keys[i] >> shift) & mask] += 1


@nb.njit(cache=True, error_model="numpy", nogil=True)
def _quantile(keys, q, kmin, kmax):
    """numpy-style (linear) quantile q of the values whose keys (see _run_max_sum) are ``keys``, exactly.

    kmin and kmax are the smallest and largest key. Only the bits below the
    highest bit in which they differ vary, so the first radix level bins
    those. A flat zone (kmin == kmax; common: letterbox bars, black or
    clipped areas) costs nothing.
    """
    if kmin == kmax:
        return bits_f32(kmax)
    top = 0
    diff = kmin ^ kmax
    while diff:
        top += 1
        diff >>= 1
    shift, mask = _level(top)
    hist = np.zeros(mask + 1, np.int32)
    for i in range(keys.shape[0]):
        hist[(keys[i] >> shift) & mask] += 1
    n = keys.shape[0]
    pos = q * (n - 1)
    k = int(np.floor(pos))
    lo, hi = _select_pair(keys, hist, k, shift, mask)
    a = bits_f32(lo)
    return a + (bits_f32(hi) - a) * (pos - k)


@nb.njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def _zone_stats(img, per_channel, row_ptr, run_x0, run_x1, run_zone, run_off, zone_off, sizes, nbands, q,
                out_max, out_mean, out_pct, out_bad):
    """Phase 1, parallel over bands of rows: each row's runs once, front to back, into per-band partial
    statistics (and every value's key at its zone's place). Phase 2, parallel over zones: merge the
    partials; select the percentile from the zone's keys."""
    height = img.shape[0]
    nz = sizes.shape[0]
    nch = out_max.shape[1]
    pmax = np.zeros((nbands, nz, nch), np.float32)
    psum = np.zeros((nbands, nz, nch), np.float64)
    pbad = np.zeros((nbands, nz, nch), np.int32)
    pkmin = np.full((nbands, nz, nch), _NO_KEY, np.int32)
    keys = np.empty((nch, img.shape[0] * img.shape[1] if q >= 0 else 0), np.int32)
    for band in nb.prange(nbands):
        for y in range(band * height // nbands, (band + 1) * height // nbands):
            row = img[y]
            for r in range(row_ptr[y], row_ptr[y + 1]):
                z = run_zone[r]
                for c in range(nch):
                    rmx, rbad, rsm, rkmin = _run_max_sum(row, run_x0[r], run_x1[r], c, per_channel, keys[c],
                                                         run_off[r])
                    pmax[band, z, c] = max(pmax[band, z, c], rmx)
                    pbad[band, z, c] = max(pbad[band, z, c], rbad)
                    psum[band, z, c] += rsm
                    pkmin[band, z, c] = min(pkmin[band, z, c], rkmin)
    for z in nb.prange(nz):
        n = sizes[z]
        for c in range(nch):
            mx = np.float32(0.0)
            bad = np.int32(0)
            sm = 0.0
            kmin = np.int32(_NO_KEY)
            for band in range(nbands):
                mx = max(mx, pmax[band, z, c])
                bad = max(bad, pbad[band, z, c])
                sm += psum[band, z, c]
                kmin = min(kmin, pkmin[band, z, c])
            out_max[z, c] = mx
            out_bad[z, c] = bad
            out_mean[z, c] = sm / n if n > 0 else 0.0
            if q >= 0 and n > 0 and not bad:
                kmax = f32_bits(mx) & np.int32(_NO_KEY)
                out_pct[z, c] = _quantile(keys[c, zone_off[z]:zone_off[z] + n], q, kmin, kmax)


@nb.njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def _zone_stats_bands(img, per_channel, band_rows, band_zones, row_ptr, run_x0, run_x1, run_zone, run_off, zone_off,
                      sizes, q, out_max, out_mean, out_pct, out_bad):
    """:func:`_zone_stats` for layouts whose zones fall in bands of rows no zone crosses (grids: a band
    per LED row): each band streams its rows and then selects its zones' percentiles while their keys
    are still in cache (one band's keys, not the frame's, are ever held)."""
    nch = out_max.shape[1]
    nb_ = band_rows.shape[0] - 1
    for band in nb.prange(nb_):
        z0, z1 = band_zones[band], band_zones[band + 1]
        base = zone_off[z0]
        size = zone_off[z1 - 1] + sizes[z1 - 1] - base
        keys = np.empty((nch, size if q >= 0 else 0), np.int32)
        kmin = np.full((z1 - z0, nch), _NO_KEY, np.int32)
        sums = np.zeros((z1 - z0, nch), np.float64)
        for z in range(z0, z1):
            for c in range(nch):
                out_max[z, c] = 0.0
                out_bad[z, c] = 0
        for y in range(band_rows[band], band_rows[band + 1]):
            row = img[y]
            for r in range(row_ptr[y], row_ptr[y + 1]):
                z = run_zone[r]
                for c in range(nch):
                    rmx, rbad, rsm, rkmin = _run_max_sum(row, run_x0[r], run_x1[r], c, per_channel, keys[c],
                                                         run_off[r] - base)
                    out_max[z, c] = max(out_max[z, c], rmx)
                    out_bad[z, c] = max(out_bad[z, c], rbad)
                    sums[z - z0, c] += rsm
                    kmin[z - z0, c] = min(kmin[z - z0, c], rkmin)
        for z in range(z0, z1):
            n = sizes[z]
            for c in range(nch):
                out_mean[z, c] = sums[z - z0, c] / n if n > 0 else 0.0
                if q >= 0 and n > 0 and not out_bad[z, c]:
                    o = zone_off[z] - base
                    kmax = f32_bits(out_max[z, c]) & np.int32(_NO_KEY)
                    out_pct[z, c] = _quantile(keys[c, o:o + n], q, kmin[z - z0, c], kmax)


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
    if zm.band_rows is not None:
        band_zones = np.arange(panel.leds.rows + 1, dtype=np.int64) * panel.leds.cols
        _zone_stats_bands(img, per_channel, zm.band_rows, band_zones, zm.row_ptr,
                          zm.run_x0, zm.run_x1, zm.run_zone, zm.run_off, zm.zone_off, zm.sizes, q,
                          out_max, out_mean, out_pct, out_bad)
    else:
        nbands = min(panel.height, 8 * nb.get_num_threads())
        _zone_stats(img, per_channel, zm.row_ptr, zm.run_x0, zm.run_x1, zm.run_zone, zm.run_off, zm.zone_off,
                    zm.sizes, nbands, q, out_max, out_mean, out_pct, out_bad)
    if out_bad.any():
        raise invalid_values_error(img)
    scale = 1.0 / panel.peak_nits
    shape = (n,) if nch == 1 else (n, 3)
    return ZoneStats(max=(out_max * scale).astype(np.float64).reshape(shape),
                     mean=(out_mean * scale).reshape(shape),
                     percentile=None if percentile is None else (out_pct * scale).astype(np.float64).reshape(shape))
