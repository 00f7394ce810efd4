# SPDX-License-Identifier: BSD-3-Clause
"""LED layouts: where the LEDs sit behind the LCD.

Conventions (DESIGN.md §2): pixel (row i, column j) has its centre at
(x=j, y=i); the panel covers x ∈ [−0.5, W − 0.5], y ∈ [−0.5, H − 0.5].

- ``grid``: rows × cols LEDs at the centres of equal cells,
  x_c = (c + ½)·W/cols − ½, y_r = (r + ½)·H/rows − ½, row-major order.
- ``hex``: like the grid, but rows alternate ``cols`` and ``cols − 1`` LEDs and
  odd rows are shifted right by half a pitch p = W/cols, so
  x = (c + 1)·p − ½ there (c < cols − 1). Row-major order.
- ``positions``: the (x, y) pairs of the profile's ``positions_file``, in file
  order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["led_positions", "grid_positions", "hex_positions", "LAYOUTS"]


def grid_positions(width: int, height: int, rows: int, cols: int) -> np.ndarray:
    """Cell centres of a rows × cols grid, shape (rows·cols, 2), (x, y) in pixels."""
    xs = (np.arange(cols) + 0.5) * (width / cols) - 0.5
    ys = (np.arange(rows) + 0.5) * (height / rows) - 0.5
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def hex_positions(width: int, height: int, rows: int, cols: int) -> np.ndarray:
    """Hexagonal layout: even rows ``cols`` LEDs, odd rows ``cols − 1`` shifted half a pitch."""
    pitch = width / cols
    out = []
    for r in range(rows):
        y = (r + 0.5) * (height / rows) - 0.5
        if r % 2 == 0:
            xs = (np.arange(cols) + 0.5) * pitch - 0.5
        else:
            xs = (np.arange(cols - 1) + 1.0) * pitch - 0.5
        out.append(np.stack([xs, np.full_like(xs, y)], axis=1))
    return np.concatenate(out, axis=0)


def _positions(panel) -> np.ndarray:
    return np.array(panel.leds.positions, dtype=np.float64)


LAYOUTS = {
    "grid": lambda p: grid_positions(p.width, p.height, p.leds.rows, p.leds.cols),
    "hex": lambda p: hex_positions(p.width, p.height, p.leds.rows, p.leds.cols),
    "positions": _positions,
}


def led_positions(panel) -> np.ndarray:
    """LED centres of a panel, shape (N, 2), (x, y) in pixels, read-only.

    Raises
    ------
    ValueError
        The layout yields no LED, or an LED lies farther than the panel size
        outside the panel.
    """
    pos = LAYOUTS[panel.leds.layout](panel)
    if pos.shape[0] == 0:
        raise ValueError("the layout has no LEDs")
    lim_x, lim_y = 2.0 * panel.width, 2.0 * panel.height
    if np.any(np.abs(pos[:, 0] - panel.width / 2) > lim_x) or np.any(np.abs(pos[:, 1] - panel.height / 2) > lim_y):
        raise ValueError("an LED position lies far outside the panel")
    pos = np.ascontiguousarray(pos, dtype=np.float64)
    pos.setflags(write=False)
    return pos
