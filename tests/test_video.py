# SPDX-License-Identifier: BSD-3-Clause
"""Video: HDR10 in and out, frame folders, the synthetic flicker sequence, scene cuts, temporal metrics,
and ``dualmod video`` (temporal filter, resuming)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_panel
from dualmod.cli import main
from dualmod.dimming.temporal import SceneCutDetector
from dualmod.errors import ImageReadError, InputError
from dualmod.imaging.colour import luminance
from dualmod.imaging.io import write_image
from dualmod.imaging.scenes import scene
from dualmod.imaging.sequences import sequence, sequence_cuts
from dualmod.imaging.video import FrameSink, hdr10_to_nits, nits_to_hdr10, open_frames, yuv420p10_to_nits
from dualmod.metrics.temporal import TemporalStats
from dualmod.video import parse_temporal, run_video


def test_pq_code_values_match_st2084():
    # ST 2084 reference points: 100 cd/m² → 0.508078, 1000 → 0.751827, 10000 → 1
    grey = np.array([[[100.0] * 3, [1000.0] * 3, [10000.0] * 3]])
    codes = nits_to_hdr10(grey)[0, :, 1] / 65535.0
    np.testing.assert_allclose(codes, [0.508078, 0.751827, 1.0], atol=2e-5)
    back = hdr10_to_nits(nits_to_hdr10(scene("specular", 36, 64)))
    ref = scene("specular", 36, 64)
    np.testing.assert_allclose(back, ref, rtol=2e-3, atol=2e-4)  # 16-bit PQ steps, no codec


def test_hdr10_video_round_trip(tmp_path):
    frames = [scene("gradient", 72, 128) * (0.5 + 0.1 * k) for k in range(4)]
    out = tmp_path / "clip.mp4"
    with FrameSink(out, fps=25) as sink:
        for k, f in enumerate(frames):
            sink.write(k, f)
    assert out.is_file() and not list(tmp_path.glob(".*partial*"))
    src = open_frames(str(out))
    assert src.fps == pytest.approx(25.0)
    back = list(src)
    assert len(back) == 4 and back[0].shape == (72, 128, 3)
    for a, b in zip(frames, back):
        ya, yb = luminance(a), luminance(b)
        lit = ya > 1.0
        rel = np.abs(yb[lit] / ya[lit] - 1)
        assert np.median(rel) < 0.02 and np.percentile(rel, 95) < 0.06  # 10-bit PQ, 4:2:0, x265 crf 12


def test_interrupted_video_encode_leaves_nothing(tmp_path):
    out = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError):
        with FrameSink(out) as sink:
            sink.write(0, scene("night", 72, 128))
            raise RuntimeError("stop")
    assert not list(tmp_path.iterdir())


def test_frame_folders_and_bad_sources(tmp_path):
    for k in range(3):
        write_image(tmp_path / f"f{k}.exr", np.full((8, 12, 3), 10.0 * (k + 1), np.float32))
    frames = list(open_frames(str(tmp_path)))
    assert [float(f[0, 0, 0]) for f in frames] == [10.0, 20.0, 30.0]
    write_image(tmp_path / "f9.exr", np.ones((9, 12, 3), np.float32))
    with pytest.raises(ImageReadError, match="first frame"):
        list(open_frames(str(tmp_path)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no frames"):
        open_frames(str(empty))
    with pytest.raises(InputError, match="no such"):
        open_frames(str(tmp_path / "nope.mp4"))
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(ImageReadError, match="not a readable video"):
        open_frames(str(tmp_path / "junk.mp4"))
    with pytest.raises(InputError, match="at least 4 frames"):
        open_frames("builtin:grain", size=(18, 32), frames=2)
    with pytest.raises(InputError, match="unknown sequence"):
        open_frames("builtin:nope", size=(18, 32))


@pytest.mark.parametrize("name", ["flicker", "grain"])
def test_scene_cut_detector_flags_the_cut_and_not_the_fade(name):
    n = 24
    d = SceneCutDetector()
    flagged = [k for k, f in enumerate(sequence(name, n, 90, 160)) if d(f)]
    assert flagged == sequence_cuts(name, n)


def test_grain_is_still_pictures_under_noise_of_the_stated_size():
    """Within a shot the frames differ only by the grain: in PQ, by √2·σ per pixel, with zero mean."""
    from colour.models import eotf_inverse_ST2084

    from dualmod.imaging.sequences import GRAIN_PQ_SIGMA

    f = [eotf_inverse_ST2084(x[..., 1].astype(np.float64)) for x in sequence("grain", 6, 90, 160)]
    d = f[1] - f[0]
    inside = (f[0] > 0.05) & (f[0] < 0.95) & (f[1] > 0.05) & (f[1] < 0.95)   # away from the clip at 0 and 1
    assert np.std(d[inside]) == pytest.approx(np.sqrt(2) * GRAIN_PQ_SIGMA, rel=0.05)
    assert abs(np.mean(d[inside])) < 0.05 * GRAIN_PQ_SIGMA
    assert np.abs(f[3] - f[2]).mean() > 20 * GRAIN_PQ_SIGMA   # frame 3 starts the other scene


def test_temporal_stats_from_first_principles():
    st = TemporalStats()
    black = np.zeros((4, 4), np.float32)
    st.add(black, black, np.zeros(4))
    st.add(black, black + 1.0, np.array([1.0, 0, 0, 0]))  # one LED jumps by 1; the static picture brightens
    st.add(black, black + 1.0, np.array([1.0, 0, 0, 0]), cut=True)  # a cut: not counted
    r = st.result()
    assert r["frame_pairs"] == 1
    assert r["led_flicker_mean"] == pytest.approx(0.25) and r["led_flicker_rms"] == pytest.approx(0.5)
    from dualmod.metrics.pu21 import pu21_encode

    assert r["static_flicker_pu21"] == pytest.approx(float(pu21_encode(np.float32(1.0)) - pu21_encode(np.float32(0))))


@pytest.fixture(scope="module")
def panel():
    return make_panel(width=160, height=90, rows=5, cols=8, peak=1000.0, psf={"model": "gaussian", "sigma": 9.0})


def test_video_run_filters_flicker_marks_the_cut_and_resumes(panel, tmp_path):
    n = 20
    cut = sequence_cuts("flicker", n)
    src = open_frames("builtin:flicker", size=(panel.height, panel.width), frames=n)
    off = run_video(src, panel, "max", tmp_path / "off", temporal=None)
    on = run_video(src, panel, "max", tmp_path / "on", temporal=parse_temporal("attack=1,decay=0.15"))
    assert off["cut_frames"] == cut and on["cut_frames"] == cut
    assert on["led_flicker_rms"] < off["led_flicker_rms"]
    assert on["frames"] == n and len((tmp_path / "on" / "metrics.csv").read_text().splitlines()) == n + 1
    assert len(list((tmp_path / "on" / "frames").glob("*.exr"))) == n
    # interrupt: lose the second half of the output, run again — the same result, only the lost frames solved
    for k in range(n // 2, n):
        (tmp_path / "on" / "frames" / f"frame_{k:05d}.exr").unlink()
    again = run_video(src, panel, "max", tmp_path / "on", temporal=parse_temporal("attack=1,decay=0.15"))
    assert again["solved"] == n - n // 2 and again["resumed"] == n // 2
    for key in ("pu21_psnr_mean", "power_mean", "led_flicker_rms", "static_flicker_pu21"):
        assert again[key] == pytest.approx(on[key], rel=1e-4, abs=1e-6)
    for k in range(n // 2, n):
        with np.load(tmp_path / "on" / "leds" / f"leds_{k:05d}.npz") as z:
            assert z["sent"].shape == (panel.n_leds,)


def test_video_cli(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["video", "builtin:flicker", "--panel", "proto-16x9-rgb", "--frames", "6", "--out", str(out),
            "--json", str(tmp_path / "s.json")]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["frames"] == 6 and (out / "summary.json").is_file()
    assert "PU21-PSNR" in capsys.readouterr().out
    assert main(argv[:-2] + ["--temporal", "decay=2"]) == 2
    assert "decay" in capsys.readouterr().err
    assert main(argv[:-2] + ["--temporal", "speed=3"]) == 2
    assert "attack=" in capsys.readouterr().err
    assert main(argv[:-2] + ["--temporal", "hold=1"]) == 2
    assert "hold" in capsys.readouterr().err
    # an anchor price for a solver that takes none (the default method, max) is refused, not ignored
    assert main(argv[:-2] + ["--temporal", "anchor=0.001"]) == 2
    err = capsys.readouterr().err
    assert "anchor=0.001" in err and "'max' does not" in err and len(err.strip().splitlines()) == 1
    assert main(argv[:-2] + ["--shown", str(tmp_path / "x.exr")]) == 2
    assert "video file" in capsys.readouterr().err


def test_bridge_streams_an_hdr10_video(emulator, tmp_path):
    clip = tmp_path / "clip.mp4"
    with FrameSink(clip, fps=24) as sink:
        for k, f in enumerate(sequence("flicker", 5, 90, 160)):
            sink.write(k, f)
    log = tmp_path / "shown.log"
    emu = emulator(zones=576, channels=1, shown_log=log)
    out = tmp_path / "stream.json"
    assert main(["bridge", "stream", str(clip), "--port", emu.path, "--panel", "fald-1080p-576", "--method", "max",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["frames"] == 5 and result["link"]["frames_acked"] == result["link"]["frames_sent"] >= 1


def test_hdr10_decode_table_equals_colour_science():
    from colour import RGB_to_RGB
    from colour.models import eotf_ST2084

    codes = np.random.default_rng(1).integers(0, 65536, (20, 30, 3)).astype(np.uint16)
    codes[0, :3] = [[0, 0, 0], [65535, 65535, 65535], [65535, 0, 0]]
    ref = np.clip(RGB_to_RGB(eotf_ST2084(codes / 65535.0), "ITU-R BT.2020", "ITU-R BT.709"), 0, None)
    np.testing.assert_allclose(hdr10_to_nits(codes), ref, rtol=1e-6, atol=1e-6)


def _upsample_420(plane, h, w):
    """Bilinear 4:2:0 chroma at luma resolution, chroma sample location type 0, written independently."""
    ch, cw = plane.shape
    ys = np.clip(0.5 * np.arange(h) - 0.25, 0, ch - 1)
    xs = np.clip(0.5 * np.arange(w), 0, cw - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, ch - 1), np.minimum(x0 + 1, cw - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    p = plane.astype(np.float64)
    top = (1 - fx) * p[y0][:, x0] + fx * p[y0][:, x1]
    bottom = (1 - fx) * p[y1][:, x0] + fx * p[y1][:, x1]
    return (1 - fy) * top + fy * bottom


@pytest.mark.parametrize("h, w", [(6, 8), (7, 9)])
def test_yuv420_decode_equals_colour_science(h, w):
    from colour import RGB_to_RGB, WEIGHTS_YCBCR, YCbCr_to_RGB
    from colour.models import eotf_ST2084

    rng = np.random.default_rng(2)
    y = rng.integers(64, 941, (h, w)).astype(np.uint16)
    cb = rng.integers(64, 961, ((h + 1) // 2, (w + 1) // 2)).astype(np.uint16)
    cr = rng.integers(64, 961, cb.shape).astype(np.uint16)
    y[0, 0], cb[0, 0], cr[0, 0] = 64, 512, 512  # black
    ycc = np.stack([y.astype(np.float64), _upsample_420(cb, h, w), _upsample_420(cr, h, w)], axis=-1)
    rgb = YCbCr_to_RGB(ycc, K=WEIGHTS_YCBCR["ITU-R BT.2020"], in_bits=10, in_legal=True, in_int=True)
    ref = np.clip(RGB_to_RGB(eotf_ST2084(np.clip(rgb, 0, 1)), "ITU-R BT.2020", "ITU-R BT.709"), 0, None)
    got = yuv420p10_to_nits(y, cb, cr)
    assert got[0, 0].max() == 0.0
    # R'G'B' is rounded to 16 bits before the tabulated EOTF (as the RGB path): a PQ step of 1/65535
    lit = ref > 1.0
    assert np.max(np.abs(got[lit] / ref[lit] - 1)) < 2e-3
    assert np.max(np.abs(got - ref)[~lit]) < 2e-3
    with pytest.raises(InputError, match="chroma planes"):
        yuv420p10_to_nits(y, cb[:1], cr)


def test_native_420_decode_agrees_with_ffmpegs_scaler(tmp_path, monkeypatch):
    import dualmod.imaging.video as video

    frames = [np.full((72, 128, 3), 100.0, np.float32), scene("gradient", 72, 128) * 3.0]
    out = tmp_path / "clip.mp4"
    with FrameSink(out, fps=25) as sink:
        for k, f in enumerate(frames):
            sink.write(k, f)
    assert video._probe(out)[3] == "yuv420p10le"
    native = list(open_frames(str(out)))
    probe = video._probe
    monkeypatch.setattr(video, "_probe", lambda p: probe(p)[:3] + ("other",))  # force ffmpeg's own conversion
    scaled = list(open_frames(str(out)))
    for f, a, b in zip(frames, native, scaled):
        yf, ya, yb = luminance(f), luminance(a), luminance(b)
        lit = yf > 1.0
        bias_native = abs(np.median(ya[lit] / yf[lit] - 1))
        bias_scaled = abs(np.median(yb[lit] / yf[lit] - 1))
        # both decode the stream; ffmpeg's scaler maps limited-range 10-bit codes ~2 % low, the native
        # path (colour-science's BT.2020 maths) is unbiased up to 10-bit quantisation
        assert bias_native < 0.002 and 0.005 < bias_scaled < 0.04


def test_lookahead_envelope_ramps_never_clips_and_respects_cuts(panel, tmp_path):
    n, slope = 20, 0.1
    src = open_frames("builtin:flicker", size=(panel.height, panel.width), frames=n)
    off = run_video(src, panel, "max", tmp_path / "off", temporal=None)
    ahead = run_video(src, panel, "max", tmp_path / "ahead", temporal=None, lookahead=slope)
    cut = sequence_cuts("flicker", n)[0]
    assert ahead["cut_frames"] == [cut]
    sent, raw = [], []
    for k in range(n):
        with np.load(tmp_path / "ahead" / "leds" / f"leds_{k:05d}.npz") as z:
            sent.append(z["sent"])
            raw.append(z["raw"])
    sent, raw = np.array(sent), np.array(raw)
    assert np.all(sent >= raw - 1e-12)  # the envelope never gives less light than the solver asked for
    steps = np.abs(np.diff(sent, axis=0))
    steps[cut - 1] = 0  # the cut is allowed to jump
    assert steps.max() <= slope + 1e-12
    assert ahead["led_flicker_rms"] < 0.8 * off["led_flicker_rms"]


def test_lookahead_with_the_causal_filter_is_refused(tmp_path, capsys):
    argv = ["video", "builtin:flicker", "--panel", "proto-16x9-rgb", "--frames", "6", "--out", str(tmp_path),
            "--lookahead", "0.1"]
    assert main(argv + ["--temporal", "decay=0.2"]) == 2
    assert "--temporal off" in capsys.readouterr().err
    assert not (tmp_path / "leds").exists()  # refused before anything is read or written
    assert main(argv) == 0  # --lookahead alone turns the causal filter off
    assert json.loads((tmp_path / "summary.json").read_text())["temporal"] is None


def test_video_chains_an_anchored_solver_within_shots_and_when_resumed(panel, tmp_path, anchored_probe):
    """A solver that takes an anchor gets the previous frame's raw LEDs, except on the first frame and at a
    cut; resuming after an interruption hands it the same anchors (from the LED files) as the full run."""
    n = 20
    cut = sequence_cuts("flicker", n)
    src = open_frames("builtin:flicker", size=(panel.height, panel.width), frames=n)
    temporal = parse_temporal("attack=1,decay=0.15,cut=none,anchor=0.002")  # cuts: the pictures only
    first = run_video(src, panel, "anchored_probe", tmp_path / "run", temporal=temporal)
    assert first["cut_frames"] == cut and len(anchored_probe) == n
    raws = []
    for k in range(n):
        with np.load(tmp_path / "run" / "leds" / f"leds_{k:05d}.npz") as z:
            raws.append(z["raw"])
    for k, (anchor, weight) in enumerate(anchored_probe):
        assert weight == 0.002
        if k == 0 or k in cut:
            assert anchor is None, k
        else:
            np.testing.assert_array_equal(anchor, raws[k - 1])
    full = list(anchored_probe)
    anchored_probe.clear()
    for k in range(n - 6, n):
        (tmp_path / "run" / "frames" / f"frame_{k:05d}.exr").unlink()
    again = run_video(src, panel, "anchored_probe", tmp_path / "run", temporal=temporal)
    assert again["resumed"] == n - 6 and len(anchored_probe) == 6
    for (a, _), (b, _) in zip(anchored_probe, full[n - 6:]):
        assert (a is None and b is None) or np.array_equal(a, b)
    # --temporal off: every frame on its own
    anchored_probe.clear()
    run_video(src, panel, "anchored_probe", tmp_path / "off", temporal=None)
    assert all(a is None for a, _ in anchored_probe)
    # --lookahead chains its first pass the same way (the raw solutions it takes the envelope of)
    anchored_probe.clear()
    ahead = run_video(src, panel, "anchored_probe", tmp_path / "ahead", temporal=None, lookahead=0.05)
    assert ahead["cut_frames"] == cut and len(anchored_probe) == n
    for k, (anchor, weight) in enumerate(anchored_probe):
        assert weight == 1e-4                                       # the solver's own default price
        if k == 0 or k in cut:
            assert anchor is None, k
        else:
            np.testing.assert_array_equal(anchor, raws[k - 1])   # the same solver and frames: the same raw LEDs
    anchored_probe.clear()
    run_video(src, panel, "anchored_probe", tmp_path / "ahead0", temporal=None, lookahead=0.05,
              options={"anchor_weight": 0})
    assert all(a is None for a, _ in anchored_probe) and all(w == 0 for _, w in anchored_probe)
