# SPDX-License-Identifier: BSD-3-Clause
"""Capture orchestration end to end: the firmware emulator shows the patterns, a virtual camera that sees only
what the firmware reports it shows takes the pictures, an interrupted session resumes, the result fits."""

from __future__ import annotations

import json
import shlex
import sys

import numpy as np
import pytest

import dualmod as dm
from calibration.capture import make_plan
from calibration.captures import load_captures
from calibration.psf_fit import fit_psf
from calibration.virtual import VirtualCamera, camera_json
from dualmod.cli import main

TRUTH = """
[panel]
name = "truth"
width = 320
height = 180
peak_nits = 500.0

[leds]
layout = "grid"
rows = 9
cols = 16

[psf]
model = "gaussian"
sigma = 14.0

[lcd]
response = "gamma"
gamma = 2.2
bit_depth = 8
contrast_ratio = 1000.0
"""


@pytest.fixture
def rig(tmp_path, emulator):
    """A truth profile, the emulator (144 white zones, 500 ms watchdog), camera files and a command builder."""
    truth = tmp_path / "truth.toml"
    truth.write_text(TRUTH)
    log = tmp_path / "shown.log"
    emu = emulator(zones=144, channels=1, shown_log=log, watchdog_ms=500)
    cam = VirtualCamera(width=400, height=240, seed=3)
    cam_file = camera_json(cam, tmp_path / "vcam.json")
    info = tmp_path / "camera-info.json"
    np.save(tmp_path / "vignetting.npy", cam.flat_field().astype(np.float32))
    info.write_text(json.dumps({"camera": {"width": cam.width, "height": cam.height, "linear": True,
                                           "units_per_nit_second": cam.units_per_nit_second,
                                           "saturation": cam.saturation, "flat_field": "vignetting.npy"},
                                "panel_corners_px": cam.corner_px().tolist()}))
    folder = tmp_path / "caps"
    shots = tmp_path / "shots.txt"

    def argv(*extra_camera, exposure="1.0"):
        cmd = [sys.executable, "-m", "calibration.virtual", "shoot", "--panel", str(truth), "--plan",
               str(folder / "plan.json"), "--shown-log", str(log), "--exposure", "{exposure}", "--out", "{out}",
               "--camera", str(cam_file), "--log", str(shots), *extra_camera]
        return ["calibrate", "capture", str(folder), "--port", emu.path, "--panel", str(truth), "--camera-info",
                str(info), "--exposure", exposure, "--flat-exposure", "0.5", "--spacing", "3",
                "--camera-cmd", shlex.join(cmd)]

    return {"argv": argv, "folder": folder, "shots": shots, "truth": truth}


def test_interrupted_capture_resumes_without_losing_or_repeating(rig, capsys):
    folder, shots = rig["folder"], rig["shots"]
    # the camera dies after 5 pictures: a clear error, and what was taken is kept
    assert main(rig["argv"]("--fail-after", "5")) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "camera command failed" in err and "run again to resume" in err
    index = json.loads((folder / "captures.json").read_text())
    assert "dark" in index and "flat" in index and len(index["captures"]) == 3
    assert not list(folder.glob(".incoming-*"))
    # a different plan in the same folder is refused, nothing is overwritten
    assert main(rig["argv"](exposure="2.0")) == 2
    assert "different capture plan" in capsys.readouterr().err
    # the same command again finishes the job
    assert main(rig["argv"]()) == 0
    taken = shots.read_text().split()
    plan = json.loads((folder / "plan.json").read_text())
    assert sorted(taken) == sorted(item["file"] for item in plan["items"])  # every image once, none twice
    assert len(plan["items"]) == 2 + 9  # dark, flat and the 3×3 sub-lattices
    # the folder is a valid capture set and fits the truth (the watchdog never blanked a capture: the
    # link was pinged while the camera, a new Python process, took its picture)
    cs = load_captures(folder)
    fit = fit_psf(cs, "gaussian")
    truth = dm.Panel.load(rig["truth"])
    assert fit.psf["sigma"] == pytest.approx(14.0, rel=0.02)
    assert fit.peak_nits == pytest.approx(truth.peak_nits, rel=0.02)


def test_plan_lists_dark_flat_and_groups():
    panel = dm.Panel.load("proto-16x9-rgb")
    plan = make_plan(panel, exposure_s=0.5)
    kinds = [i["kind"] for i in plan["items"]]
    assert kinds[:2] == ["dark", "flat"] and kinds.count("capture") == 16
    lit = sorted(i for item in plan["items"][2:] for i in item["leds_on"])
    assert lit == list(range(panel.n_leds))
    with pytest.raises(dm.InputError, match="exposure"):
        make_plan(panel, exposure_s=-1.0)


def test_capture_refuses_a_command_without_out(rig, capsys):
    argv = rig["argv"]()
    argv[-1] = "true"
    assert main(argv) == 2
    assert "{out}" in capsys.readouterr().err
    assert not (rig["folder"] / "captures.json").exists()


def test_virtual_camera_refuses_a_frame_not_in_the_plan(tmp_path):
    from calibration.virtual import shown_item

    panel = dm.Panel.load("proto-16x9-rgb")
    plan = make_plan(panel, exposure_s=0.5)
    log = tmp_path / "shown.log"
    log.write_text("7 deadbeef frame 1.000000\n")
    assert shown_item(plan, log, 3) is None
    from firmware_bridge.link import values_crc32

    zeros = np.zeros((panel.n_leds, 3), np.uint16)
    log.write_text(f"8 {values_crc32(zeros):08x} watchdog 2.000000\n")
    assert shown_item(plan, log, 3)["kind"] == "dark"  # a blanked panel photographs as the dark frame


def test_plan_for_a_positions_layout_writes_its_leds_csv(tmp_path):
    (tmp_path / "pos.csv").write_text("10,10\n50,10\n30,40\n")
    panel = dm.Panel.from_dict({"panel": {"width": 64, "height": 48, "peak_nits": 500.0},
                                "leds": {"layout": "positions", "positions_file": "pos.csv"},
                                "psf": {"model": "gaussian", "sigma": 8.0},
                                "lcd": {"response": "gamma", "gamma": 2.2, "bit_depth": 8, "contrast_ratio": 1000.0}},
                               base_dir=tmp_path)
    folder = tmp_path / "caps"
    folder.mkdir()
    plan = make_plan(panel, exposure_s=0.1, folder=folder)
    assert plan["panel"]["leds"] == {"layout": "positions", "positions_file": "leds.csv"}
    np.testing.assert_allclose(np.loadtxt(folder / "leds.csv", delimiter=","), panel.led_positions, atol=1e-6)
    with pytest.raises(dm.InputError, match="folder"):
        make_plan(panel, exposure_s=0.1)
