# SPDX-License-Identifier: BSD-3-Clause
"""Every real HDR image in ../shared/data/hdr loads with the statistics its MANIFEST.csv records."""

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest

from dualmod.imaging.io import read_image

HDR = Path(__file__).resolve().parents[3] / "shared" / "data" / "hdr"
pytestmark = pytest.mark.skipif(not (HDR / "MANIFEST.csv").is_file(), reason="../shared/data/hdr not present")
ROWS = list(csv.DictReader(open(HDR / "MANIFEST.csv"))) if (HDR / "MANIFEST.csv").is_file() else []
Y709 = np.array([0.2126, 0.7152, 0.0722], np.float32)


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_manifest_statistics(row):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny negatives in some photos are clamped (and reported)
        img = read_image(HDR / row["file"])
    assert img.shape == (int(row["height"]), int(row["width"]), 3)
    assert img.dtype == np.float32 and np.isfinite(img).all() and img.min() >= 0
    y = img @ Y709
    # Tree.exr stores camera primaries (header chromaticities); dualmod converts them to Rec.709, the
    # manifest applied Rec.709 weights to the raw values, so its numbers differ by a few percent there
    rtol = 0.05 if row["file"] == "Tree.exr" else 2e-3
    assert np.median(y) == pytest.approx(float(row["lum_median"]), rel=rtol)
    assert y.max() == pytest.approx(float(row["lum_max"]), rel=rtol)
    assert np.percentile(y, 99.9) == pytest.approx(float(row["lum_p99_9"]), rel=max(rtol, 5e-3))


def test_luminance_chroma_file_matches_its_channels():
    """MtTamNorth.exr: Y/RY/BY, chroma on every second pixel, rebuilt with Rec.709 weights."""
    import OpenEXR

    path = HDR / "MtTamNorth.exr"
    with OpenEXR.File(str(path)) as f:
        ch = {k: np.asarray(v.pixels, dtype=np.float32) for k, v in f.channels().items()}
    img = read_image(path)
    y, ry, by = ch["Y"], ch["RY"], ch["BY"]
    np.testing.assert_allclose(img @ Y709, np.maximum(y, 0), rtol=1e-4, atol=1e-6)
    # at the chroma sample sites the reconstruction is exact
    ys, xs = np.mgrid[0:ry.shape[0], 0:ry.shape[1]]
    sites = (2 * ys, 2 * xs)
    np.testing.assert_allclose(img[..., 0][sites], np.maximum((ry + 1) * y[sites], 0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(img[..., 2][sites], np.maximum((by + 1) * y[sites], 0), rtol=1e-4, atol=1e-6)
    # between two sites, the chroma is their mean
    mid = (ry[:, :-1] + ry[:, 1:]) / 2
    np.testing.assert_allclose(img[0::2, 1:-1:2, 0][:, : mid.shape[1]],
                               np.maximum((mid + 1) * y[0::2, 1:-1:2][:, : mid.shape[1]], 0), rtol=1e-4, atol=1e-6)
