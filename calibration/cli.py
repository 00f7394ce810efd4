# SPDX-License-Identifier: BSD-3-Clause
"""``dualmod calibrate …``: measure a real panel into a profile.

Subcommands: ``psf`` (camera captures → PSF and peak), ``lcd`` (photometer readings → LCD response and
contrast), ``leds`` (drive → light readings → LED response and a firmware linearising table), ``capture``
(light LED patterns through the bridge and run the user's camera command) and ``virtual`` (captures of a
known panel from the virtual camera, for trying the rest). Heavy modules load inside the commands, so
building the parser stays cheap.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dualmod.errors import InputError

__all__ = ["add_calibrate", "write_profile"]


def _say(msg: str) -> None:
    print(f"calibrate: {msg}", file=sys.stderr, flush=True)


def write_profile(path, profile: dict, header: str) -> Path:
    """Validate ``profile`` as a dualmod profile (relative files resolve from its folder), then write it
    as TOML atomically with ``header`` as leading comment lines; returns the path."""
    import tomli_w

    from dualmod import Panel
    from dualmod._io import atomic_path

    path = Path(path)
    Panel.from_dict(profile, source=str(path), base_dir=path.parent)
    text = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()) + "\n" + tomli_w.dumps(profile)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    Panel.load(path)  # what we wrote loads back
    return path


def base_profile(name_or_path) -> dict:
    """A profile (built-in name or .toml) as a TOML-shaped dict, validated, its file references made absolute
    so that a profile derived from it can be written anywhere."""
    import tomllib

    from dualmod import Panel

    Panel.load(name_or_path)
    path, _ = Panel.locate(name_or_path)
    data = tomllib.loads(path.read_text())
    for table in data.values():
        for key, value in (table.items() if isinstance(table, dict) else ()):
            if key.endswith("_file") or key == "file":
                table[key] = str((path.parent / value).resolve())
    return data


def _sibling(out: Path, suffix: str) -> Path:
    return out.with_name(out.stem + suffix)


def _toml_out(out) -> Path:
    from dualmod.cli import _ensure_parent

    out = Path(out)
    if out.suffix != ".toml":
        raise InputError(f"--out {out}: the profile is written as TOML; give a .toml path")
    _ensure_parent(out)
    return out


def cmd_psf(args) -> int:
    from dualmod._io import write_json
    from dualmod.cli import _emit_json

    from .captures import load_captures
    from .psf_fit import fit_figure, fit_psf

    out = _toml_out(args.out)
    base = base_profile(args.base) if args.base else None
    _say(f"reading {args.captures}")
    cs = load_captures(args.captures)
    _say(f"{len(cs.captures)} captures of a {cs.panel.width}×{cs.panel.height} panel with {cs.panel.n_leds} LEDs")
    fit = fit_psf(cs, args.model, boundary=args.boundary, edge_reflectance=args.edge_reflectance, progress=_say)
    profile = fit.profile(base, name=args.name or out.stem)
    lcd_note = (f"LED drive, [lcd] and ambient from {args.base}" if base is not None else
                "[lcd] is a placeholder (gamma 2.2, 8 bit, CR 1000): measure it with 'dualmod calibrate lcd'")
    header = (f"fitted by 'dualmod calibrate psf' from {Path(args.captures).resolve()}\n"
              f"model {fit.model}, rms residual {fit.rms_pct_peak:.3f} % of peak, "
              f"peak_nits ± {fit.peak_nits_sd:.3g} (1 sigma)\n{lcd_note}")
    write_profile(out, profile, header)
    report = fit.report()
    report["profile"] = str(out)
    write_json(_sibling(out, ".fit.json"), report)
    fit_figure(fit, _sibling(out, ".fit.png"))
    print(f"model            {fit.model}" + (" (auto: held-out rms " + ", ".join(
        f"{m} {v:.3g}" for m, v in fit.heldout_rms.items()) + " cd/m²)" if fit.heldout_rms else ""))
    for k, v in fit.psf.items():
        if k in ("radius", "value"):
            print(f"{k:<16} {len(v)} values (in the profile)")
        elif k != "model":
            sd = fit.params_sd.get(k)
            print(f"{k:<16} {v}" + ("" if sd is None else f" ± {[float(f'{x:.2g}') for x in sd]}"
                                    if isinstance(sd, list) else f" ± {sd:.2g}"))
    print(f"peak_nits        {fit.peak_nits:.6g} ± {fit.peak_nits_sd:.2g}")
    print(f"rms residual     {fit.rms_nits:.4g} cd/m² ({fit.rms_pct_peak:.3f} % of peak) over {fit.n_samples} "
          f"samples in {fit.seconds:.1f} s")
    print(f"wrote {out}, {_sibling(out, '.fit.json').name}, {_sibling(out, '.fit.png').name}")
    _emit_json(args, report)
    return 0


def _merge_into(args, table: str, updates: dict, header: str) -> Path | None:
    """With --out: write --base (required) with ``updates`` merged into its ``[table]``."""
    if not args.out:
        return None
    if not args.base:
        raise InputError("--out needs --base: the profile whose other tables the new one keeps")
    out = _toml_out(args.out)
    profile = base_profile(args.base)
    t = profile.setdefault(table, {})
    for key in ("gamma", "lut_file") if table == "lcd" else ("gamma", "lut_file", "response"):
        t.pop(key, None)
    t.update(updates)
    profile.setdefault("panel", {})["name"] = args.name or out.stem
    return write_profile(out, profile, header)


def _bits(args, table: str) -> int | None:
    """--bit-depth, else the --base profile's (readings may skip the top codes of a deep driver)."""
    if args.bit_depth or not args.base:
        return args.bit_depth
    from dualmod import Panel

    base = Panel.load(args.base)
    return base.lcd.bit_depth if table == "lcd" else base.leds.bit_depth


