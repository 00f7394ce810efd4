# SPDX-License-Identifier: BSD-3-Clause
"""``dualmod compare --workers 2`` on a local Dask cluster of two worker processes gives the serial numbers."""

from __future__ import annotations

import json

import pytest

from dualmod.cli import main

pytest.importorskip("distributed")


@pytest.mark.slow
def test_compare_on_two_dask_workers_matches_the_serial_run(tmp_path, capsys):
    args = ["compare", "builtin:night", "builtin:window", "builtin:specular", "--panel", "proto-16x9-rgb",
            "--methods", "max,sqrt,seetzen2004"]
    assert main(args + ["--out", str(tmp_path / "serial")]) == 0
    assert main(args + ["--out", str(tmp_path / "dask"), "--workers", "2"]) == 0
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
