# SPDX-License-Identifier: BSD-3-Clause
"""``dualmod compare --workers 2`` on a local Dask cluster of two worker processes gives the serial numbers."""

from __future__ import annotations

import json
import os

import pytest

from dualmod.cli import main

pytest.importorskip("distributed")


@pytest.mark.slow
def test_compare_on_two_dask_workers_matches_the_serial_run(tmp_path, capsys):
    args = ["compare", "builtin:night", "builtin:window", "builtin:specular", "--panel", "proto-16x9-rgb",
            "--methods", "max,sqrt,seetzen2004"]
    assert main(args + ["--out", str(tmp_path / "serial")]) == 0
    environ = dict(os.environ)
    assert main(args + ["--out", str(tmp_path / "dask"), "--workers", "2"]) == 0
    # Dask's nanny writes the workers' environment into this process too (NUMBA_NUM_THREADS there breaks numba)
    assert dict(os.environ) == environ
    assert "Dask workers" in capsys.readouterr().err
    serial = json.loads((tmp_path / "serial" / "results.json").read_text())["rows"]
    dask = json.loads((tmp_path / "dask" / "results.json").read_text())["rows"]
    assert len(serial) == len(dask) == 9
    for a, b in zip(serial, dask):
        a.pop("solve_ms"), b.pop("solve_ms")  # timings are the workers' own
        assert a == b


def test_bad_scheduler_is_one_line(tmp_path, capsys):
    rc = main(["compare", "builtin:night", "--methods", "max", "--out", str(tmp_path), "--scheduler",
               "tcp://127.0.0.1:9"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dualmod: error: --scheduler tcp://127.0.0.1:9: cannot connect")


def _rows(path):
    import csv

    with open(path, newline="") as fh:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(fh)]


@pytest.mark.slow
def test_video_on_two_dask_workers_matches_the_serial_run_and_resumes(tmp_path, capsys):
    """The filter runs on the client in frame order, so the Dask run is the serial run: same rows, same
    temporal metrics, the same shown frames and LED files; and a resumed Dask run is the same again."""
    import numpy as np

    from dualmod.imaging.io import read_image

    args = ["video", "builtin:flicker", "--panel", "proto-16x9-rgb", "--frames", "10", "--method", "sqrt"]
    assert main(args + ["--out", str(tmp_path / "serial")]) == 0
    assert main(args + ["--out", str(tmp_path / "dask"), "--workers", "2"]) == 0
    assert "Dask workers" in capsys.readouterr().err
    serial, dask = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("serial", "dask"))
    for s in (serial, dask):
        s.pop("frames_per_second"), s.pop("shown")
    assert serial == dask and serial["frames"] == 10 and serial["cut_frames"]
    assert _rows(tmp_path / "serial" / "metrics.csv") == _rows(tmp_path / "dask" / "metrics.csv")
    for k in range(10):
        a, b = (read_image(tmp_path / d / "frames" / f"frame_{k:05d}.exr") for d in ("serial", "dask"))
        assert np.array_equal(a, b)
        with np.load(tmp_path / "serial" / "leds" / f"leds_{k:05d}.npz") as za, \
                np.load(tmp_path / "dask" / "leds" / f"leds_{k:05d}.npz") as zb:
            assert np.array_equal(za["sent"], zb["sent"]) and np.array_equal(za["raw"], zb["raw"])
    for k in range(4, 10):  # lose the second part, resume on the cluster
        (tmp_path / "dask" / "frames" / f"frame_{k:05d}.exr").unlink()
    assert main(args + ["--out", str(tmp_path / "dask"), "--workers", "2", "--json", str(tmp_path / "r.json")]) == 0
    again = json.loads((tmp_path / "r.json").read_text())
    assert (again.pop("solved"), again.pop("resumed")) == (6, 4)
    assert again["cut_frames"] == serial["cut_frames"]
    for key in ("pu21_psnr_mean", "power_mean", "led_flicker_rms"):
        assert again[key] == pytest.approx(serial[key], rel=1e-6)  # resumed rows come from metrics.csv (6 digits)
    # resumed frames' static flicker is measured on the written frames (half-float EXR)
    assert again["static_flicker_pu21"] == pytest.approx(serial["static_flicker_pu21"], rel=1e-3)