def cmd_lcd(args) -> int:
    from dualmod.cli import _emit_json

    from .responses import fit_lcd, read_lcd_measurements

    meas = read_lcd_measurements(args.readings, bit_depth=_bits(args, "lcd"))
    fit = fit_lcd(meas, model=args.model)
    lut_path = None
    if fit.response == "lut":
        lut_path = Path(args.lut) if args.lut else (_sibling(Path(args.out), ".lcd.csv") if args.out else None)
        if lut_path is not None:
            fit.write_lut(lut_path)
    table = fit.profile_table(lut_file=str(lut_path.resolve()) if lut_path else "lcd.csv")
    out = _merge_into(args, "lcd", table, f"[lcd] measured by 'dualmod calibrate lcd' from "
                                          f"{Path(args.readings).resolve()}")
    print(f"response         {fit.response}" + ("" if args.model != "auto" else " (auto)"))
    print(f"gamma            {fit.gamma:.4f}  (power law: rms {fit.gamma_rms:.4f}, max error {fit.gamma_max_err:.4f})")
    if fit.response == "lut":
        print(f"table            {fit.lut.shape[0]} points, leave-one-out rms {fit.lut_loo_rms:.4f}")
    print(f"contrast_ratio   {fit.contrast_ratio:.5g}  (black {fit.black_nits:.4g}, white {fit.white_nits:.5g} cd/m²)")
    for ch, dev in fit.channel_deviation.items():
        print(f"{ch:<16} largest difference from white: {dev:.4f}")
    if out is None:
        import tomli_w

        print("\n[lcd]\n" + tomli_w.dumps(table).rstrip())
        if fit.response == "lut" and lut_path is None:
            print("(give --lut FILE or --base/--out to write the table)")
    else:
        print(f"wrote {out}" + (f" and {lut_path.name}" if lut_path else ""))
    _emit_json(args, {**fit.summary(), "lcd": table, "profile": str(out) if out else None})
    return 0


def cmd_leds(args) -> int:
    from dualmod.cli import _emit_json

    from .responses import fit_led, read_led_measurements

    meas = read_led_measurements(args.readings, bit_depth=_bits(args, "leds"))
    fit = fit_led(meas)
    lut_path = Path(args.lut) if args.lut else (_sibling(Path(args.out), ".leds.csv") if args.out else None)
    if lut_path is not None:
        fit.write_lut(lut_path)
    if args.header:
        fit.write_c_header(args.header, entries=args.entries)
    table = fit.profile_table(lut_file=str(lut_path.resolve()) if lut_path else "leds.csv")
    out = _merge_into(args, "leds", table, f"LED response measured by 'dualmod calibrate leds' from "
                                           f"{Path(args.readings).resolve()}")
    print(f"readings         {fit.n_readings} ({fit.bit_depth}-bit drive), off {fit.off_nits:.4g}, "
          f"full {fit.full_nits:.5g} cd/m²")
    print(f"linearity        {fit.linearity:.4f}  (largest |light − drive| as fractions of full)")
    print(f"droop            {fit.droop:.4f}  (1 − top slope / middle slope)")
    print(f"gamma            {fit.gamma:.4f}  (best power law, for information)")
    if fit.dead_zone_code:
        print(f"dead zone        up to drive {fit.dead_zone_code}")
    wrote = [str(p) for p in (out, lut_path, args.header) if p]
    print("wrote " + ", ".join(wrote) if wrote else "(give --lut, --header or --base/--out to write the tables)")
    _emit_json(args, {**fit.summary(), "leds": table, "profile": str(out) if out else None})
    return 0


