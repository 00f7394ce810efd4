# SPDX-License-Identifier: BSD-3-Clause
"""The HTML report and its figures, on a small panel."""

import re

import numpy as np
from conftest import make_panel

import dualmod as dm
from dualmod.compare import expand_methods
from dualmod.report import ImageResult, write_report


def test_expand_methods_sweeps_one_option():
    assert expand_methods(["max", "cnn:power_weight=0/0.01", "optimal:power_budget=max:steps=50/100"]) == [
        "max", "cnn:power_weight=0", "cnn:power_weight=0.01", "optimal:power_budget=max:steps=50",
        "optimal:power_budget=max:steps=100"]
    # a path is not a sweep
    assert expand_methods(["cnn:weights=/models/sim2:power_weight=0/0.01"]) == [
        "cnn:weights=/models/sim2:power_weight=0", "cnn:weights=/models/sim2:power_weight=0.01"]


def test_pareto_curves_join_a_methods_sweep_and_keep_refined_cnns_apart():
    from dualmod.report.pareto import _curve_of

    assert {_curve_of(m) for m in ("cnn", "cnn:power_weight=0.001", "cnn:power_budget=max")} == {"cnn"}
    assert _curve_of("cnn:power_weight=0.001:refine=3") == _curve_of("cnn:refine=3") == "cnn:refine=3"
    assert _curve_of("cnn:refine=12:power_budget=max") == "cnn:refine=12"
    assert _curve_of("optimal:power_budget=max") == "optimal"
    assert _curve_of("cnn:weights=sim2-hdr47:power_weight=0.01") == "cnn:weights=sim2-hdr47"


def test_report_page_and_figures(tmp_path):
    panel = make_panel(96, 64, rows=4, cols=6, layout="hex")
    target = np.minimum(dm.scene("specular", panel.height, panel.width), panel.peak_nits)
    sims = {m: dm.simulate(panel, dm.solve(panel, target, method=m), target) for m in ("max", "global")}
    summary = [{"method": m, "images": 1, "pu21_psnr": 30.0 + k, "pu21_ssim": 0.9, "power": s.power,
                "clipped_fraction": 0.0, "halo": 0.1, "solve_ms": 1.0} for k, (m, s) in enumerate(sims.items())]
    page = write_report(tmp_path / "rep", panel, [ImageResult("builtin:specular <1>", target, sims)], summary,
                        title="test & report")
    text = page.read_text()
    assert text.startswith("<!doctype html>") and "test &amp; report" in text and "builtin:specular &lt;1&gt;" in text
    assert "<script" not in text and "http" not in text                   # self-contained, no network
    for src in re.findall(r"<img src='([^']+)'", text):
        png = (page.parent / src).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_report_renders_in_headless_chromium(tmp_path):
    """Open the page as a person would: headless Chromium, screenshot, figures drawn (not blank or broken)."""
    import os
    import shutil
    import subprocess

    import cv2

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("DUALMOD_REQUIRE_TOOLCHAINS") == "1":
            raise AssertionError("chromium is required in CI (DUALMOD_REQUIRE_TOOLCHAINS=1)")
        import pytest

        pytest.skip("chromium not installed (Debian: apt-get install chromium)")
    panel = make_panel(96, 64, rows=4, cols=6)
    target = np.minimum(dm.scene("window", panel.height, panel.width), panel.peak_nits)
    sims = {m: dm.simulate(panel, dm.solve(panel, target, method=m), target) for m in ("max", "sqrt")}
    summary = [{"method": m, "images": 1, "pu21_psnr": 30.0, "pu21_ssim": 0.9, "power": s.power,
                "clipped_fraction": 0.0, "halo": 0.1, "solve_ms": 1.0} for m, s in sims.items()]
    page = write_report(tmp_path / "rep", panel, [ImageResult("builtin:window", target, sims)], summary)
    shot = tmp_path / "shot.png"
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2000", "--hide-scrollbars",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=180, check=True)
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (2000, 1200)
    colours = np.unique(img.reshape(-1, 3), axis=0).shape[0]
    assert colours > 2000                       # the false-colour figures are there, not broken-image icons
    artifacts = os.environ.get("DUALMOD_ARTIFACTS")
    if artifacts:
        os.makedirs(artifacts, exist_ok=True)
        shutil.copy(shot, os.path.join(artifacts, "report-screenshot.png"))


def test_compare_hands_on_result_what_reduce_made():
    from dualmod.compare import compare
    from dualmod.report.html import PREVIEW_WIDTH, Collector

    p = make_panel(width=2 * PREVIEW_WIDTH, height=40, rows=1, cols=16, psf={"model": "gaussian", "sigma": 40.0})
    seen = []
    compare(p, ["builtin:window"], ["max", "sqrt"], on_result=lambda *a: seen.append(a), reduce=Collector.reduce)
    assert [a[1] for a in seen] == ["max", "sqrt"]
    for _, _, target, sim in seen:  # previews, made before they reach the callback (on a worker, before travel)
        assert target.shape[1] == PREVIEW_WIDTH and sim.displayed.shape[1] == PREVIEW_WIDTH
    collect = Collector()
    for a in seen:
        collect(*a)  # a preview stays a preview
    assert collect.results["builtin:window"].sims["max"].displayed.shape == seen[0][3].displayed.shape