@pytest.mark.slow
def test_video_encoded_on_dask_workers_is_the_serial_file(tmp_path):
    """With --shown, workers encode each frame (nits → 10-bit Y'CbCr) and the client pipes the codes to
    ffmpeg in order: the HDR10 file is byte for byte the serial run's."""
    args = ["video", "builtin:flicker", "--panel", "proto-16x9-rgb", "--frames", "6", "--method", "sqrt"]
    assert main(args + ["--out", str(tmp_path / "s"), "--shown", str(tmp_path / "s.mp4")]) == 0
    assert main(args + ["--out", str(tmp_path / "d"), "--shown", str(tmp_path / "d.mp4"), "--workers", "2"]) == 0
    assert (tmp_path / "s.mp4").read_bytes() == (tmp_path / "d.mp4").read_bytes()


def _small_panel(tmp_path):
    """proto-16x9-rgb at a quarter of its size with one channel, as a profile file."""
    from pathlib import Path

    import dualmod

    proto = (Path(dualmod.__file__).parent / "profiles" / "proto-16x9-rgb.toml").read_text()
    small = tmp_path / "small.toml"
    small.write_text(proto.replace('"proto-16x9-rgb"', '"small"').replace("width = 1280", "width = 320")
                     .replace("height = 720", "height = 180").replace("sigma = 64.0", "sigma = 16.0")
                     .replace("channels = 3", "channels = 1"))
    return small


@pytest.mark.slow
def test_float64_optimal_on_dask_workers_is_the_serial_run(tmp_path):
    """In float32, optimal's LEDs on a grainy picture depend on torch's thread count (one in a worker, two
    here); optimal:precision=float64 gives the serial run's numbers on the workers too."""
    import numpy as np

    import dualmod as dm
    from dualmod.imaging.io import write_image

    rng = np.random.default_rng(0)
    frames = []
    for k in range(2):
        t = dm.scene("window", 180, 320)
        frames.append(str(tmp_path / f"grain{k}.exr"))
        write_image(frames[-1], (t * (1 + 0.01 * rng.standard_normal(t.shape))).astype(np.float32))
    args = ["compare", *frames, "--panel", str(_small_panel(tmp_path)), "--methods",
            "optimal:steps=60:precision=float64", "--exposure", "1"]
    assert main(args + ["--out", str(tmp_path / "serial")]) == 0
    assert main(args + ["--out", str(tmp_path / "dask"), "--workers", "2"]) == 0
    serial = json.loads((tmp_path / "serial" / "results.json").read_text())["rows"]
    dask = json.loads((tmp_path / "dask" / "results.json").read_text())["rows"]
    assert len(serial) == len(dask) == 2
    for a, b in zip(serial, dask):
        a.pop("solve_ms"), b.pop("solve_ms")
        assert a == b


@pytest.mark.slow
def test_anchored_optimal_chains_its_solves_on_dask_workers(tmp_path):
    """optimal with the temporal filter is anchored to its previous frame's solution, within each shot: on two
    workers the solves are chained through their futures. (Not bit for bit the serial run's LEDs: the
    workers run torch on one thread each, and where optimal's loss is flat the last bits of a sum move its
    end point; the quality is the same.)"""
    # on this panel, per-frame optimal moves its LEDs by an RMS of ~0.025 a frame under the grain (anchor=0),
    # anchored by ~0.005
    small = _small_panel(tmp_path)
    args = ["video", "builtin:grain", "--panel", str(small), "--frames", "4", "--method", "optimal",
            "--temporal", "attack=1,decay=0.15,anchor=0.0001"]
    assert main(args + ["--out", str(tmp_path / "serial")]) == 0
    assert main(args + ["--out", str(tmp_path / "dask"), "--workers", "2"]) == 0
    serial, dask = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("serial", "dask"))
    assert serial["cut_frames"] == dask["cut_frames"] == [2]
    for s in (serial, dask):  # still frames within a shot keep the LEDs of the shot's first frame
        assert s["led_flicker_rms"] < 0.01, s["led_flicker_rms"]
    assert dask["pu21_psnr_mean"] == pytest.approx(serial["pu21_psnr_mean"], abs=0.2)
