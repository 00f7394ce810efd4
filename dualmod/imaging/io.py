# SPDX-License-Identifier: BSD-3-Clause
"""Reading and writing HDR images.

:func:`read_image` always returns linear RGB as float32 of shape (H, W, 3):

==========================  ======================================================
content                     reader and conversion
==========================  ======================================================
OpenEXR (``.exr``)          official OpenEXR bindings. RGB/RGBA → RGB (alpha
                            ignored); grey ``Y`` → repeated; luminance/chroma
                            ``Y, RY, BY`` → RGB with Rec.709 weights, the 2×2
                            subsampled chroma upsampled bilinearly (chroma sample
                            k sits on pixel 2k); multi-view → the default view;
                            tiled / mip-mapped → the full-resolution level.
Radiance RGBE (``.hdr``)    OpenCV 4.
PFM (``.pfm``)              OpenCV 4.
PNG / TIFF (``.png``,       OpenCV 4. 8- and 16-bit integers are display-encoded:
``.tif``, ``.tiff``)        they are linearised with the sRGB EOTF to relative
                            values in [0, 1]; float TIFFs are taken as linear.
==========================  ======================================================

The format is recognised from the file's first bytes (so a file whose name
lies about its content still reads), falling back to the extension.

Bad files raise :class:`~dualmod.errors.ImageReadError` — missing, a folder,
unreadable, truncated, corrupt, absurd dimensions (more than
:data:`MAX_PIXELS`), or no colour channels. Invalid pixel values are
*sanitised and reported*: NaN → 0, −Inf and negative values → 0, +Inf → the
largest finite value of the image, with an
:class:`~dualmod.errors.ImageSanitizedWarning` giving the counts
(``sanitize=False`` raises instead). Values never reach the simulator as NaN.

:func:`write_image` writes EXR (half or float), PFM, Radiance HDR, float TIFF
and 16-bit PNG (a preview: linear values in [0, 1] are sRGB-encoded, the rest
clipped), always to a temporary file that is renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np

from .._io import atomic_path
from .colour import REC709_LUMINANCE as REC709_Y
from ..errors import ImageReadError, ImageSanitizedWarning, ImageWriteError, InputError

__all__ = ["read_image", "write_image", "sanitize_image", "MAX_PIXELS", "READ_FORMATS", "WRITE_FORMATS"]

#: Largest image (width × height) the readers accept; larger headers are treated as corrupt.
MAX_PIXELS = 1 << 27
READ_FORMATS = (".exr", ".hdr", ".pfm", ".png", ".tif", ".tiff")
WRITE_FORMATS = (".exr", ".hdr", ".pfm", ".png", ".tif", ".tiff")

_MAGIC = [(b"\x76\x2f\x31\x01", "exr"), (b"#?RADIANCE", "hdr"), (b"#?RGBE", "hdr"), (b"PF\n", "pfm"),
          (b"Pf\n", "pfm"), (b"PF\r\n", "pfm"), (b"\x89PNG\r\n\x1a\n", "png"), (b"II*\x00", "tif"),
          (b"MM\x00*", "tif")]
_EXT = {".exr": "exr", ".hdr": "hdr", ".pic": "hdr", ".pfm": "pfm", ".png": "png", ".tif": "tif", ".tiff": "tif"}


def _cv2():
    os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # failures become ImageReadError
    return cv2


_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _captured_stderr():
    """Capture what C/C++ decoders print on file descriptors 1 and 2 (OpenEXR reports errors there).

    Yields a list that receives the captured text, so a decoder's own
    diagnosis can go into the exception instead of onto the user's terminal.
    """
    out: list[str] = []
    with _STDERR_LOCK, tempfile.TemporaryFile(mode="w+b") as tmp:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            saved = (os.dup(1), os.dup(2))
        except (OSError, ValueError):  # no usable fds (embedded interpreters): just run
            yield out
            return
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            out.append(tmp.read(65536).decode("utf-8", "replace"))


def _kind(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except IsADirectoryError:
        raise ImageReadError(path, "is a directory, not an image file") from None
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot read ({exc.strerror or exc})") from None
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if not head:
        raise ImageReadError(path, "empty file")
    kind = _EXT.get(path.suffix.lower())
    if kind is None:
        raise ImageReadError(path, f"not a recognised image (supported: {', '.join(READ_FORMATS)})")
    if kind in ("exr", "png", "tif"):  # these formats always start with their magic
        raise ImageReadError(path, f"content is not {kind.upper()} (wrong extension or corrupt file)")
    return kind


def read_image(path: str | os.PathLike, *, sanitize: bool = True) -> np.ndarray:
    """Read an image as linear RGB, float32, shape (H, W, 3).

    Parameters
    ----------
    path : str or path-like
    sanitize : bool
        Replace NaN/Inf/negative pixels (with a warning giving counts); with
        ``False`` such pixels raise :class:`ImageReadError`.

    Raises
    ------
    ImageReadError

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> p = os.path.join(tempfile.mkdtemp(), "x.exr")
    >>> _ = write_image(p, np.full((4, 6, 3), 250.0, np.float32))
    >>> read_image(p).shape, float(read_image(p)[0, 0, 0])
    ((4, 6, 3), 250.0)
    """
    path = Path(path)
    kind = _kind(path)
    with _captured_stderr() as said:
        try:
            img = _read_exr(path) if kind == "exr" else _read_cv2(path, kind)
        except (ImageReadError, MemoryError, Exception) as exc:
            failure = exc
        else:
            failure = None
    if failure is not None:
        if isinstance(failure, ImageReadError):
            raise failure
        if isinstance(failure, MemoryError):
            raise ImageReadError(path, "image too large for memory (corrupt header?)") from None
        detail = _last_line(said[0] if said else "") or f"{type(failure).__name__}: {failure}"
        raise ImageReadError(path, f"corrupt or unsupported {kind.upper()} file ({detail})") from None
    if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
        raise ImageReadError(path, f"decoded to an unusable shape {img.shape}")
    return sanitize_image(img, path, raise_=not sanitize)


def _last_line(text: str) -> str:
    """The most specific line a decoder printed, without its file-name prefix."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return ""
    specific = [ln for ln in lines if not ln.startswith("Warning: Exception raised")]
    line = (specific or lines)[-1]
    if line.startswith("Warning: Exception raised") and " - " in line:
        line = line.split(" - ", 1)[1]
    if line.startswith(("/", ".")) and ": " in line:
        line = line.split(": ", 1)[1]
    return line[:300]


