# SPDX-License-Identifier: BSD-3-Clause
"""A self-contained HTML report of a comparison: the table, one figure per image, the Pareto figure.

Per image, one figure: the target as Reinhard (2002) global and local tone-mapped previews and as a
false-colour log-luminance map (colour bar in cd/m²); then one row per method with the shown image
(Reinhard local, the target's exposure), its false-colour map, the LED frame (each LED a dot at its
position), the backlight (false colour), the LCD frame (max code over R, G, B) and the error map
(PU21(shown) − PU21(target) luminance, blue = too dark, red = too bright). Figures are PNG files
beside ``report.html``; the page holds no script and loads nothing from the network.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

__all__ = ["ImageResult", "Collector", "write_report", "image_figure", "preview"]

PREVIEW_WIDTH = 480


class ImageResult:
    """One image's target and, per method, its simulation, both kept at preview size (see :func:`preview`)."""

    def __init__(self, name: str, target: np.ndarray, sims: dict | None = None):
        self.name, self.target = name, _shrink(target)
        self.sims = {m: preview(s) for m, s in (sims or {}).items()}


class Collector:
    """``on_result`` callback for :func:`dualmod.compare.compare`: previews of every result, per image."""

    def __init__(self):
        self.results: dict[str, ImageResult] = {}

    def __call__(self, image: str, method: str, target: np.ndarray, sim) -> None:
        if image not in self.results:
            self.results[image] = ImageResult(image, target)
        self.results[image].sims[method] = preview(sim)

    @staticmethod
    def reduce(target: np.ndarray, sim):
        """``compare(reduce=...)``: the preview-size target and simulation, made where the simulation ran
        (what :meth:`__call__` keeps anyway; shrinking a preview again leaves it as it is)."""
        return _shrink(target), preview(sim)


def _shrink(img: np.ndarray) -> np.ndarray:
    """Area-average to at most PREVIEW_WIDTH columns (previews only)."""
    import cv2

    h, w = img.shape[:2]
    if w <= PREVIEW_WIDTH:
        return img
    s = PREVIEW_WIDTH / w
    return cv2.resize(np.ascontiguousarray(img, np.float32), (PREVIEW_WIDTH, max(1, round(h * s))),
                      interpolation=cv2.INTER_AREA)


def preview(sim):
    """A reduced copy of a Simulation with what the figures use (keeps memory low over many images)."""
    from types import SimpleNamespace

    return SimpleNamespace(displayed=_shrink(sim.displayed), backlight=_shrink(sim.backlight),
                           lcd=_shrink(sim.lcd.astype(np.float32)), leds=sim.leds, power=sim.power)


