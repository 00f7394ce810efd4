# SPDX-License-Identifier: BSD-3-Clause
"""The dualmod command, run as a user would: a subprocess, exit codes, files, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dualmod.imaging.io import read_image

SHARED_HDR = Path(__file__).resolve().parents[2] / "shared" / "data" / "hdr"

SMALL = """[panel]
width = 96
height = 54
peak_nits = 800
[leds]
layout = "grid"
rows = 3
cols = 6
[psf]
model = "gaussian"
sigma = 10
[lcd]
response = "gamma"
bit_depth = 8
contrast_ratio = 1000
"""


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "dualmod", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture
def small_profile(tmp_path):
    p = tmp_path / "small.toml"
    p.write_text(SMALL)
    return p


def test_panels_scenes_methods_json(tmp_path):
    r = run("panels", "--json", tmp_path / "p.json")
    assert r.returncode == 0, r.stderr
    assert "fald-1080p-576" in r.stdout
    data = json.loads((tmp_path / "p.json").read_text())
    assert {x["name"] for x in data["panels"]} >= {"fald-1080p-576", "sim2-hdr47", "proto-16x9-rgb"}
    r = run("scenes", "--json", tmp_path / "s.json")
    assert r.returncode == 0 and "builtin:night" in r.stdout
    assert len(json.loads((tmp_path / "s.json").read_text())["scenes"]) >= 5
    r = run("methods")
    assert r.returncode == 0 and "global" in r.stdout


def test_help_has_examples():
    for cmd in ("simulate", "panels", "bench", "demo", "scenes", "methods", "train-cnn", "compare"):
        r = run(cmd, "--help")
        assert r.returncode == 0 and "example:" in r.stdout and "--json" in r.stdout


def test_simulate_builtin_scene(tmp_path, small_profile):
    out = tmp_path / "res" / "shown.exr"
    r = run("simulate", "builtin:window", "--panel", small_profile, "--out", out, "--preview", tmp_path / "p.png",
            "--json", tmp_path / "r.json")
    assert r.returncode == 0, r.stderr
    shown = read_image(out)
    assert shown.shape == (54, 96, 3)
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["method"] == "global" and summary["leds"] == 18
    assert 0 < summary["power"] <= 1 and summary["peak_nits_shown"] <= 800 * 1.0001
    assert set(summary["timings"]) == {"read_prepare_s", "solve_s", "simulate_s", "write_s"}
    assert read_image(tmp_path / "p.png").max() <= 1.0


def test_method_takes_options_as_compare_does(tmp_path, small_profile):
    """--method NAME:key=value reaches the solver (simulate, video); one method only, options checked."""
    summaries = {}
    for spec in ("cnn", "cnn:power_weight=0.03", "cnn:power_budget=0.05"):
        j = tmp_path / f"{len(summaries)}.json"
        r = run("simulate", "builtin:window", "--panel", small_profile, "--method", spec, "--out", tmp_path / "s.exr",
                "--json", j)
        assert r.returncode == 0, r.stderr
        summaries[spec] = json.loads(j.read_text())
    assert summaries["cnn:power_weight=0.03"]["options"] == {"power_weight": 0.03}
    assert summaries["cnn"]["method"] == "cnn" and summaries["cnn"]["options"] == {}
    assert summaries["cnn:power_weight=0.03"]["power"] < summaries["cnn"]["power"]   # a price on power: dimmer
    assert summaries["cnn:power_budget=0.05"]["power"] <= 0.05 * 1.01   # met before drive-code rounding
    for spec, words in (("cnn:power_weight=0/0.01", "one method"), ("max:power_weight=1", "power_weight"),
                        ("cnn:power_weight=-1", "must be a number >= 0"), ("optimal:start=zones", "one of both")):
        r = run("simulate", "builtin:window", "--panel", small_profile, "--method", spec, "--out", tmp_path / "x.exr")
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "x.exr").exists()
    r = run("video", "builtin:flicker", "--panel", small_profile, "--frames", "4", "--method", "cnn:power_budget=0.05",
            "--out", tmp_path / "v")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert summary["method"] == "cnn" and summary["options"] == {"power_budget": 0.05}
    assert summary["power_mean"] <= 0.05 * 1.01
    r = run("video", "builtin:flicker", "--panel", small_profile, "--frames", "4", "--method", "cnn:power_budget=0.05",
            "--temporal", "off", "--lookahead", "0.02", "--out", tmp_path / "la")   # the envelope is capped too
    assert r.returncode == 0, r.stderr
    rows = (tmp_path / "la" / "metrics.csv").read_text().strip().splitlines()[1:]
    powers = [float(row.split(",")[3]) for row in rows]
    assert len(powers) == 4 and max(powers) <= 0.05 * 1.01


@pytest.mark.skipif(not SHARED_HDR.is_dir(), reason="../shared/data/hdr not present")
def test_simulate_real_exr(tmp_path, small_profile):
    r = run("simulate", SHARED_HDR / "GoldenGate.exr", "--panel", small_profile, "--out", tmp_path / "o.pfm",
            "--exposure", "50", "--fit", "rolloff", "--json", tmp_path / "r.json")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["input"]["nits_per_unit"] == 50.0 and summary["fit"] == "rolloff"
    assert read_image(tmp_path / "o.pfm").shape == (54, 96, 3)


def _assert_clean_failure(r, out_dir, *words):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dualmod: error: "), r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert "Traceback" not in r.stderr
    assert not any(out_dir.iterdir()), list(out_dir.iterdir())  # no output, no temp files


@pytest.mark.parametrize("case", ["missing", "directory", "truncated", "garbage", "bad_method", "bad_profile",
                                  "unknown_profile", "unknown_field", "bad_out_ext", "out_parent_is_file",
                                  "unknown_scene", "bad_exposure"])
def test_simulate_error_paths(tmp_path, small_profile, case):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "o.exr"
    src = "builtin:window"
    panel = small_profile
    extra = []
    words = []
    if case == "missing":
        src, words = tmp_path / "nope.exr", ["nope.exr", "no such file"]
    elif case == "directory":
        src, words = tmp_path, ["is a directory"]
    elif case == "truncated":
        good = tmp_path / "good.exr"
        from dualmod.imaging.io import write_image

        write_image(good, np.ones((40, 60, 3), np.float32) * 5)
        data = good.read_bytes()
        src = tmp_path / "cut.exr"
        src.write_bytes(data[: len(data) // 2])
        words = ["cut.exr", "corrupt"]
    elif case == "garbage":
        src = tmp_path / "noise.hdr"
        src.write_bytes(bytes(range(256)) * 10)
        words = ["noise.hdr"]
    elif case == "bad_method":
        extra, words = ["--method", "magic"], ["unknown method(s) magic", "global"]
    elif case == "bad_profile":
        panel = tmp_path / "bad.toml"
        panel.write_text(SMALL.replace("sigma = 10", "sigma = -3"))
        words = ["bad.toml", "psf.sigma"]
    elif case == "unknown_profile":
        panel, words = "no-such-panel", ["no-such-panel", "fald-1080p-576"]
    elif case == "unknown_field":
        panel = tmp_path / "extra.toml"
        panel.write_text(SMALL.replace("[lcd]", "[lcd]\nbrightness = 3"))
        words = ["extra.toml", "lcd.brightness", "unknown field"]
    elif case == "bad_out_ext":
        out, words = out_dir / "o.jpg", ["o.jpg"]
    elif case == "out_parent_is_file":
        (tmp_path / "file").write_text("x")
        out, words = tmp_path / "file" / "o.exr", ["o.exr"]
    elif case == "unknown_scene":
        src, words = "builtin:forest", ["forest", "window"]
    elif case == "bad_exposure":
        extra, words = ["--exposure", "-2"], ["--exposure"]
    r = run("simulate", src, "--panel", panel, "--out", out, "--json", out_dir / "r.json", *extra)
    _assert_clean_failure(r, out_dir, *words)


def test_debug_shows_traceback(tmp_path):
    r = run("--debug", "simulate", tmp_path / "nope.exr", "--out", tmp_path / "o.exr")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_bench_quick(tmp_path):
    r = run("bench", "--quick", "--json", tmp_path / "b.json")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "b.json").read_text())
    case = res["cases"][0]
    assert case["panel"] == "fald-1080p-576" and case["simulate_ms"] > 0 and case["floor_ms"] > 0
    assert case["backlight_max_err_rel_peak"] < 1e-5
    assert res["first_call"]["first_simulate_s"] > 0


def referenced_images(page):
    import re

    return re.findall(r"<img src='([^']+)'", page.read_text())


def test_demo_writes_report(tmp_path):
    r = run("demo", "--out", tmp_path / "demo")
    assert r.returncode == 0, r.stderr
    page = tmp_path / "demo" / "report.html"
    figures = referenced_images(page)
    assert "figures/pareto.png" in figures and len(figures) == 4          # Pareto + one per scene
    assert all((page.parent / f).stat().st_size > 5000 for f in figures)
    result = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert result["panel"] == "fald-1080p-576" and len(result["rows"]) == 15
    by = {s["method"]: s for s in result["summary"]}
    assert set(by) == {"max", "sqrt", "seetzen2004", "optimal", "cnn"} and all(0 < s["power"] <= 1 for s in by.values())
    assert "PU21-PSNR" in r.stdout and "report.html" in r.stdout


def test_compare_report_and_pareto_with_a_sweep(tmp_path, small_profile):
    out = tmp_path / "cmp"
    r = run("compare", "builtin:window", "builtin:specular", "--panel", small_profile, "--methods",
            "max,sqrt,cnn:power_weight=0/0.003/0.03", "--out", out, "--pareto", "pareto.png", "--report")
    assert r.returncode == 0, r.stderr
    result = json.loads((out / "results.json").read_text())
    methods = [s["method"] for s in result["summary"]]
    assert methods.count("cnn:power_weight=0.003") == 1 and len(methods) == 5
    assert (out / "pareto.png").stat().st_size > 5000
    figures = referenced_images(out / "report.html")
    assert len(figures) == 3 and all((out / f).is_file() for f in figures)


def test_compare_writes_tables(tmp_path, small_profile):
    out = tmp_path / "cmp"
    r = run("compare", "builtin:window", "builtin:night", "--panel", small_profile, "--methods", "max,sqrt,seetzen2004",
            "--out", out, "--json", tmp_path / "c.json")
    assert r.returncode == 0, r.stderr
    rows = (out / "results.csv").read_text().strip().splitlines()
    assert rows[0].startswith("image,split,method,pu21_psnr,pu21_ssim,power,clipped_fraction,halo")
    assert len(rows) == 1 + 2 * 3
    data = json.loads((out / "results.json").read_text())
    assert [s["method"] for s in data["summary"]] == ["max", "sqrt", "seetzen2004"]
    assert all(s["images"] == 2 and s["pu21_psnr"] > 10 for s in data["summary"])
    assert "PU21-PSNR" in r.stdout
    bad = run("compare", "builtin:window", "--panel", small_profile, "--methods", "max,nope", "--out", tmp_path / "x")
    assert bad.returncode == 2 and "unknown method(s) nope" in bad.stderr
    # a bad option of a later method is refused before any method runs or anything is written
    bad = run("compare", "builtin:window", "--panel", small_profile, "--methods", "max,optimal:lr=0.01",
              "--out", tmp_path / "y")
    assert bad.returncode == 2 and "does not take option(s) lr" in bad.stderr and "power_budget" in bad.stderr
    assert "max:" not in bad.stderr and not (tmp_path / "y").exists()
