# SPDX-License-Identifier: BSD-3-Clause
"""Learned quality metrics: small CNNs distilled from ColorVideoVDP (``deep_fr``, ``deep_nr``).

After the idea of DIQM and NoR-VDPNet (Artusi et al. 2019; Banterle et al. 2020): an expensive
perceptual metric is distilled into a small fully-convolutional network that predicts its score.
Here the teacher is ColorVideoVDP's JOD of a shown image against its target
(``tools/metric_labels.py``), the inputs are PU21-encoded luminance maps scaled by 1/256 (the shown
image, and for ``deep_fr`` also the target and their difference), at any resolution (trained at
480 × 270): 4 × 4 average pooling, four strided conv blocks (conv, GroupNorm, GELU) → global
average and max pooling → a two-layer regressor → JOD.

Weights ship as package data (``dualmod/metrics/weights/deep_{fr,nr}.pt``, a few hundred KB), are
loaded with ``torch.load(weights_only=True)`` and ``strict=True`` after checking the format version
and the SHA-256 recorded in ``weights/manifest.json``. ``dualmod train-metric`` reproduces them.

References
----------
Artusi, A. et al. (2019) Efficient evaluation of image quality via deep-learning approximation of
perceptual metrics. IEEE TIP 29. Banterle, F. et al. (2020) NoR-VDPNet: a no-reference high dynamic
range quality metric trained on HDR-VDP-2. IEEE ICIP.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

from .context import Pair

__all__ = ["DeepMetric", "deep_fr", "deep_nr", "load_model", "WEIGHTS_VERSION", "model_inputs"]

#: Format version of the shipped weights; a mismatch refuses to load.
WEIGHTS_VERSION = 1


def _net(in_channels: int, width: int = 12):
    import torch.nn as nn

    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, stride=2, padding=1), nn.GroupNorm(4, o), nn.GELU(),
                             nn.Conv2d(o, o, 3, padding=1), nn.GroupNorm(4, o), nn.GELU())

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.AvgPool2d(4, ceil_mode=True), block(in_channels, width),
                                          block(width, 2 * width), block(2 * width, 4 * width),
                                          block(4 * width, 4 * width))
            self.head = nn.Sequential(nn.Linear(8 * width, 32), nn.GELU(), nn.Linear(32, 1))

        def forward(self, x):
            f = self.features(x)
            pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
            return self.head(pooled)[:, 0] + 8.0  # JOD scores sit around 8–10

    import torch

    return Net()


class DeepMetric:
    """A learned metric: ``kind`` "fr" (target and shown) or "nr" (shown only)."""

    def __init__(self, kind: str, width: int = 12):
        if kind not in ("fr", "nr"):
            raise ValueError(f"kind must be 'fr' or 'nr', got {kind!r}")
        self.kind = kind
        self.width = width
        self.net = _net(3 if kind == "fr" else 1, width)

    def inputs(self, target_pu, shown_pu):
        """Network input (B, C, H, W) from PU21 maps (B, H, W) (torch)."""
        import torch

        s = shown_pu / 256.0
        if self.kind == "nr":
            return s[:, None]
        t = target_pu / 256.0
        return torch.stack([t, s, s - t], dim=1)

    def predict(self, target_pu: np.ndarray | None, shown_pu: np.ndarray) -> float:
        import torch

        with torch.inference_mode():
            s = torch.as_tensor(np.ascontiguousarray(shown_pu, np.float32))[None]
            t = None if target_pu is None else torch.as_tensor(np.ascontiguousarray(target_pu, np.float32))[None]
            x = self.inputs(t if t is not None else s, s)
            return float(self.net(x)[0])


def model_inputs(pair: Pair):
    return pair.pu_target, pair.pu_displayed


def _weights_dir():
    return resources.files("dualmod.metrics") / "weights"


@lru_cache(maxsize=2)
def load_model(kind: str) -> DeepMetric:
    """The shipped ``deep_fr`` / ``deep_nr`` model, checked (version, SHA-256) and loaded strictly."""
    from .._weights import load_checked

    state, entry = load_checked(_weights_dir(), f"deep_{kind}", WEIGHTS_VERSION,
                                how_to_make="run 'dualmod train-metric' to produce them")
    model = DeepMetric(kind, width=int(entry.get("width", 12)))
    model.net.load_state_dict(state, strict=True)
    model.net.eval()
    return model


def deep_fr(pair: Pair) -> float:
    """Predicted ColorVideoVDP JOD of the shown image against the target (full reference)."""
    t, s = model_inputs(pair)
    return load_model("fr").predict(t, s)


def deep_nr(pair: Pair) -> float:
    """Predicted ColorVideoVDP JOD of the shown image from the shown image alone (no reference)."""
    return load_model("nr").predict(None, pair.pu_displayed)
