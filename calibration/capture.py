# SPDX-License-Identifier: BSD-3-Clause
"""Capture orchestration: light LED patterns through the bridge, run the user's camera command for each,
and build a ``dualmod-captures/1`` folder that survives interruption.

The session is a fixed **plan** (``plan.json``): a dark frame (all LEDs off), a flat frame (all on) and one
capture per LED group (:func:`calibration.captures.default_groups`). For each planned image not yet done:

1. show its LED frame and wait for the device's acknowledgement (a limited frame records the level the
   firmware actually showed);
2. run the camera command — an argument list, never a shell — with ``{out}`` (the file to write),
   ``{exposure}`` (seconds), ``{name}`` and ``{index}`` replaced; meanwhile the link keeps the
   firmware's watchdog does not blank the LEDs mid-exposure;
3. check the image it wrote (present, readable, the camera's size), move it into place, and rewrite
   ``captures.json`` atomically with everything done so far.

Run the same command again after a failure or Ctrl-C and it carries on where it stopped: images already in
``captures.json`` (and on disk) are not taken again, none is lost. A different plan in the same folder is
refused. The LEDs are blanked at the end, on error and on interrupt.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np

from dualmod._io import write_json
from dualmod.errors import DualmodError, InputError

from .captures import FORMAT, default_groups, leds_table

__all__ = ["CaptureRunError", "make_plan", "run_capture", "PLAN_FORMAT", "TOKENS"]

PLAN_FORMAT = "dualmod-capture-plan/1"
#: Placeholders the camera command may use.
TOKENS = ("{out}", "{exposure}", "{name}", "{index}")


class CaptureRunError(DualmodError):
    """The camera command failed, or the folder holds a different plan; what was captured is kept."""


def make_plan(panel, *, exposure_s: float, flat_exposure_s: float | None = None, dark_exposure_s: float | None = None,
              spacing: float = 4.0, level: float = 1.0, suffix: str = ".npy", folder=None) -> dict:
    """The images a session takes, in order: dark, flat, then one per LED group. ``folder``: where a
    ``positions`` layout's leds.csv goes (the capture folder)."""
    for name, v in (("exposure", exposure_s), ("flat exposure", flat_exposure_s), ("dark exposure", dark_exposure_s)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise InputError(f"{name} must be > 0 seconds, got {v}")
    if not 0 < level <= 1:
        raise InputError(f"level must lie in (0, 1], got {level}")
    if panel.leds.layout == "positions" and folder is None:
        raise InputError("a 'positions' layout needs the capture folder (its leds.csv goes there)")
    table = leds_table(panel, folder)
    items = [{"kind": "dark", "file": f"dark{suffix}", "leds_on": [], "level": 0.0,
              "exposure_s": dark_exposure_s or exposure_s},
             {"kind": "flat", "file": f"flat{suffix}", "leds_on": "all", "level": level,
              "exposure_s": flat_exposure_s or exposure_s}]
    items += [{"kind": "capture", "file": f"cap_{k:03d}{suffix}", "leds_on": [int(i) for i in g], "level": level,
               "exposure_s": exposure_s} for k, g in enumerate(default_groups(panel, spacing))]
    return {"format": PLAN_FORMAT, "panel": {"width": panel.width, "height": panel.height, "leds": table},
            "n_leds": panel.n_leds, "items": items}


def frame_levels(item: dict, n_leds: int) -> np.ndarray:
    """The LED levels an item of the plan shows."""
    levels = np.zeros(n_leds)
    if item["leds_on"] == "all":
        levels[:] = item["level"]
    else:
        levels[np.asarray(item["leds_on"], dtype=np.int64)] = item["level"]
    return levels


def _camera_args(template: list[str], out: Path, item: dict, index: int) -> list[str]:
    values = {"{out}": str(out), "{exposure}": f"{item['exposure_s']:g}", "{name}": Path(item["file"]).stem,
              "{index}": str(index)}
    args = []
    for a in template:
        for token, v in values.items():
            a = a.replace(token, v)
        args.append(a)
    return args


def _index(plan: dict, camera_info: dict, done: dict) -> dict:
    """captures.json with what is done so far (DESIGN §11 fields only)."""
    idx = {"format": FORMAT, "panel": plan["panel"], "camera": camera_info["camera"],
           "panel_corners_px": camera_info["panel_corners_px"]}
    for item in plan["items"]:
        rec = done.get(item["file"])
        if rec is None:
            continue
        if item["kind"] == "dark":
            idx["dark"], idx["dark_exposure_s"] = rec["file"], rec["exposure_s"]
        elif item["kind"] == "flat":
            idx["flat"] = rec
        else:
            idx.setdefault("captures", []).append(rec)
    return idx


def _done_so_far(folder: Path) -> dict:
    """file → capture record of every image captures.json lists and the folder holds."""
    path = folder / "captures.json"
    if not path.is_file():
        return {}
    try:
        idx = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CaptureRunError(f"{path}: cannot resume, not valid JSON ({exc}); move it away to start over") from None
    recs = list(idx.get("captures", []))
    if "flat" in idx:
        recs.append(idx["flat"])
    if "dark" in idx:
        recs.append({"file": idx["dark"], "leds_on": [], "level": 0.0, "exposure_s": idx.get("dark_exposure_s")})
    return {r["file"]: r for r in recs if (folder / r["file"]).is_file()}


def _check_image(path: Path, camera: dict) -> None:
    from .captures import CaptureError, _Reader

    try:
        _Reader(path.parent).image(path.name, "camera output", (camera["height"], camera["width"]))
    except CaptureError as exc:
        raise CaptureRunError(f"the camera command's image is unusable: {exc}") from None


def run_capture(link, panel, folder, camera_cmd: list[str], camera_info: dict, plan: dict, *,
                timeout_s: float = 120.0, progress=None) -> dict:
    """Take (or finish taking) every image of ``plan`` into ``folder``; returns the final captures.json.

    Parameters
    ----------
    link : firmware_bridge.link.DmlinkLink
        An open link to the backlight (its zone count must be the panel's LED count).
    camera_cmd : list of str
        The camera program and its arguments, with :data:`TOKENS`; ``{out}`` is required.
    camera_info : dict
        ``{"camera": {...}, "panel_corners_px": [...]}`` as in DESIGN §11.
    plan : dict
        From :func:`make_plan`.
    """
    say = progress or (lambda msg: None)
    folder = Path(folder)
    if not any("{out}" in a for a in camera_cmd):
        raise InputError("the camera command must contain {out}: where it writes the image")
    if link.zones != plan["n_leds"]:
        raise InputError(f"the device has {link.zones} zones, the panel {plan['n_leds']} LEDs")
    for key in ("camera", "panel_corners_px"):
        if key not in camera_info:
            raise InputError(f"camera info lacks {key!r} (DESIGN §11: camera size, units_per_nit_second, corners)")
    folder.mkdir(parents=True, exist_ok=True)
    plan_path = folder / "plan.json"
    if plan_path.is_file():
        try:
            old = json.loads(plan_path.read_text())
        except (OSError, json.JSONDecodeError):
            old = None
        if old != json.loads(json.dumps(plan)):
            raise CaptureRunError(f"{folder} holds a different capture plan (plan.json): use a new folder, or the "
                                  "same panel, exposures, spacing and level to resume")
    else:
        write_json(plan_path, plan)
    done = _done_so_far(folder)
    if done:
        say(f"resuming: {len(done)} of {len(plan['items'])} images already taken")
    try:
        for k, item in enumerate(plan["items"]):
            if item["file"] in done:
                continue
            levels = frame_levels(item, plan["n_leds"])
            if link.channels == 3:
                levels = np.repeat(levels[:, None], 3, axis=1)
            ack = link.send_frame(levels, wait=True)
            level = item["level"] * (ack.applied_scale / 65535.0 if ack.limiter_active else 1.0)
            if ack.limiter_active:
                say(f"{item['file']}: the power limiter showed {ack.applied_scale / 65535:.3f} of the level asked")
            final = folder / item["file"]
            incoming = folder / f".incoming-{item['file']}"
            incoming.unlink(missing_ok=True)
            args = _camera_args(camera_cmd, incoming, item, k)
            say(f"[{k + 1}/{len(plan['items'])}] {item['file']}: {item['kind']}, exposure {item['exposure_s']:g} s")
            try:
                with link.keep_alive():  # a silent link would blank the LEDs mid-exposure (the watchdog)
                    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
            except FileNotFoundError:
                raise CaptureRunError(f"camera command not found: {args[0]}") from None
            except subprocess.TimeoutExpired:
                raise CaptureRunError(f"camera command took longer than {timeout_s:g} s for {item['file']}") from None
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
                incoming.unlink(missing_ok=True)
                raise CaptureRunError(f"camera command failed (exit {proc.returncode}) for {item['file']}: {tail[0]}"
                                      f"; {len(done)} images kept, run again to resume")
            if not incoming.is_file():
                raise CaptureRunError(f"camera command exited 0 but wrote no {incoming.name} (does it use {{out}}?)")
            _check_image(incoming, camera_info["camera"])
            os.replace(incoming, final)
            done[item["file"]] = {"file": item["file"], "leds_on": item["leds_on"], "level": level,
                                  "exposure_s": item["exposure_s"]}
            write_json(folder / "captures.json", _index(plan, camera_info, done))
    finally:
        for f in folder.glob(".incoming-*"):
            f.unlink(missing_ok=True)
        try:
            link.blank()
        except DualmodError:
            pass
    say(f"all {len(plan['items'])} images taken")
    return _index(plan, camera_info, done)

