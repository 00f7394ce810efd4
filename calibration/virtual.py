# SPDX-License-Identifier: BSD-3-Clause
"""A virtual camera: captures of a known panel in the ``dualmod-captures/1`` format, for tests and demos.

The camera looks at the panel through a perspective projection (the panel's four corners land on
``corners`` in the image) and records, per pixel and exposure t (seconds)::

    I = Poisson(g · (nits · units_per_nit_second · flat_field + dark_current + hot) · t) / g + read noise

clipped at ``saturation``. ``flat_field`` is lens vignetting, 1 − v·(r / r_corner)² about the image centre;
``hot`` is a fixed set of hot pixels (dark current many times the rest). The dark frame has the same dark
current and hot pixels, so the fit's dark subtraction and median remove them as on a real sensor.

``python -m calibration.virtual shoot …`` is a camera command for ``dualmod calibrate capture``: it renders the
frame the firmware emulator reports it shows, so the orchestration is tested end to end without hardware.
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from dualmod._io import atomic_path, write_json
from dualmod.imaging.colour import luminance

from .capture import frame_levels
from .captures import FORMAT, apply_homography, default_groups, homography, leds_table

__all__ = ["VirtualCamera", "render_captures"]


@dataclass(frozen=True)
class VirtualCamera:
    """A linear camera aimed at the panel.

    Parameters
    ----------
    width, height : int
        Sensor size in pixels.
    corners : tuple of 4 (x, y), optional
        Camera pixels of the panel's outer corners TL, TR, BR, BL; default a mild perspective view filling
        about 85 % of the frame.
    units_per_nit_second : float
        Camera value per cd/m² per second of exposure.
    gain : float
        Photo-electrons per camera unit (sets the shot noise).
    read_noise : float
        Camera units, rms.
    dark_current : float
        Camera units per second.
    vignetting : float
        Flat-field fall-off at the image corners (0 = none).
    hot_pixel_fraction, hot_pixel_rate : float
        Share of hot pixels and their dark current (units per second).
    saturation : float
        Clip level (camera units).
    seed : int
        Fixes the hot pixels; the noise of each image comes from the generator passed to :meth:`shoot`.
    """

    width: int = 820
    height: int = 520
    corners: tuple | None = None
    units_per_nit_second: float = 50.0
    gain: float = 1.0
    read_noise: float = 4.0
    dark_current: float = 5.0
    vignetting: float = 0.3
    hot_pixel_fraction: float = 2e-4
    hot_pixel_rate: float = 5e4
    saturation: float = 65535.0
    seed: int = 0

    def corner_px(self) -> np.ndarray:
        if self.corners is not None:
            return np.asarray(self.corners, dtype=np.float64)
        w, h = self.width, self.height
        return np.array([[0.10 * w, 0.09 * h], [0.93 * w, 0.06 * h], [0.90 * w, 0.93 * h], [0.07 * w, 0.89 * h]])

    def flat_field(self) -> np.ndarray:
        """Relative sensor response per pixel (vignetting), 1 at the image centre."""
        y, x = np.mgrid[0:self.height, 0:self.width].astype(np.float64)
        cx, cy = (self.width - 1) / 2, (self.height - 1) / 2
        r2 = ((x - cx) ** 2 + (y - cy) ** 2) / (cx ** 2 + cy ** 2)
        return 1.0 - self.vignetting * r2

    def hot_pixels(self) -> np.ndarray:
        rng = np.random.default_rng(self.seed + 7919)
        hot = np.zeros((self.height, self.width), dtype=np.float64)
        n = int(round(self.hot_pixel_fraction * hot.size))
        idx = rng.choice(hot.size, size=n, replace=False)
        hot.flat[idx] = self.hot_pixel_rate * rng.uniform(0.3, 1.0, n)
        return hot

    def project(self, nits: np.ndarray) -> np.ndarray:
        """The panel image (H, W) nits as seen by each camera pixel (0 outside the panel)."""
        h, w = nits.shape
        src = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
        inv = np.linalg.inv(homography(src, self.corner_px()))
        gx, gy = np.meshgrid(np.arange(self.width, dtype=np.float64), np.arange(self.height, dtype=np.float64))
        px, py = apply_homography(inv, gx, gy)
        out = ndimage.map_coordinates(np.asarray(nits, np.float64), [py, px], order=1, mode="nearest")
        out[(px < -0.5) | (px > w - 0.5) | (py < -0.5) | (py > h - 0.5)] = 0.0
        return out

    def shoot(self, nits: np.ndarray | None, exposure_s: float, rng: np.random.Generator) -> np.ndarray:
        """One raw image (float32) of the panel showing ``nits`` (None: the dark frame)."""
        rate = self.dark_current + self.hot_pixels()
        if nits is not None:
            rate = rate + self.project(nits) * self.units_per_nit_second * self.flat_field()
        electrons = rng.poisson(np.maximum(rate * exposure_s * self.gain, 0.0))
        img = electrons / self.gain + rng.normal(0.0, self.read_noise, electrons.shape)
        return np.minimum(img, self.saturation).astype(np.float32)

    def exposure_for(self, peak_nits: float, fill: float = 0.5) -> float:
        """The exposure (s) that puts ``peak_nits`` at ``fill`` of saturation, rounded down to 3 digits."""
        t = fill * self.saturation / (self.units_per_nit_second * max(peak_nits, 1e-9))
        return float(f"{t:.3g}")


def render_captures(panel, folder, camera: VirtualCamera = VirtualCamera(), *, groups=None, level: float = 1.0,
                    seed: int = 0, flat: bool = True, dark_exposure_s: float = 0.2) -> Path:
    """Write a ``dualmod-captures/1`` folder of ``panel`` (the truth) seen by ``camera``.

    Each capture lights one group (default :func:`default_groups`) at ``level``, with its own exposure
    putting its brightest point at half of saturation (as a careful person would set it); ``flat`` adds
    the all-LEDs capture. Returns the folder.
    """
    from dualmod.display.backlight import backlight

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    groups = default_groups(panel) if groups is None else groups

    def save(name: str, img: np.ndarray) -> str:
        with atomic_path(folder / name) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, img)
        return name

    def capture(name: str, on, lit: np.ndarray) -> dict:
        frame = np.zeros(panel.n_leds)
        frame[lit] = level
        nits = backlight(panel, frame)
        if nits.ndim == 3:  # RGB backlight driven white
            nits = luminance(nits)
        t = camera.exposure_for(float(nits.max()))
        save(name, camera.shoot(nits, t, rng))
        return {"file": name, "leds_on": on, "level": level, "exposure_s": t}

    index = {
        "format": FORMAT,
        "panel": {"width": panel.width, "height": panel.height, "leds": leds_table(panel, folder)},
        "camera": {"width": camera.width, "height": camera.height, "linear": True,
                   "units_per_nit_second": camera.units_per_nit_second, "flat_field": save(
                       "camera_flat.npy", camera.flat_field().astype(np.float32)),
                   "saturation": camera.saturation},
        "panel_corners_px": camera.corner_px().round(3).tolist(),
        "dark": save("dark.npy", camera.shoot(None, dark_exposure_s, rng)), "dark_exposure_s": dark_exposure_s,
    }
    if flat:
        index["flat"] = capture("flat.npy", "all", np.arange(panel.n_leds))
    index["captures"] = [capture(f"cap_{k:03d}.npy", [int(i) for i in g], np.asarray(g, dtype=np.int64))
                         for k, g in enumerate(groups)]
    write_json(folder / "captures.json", index)
    return folder


# ------------------------------------------------------------------ a camera command for the orchestration
def shown_item(plan: dict, shown_log, channels: int) -> dict | None:
    """The plan item whose LED frame the firmware emulator last reported showing (by ``shown_crc32``), or
    None when what it shows is none of them."""
    from firmware_bridge.emulator import read_shown_log
    from firmware_bridge.link import values_crc32
    from firmware_bridge.protocol import levels_to_u16

    rows = read_shown_log(shown_log)
    if not rows:
        return None
    crc = rows[-1][1]
    for item in plan["items"]:
        levels = frame_levels(item, plan["n_leds"])
        if channels == 3:
            levels = np.repeat(levels[:, None], 3, axis=1)
        if values_crc32(levels_to_u16(levels)) == crc:
            return item
    return None


def _shoot_main(argv: list[str] | None = None) -> int:
    """``python -m calibration.virtual shoot``: photograph what the firmware emulator says it shows.

    The camera knows only the capture plan and the emulator's shown-frame log: it renders the plan item
    whose frame CRC the firmware reports (dark when the watchdog blanked the LEDs), so a frame that did not
    reach the firmware cannot be photographed by accident.
    """
    ap = argparse.ArgumentParser(prog="python -m calibration.virtual shoot",
                                 description="render one virtual-camera image of what the emulator shows")
    ap.add_argument("--panel", required=True, help="the true panel profile (name or .toml)")
    ap.add_argument("--plan", required=True, help="the session's plan.json")
    ap.add_argument("--shown-log", required=True, help="the emulator's --shown-log file")
    ap.add_argument("--channels", type=int, default=1, help="the emulator's channels per zone")
    ap.add_argument("--exposure", type=float, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--camera", help="JSON of VirtualCamera fields")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log", help="append the shot's name here (tests count the shots)")
    ap.add_argument("--fail-after", type=int, default=0,
                    help="exit 1 (a camera that dies) once this many shots are in --log; 0 = never")
    a = ap.parse_args(argv)
    from dualmod import Panel
    from dualmod.display.backlight import backlight

    out = Path(a.out)
    shots = Path(a.log).read_text().split() if a.log and Path(a.log).is_file() else []
    if a.fail_after and len(shots) >= a.fail_after:
        print("virtual camera: battery empty", file=sys.stderr)
        return 1
    camera = VirtualCamera(**json.loads(Path(a.camera).read_text())) if a.camera else VirtualCamera()
    panel = Panel.load(a.panel)
    plan = json.loads(Path(a.plan).read_text())
    item = shown_item(plan, a.shown_log, a.channels)
    if item is None:
        print("virtual camera: the panel shows a frame that is not in the plan", file=sys.stderr)
        return 3
    nits = backlight(panel, frame_levels(item, panel.n_leds)) if item["level"] > 0 else None
    if nits is not None and nits.ndim == 3:
        nits = luminance(nits)
    rng = np.random.default_rng([a.seed, zlib.crc32(item["file"].encode())])
    img = camera.shoot(nits, a.exposure, rng)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, img)
    if a.log:
        with open(a.log, "a") as fh:
            fh.write(item["file"] + "\n")
    return 0


def camera_json(camera: VirtualCamera, path) -> Path:
    """Write a camera's fields as JSON (for ``shoot --camera``)."""
    d = asdict(replace(camera, corners=None if camera.corners is None else [list(c) for c in camera.corners]))
    return write_json(path, d)


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess in the tests
    if len(sys.argv) > 1 and sys.argv[1] == "shoot":
        sys.exit(_shoot_main(sys.argv[2:]))
    sys.exit("usage: python -m calibration.virtual shoot --panel P --plan plan.json --shown-log LOG --exposure T "
             "--out FILE")
