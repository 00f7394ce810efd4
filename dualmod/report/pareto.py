# SPDX-License-Identifier: BSD-3-Clause
"""Quality against power: the Pareto figure of a comparison.

Each method is a point (mean PU21-PSNR over the images against mean LED power, the fraction of
full power); the variants of one method that differ in their options (a sweep such as
``cnn:power_weight=0/0.001/0.01``) are joined into a curve in order of power. Better is up and left.
"""

from __future__ import annotations

from collections import defaultdict

__all__ = ["pareto_figure"]


def pareto_figure(summary: list[dict], path, *, title: str = "") -> None:
    """Write the figure for :func:`dualmod.compare.summarize` rows to ``path`` (.png, .svg, .pdf), atomically."""
    from matplotlib.figure import Figure  # no pyplot: no global backend switch, nothing left open

    from .._io import atomic_path

    groups: dict[str, list[dict]] = defaultdict(list)
    for row in summary:                              # variants of one method (its options differ) form a curve,
        groups[_curve_of(row["method"])].append(row)  # except another model's or a polished cnn: curves of their own
    fig = Figure(figsize=(6.4, 4.4), dpi=130)
    ax = fig.subplots()
    markers = "osD^v<>ph"  # 9 markers against 10 colours: no two of the first 90 curves look alike
    for i, (name, rows) in enumerate(sorted(groups.items())):
        rows = sorted(rows, key=lambda r: r["power"])
        x = [r["power"] for r in rows]
        y = [r["pu21_psnr"] for r in rows]
        style = "-" if len(rows) > 1 else ""
        ax.plot(x, y, style, color=f"C{i % 10}", marker=markers[i % len(markers)],
                label=name if len(rows) == 1 else f"{name} (sweep)")
    ax.set_xlabel("mean LED power (fraction of full)")
    ax.set_ylabel("PU21-PSNR (dB, mean over images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=str(path).rsplit(".", 1)[-1])


def _curve_of(method: str) -> str:
    """The curve a method string belongs to: its name, and its ``weights=`` and ``refine=`` if it has them."""
    name, *opts = method.split(":")
    return ":".join([name] + [o for o in opts if o.startswith(("weights=", "refine="))])
