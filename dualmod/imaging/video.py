# SPDX-License-Identifier: BSD-3-Clause
"""HDR video in and out, one frame at a time (bounded memory).

Sources (:func:`open_frames`):

- a **folder of frames** (``.exr``, ``.hdr``, ``.pfm``, ``.tif``, ``.png``), read in name order;
- **HDR10 video** (``.mp4``, ``.mkv``, ``.mov``, ``.ts``, ``.m2ts``, ``.webm``): BT.2020 primaries, PQ
  (SMPTE ST 2084) transfer, 10-bit, decoded by the ffmpeg that ``imageio-ffmpeg`` ships and piped out
  as decoded (4:2:0 planes), then to linear nits in one pass (:func:`yuv420p10_to_nits`: colour-science's
  BT.2020 Y'CbCr → R'G'B', its ST 2084 EOTF and BT.2020 → BT.709 primaries, out-of-gamut negatives
  clipped to 0). Other pixel formats go through ffmpeg's scaler to 16-bit RGB first (slower, and its
  limited-range mapping reads ~2 % dark);
- ``builtin:NAME`` — a procedural sequence (:mod:`dualmod.imaging.sequences`).

Sinks (:class:`FrameSink`) mirror them: a folder of EXR frames, each written atomically, or an HDR10 video
(x265, ``yuv420p10le``, HDR10 signalling; the Y'CbCr codes computed by colour-science, ffmpeg only
subsamples the chroma) written to a temporary file that is renamed when the video is complete, so an
interrupted encode leaves nothing behind.
"""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numba as nb
import numpy as np

from ..errors import ImageReadError, ImageWriteError, InputError

__all__ = ["VIDEO_SUFFIXES", "FRAME_SUFFIXES", "FrameSource", "open_frames", "FrameSink", "nits_to_hdr10",
           "hdr10_to_nits", "yuv420p10_to_nits", "nits_to_yuv444p10"]

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".ts", ".m2ts", ".webm")
FRAME_SUFFIXES = (".exr", ".hdr", ".pfm", ".tif", ".tiff", ".png")
PQ_PEAK = 10000.0


def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - a dependency
        raise ImageReadError("video", "HDR10 video needs imageio-ffmpeg (pip install imageio-ffmpeg)") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def _pq_bt2020(rgb709: np.ndarray) -> np.ndarray:
    """Linear Rec.709 nits → BT.2020 R'G'B' PQ signal in [0, 1] (float64), by colour-science."""
    from colour import RGB_to_RGB
    from colour.models import eotf_inverse_ST2084

    rgb2020 = RGB_to_RGB(np.asarray(rgb709, dtype=np.float64), "ITU-R BT.709", "ITU-R BT.2020")
    return np.clip(eotf_inverse_ST2084(np.clip(rgb2020, 0.0, PQ_PEAK)), 0.0, 1.0)


def nits_to_hdr10(rgb709: np.ndarray) -> np.ndarray:
    """Linear Rec.709 nits (H, W, 3) → 16-bit BT.2020 PQ code values (uint16, full range)."""
    return np.round(_pq_bt2020(rgb709) * 65535.0).astype(np.uint16)


def nits_to_yuv444p10(rgb709: np.ndarray) -> np.ndarray:
    """Linear Rec.709 nits (H, W, 3) → HDR10 Y'CbCr codes (uint16 (3, H, W): 10-bit, limited range,
    BT.2020 non-constant luminance, PQ), by colour-science end to end: what the encoder is given, so that
    only chroma subsampling is left to ffmpeg (its scaler's own RGB → Y'CbCr is up to 2 codes off)."""
    from colour import WEIGHTS_YCBCR, RGB_to_YCbCr

    ycc = RGB_to_YCbCr(_pq_bt2020(rgb709), K=WEIGHTS_YCBCR["ITU-R BT.2020"], out_bits=10, out_legal=True,
                       out_int=True)
    return np.ascontiguousarray(np.moveaxis(np.asarray(ycc, dtype=np.uint16), -1, 0))