def cmd_virtual(args) -> int:
    from dualmod import Panel
    from dualmod.cli import _emit_json

    from .virtual import VirtualCamera, default_groups, render_captures

    panel = Panel.load(args.panel)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out}: folder exists and is not empty; give a new folder")
    groups = default_groups(panel, args.spacing)
    _say(f"rendering {len(groups) + 2} images of {panel.name} ({panel.n_leds} LEDs)")
    render_captures(panel, out, VirtualCamera(seed=args.seed), groups=groups, seed=args.seed, level=args.level)
    print(f"wrote {out}/captures.json and {len(groups) + 3} images")
    _emit_json(args, {"folder": str(out), "captures": len(groups), "panel": panel.name})
    return 0


def cmd_capture(args) -> int:
    import json
    import shlex

    from dualmod import Panel
    from dualmod.cli import _emit_json
    from firmware_bridge.link import open_link

    from .capture import make_plan, run_capture

    panel = Panel.load(args.panel)
    try:
        camera_cmd = shlex.split(args.camera_cmd)
    except ValueError as exc:
        raise InputError(f"--camera-cmd: cannot split it into arguments ({exc})") from None
    if not camera_cmd:
        raise InputError("--camera-cmd is empty")
    try:
        camera_info = json.loads(Path(args.camera_info).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"--camera-info {args.camera_info}: cannot read it as JSON ({exc})") from None
    if not isinstance(camera_info, dict):
        raise InputError(f"--camera-info {args.camera_info}: must be a JSON object with camera and panel_corners_px")
    camera = camera_info.get("camera")
    if isinstance(camera, dict) and camera.get("flat_field"):
        # the camera's flat field goes into the capture folder, so the folder is complete on its own
        import shutil

        src = Path(args.camera_info).parent / camera["flat_field"]
        if not src.is_file():
            raise InputError(f"--camera-info: flat field {src} does not exist")
        dst = Path(args.folder) / ("camera_flat" + src.suffix)
        if not dst.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        camera_info["camera"] = {**camera, "flat_field": dst.name}
    plan = make_plan(panel, exposure_s=args.exposure, flat_exposure_s=args.flat_exposure,
                     dark_exposure_s=args.dark_exposure, spacing=args.spacing, level=args.level,
                     folder=args.folder)
    opts = {"baudrate": args.baud} if args.baud else {}
    with open_link(args.port, zones=panel.n_leds, **opts) as link:
        index = run_capture(link, panel, args.folder, camera_cmd, camera_info, plan, timeout_s=args.timeout,
                            progress=_say)
    print(f"{len(index.get('captures', []))} captures, flat and dark in {args.folder}; next: "
          f"dualmod calibrate psf {args.folder} --out PANEL.toml")
    _emit_json(args, {"folder": str(args.folder), "images": len(plan["items"])})
    return 0


def cmd_bench(args) -> int:
    from dualmod.cli import _emit_json

    from .bench import format_table, run_calibration_bench

    rows = run_calibration_bench(seed=args.seed, progress=lambda s: _say(f"bench: {s} ..."))
    print(format_table(rows))
    _emit_json(args, rows)
    return 0