def image_figure(result: ImageResult, panel, path) -> None:
    """Write the per-image figure described in the module docstring to ``path`` (PNG), atomically."""
    from matplotlib.figure import Figure  # no pyplot: no global backend switch, nothing left open
    from matplotlib.colors import LogNorm, TwoSlopeNorm

    from .._io import atomic_path
    from ..imaging.colour import luminance
    from ..imaging.tonemap import log_average, reinhard_global, reinhard_local
    from ..metrics.pu21 import pu21_encode

    target = result.target
    methods = list(result.sims)
    lo, hi = max(panel.black_nits * 0.5, 1e-3), panel.peak_nits
    lum_norm = LogNorm(vmin=lo, vmax=hi)
    cols = 6
    fig = Figure(figsize=(2.6 * cols, 1.75 * (1 + len(methods)) + 0.4), constrained_layout=True)
    axes = fig.subplots(1 + len(methods), cols)
    axes = np.atleast_2d(axes)
    for ax in axes.ravel():
        ax.axis("off")
    t_lum = luminance(target)
    axes[0, 0].imshow(reinhard_global(target))
    axes[0, 0].set_title("target: Reinhard global", fontsize=8)
    axes[0, 1].imshow(reinhard_local(target))
    axes[0, 1].set_title("target: Reinhard local", fontsize=8)
    im_lum = axes[0, 2].imshow(np.clip(t_lum, lo, hi), cmap="inferno", norm=lum_norm)
    axes[0, 2].set_title("target luminance", fontsize=8)
    fig.colorbar(im_lum, ax=axes[0, 2], shrink=0.8, label="cd/m²")
    axes[0, 3].text(0.0, 0.5, f"{result.name}\n{panel.name}\npeak {panel.peak_nits:g} cd/m²\n"
                    f"black {panel.black_nits:.3g} cd/m²", fontsize=8, va="center", transform=axes[0, 3].transAxes)
    v_target = pu21_encode(t_lum)
    pos = panel.led_positions
    err_norm = TwoSlopeNorm(vmin=-40, vcenter=0, vmax=40)
    for i, m in enumerate(methods, start=1):
        sim = result.sims[m]
        shown = _shrink(sim.displayed)
        s_lum = luminance(shown)
        # the shown image with the target's tone curve (key from the target), so differences are visible
        scale = log_average(t_lum) / log_average(s_lum)
        axes[i, 0].imshow(reinhard_local(shown * scale))
        axes[i, 0].set_title(f"{m}: shown", fontsize=8)
        axes[i, 1].imshow(np.clip(s_lum, lo, hi), cmap="inferno", norm=lum_norm)
        axes[i, 1].set_title("shown luminance", fontsize=8)
        leds = sim.leds if sim.leds.ndim == 1 else sim.leds.max(axis=1)
        ax = axes[i, 2]
        ax.axis("on")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_facecolor("black")
        per_row = np.sqrt(len(leds) * panel.width / panel.height)            # LEDs across the axes
        ax.scatter(pos[:, 0], pos[:, 1], c=leds, cmap="gray", vmin=0, vmax=1, s=(150.0 / per_row) ** 2,
                   marker="s" if panel.leds.layout == "grid" else "o", linewidths=0)
        ax.set_xlim(-0.5, panel.width - 0.5)
        ax.set_ylim(panel.height - 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_title(f"LED frame (power {sim.power:.3f})", fontsize=8)
        bl = _shrink(sim.backlight if sim.backlight.ndim == 2 else sim.backlight.max(axis=2))
        im_bl = axes[i, 3].imshow(np.clip(bl, lo, hi), cmap="inferno", norm=lum_norm)
        axes[i, 3].set_title("backlight", fontsize=8)
        codes = _shrink(sim.lcd.max(axis=2).astype(np.float32) / float(2 ** panel.lcd.bit_depth - 1))
        axes[i, 4].imshow(codes, cmap="gray", vmin=0, vmax=1)
        axes[i, 4].set_title("LCD frame (max code)", fontsize=8)
        im_err = axes[i, 5].imshow(pu21_encode(s_lum) - v_target, cmap="RdBu_r", norm=err_norm)
        axes[i, 5].set_title("error, PU21 units", fontsize=8)
        if i == len(methods):
            fig.colorbar(im_bl, ax=axes[1:, 3], shrink=0.6, label="cd/m²")
            fig.colorbar(im_err, ax=axes[1:, 5], shrink=0.6, label="PU21(shown) − PU21(target)")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=72)


def _table(summary: list[dict]) -> str:
    head = ("<tr><th>method</th><th>images</th><th>PU21-PSNR (dB)</th><th>PU21-SSIM</th><th>power</th>"
            "<th>clipped</th><th>halo</th><th>solve (ms)</th></tr>")
    rows = []
    for s in summary:
        ms = s.get("solve_ms")
        rows.append(f"<tr><td>{html.escape(s['method'])}</td><td>{s['images']}</td><td>{s['pu21_psnr']:.2f}</td>"
                    f"<td>{s['pu21_ssim']:.4f}</td><td>{s['power']:.3f}</td>"
                    f"<td>{100 * s['clipped_fraction']:.2f} %</td><td>{s['halo']:.2f}</td>"
                    f"<td>{'' if ms is None else f'{ms:.1f}'}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #ddd}
.note{color:#555;font-size:13px}"""


def write_report(out, panel, results: list[ImageResult], summary: list[dict], *, title: str = "dualmod report",
                 notes: str = "") -> Path:
    """Write ``out/report.html`` with ``out/figures/*.png``; returns the page's path."""
    from .._io import atomic_write
    from .pareto import pareto_figure

    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>Panel <b>{html.escape(panel.name)}</b>: {panel.width}×{panel.height}, {panel.n_leds} LEDs "
             f"({panel.leds.layout}), peak {panel.peak_nits:g} cd/m², LCD contrast {panel.lcd.contrast_ratio:g}:1. "
             f"Means over {len(results)} image(s).</p>"]
    if notes:
        parts.append(f"<p class='note'>{html.escape(notes)}</p>")
    parts.append(_table(summary))
    pareto_figure(summary, out / "figures" / "pareto.png", title=f"{panel.name}: quality against power")
    parts.append("<h2>Quality against power</h2><img src='figures/pareto.png' alt='Pareto figure'>")
    for k, r in enumerate(results):
        name = f"image-{k:02d}.png"
        image_figure(r, panel, out / "figures" / name)
        parts.append(f"<h2>{html.escape(r.name)}</h2><img src='figures/{name}' alt='{html.escape(r.name)}'>")
    parts.append("<p class='note'>Previews: Reinhard et al. 2002 (global and local operators); false colour: "
                 "luminance in cd/m² on a log scale from half the panel's black level to its peak; error: "
                 "PU21 (Mantiuk & Azimi 2021) units of luminance.</p></body></html>")
    page = out / "report.html"
    atomic_write(page, lambda p: p.write_text("\n".join(parts), encoding="utf-8"))
    return page