@lru_cache(maxsize=1)
def _decode_tables() -> tuple[np.ndarray, np.ndarray]:
    """colour-science's ST 2084 EOTF at every 16-bit code, and its BT.2020 → BT.709 matrix (float64: the
    matrix has negative terms, so saturated colours would lose their small results in float32)."""
    from colour import RGB_to_RGB
    from colour.models import eotf_ST2084

    lut = np.asarray(eotf_ST2084(np.arange(65536, dtype=np.float64) / 65535.0), dtype=np.float64)
    m = np.asarray(RGB_to_RGB(np.eye(3), "ITU-R BT.2020", "ITU-R BT.709"), dtype=np.float64).T
    return lut, np.ascontiguousarray(m)


@nb.njit(parallel=True, cache=True, nogil=True)
def _decode(codes, lut, m, out):
    h, w, _ = codes.shape
    for i in nb.prange(h):
        for j in range(w):
            r, g, b = lut[codes[i, j, 0]], lut[codes[i, j, 1]], lut[codes[i, j, 2]]
            for c in range(3):
                out[i, j, c] = max(m[c, 0] * r + m[c, 1] * g + m[c, 2] * b, 0.0)


def hdr10_to_nits(codes: np.ndarray) -> np.ndarray:
    """16-bit BT.2020 PQ code values → linear Rec.709 nits (float32, negatives clipped).

    The EOTF is colour-science's, tabulated at all 65536 codes (exact for 16-bit input), and the
    conversion is one fused pass: a 1080p frame in a few milliseconds instead of a quarter second.
    """
    c = np.ascontiguousarray(codes, dtype=np.uint16)
    if c.ndim != 3 or c.shape[2] != 3:
        raise InputError(f"HDR10 codes must have shape (H, W, 3), got {c.shape}")
    lut, m = _decode_tables()
    out = np.empty(c.shape, np.float32)
    _decode(c, lut, m, out)
    return out


@lru_cache(maxsize=1)
def _yuv_tables() -> tuple[np.ndarray, np.ndarray]:
    """colour-science's BT.2020 (non-constant luminance) Y'CbCr → R'G'B' for 10-bit limited-range codes,
    as the affine map it is: R'G'B' = a · (Y', Cb', Cr') + b, read off colour's own conversion."""
    from colour import WEIGHTS_YCBCR, YCbCr_to_RGB

    def f(codes):
        return np.asarray(YCbCr_to_RGB(np.asarray(codes, dtype=np.float64), K=WEIGHTS_YCBCR["ITU-R BT.2020"],
                                       in_bits=10, in_legal=True, in_int=True), dtype=np.float64)

    b = f([0.0, 0.0, 0.0])
    a = np.stack([f(e) - b for e in np.eye(3)], axis=1)
    return np.ascontiguousarray(a, dtype=np.float32), b.astype(np.float32)