def add_calibrate(sub, add) -> None:
    """Register ``dualmod calibrate`` and its subcommands on the main parser's subparsers."""
    from dualmod.cli import add_group

    csub = add_group(sub, "calibrate", "measure a real panel (PSF, peak, LCD and LED responses) into a profile",
                     "Measure a real dual-modulation panel into a dualmod profile: PSF and peak from camera captures, "
                     "LCD and LED responses from photometer readings.")

    p = add(csub, "psf", "fit the PSF and peak_nits to a dualmod-captures/1 folder and write a profile",
            """dualmod calibrate psf captures/ --out mypanel.toml
            dualmod calibrate psf captures/ --out mypanel.toml --model gaussian_mixture --base fald-1080p-576""",
            cmd_psf)
    p.add_argument("captures", help="folder with captures.json (DESIGN.md §11)")
    p.add_argument("--out", required=True, help="profile to write (.toml); the fit report goes beside it "
                                                "(NAME.fit.json, NAME.fit.png)")
    p.add_argument("--model", default="auto", choices=["auto", "gaussian", "gaussian_mixture", "radial_table"],
                   help="PSF model; auto picks by held-out residual (default)")
    p.add_argument("--boundary", default="zero", choices=["zero", "mirror"], help="panel edge model (not fitted)")
    p.add_argument("--edge-reflectance", type=float, default=None,
                   help="for --boundary mirror: the reflectance per reflection (default: fitted)")
    p.add_argument("--base", help="profile whose [lcd] and LED drive settings the new profile keeps")
    p.add_argument("--name", help="panel name in the profile (default: the output file's stem)")

    p = add(csub, "lcd", "fit the LCD response and contrast ratio to photometer readings",
            """dualmod calibrate lcd lcd-readings.csv
            dualmod calibrate lcd lcd-readings.csv --base mypanel.toml --out mypanel-lcd.toml""", cmd_lcd)
    p.add_argument("readings", help="CSV 'channel,code,nits' (white/red/green/blue; white needs codes 0 and max)")
    p.add_argument("--model", default="auto", choices=["auto", "gamma", "lut"])
    p.add_argument("--bit-depth", type=int, help="LCD code depth (default: --base's, else the least that fits)")
    p.add_argument("--lut", help="where to write the table when the response is 'lut'")
    p.add_argument("--base", help="profile whose other tables the new profile keeps (with --out)")
    p.add_argument("--out", help="write --base with the measured [lcd] as this .toml")
    p.add_argument("--name", help="panel name in the new profile (default: the output file's stem)")

    p = add(csub, "leds", "fit the LED drive → light response; write its profile table and a firmware linearising "
                          "table",
            """dualmod calibrate leds led-readings.csv --header dml_led_linearize.h
            dualmod calibrate leds led-readings.csv --base mypanel.toml --out mypanel-leds.toml""", cmd_leds)
    p.add_argument("readings", help="CSV 'drive,nits' (drive codes including 0 and the maximum)")
    p.add_argument("--bit-depth", type=int, help="LED drive depth (default: --base's, else the least that fits)")
    p.add_argument("--lut", help="where to write the (drive, light) table")
    p.add_argument("--header", help="write a C header with the linearising table (light step → drive code)")
    p.add_argument("--entries", type=int, default=256, help="entries of the linearising table (default 256)")
    p.add_argument("--base", help="profile whose other tables the new profile keeps (with --out)")
    p.add_argument("--out", help="write --base with the measured LED response as this .toml")
    p.add_argument("--name", help="panel name in the new profile (default: the output file's stem)")

    p = add(csub, "capture", "light LED patterns through the bridge and run your camera command for each "
                             "(resumes after an interruption)",
            """dualmod calibrate capture captures/ --port /dev/ttyACM0 --panel proto-16x9-rgb \\
                --camera-info camera.json --exposure 0.5 --camera-cmd "grab-linear --shutter {exposure} -o {out}"
            """, cmd_capture)
    p.add_argument("folder", help="capture folder (created; an interrupted session in it resumes)")
    p.add_argument("--port", required=True, help="serial port or pyserial URL of the DMLINK backlight")
    p.add_argument("--baud", type=int, default=0)
    p.add_argument("--panel", required=True, help="profile giving the panel size and LED layout")
    p.add_argument("--camera-cmd", required=True,
                   help="camera program and arguments (no shell) with {out}; also {exposure}, {name}, {index}")
    p.add_argument("--camera-info", required=True,
                   help="JSON with 'camera' (width, height, units_per_nit_second, flat_field: a file beside it, "
                        "...) and 'panel_corners_px'")
    p.add_argument("--exposure", type=float, required=True, help="seconds, for the LED-group captures")
    p.add_argument("--flat-exposure", type=float, help="seconds, all LEDs on (default: --exposure)")
    p.add_argument("--dark-exposure", type=float, help="seconds, all LEDs off (default: --exposure)")
    p.add_argument("--spacing", type=float, default=4.0, help="lit LEDs per capture are this many pitches apart")
    p.add_argument("--level", type=float, default=1.0, help="LED level of lit LEDs (0-1]")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds the camera command may take per image")

    p = add(csub, "bench", "PSF recovery from virtual 16×9-LED captures: accuracy against the truth and fit time",
            "dualmod calibrate bench --json out/calibration-bench.json", cmd_bench)
    p.add_argument("--seed", type=int, default=0)

    p = add(csub, "virtual", "render captures of a known panel with the virtual camera (to try the fit)",
            "dualmod calibrate virtual --panel proto-16x9-rgb --out captures/", cmd_virtual)
    p.add_argument("--panel", required=True, help="the true panel (name or .toml)")
    p.add_argument("--out", required=True, help="new folder for captures.json and the images")
    p.add_argument("--spacing", type=float, default=4.0, help="lit LEDs per capture are this many pitches apart")
    p.add_argument("--level", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
