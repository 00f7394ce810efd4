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


def write_profile(path, profile: dict, header: str, base_dir=None) -> Path:
    """Validate ``profile`` as a dualmod profile (from its folder, so relative files resolve), then write it
    as TOML atomically with ``header`` as leading comment lines."""
    import tomli_w

    from dualmod import Panel
    from dualmod._io import atomic_path

    path = Path(path)
    Panel.from_dict(profile, source=str(path), base_dir=base_dir or path.parent)
    text = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()) + "\n" + tomli_w.dumps(profile)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    Panel.load(path)  # what we wrote loads back
    return path


def _sibling(out: Path, suffix: str) -> Path:
    return out.with_name(out.stem + suffix)


def cmd_psf(args) -> int:
    from dualmod import Panel
    from dualmod.cli import _emit_json, _ensure_parent

    from .captures import load_captures
    from .psf_fit import fit_figure, fit_psf

    out = Path(args.out)
    if out.suffix != ".toml":
        raise InputError(f"--out {out}: the profile is written as TOML; give a .toml path")
    _ensure_parent(out)
    base = Panel.load(args.base) if args.base else None
    _say(f"reading {args.captures}")
    cs = load_captures(args.captures)
    _say(f"{len(cs.captures)} captures of a {cs.panel.width}×{cs.panel.height} panel with {cs.panel.n_leds} LEDs")
    fit = fit_psf(cs, args.model, boundary=args.boundary, edge_reflectance=args.edge_reflectance, progress=_say)
    profile = fit.profile(base, name=args.name or out.stem)
    lcd_note = (f"[lcd] and the LED response from {args.base}" if base is not None else
                "[lcd] is a placeholder (gamma 2.2, 8 bit, CR 1000): measure it with 'dualmod calibrate lcd'")
    header = (f"fitted by 'dualmod calibrate psf' from {Path(args.captures).resolve()}\n"
              f"model {fit.model}, rms residual {fit.rms_pct_peak:.3f} % of peak, "
              f"peak_nits ± {fit.peak_nits_sd:.3g} (1 sigma)\n{lcd_note}")
    write_profile(out, profile, header)
    report = fit.report()
    report["profile"] = str(out)
    from dualmod._io import write_json

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


def add_calibrate(sub, add) -> None:
    """Register ``dualmod calibrate`` and its subcommands on the main parser's subparsers."""
    cal = sub.add_parser("calibrate", help="measure a real panel (PSF, peak, LCD and LED responses) into a profile",
                         description="Measure a real dual-modulation panel into a dualmod profile: PSF and peak from "
                                     "camera captures, LCD and LED responses from photometer readings.")
    csub = cal.add_subparsers(dest="calibrate_command", metavar="SUBCOMMAND", parser_class=type(cal))
    cal.set_defaults(func=lambda args: (cal.print_help(), 2)[1])

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

    p = add(csub, "virtual", "render captures of a known panel with the virtual camera (to try the fit)",
            "dualmod calibrate virtual --panel proto-16x9-rgb --out captures/", cmd_virtual)
    p.add_argument("--panel", required=True, help="the true panel (name or .toml)")
    p.add_argument("--out", required=True, help="new folder for captures.json and the images")
    p.add_argument("--spacing", type=float, default=4.0, help="lit LEDs per capture are this many pitches apart")
    p.add_argument("--level", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