@nb.njit(parallel=True, cache=True, nogil=True)
def _decode_yuv420(yp, up, vp, a, b, lut, m, out):
    """4:2:0 Y'CbCr codes → linear Rec.709 nits in one pass.

    Chroma is upsampled bilinearly at the H.265/H.264 default siting (chroma sample location type 0:
    co-sited with even luma columns, halfway between luma rows), then R'G'B' = a·(Y', Cb', Cr') + b
    (float32) is clipped to [0, 1], rounded to 16 bits and decoded by the tabulated EOTF, exactly as
    the 16-bit RGB path decodes what ffmpeg's scaler gives, and BT.2020 → BT.709 is applied (negatives
    clipped). Simple loops, so LLVM vectorises the arithmetic and the table gathers separately.
    """
    h, w = yp.shape
    ch, cw = up.shape
    for i in nb.prange(h):
        cy = 0.5 * i - 0.25
        j0 = int(np.floor(cy))
        fy = np.float32(cy - j0)
        j1 = min(j0 + 1, ch - 1)
        j0 = max(j0, 0)
        cbv = np.empty(cw + 1, np.float32)  # this row's chroma, vertically interpolated (+1: edge copy)
        crv = np.empty(cw + 1, np.float32)
        for k in range(cw):
            u0, v0 = np.float32(up[j0, k]), np.float32(vp[j0, k])
            cbv[k] = u0 + fy * (np.float32(up[j1, k]) - u0)
            crv[k] = v0 + fy * (np.float32(vp[j1, k]) - v0)
        cbv[cw] = cbv[cw - 1]
        crv[cw] = crv[cw - 1]
        cb = np.empty(w, np.float32)  # ... and horizontally, at every luma column
        cr = np.empty(w, np.float32)
        for k in range(w // 2):
            cb[2 * k] = cbv[k]
            cr[2 * k] = crv[k]
            cb[2 * k + 1] = np.float32(0.5) * (cbv[k] + cbv[k + 1])
            cr[2 * k + 1] = np.float32(0.5) * (crv[k] + crv[k + 1])
        if w % 2:
            cb[w - 1] = cbv[w // 2]
            cr[w - 1] = crv[w // 2]
        codes = np.empty((3, w), np.int32)
        for x in range(w):  # R'G'B' as 16-bit codes: plain arithmetic, vectorised
            yv = np.float32(yp[i, x])
            for c in range(3):
                s = a[c, 0] * yv + a[c, 1] * cb[x] + a[c, 2] * cr[x] + b[c]
                codes[c, x] = np.int32(min(max(s, np.float32(0.0)), np.float32(1.0)) * np.float32(65535.0)
                                       + np.float32(0.5))
        for x in range(w):
            lin0, lin1, lin2 = lut[codes[0, x]], lut[codes[1, x]], lut[codes[2, x]]
            for c in range(3):
                out[i, x, c] = max(m[c, 0] * lin0 + m[c, 1] * lin1 + m[c, 2] * lin2, 0.0)


def yuv420p10_to_nits(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """HDR10 4:2:0 planes (10-bit limited-range codes: Y' (H, W), Cb' and Cr' (H/2, W/2)) → linear
    Rec.709 nits (float32 (H, W, 3)). What ffmpeg would otherwise convert (swscale, ~3× the decode
    time at 1080p) done in one fused pass; the colour maths is colour-science's (see _yuv_tables)."""
    y, cb, cr = (np.ascontiguousarray(p, dtype=np.uint16) for p in (y, cb, cr))
    h, w = y.shape
    if cb.shape != ((h + 1) // 2, (w + 1) // 2) or cr.shape != cb.shape:
        raise InputError(f"4:2:0 chroma planes must be {((h + 1) // 2, (w + 1) // 2)} for a {w}×{h} frame, "
                         f"got {cb.shape} and {cr.shape}")
    a, b = _yuv_tables()
    lut, m = _decode_tables()
    out = np.empty((h, w, 3), np.float32)
    _decode_yuv420(y, cb, cr, a, b, lut, m, out)
    return out


class FrameSource:
    """Frames of a video, in order, one at a time: ``for frame in source`` (float32 (H, W, 3) nits).

    Attributes
    ----------
    name : str
    count : int or None
        Number of frames when known up front.
    fps : float
    cuts : list of int
        Known shot boundaries (procedural sequences), else empty.
    """

    def __init__(self, name: str, frames, count: int | None, fps: float, cuts=()):
        self.name, self._frames, self.count, self.fps, self.cuts = name, frames, count, fps, list(cuts)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self._frames())

    def __len__(self) -> int:
        if self.count is None:
            raise TypeError("frame count unknown")
        return self.count


def _folder(path: Path) -> FrameSource:
    from .io import read_image

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise InputError(f"{path}: no frames ({', '.join(FRAME_SUFFIXES)}) in this folder")

    def frames():
        shape = None
        for f in files:
            img = read_image(f)
            if shape is None:
                shape = img.shape
            elif img.shape != shape:
                raise ImageReadError(f, f"frame is {img.shape[1]}×{img.shape[0]}, the first frame {shape[1]}×{shape[0]}")
            yield img

    return FrameSource(str(path), frames, len(files), 24.0)


def _probe(path: Path) -> tuple[int, int, float, str]:
    """(width, height, fps, pixel format) of a video's first stream, from ffmpeg's banner."""
    import re

    proc = subprocess.run([_ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True, timeout=60)
    m = re.search(r"Stream #\S+.*?Video: .*?(\d{2,5})x(\d{2,5})", proc.stderr)
    if not m:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ImageReadError(path, f"not a readable video ({last})")
    fps = re.search(r"(\d+(?:\.\d+)?) fps", proc.stderr)
    fmt = re.search(r"Stream #\S+.*?Video: [^,]*, (\w+)", proc.stderr)
    return int(m.group(1)), int(m.group(2)), float(fps.group(1)) if fps else 24.0, fmt.group(1) if fmt else "?"


#: Raw frames a video reader may hold ahead of its consumer (bounded memory: 12 MB each at 1080p).
READ_AHEAD = 3


def _video(path: Path) -> FrameSource:
    w, h, fps, pix_fmt = _probe(path)
    # 10-bit 4:2:0 (what HDR10 streams are) comes out of ffmpeg as decoded, and is converted here in one
    # pass; anything else goes through ffmpeg's own scaler to 16-bit RGB
    native = pix_fmt == "yuv420p10le" and w % 2 == 0 and h % 2 == 0
    if native:
        convert = ["-pix_fmt", "yuv420p10le"]
        size = w * h * 3  # a 2-byte luma plane and two quarter-size chroma planes

        def decode(buf):
            planes = np.frombuffer(buf, dtype="<u2")
            q = (h // 2) * (w // 2)
            return yuv420p10_to_nits(planes[:w * h].reshape(h, w), planes[w * h:w * h + q].reshape(h // 2, w // 2),
                                     planes[w * h + q:].reshape(h // 2, w // 2))
    else:
        convert = ["-vf", "scale=in_color_matrix=bt2020:in_range=tv:out_range=pc", "-pix_fmt", "rgb48le"]
        size = w * h * 3 * 2

        def decode(buf):
            return hdr10_to_nits(np.frombuffer(buf, dtype="<u2").reshape(h, w, 3))

    def frames():
        import queue
        import threading

        cmd = [_ffmpeg(), "-v", "error", "-i", str(path), "-map", "0:v:0", *convert, "-f", "rawvideo", "-"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        q: queue.Queue = queue.Queue(maxsize=READ_AHEAD)
        stop = threading.Event()

        def reader():  # keeps ffmpeg decoding while the consumer solves (a full pipe would stall it)
            try:
                while not stop.is_set():
                    buf = proc.stdout.read(size)
                    q.put(buf)
                    if len(buf) != size:
                        return
            except (OSError, ValueError):
                q.put(b"")

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        finished = False
        try:
            while True:
                buf = q.get()
                if not buf:
                    finished = True
                    break
                if len(buf) != size:
                    raise ImageReadError(path, "video ends inside a frame (truncated file?)")
                yield decode(buf)
        finally:
            stop.set()
            if not finished:
                proc.kill()
            while thread.is_alive():  # unblock a reader waiting on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    pass
                thread.join(0.05)
            proc.stdout.close()
            err = proc.stderr.read().decode("utf-8", "replace").strip()
            rc = proc.wait()
            if finished and rc != 0:
                raise ImageReadError(path, f"ffmpeg could not decode it ({(err.splitlines() or ['?'])[-1]})")

    return FrameSource(str(path), frames, None, fps)


def open_frames(spec: str, *, size: tuple[int, int] | None = None, frames: int = 48, fps: float = 24.0) -> FrameSource:
    """A frame source for a folder, an HDR10 video file or ``builtin:NAME`` (``size`` = (height, width))."""
    if spec.startswith("builtin:"):
        from .sequences import sequence, sequence_cuts

        name = spec.split(":", 1)[1]
        if size is None:
            raise InputError("a builtin sequence needs a size (the panel's)")
        try:
            sequence(name, frames, *size)  # validates the name and frame count now
        except ValueError as exc:
            raise InputError(f"{spec}: {exc}") from None
        return FrameSource(spec, lambda: sequence(name, frames, *size), frames, fps, sequence_cuts(name, frames))
    path = Path(spec)
    if path.is_dir():
        return _folder(path)
    if not path.exists():
        raise InputError(f"{spec}: no such video, folder of frames or builtin sequence")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return _video(path)
    raise InputError(f"{spec}: give a folder of frames, an HDR10 video ({', '.join(VIDEO_SUFFIXES)}) "
                     "or builtin:flicker / builtin:grain")


class FrameSink:
    """Writes shown frames: a folder (``frame_00000.exr`` …) or an HDR10 video (``.mp4``/``.mkv``/``.mov``).

    Use as a context manager; ``write(index, frame)``. For a video, frames must come in order from 0 and
    the file appears (atomically) only when the sink closes without error.
    """

    def __init__(self, path, *, fps: float = 24.0, crf: int = 12):
        self.path = Path(path)
        self.video = self.path.suffix.lower() in VIDEO_SUFFIXES
        self.fps, self.crf = fps, crf
        self._proc = None
        self._tmp: Path | None = None
        self._next = 0
        if not self.video:
            self.path.mkdir(parents=True, exist_ok=True)

    def frame_path(self, index: int) -> Path:
        return self.path / f"frame_{index:05d}.exr"

    def done(self, index: int) -> bool:
        """Whether frame ``index`` is already written (folders only: resuming)."""
        return not self.video and self.frame_path(index).is_file()

    def write(self, index: int, frame: np.ndarray) -> None:
        if not self.video:
            from .io import write_image

            write_image(self.frame_path(index), frame)
            return
        self.write_encoded(index, self.encode(frame))

    @staticmethod
    def encode(frame: np.ndarray) -> np.ndarray:
        """A video sink's payload for one frame (nits → 10-bit Y'CbCr 4:4:4): pure, so it can run elsewhere
        (on a Dask worker, say) and be passed to :meth:`write_encoded`."""
        return nits_to_yuv444p10(frame)

    def write_encoded(self, index: int, codes: np.ndarray) -> None:
        """Append frame ``index`` (from :meth:`encode`) to a video sink; frames must come in order."""
        if index != self._next:
            raise ImageWriteError(f"{self.path}: video frames must come in order (got {index}, expected {self._next})")
        if self._proc is None:
            self._start(codes.shape[2], codes.shape[1])
        try:
            self._proc.stdin.write(np.ascontiguousarray(codes, dtype="<u2").tobytes())
        except BrokenPipeError:
            raise ImageWriteError(f"{self.path}: ffmpeg stopped ({self._stderr()})") from None
        self._next += 1

    def _start(self, w: int, h: int) -> None:
        if w % 2 or h % 2:
            raise ImageWriteError(f"{self.path}: HDR10 (4:2:0) needs an even width and height, got {w}×{h}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        x265 = (f"crf={self.crf}:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:hdr10=1:"
                "hdr10-opt=1:repeat-headers=1:log-level=error")
        cmd = [_ffmpeg(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv444p10le", "-s", f"{w}x{h}",
               "-r", f"{self.fps:g}", "-color_range", "tv", "-colorspace", "bt2020nc", "-i", "-",
               "-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params", x265, "-color_primaries", "bt2020",
               "-color_trc", "smpte2084", "-colorspace", "bt2020nc", "-color_range", "tv", str(self._tmp)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def _stderr(self) -> str:
        try:
            text = self._proc.stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            text = ""
        return (text.splitlines() or ["no message"])[-1]

    def close(self, ok: bool = True) -> None:
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        try:
            proc.stdin.close()
        except BrokenPipeError:
            ok = False
        rc = proc.wait()
        if ok and rc == 0:
            os.replace(self._tmp, self.path)
            return
        self._tmp.unlink(missing_ok=True)
        if ok:
            raise ImageWriteError(f"{self.path}: ffmpeg failed (exit {rc})")

    def __enter__(self) -> "FrameSink":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(ok=exc_type is None)
