# SPDX-License-Identifier: BSD-3-Clause
"""Image arguments as users give them: a file, or ``builtin:NAME`` for a procedural scene."""

from __future__ import annotations

import csv
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..panel import Panel
from .io import read_image
from .prepare import auto_exposure, prepare_target
from .scenes import SCENES, scene

__all__ = ["load_target", "read_split"]


def load_target(spec: str, panel: Panel, *, exposure="auto", fit: str = "clip") -> tuple[np.ndarray, dict]:
    """Read an image argument and fit it to ``panel``; returns (target in cd/m², info dict).

    Built-in scenes are generated at the panel resolution and are already in
    cd/m²: ``exposure`` scales them only when it is a number. For files,
    ``info["warnings"]`` lists what reading reported (e.g. sanitised pixels).
    """
    spec = str(spec)
    if spec.startswith("builtin:"):
        name = spec.split(":", 1)[1]
        if name not in SCENES:
            raise InputError(f"unknown built-in scene {name!r}; valid: {', '.join(SCENES)}")
        img = scene(name, panel.height, panel.width)
        scale = 1.0 if exposure == "auto" else float(exposure)
        return prepare_target(panel, img, exposure=scale, fit=fit), {"source": spec, "nits_per_unit": scale}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = read_image(spec)
    scale = auto_exposure(img) if exposure == "auto" else float(exposure)
    info = {"source": spec, "width": img.shape[1], "height": img.shape[0], "nits_per_unit": scale,
            "warnings": [str(w.message) for w in caught]}
    return prepare_target(panel, img, exposure=scale, fit=fit), info


def read_split(folder) -> dict[str, str]:
    """``{file name: split}`` from ``SPLIT.csv`` in ``folder`` (``{}`` without one), read once per folder."""
    return dict(_read_split(str(Path(folder).resolve())))


@lru_cache(maxsize=16)
def _read_split(folder: str) -> tuple:
    path = Path(folder) / "SPLIT.csv"
    if not path.is_file():
        return ()
    with path.open(newline="") as fh:
        return tuple((row["file"], row.get("split", "")) for row in csv.DictReader(fh))
