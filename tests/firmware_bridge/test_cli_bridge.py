# SPDX-License-Identifier: BSD-3-Clause
"""``dualmod bridge …`` against the emulator: results, JSON, and one-line errors."""

import json
import selectors
import subprocess
import sys
import zlib

import numpy as np
import pytest

from dualmod.cli import main
from dualmod.cli_bridge import read_leds
from dualmod.errors import InputError
from firmware_bridge import protocol as p


def test_read_leds_formats(tmp_path):
    np.save(tmp_path / "a.npy", np.array([0.0, 0.5, 1.0]))
    assert read_leds(tmp_path / "a.npy").tolist() == [0.0, 0.5, 1.0]
    (tmp_path / "b.csv").write_text("# r,g,b\n0,0.5,1\n1,1,1\n")
    assert read_leds(tmp_path / "b.csv").shape == (2, 3)
    (tmp_path / "c.csv").write_text("0.25\n0.5\n")
    assert read_leds(tmp_path / "c.csv").tolist() == [0.25, 0.5]


@pytest.mark.parametrize("name,content,match", [
    ("range.csv", "0.5\n1.5\n", r"in \[0, 1\]"),
    ("nan.csv", "0.5\nnan\n", "finite"),
    ("ragged.csv", "0.5\n0.1,0.2,0.3\n", "same number of values"),
    ("words.csv", "bright\n", "cannot read"),
    ("frame.txt", "0.5\n", ".npy or .csv"),
    ("garbage.npy", "garbage", r"not a \.npy file"),
    ("empty.npy", "", r"not a \.npy file"),
])
def test_read_leds_rejects_bad_files(tmp_path, name, content, match):
    (tmp_path / name).write_text(content)
    with pytest.raises(InputError, match=match) as err:
        read_leds(tmp_path / name)
    assert str(err.value).count(str(tmp_path / name)) == 1   # the file named once, not wrapped twice


def test_read_leds_refuses_pickles_and_shapes(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="cannot read"):
        read_leds(tmp_path / "obj.npy")
    np.save(tmp_path / "img.npy", np.zeros((4, 4, 3)))
    with pytest.raises(InputError, match=r"shape \(N,\) or \(N, 3\)"):
        read_leds(tmp_path / "img.npy")


def test_send_info_status_and_pattern_through_the_cli(emulator, tmp_path, capsys):
    log = tmp_path / "shown.log"
    emu = emulator(zones=6, channels=3, power_budget=0.5, shown_log=log)
    leds = np.linspace(0, 1, 18).reshape(6, 3)
    np.save(tmp_path / "f.npy", leds)
    assert main(["bridge", "info", "--port", emu.path, "--json", str(tmp_path / "info.json")]) == 0
    assert json.loads((tmp_path / "info.json").read_text())["zones"] == 6
    assert main(["bridge", "send", "--port", emu.path, "--leds", str(tmp_path / "f.npy"),
                 "--json", str(tmp_path / "send.json")]) == 0
    sent = json.loads((tmp_path / "send.json").read_text())
    shown, scale = p.apply_limiter(p.levels_to_u16(leds), round(0.5 * 65535))
    assert sent["applied_scale"] == scale and sent["shown_crc32"] == zlib.crc32(shown.astype("<u2").tobytes())
    assert main(["bridge", "test-pattern", "all", "--port", emu.path, "--level", "0.25"]) == 0
    assert main(["bridge", "status", "--port", emu.path, "--json", str(tmp_path / "status.json")]) == 0
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["frames_shown"] == 2 and status["shown_crc32"] == zlib.crc32(np.full(18, 16384, "<u2").tobytes())
    rows = emu.wait_for_log(log, 2)
    assert [r[2] for r in rows] == ["frame", "pattern"] and rows[0][1] == sent["shown_crc32"]
    assert "frame" in capsys.readouterr().out


def test_stream_pushes_solved_frames(emulator, tmp_path):
    log = tmp_path / "shown.log"
    emu = emulator(zones=576, channels=1, shown_log=log)
    out = tmp_path / "stream.json"
    assert main(["bridge", "stream", "builtin:night", "builtin:window", "--port", emu.path, "--panel",
                 "fald-1080p-576", "--method", "max", "--loop", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["frames"] == 4 and result["link"]["frames_acked"] == result["link"]["frames_sent"] >= 1
    assert result["read_ms_median"] > 0 and result["solve_ms_median"] > 0
    assert len(emu.wait_for_log(log, result["link"]["frames_sent"])) == result["link"]["frames_sent"]


def test_stream_refuses_a_panel_the_device_does_not_match(emulator, capsys):
    emu = emulator(zones=100, channels=1)
    assert main(["bridge", "stream", "builtin:night", "--port", emu.path, "--panel", "fald-1080p-576"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "100 zones, expected 576" in err


def test_errors_are_one_line(capsys, tmp_path):
    assert main(["bridge", "info", "--port", str(tmp_path / "missing-tty")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dualmod: error: cannot open") and err.count("\n") == 1
    (tmp_path / "f.csv").write_text("2\n")
    assert main(["bridge", "send", "--port", "loop://", "--protocol", "adalight", "--leds", str(tmp_path / "f.csv")]) == 2
    assert "in [0, 1]" in capsys.readouterr().err


def test_adalight_send(tmp_path, capsys):
    (tmp_path / "f.csv").write_text("0\n1\n")
    assert main(["bridge", "send", "--port", "loop://", "--protocol", "adalight", "--leds", str(tmp_path / "f.csv")]) == 0
    assert "2 LEDs (Adalight" in capsys.readouterr().out


def test_adalight_stream(tmp_path):
    """Streaming holds frames in a keep-alive block; over Adalight (no watchdog, no replies) that is a no-op."""
    out = tmp_path / "stream.json"
    assert main(["bridge", "stream", "builtin:night", "--port", "loop://", "--protocol", "adalight", "--panel",
                 "proto-16x9-rgb", "--method", "max", "--loop", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["frames"] == 2 and result["link"]["frames_sent"] == 2


def test_emulate_prints_the_pty_path_first():
    proc = subprocess.Popen([sys.executable, "-m", "dualmod", "bridge", "emulate", "--zones", "4", "--channels", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(30), "no output from dualmod bridge emulate"
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/pts/")
        from firmware_bridge.link import DmlinkLink
        with DmlinkLink(path) as link:
            assert (link.zones, link.channels) == (4, 1)
    finally:
        proc.terminate()
        proc.wait(10)


def test_bridge_bench_quick(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bridge", "bench", "--quick", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["throughput"]["acked"] == 300 and r["throughput"]["max_in_flight"] <= 2
    assert r["faults"]["corrupted_shown"] == 0 and r["faults"]["frames_shown"] > 0
    assert r["watchdog"]["trials"] == 5
    assert "frames/s" in capsys.readouterr().out
