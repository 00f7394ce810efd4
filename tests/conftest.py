# SPDX-License-Identifier: BSD-3-Clause
"""Shared fixtures: small panels built from dicts, so tests run in milliseconds."""

from __future__ import annotations

import numpy as np
import pytest

import dualmod as dm

#: firmware fixtures (the C core through ctypes, the emulator) live in their own module
pytest_plugins = ["fwfixtures"]


def make_panel(width=48, height=32, *, peak=500.0, layout="grid", rows=4, cols=6, psf=None, lcd=None, leds=None,
               panel=None, base_dir=None, positions_file=None):
    """A small panel profile from keyword overrides (TOML-shaped dicts)."""
    led_t = {"layout": layout}
    if layout in ("grid", "hex"):
        led_t.update(rows=rows, cols=cols)
    else:
        led_t["positions_file"] = positions_file
    led_t.update(leds or {})
    data = {
        "panel": {"name": "test", "width": width, "height": height, "peak_nits": peak, **(panel or {})},
        "leds": led_t,
        "psf": psf or {"model": "gaussian", "sigma": 6.0},
        "lcd": lcd or {"response": "gamma", "gamma": 2.2, "bit_depth": 8, "contrast_ratio": 1000.0},
    }
    return dm.Panel.from_dict(data, source="<test>", base_dir=base_dir)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def small_panel():
    return make_panel()


@pytest.fixture
def anchored_probe():
    """A solver that takes an ``anchor`` and records what it was given: the LEDs follow the picture's mean."""
    from dualmod.dimming import SOLVERS, register

    calls = []

    def probe(panel, target, *, anchor=None, anchor_weight=1e-4):
        calls.append((None if anchor is None else np.array(anchor), anchor_weight))
        return np.full(panel.n_leds, min(1.0, float(np.mean(target)) / panel.peak_nits))

    register("anchored_probe", probe)
    yield calls
    del SOLVERS["anchored_probe"]
