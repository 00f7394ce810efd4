# SPDX-License-Identifier: BSD-3-Clause
"""Bad files never crash, hang, exhaust memory or return garbage: the damaged-EXR corpus,
truncated copies of real images, and files whose content does not match their name.

Reads run in a child process with an address-space limit (4 GiB) and a time limit, one
JSON line per file, so a crash or hang is attributed to the file that caused it.
"""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
DAMAGED = SHARED / "damaged-exr"
HDR = SHARED / "hdr"

CHILD = textwrap.dedent(r"""
    import json, resource, sys, warnings
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    import numpy as np
    from dualmod.errors import ImageReadError
    from dualmod.imaging.io import read_image
    warnings.simplefilter("ignore")
    for path in sys.argv[1:]:
        print(json.dumps({"start": path}), flush=True)
        try:
            img = read_image(path)
            ok = (img.dtype == np.float32 and img.ndim == 3 and img.shape[2] == 3 and bool(np.isfinite(img).all())
                  and float(img.min()) >= 0)
            print(json.dumps({"path": path, "result": "array", "valid": ok, "shape": list(img.shape)}), flush=True)
        except ImageReadError as exc:
            print(json.dumps({"path": path, "result": "error", "message": str(exc)}), flush=True)
        except BaseException as exc:
            print(json.dumps({"path": path, "result": "other", "type": type(exc).__name__, "message": str(exc)}),
                  flush=True)
""")


def read_all(paths, timeout):
    res = subprocess.run([sys.executable, "-c", CHILD, *map(str, paths)], capture_output=True, text=True,
                         timeout=timeout)
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    done = {x["path"]: x for x in lines if "path" in x}
    started = [x["start"] for x in lines if "start" in x]
    crashed = [p for p in started if p not in done]
    assert res.returncode == 0 and not crashed, f"reader died (rc {res.returncode}) on {crashed}: {res.stderr[-500:]}"
    assert len(done) == len(paths)
    return done


def check(done):
    for path, r in done.items():
        assert r["result"] in ("array", "error"), f"{path}: untyped {r.get('type')}: {r.get('message')}"
        if r["result"] == "array":
            assert r["valid"], f"{path}: returned an invalid array"
        else:
            assert r["message"].startswith(path), r["message"]  # the message names the file


@pytest.mark.skipif(not DAMAGED.is_dir(), reason="../shared/data/damaged-exr not present")
def test_damaged_exr_corpus():
    files = sorted(p for p in DAMAGED.iterdir() if p.name != "README.md")
    assert len(files) == 185
    done = read_all(files, timeout=300)
    check(done)
    errors = sum(r["result"] == "error" for r in done.values())
    assert errors >= 180  # nearly all are rejected; the rest decode to valid arrays


@pytest.mark.skipif(not HDR.is_dir(), reason="../shared/data/hdr not present")
def test_truncated_and_mislabelled_real_images(tmp_path):
    paths = []
    for name in ("Desk.exr", "Bonita.exr", "MtTamNorth.exr", "lebombo_1k.hdr"):
        data = (HDR / name).read_bytes()
        for frac in (0.0005, 0.01, 0.3, 0.9, 0.999):
            p = tmp_path / f"cut{frac}_{name}"
            p.write_bytes(data[: max(1, int(len(data) * frac))])
            paths.append(p)
    # content that does not match the extension
    shutil.copy(HDR / "lebombo_1k.hdr", tmp_path / "really_hdr.exr")
    shutil.copy(HDR / "Garden.exr", tmp_path / "really_exr.hdr")
    (tmp_path / "text.png").write_text("this is not a PNG\n" * 50)
    (tmp_path / "zeros.pfm").write_bytes(b"\0" * 4096)
    paths += [tmp_path / n for n in ("really_hdr.exr", "really_exr.hdr", "text.png", "zeros.pfm")]
    done = read_all(paths, timeout=300)
    check(done)
    assert done[str(tmp_path / "really_hdr.exr")]["result"] == "array"  # recognised by content
    assert done[str(tmp_path / "really_exr.hdr")]["result"] == "array"
    assert done[str(tmp_path / "text.png")]["result"] == "error"
    cut_exr = [r for p, r in done.items() if "cut" in p and p.endswith(".exr")]
    assert all(r["result"] == "error" for r in cut_exr if "cut0.9_" not in r["path"] and "0.999" not in r["path"])