def sanitize_image(img: np.ndarray, source="image", *, raise_: bool = False) -> np.ndarray:
    """Replace NaN → 0, negative and −Inf → 0, +Inf → largest finite value; warn with counts."""
    img = np.ascontiguousarray(img, dtype=np.float32)
    if img.size and img.min() >= 0 and img.max() < np.inf:  # the common, clean case: two fast reductions
        return img  # (a NaN makes min() NaN, so it fails the test and is handled below)
    nan = np.isnan(img)
    pinf = np.isposinf(img)
    neg = img < 0  # includes −Inf
    counts = (int(nan.sum()), int(pinf.sum()), int(neg.sum()))
    if not any(counts):
        return img
    msg = f"{counts[0]} NaN, {counts[1]} +Inf and {counts[2]} negative pixel values"
    if raise_:
        raise ImageReadError(source, f"has {msg}")
    finite = img[np.isfinite(img)]
    top = float(finite.max()) if finite.size else 0.0
    img = np.where(nan | neg, np.float32(0.0), img)
    img = np.where(pinf, np.float32(top), img)
    warnings.warn(f"{source}: replaced {msg} (NaN/negative -> 0, +Inf -> {top:g})", ImageSanitizedWarning,
                  stacklevel=3)
    return img



def _read_exr(path: Path) -> np.ndarray:
    import OpenEXR

    with OpenEXR.File(str(path), header_only=True) as f:
        if not f.parts:
            raise ImageReadError(path, "EXR file has no image part")
        header = dict(f.header())
        dw = header.get("dataWindow")
        if dw is None:
            raise ImageReadError(path, "EXR header has no dataWindow")
        (x0, y0), (x1, y1) = (np.array(v, dtype=np.int64) for v in dw)
    w, h = int(x1 - x0 + 1), int(y1 - y0 + 1)
    if w < 1 or h < 1 or w * h > MAX_PIXELS:
        raise ImageReadError(path, f"EXR data window {w}x{h} is empty or larger than {MAX_PIXELS} pixels")
    with OpenEXR.File(str(path)) as f:
        ch = {k: v.pixels for k, v in f.channels().items() if v.pixels is not None}
    img = _exr_rgb(path, ch, h, w)
    return _to_rec709(img, header)


