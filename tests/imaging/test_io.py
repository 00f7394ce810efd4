# SPDX-License-Identifier: BSD-3-Clause
"""Image reading and writing: round trips, content sniffing, sanitising, atomic output."""

import os

import numpy as np
import pytest

import dualmod as dm
from dualmod.errors import ImageReadError, ImageSanitizedWarning, ImageWriteError
from dualmod.imaging.io import read_image, write_image


def hdr_image(h=24, w=40, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((h, w, 3)) ** 4 * 3000 + 0.01).astype(np.float32)


@pytest.mark.parametrize("ext,kw,rtol", [
    (".exr", {"half": False}, 0.0),
    (".exr", {}, 1e-3),           # half float: 11-bit mantissa
    (".pfm", {}, 0.0),
    (".tif", {}, 0.0),
    (".hdr", {}, None),           # RGBE: 8-bit mantissas sharing the largest channel's exponent
])
def test_hdr_round_trips(tmp_path, ext, kw, rtol):
    img = hdr_image()
    p = write_image(tmp_path / f"a{ext}", img, **kw)
    back = read_image(p)
    assert back.dtype == np.float32 and back.shape == img.shape
    if rtol is None:
        step = img.max(axis=2, keepdims=True) / 128
        assert np.all(np.abs(back - img) <= step)
    elif rtol == 0:
        np.testing.assert_array_equal(back, img)
    else:
        np.testing.assert_allclose(back, img, rtol=rtol, atol=1e-3)


def test_png_preview_round_trip(tmp_path):
    lin = np.linspace(0, 1, 3 * 64 * 16, dtype=np.float32).reshape(16, 64, 3)
    back = read_image(write_image(tmp_path / "p.png", lin))
    np.testing.assert_allclose(back, lin, atol=2e-4)  # 16-bit sRGB-encoded
    clipped = read_image(write_image(tmp_path / "q.png", lin * 4))
    assert clipped.max() == pytest.approx(1.0)


def test_grey_and_rgba_exr(tmp_path):
    import OpenEXR

    y = np.linspace(0, 100, 12, dtype=np.float32).reshape(3, 4)
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION}, {"Y": y}) as f:
        f.write(str(tmp_path / "grey.exr"))
    g = read_image(tmp_path / "grey.exr")
    np.testing.assert_array_equal(g, np.repeat(y[..., None], 3, axis=2))
    rgba = np.concatenate([hdr_image(3, 4), np.zeros((3, 4, 1), np.float32)], axis=2)
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION}, {"RGBA": rgba}) as f:
        f.write(str(tmp_path / "rgba.exr"))
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.exr"), rgba[..., :3])


def test_content_sniffing_beats_extension(tmp_path):
    img = hdr_image()
    exr = write_image(tmp_path / "real.exr", img, half=False)
    os.replace(exr, tmp_path / "named.hdr")
    np.testing.assert_array_equal(read_image(tmp_path / "named.hdr"), img)
    write_image(tmp_path / "real.png", np.clip(img / 3000, 0, 1))
    os.replace(tmp_path / "real.png", tmp_path / "named.exr")
    assert read_image(tmp_path / "named.exr").shape == img.shape


@pytest.mark.parametrize("content,name,match", [
    (b"", "empty.exr", "empty file"),
    (b"hello world, not an image", "text.exr", "content is not EXR"),
    (b"hello world, not an image", "text.hdr", "not a decodable HDR"),
    (b"hello world, not an image", "text.xyz", "not a recognised image"),
    (b"\x76\x2f\x31\x01" + b"\x00" * 40, "trunc.exr", "corrupt"),
])
def test_bad_files_raise_image_read_error(tmp_path, content, name, match):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ImageReadError, match=match):
        read_image(tmp_path / name)


def test_missing_and_directory(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "nope.exr")
    with pytest.raises(ImageReadError, match="is a directory"):
        read_image(tmp_path)


def test_invalid_pixels_are_sanitised_and_reported(tmp_path):
    import OpenEXR

    img = hdr_image()
    img[0, 0, 0] = np.nan
    img[0, 1, 1] = np.inf
    img[0, 2, 2] = -5.0
    img[0, 3, 0] = -np.inf
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION}, {"RGB": img}) as f:
        f.write(str(tmp_path / "bad.exr"))
    with pytest.raises(ImageReadError, match="1 NaN, 1 \\+Inf and 2 negative"):
        read_image(tmp_path / "bad.exr", sanitize=False)
    with pytest.warns(ImageSanitizedWarning, match="replaced 1 NaN, 1 \\+Inf and 2 negative"):
        arr = read_image(tmp_path / "bad.exr")
    assert np.isfinite(arr).all() and arr.min() >= 0
    assert arr[0, 0, 0] == 0 and arr[0, 2, 2] == 0 and arr[0, 3, 0] == 0
    finite = img[np.isfinite(img)]
    assert arr[0, 1, 1] == finite.max()
    clean = np.where(np.isfinite(img) & (img >= 0), img, 0)
    mask = np.ones(img.shape, bool)
    mask[0, :4] = False
    np.testing.assert_array_equal(arr[mask], clean[mask])


def test_write_refuses_and_leaves_nothing(tmp_path):
    img = hdr_image()
    with pytest.raises(ImageWriteError, match="unsupported output format"):
        write_image(tmp_path / "x.jpg", img)
    with pytest.raises(dm.InputError, match="shape"):
        write_image(tmp_path / "x.exr", img[..., :2])
    bad = img.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(dm.InputError, match="NaN"):
        write_image(tmp_path / "x.exr", bad)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ImageWriteError):
        write_image(tmp_path / "afile" / "x.exr", img)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_overwrite_is_atomic(tmp_path):
    p = tmp_path / "o.exr"
    write_image(p, hdr_image(seed=1))
    write_image(p, hdr_image(seed=2))
    np.testing.assert_allclose(read_image(p), hdr_image(seed=2), rtol=1e-3, atol=1e-3)
    assert [x.name for x in tmp_path.iterdir()] == ["o.exr"]


@pytest.mark.parametrize("ext", [".exr", ".png", ".json"])
def test_outputs_get_the_umask_mode_not_mkstemps(tmp_path, ext):
    """Atomic writes go through mkstemp (mode 0600); the result must be readable as a plain open() would
    leave it (0666 & ~umask), and a replaced file keeps its own mode."""
    import os

    from dualmod._io import write_json

    write = (lambda p: write_json(p, {"a": 1})) if ext == ".json" else (lambda p: write_image(p, hdr_image()))
    old = os.umask(0o022)
    try:
        p = tmp_path / f"new{ext}"
        write(p)
        assert p.stat().st_mode & 0o777 == 0o644
        p.chmod(0o640)
        write(p)
        assert p.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
