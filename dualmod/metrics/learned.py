# SPDX-License-Identifier: BSD-3-Clause
"""Learned quality metrics: small CNNs distilled from ColorVideoVDP (``deep_fr``, ``deep_nr``).

After the idea of DIQM and NoR-VDPNet (Artusi et al. 2019; Banterle et al. 2020): an expensive
perceptual metric is distilled into a small fully-convolutional network that predicts its score.
Here the teacher is ColorVideoVDP's JOD of a shown image against its target
(``tools/metric_labels.py``).

Input. Both images are encoded as PU21 luminance (scaled by 1/256) and cut into square blocks,
``block = round(H / 67.5)`` pixels on a side (4 at the training size, 480 × 270; 16 at 1080p), so
the network always sees the picture at the framing it was trained at. Per block a numba pass
(:func:`block_features`) computes eight statistics, of which ``deep_fr`` reads six

    mean target, mean shown, mean error, RMS error, std target, std shown

(error = shown − target; the RMS and the stds keep what a block average would lose: banding,
quantisation noise, lost texture, and the masking the target's own texture gives) and ``deep_nr``
reads four of the shown image alone

    mean shown, std shown, max shown, min shown.

Network. A fixed per-channel standardisation (learned from the training set, stored with the
weights), four 3 × 3 convolutions of stride 2 with ReLU, global average and max pooling, and a
two-layer regressor → JOD. No normalisation layers: ~25 k weights, about half a millisecond on two
cores at any image size (the feature map is always about 68 × 120).

Weights ship as package data (``dualmod/metrics/weights/deep_{fr,nr}.pt``, under 120 KB each), are
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

import numba as nb
import numpy as np

from .context import Pair

__all__ = ["DeepMetric", "deep_fr", "deep_nr", "load_model", "WEIGHTS_VERSION", "block_features", "block_size",
           "FEATURES", "FR_CHANNELS", "NR_CHANNELS"]

#: Format version of the shipped weights; a mismatch refuses to load. 2: block features, no GroupNorm.
WEIGHTS_VERSION = 2

#: The statistics :func:`block_features` computes per block, in order.
FEATURES = ("mean_target", "mean_shown", "mean_error", "rms_error", "std_target", "std_shown", "max_shown",
            "min_shown")
#: Indices into :data:`FEATURES` that each model reads.
FR_CHANNELS = (0, 1, 2, 3, 4, 5)
NR_CHANNELS = (1, 5, 6, 7)

#: The top of the JOD scale (an image judged against itself); predictions are clamped to it.
JOD_MAX = 10.0

#: Rows of the feature map at any image size (270 / 4 at the training size).
FEATURE_ROWS = 67.5


def block_size(height: int) -> int:
    """Block side in pixels for an image ``height`` rows high (4 at 270 rows, 16 at 1080)."""
    return max(1, int(round(height / FEATURE_ROWS)))


@nb.njit(parallel=True, cache=True, error_model="numpy")
def _block_features(t, s, block, out):
    h, w = s.shape
    hb, wb = out.shape[1], out.shape[2]
    scale = np.float32(1.0 / 256.0)
    for by in nb.prange(hb):
        y0 = by * block
        y1 = min(y0 + block, h)
        for bx in range(wb):
            x0 = bx * block
            x1 = min(x0 + block, w)
            n = np.float32((y1 - y0) * (x1 - x0))
            st = np.float32(0.0)
            ss = np.float32(0.0)
            smax = np.float32(-np.inf)
            smin = np.float32(np.inf)
            for y in range(y0, y1):
                for x in range(x0, x1):
                    st += t[y, x]
                    ss += s[y, x]
                    smax = max(smax, s[y, x])
                    smin = min(smin, s[y, x])
            mt = st / n
            ms = ss / n
            vt = np.float32(0.0)
            vs = np.float32(0.0)
            e2 = np.float32(0.0)
            for y in range(y0, y1):
                for x in range(x0, x1):
                    dt = t[y, x] - mt
                    ds = s[y, x] - ms
                    e = s[y, x] - t[y, x]
                    vt += dt * dt
                    vs += ds * ds
                    e2 += e * e
            out[0, by, bx] = mt * scale
            out[1, by, bx] = ms * scale
            out[2, by, bx] = (ms - mt) * scale
            out[3, by, bx] = np.sqrt(e2 / n) * scale
            out[4, by, bx] = np.sqrt(vt / n) * scale
            out[5, by, bx] = np.sqrt(vs / n) * scale
            out[6, by, bx] = smax * scale
            out[7, by, bx] = smin * scale


def block_features(target_pu: np.ndarray | None, shown_pu: np.ndarray, block: int | None = None) -> np.ndarray:
    """The :data:`FEATURES` of PU21 maps (H, W) per block: float32 (8, ceil(H/block), ceil(W/block)).

    With ``target_pu=None`` (no reference) the target-side channels repeat the shown image's.
    """
    s = np.ascontiguousarray(shown_pu, dtype=np.float32)
    t = s if target_pu is None else np.ascontiguousarray(target_pu, dtype=np.float32)
    if s.ndim != 2 or t.shape != s.shape:
        raise ValueError(f"expected PU21 maps of one (H, W) shape, got {t.shape} and {s.shape}")
    b = block_size(s.shape[0]) if block is None else int(block)
    out = np.empty((len(FEATURES), -(-s.shape[0] // b), -(-s.shape[1] // b)), np.float32)
    _block_features(t, s, b, out)
    return out


def _net(in_channels: int, width: int = 16):
    import torch
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("shift", torch.zeros(in_channels))
            self.register_buffer("scale", torch.ones(in_channels))
            w = width
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, w, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1), nn.ReLU())
            self.head = nn.Sequential(nn.Linear(4 * w, 32), nn.ReLU(), nn.Linear(32, 1))

        def forward(self, x):
            """JOD of standardised block features (B, C, h, w) (:meth:`DeepMetric.inputs`)."""
            f = self.features(x)
            pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
            return self.head(pooled)[:, 0] + 8.0  # JOD scores sit around 8–10

    return Net()


class DeepMetric:
    """A learned metric: ``kind`` "fr" (target and shown) or "nr" (shown only)."""

    def __init__(self, kind: str, width: int = 16):
        if kind not in ("fr", "nr"):
            raise ValueError(f"kind must be 'fr' or 'nr', got {kind!r}")
        self.kind = kind
        self.width = width
        self.channels = list(FR_CHANNELS if kind == "fr" else NR_CHANNELS)
        self.net = _net(len(self.channels), width)

    def standardise_on(self, features: np.ndarray) -> None:
        """Set the input standardisation from training features (N, 8, h, w), any float dtype."""
        import torch

        chans = [np.asarray(features[:, c]) for c in self.channels]
        mu = [float(x.mean(dtype=np.float64)) for x in chans]
        sd = [float(x.std(dtype=np.float64)) for x in chans]
        self.net.shift.copy_(torch.tensor(mu, dtype=torch.float32))
        self.net.scale.copy_(torch.tensor([1.0 / max(v, 1e-6) for v in sd], dtype=torch.float32))

    def inputs(self, features: np.ndarray):
        """The network's input (torch (B, C, h, w)) from block features (numpy (B, 8, h, w)): the model's
        channels, standardised with the stored shift and scale. In numpy: on maps this small, torch's
        per-operation overhead would cost more than the arithmetic."""
        import torch

        f = np.asarray(features)[:, self.channels].astype(np.float32, copy=False)
        x = (f - self.net.shift.numpy()[:, None, None]) * self.net.scale.numpy()[:, None, None]
        return torch.from_numpy(x)

    def forward(self, x):
        """JOD of a batch of :meth:`inputs`; differentiable, not clamped (training)."""
        return self.net(x)

    def score(self, x):
        """What the metric reports for a batch of :meth:`inputs`: :meth:`forward` clamped to JOD ≤ 10.

        10 JOD is ColorVideoVDP's score of an image against itself, the top of its scale.
        """
        return self.forward(x).clamp(max=JOD_MAX)

    def predict(self, target_pu: np.ndarray | None, shown_pu: np.ndarray) -> float:
        """JOD from PU21 maps (H, W) (``target_pu`` is ignored by ``nr`` models)."""
        import torch

        f = block_features(target_pu if self.kind == "fr" else None, shown_pu)
        with torch.inference_mode():
            return float(self.score(self.inputs(f[None]))[0])


def _weights_dir():
    return resources.files("dualmod.metrics") / "weights"


@lru_cache(maxsize=2)
def load_model(kind: str) -> DeepMetric:
    """The shipped ``deep_fr`` / ``deep_nr`` model, checked (version, SHA-256) and loaded strictly."""
    from .._weights import load_checked

    state, entry = load_checked(_weights_dir(), f"deep_{kind}", WEIGHTS_VERSION,
                                how_to_make="run 'dualmod train-metric' to produce them")
    model = DeepMetric(kind, width=int(entry.get("width", 16)))
    model.net.load_state_dict(state, strict=True)
    model.net.eval()
    return model


def deep_fr(pair: Pair) -> float:
    """Predicted ColorVideoVDP JOD of the shown image against the target (full reference)."""
    return load_model("fr").predict(pair.pu_target, pair.pu_displayed)


def deep_nr(pair: Pair) -> float:
    """Predicted ColorVideoVDP JOD of the shown image from the shown image alone (no reference)."""
    return load_model("nr").predict(None, pair.pu_displayed)