def _exr_rgb(path: Path, ch: dict, h: int, w: int) -> np.ndarray:
    def full(name):
        a = np.asarray(ch[name])
        if a.shape[:2] != (h, w):
            raise ImageReadError(path, f"channel {name} has shape {a.shape}, expected {h}x{w}")
        return a.astype(np.float32)

    for key in ("RGB", "RGBA"):
        if key in ch:
            return full(key)[..., :3]
    if all(c in ch for c in "RGB"):
        return np.stack([full(c) for c in "RGB"], axis=-1)
    if "Y" in ch:
        y = full("Y")
        if "RY" in ch and "BY" in ch:
            ry = _upsample_chroma(np.asarray(ch["RY"], dtype=np.float32), h, w)
            by = _upsample_chroma(np.asarray(ch["BY"], dtype=np.float32), h, w)
            r = (ry + 1.0) * y
            b = (by + 1.0) * y
            g = (y - REC709_Y[0] * r - REC709_Y[2] * b) / REC709_Y[1]
            return np.stack([r, g, b], axis=-1).astype(np.float32)
        return np.repeat(y[..., None], 3, axis=2)
    raise ImageReadError(path, f"no RGB or Y channels (has: {', '.join(sorted(ch)) or 'none'})")


def _upsample_chroma(c: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear upsampling of a chroma plane sampled on every second pixel (sample k at pixel 2k)."""
    sy = max(1, round(h / c.shape[0])) if c.shape[0] else 1
    sx = max(1, round(w / c.shape[1])) if c.shape[1] else 1
    if c.ndim != 2 or c.shape[0] < 1 or c.shape[1] < 1 or (c.shape[0] - 1) * sy >= h + sy or \
            (c.shape[1] - 1) * sx >= w + sx:
        raise ImageReadError("chroma", f"chroma plane of shape {c.shape} does not fit a {h}x{w} image")
    yi = np.arange(h) / sy
    xi = np.arange(w) / sx

    def interp(axis_pos, n):
        i0 = np.clip(np.floor(axis_pos).astype(int), 0, n - 1)
        i1 = np.clip(i0 + 1, 0, n - 1)
        return i0, i1, (axis_pos - i0).astype(np.float32)

    y0, y1, fy = interp(yi, c.shape[0])
    x0, x1, fx = interp(xi, c.shape[1])
    rows = c[y0] * (1 - fy)[:, None] + c[y1] * fy[:, None]
    return rows[:, x0] * (1 - fx)[None, :] + rows[:, x1] * fx[None, :]


def _to_rec709(img: np.ndarray, header: dict) -> np.ndarray:
    """Convert from the header's ``chromaticities`` to Rec.709 primaries (no-op when absent or equal)."""
    chrom = header.get("chromaticities")
    if chrom is None:
        return img
    try:
        xy = np.asarray([float(v) for v in chrom], dtype=np.float64).reshape(4, 2)
    except (TypeError, ValueError):
        return img
    rec709 = np.array([[0.64, 0.33], [0.30, 0.60], [0.15, 0.06], [0.3127, 0.3290]])
    if np.allclose(xy, rec709, atol=1e-3):
        return img
    import colour

    npm_src = colour.normalised_primary_matrix(xy[:3], xy[3])
    npm_dst = colour.normalised_primary_matrix(rec709[:3], rec709[3])
    m = np.linalg.inv(npm_dst) @ npm_src  # same white (adaptation only if the whites differ)
    if not np.allclose(xy[3], rec709[3], atol=1e-3):
        cat = colour.adaptation.matrix_chromatic_adaptation_VonKries(
            colour.xy_to_XYZ(xy[3]), colour.xy_to_XYZ(rec709[3]), transform="Bradford")
        m = np.linalg.inv(npm_dst) @ cat @ npm_src
    return np.ascontiguousarray(img @ m.T.astype(np.float32), dtype=np.float32)


def _read_cv2(path: Path, kind: str) -> np.ndarray:
    cv2 = _cv2()
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if img is None:
        raise ImageReadError(path, f"not a decodable {kind.upper()} file (corrupt or truncated)")
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise ImageReadError(path, f"image larger than {MAX_PIXELS} pixels")
    nch = img.shape[2]
    if nch >= 3:
        img = img[..., 2::-1]  # BGR(A) -> RGB
    else:
        img = np.repeat(img[..., :1], 3, axis=2)
    if img.dtype == np.uint8 or img.dtype == np.uint16:
        from colour.models import eotf_sRGB

        scale = 255.0 if img.dtype == np.uint8 else 65535.0
        img = np.asarray(eotf_sRGB(img.astype(np.float64) / scale), dtype=np.float32)
    return np.ascontiguousarray(img, dtype=np.float32)


def write_image(path: str | os.PathLike, image, *, half: bool = True) -> Path:
    """Write a linear RGB image (H, W, 3) atomically; the format follows the extension.

    Parameters
    ----------
    path : str or path-like
        ``.exr`` (half float by default, ``half=False`` for 32-bit float),
        ``.pfm``, ``.hdr``, ``.tif``/``.tiff`` (32-bit float) or ``.png``
        (16-bit preview: values in [0, 1] sRGB-encoded, the rest clipped).
    image : array_like of shape (H, W, 3) or (H, W)

    Raises
    ------
    ImageWriteError
        Unsupported extension or encoder failure; no file is left behind.
    InputError
        Wrong shape or NaN values.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise ImageWriteError(f"{path}: unsupported output format; use one of {', '.join(WRITE_FORMATS)}")
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
        raise InputError(f"image to write must have shape (H, W, 3), got {np.shape(image)}")
    if np.isnan(img).any():
        raise InputError(f"image to write has {int(np.isnan(img).sum())} NaN values")
    if path.is_dir():
        raise ImageWriteError(f"{path}: is a directory")
    try:
        with atomic_path(path) as tmp:
            if suffix == ".exr":
                _write_exr(tmp, img, half)
            else:
                _write_cv2(tmp, img, suffix)
    except (ImageWriteError, InputError):
        raise
    except OSError as exc:
        raise ImageWriteError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except Exception as exc:
        raise ImageWriteError(f"{path}: encoder failed ({type(exc).__name__}: {exc})") from None
    return path


def _write_exr(tmp: Path, img: np.ndarray, half: bool) -> None:
    import OpenEXR

    pixels = np.ascontiguousarray(img.astype(np.float16 if half else np.float32))
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"RGB": pixels}) as f:
        f.write(str(tmp))


def _write_cv2(tmp: Path, img: np.ndarray, suffix: str) -> None:
    cv2 = _cv2()
    bgr = np.ascontiguousarray(img[..., ::-1])
    if suffix == ".png":
        from colour.models import eotf_inverse_sRGB

        enc = np.asarray(eotf_inverse_sRGB(np.clip(bgr, 0.0, 1.0).astype(np.float64)))
        bgr = np.round(enc * 65535.0).astype(np.uint16)
    ok = cv2.imwrite(str(tmp), bgr)
    if not ok:
        raise ImageWriteError(f"{tmp}: OpenCV could not encode {suffix}")
