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
two-layer regressor → JOD. No normalisation layers: ~25 k weights. Trained in torch; scored in numba
(:meth:`DeepMetric.predict`): one pass from the RGB images (or the PU21 maps, when another metric has
computed them) to the standardised features, then the whole network in one numba call (:func:`_network`), about half a
millisecond for the network at any image size (the feature map is always about 68 × 120), and no torch
import. The two paths are tested equal.

Weights ship as package data (``dualmod/metrics/weights/deep_{fr,nr}.safetensors``, under 110 KB
each), are read with ``safetensors.numpy`` (pure data, no code) after checking the format version and
the SHA-256 recorded in ``weights/manifest.json``, and are loaded strictly: every tensor of the network
with its shape, nothing else. ``dualmod train-metric`` reproduces them.

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
from .pu21 import PU21_ARRAY, pu21_rgb_row

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

#: Added to the regressor's output: JOD scores sit around 8–10.
JOD_OFFSET = 8.0

#: Rows of the feature map at any image size (270 / 4 at the training size).
FEATURE_ROWS = 67.5


def block_size(height: int) -> int:
    """Block side in pixels for an image ``height`` rows high (4 at 270 rows, 16 at 1080)."""
    return max(1, int(round(height / FEATURE_ROWS)))


@nb.njit(inline="always", error_model="numpy")
def _band_stats(t, s, r0, r1, block, stats):
    """The :data:`FEATURES` of the blocks of one band (rows r0:r1) of PU21 maps t, s, before the 1/256 scale,
    into stats (ceil(W / block), 8) float32.

    Column sums first (sums, sums of squares and of squared errors in float64, max and min of s; loops
    over contiguous rows that vectorise), then per block the sums of its columns: mean, mean error, RMS
    error, and the standard deviations as √(E[x²] − E[x]²), exact enough in float64 for PU21 values < 600.
    """
    w = s.shape[1]
    col = np.zeros((5, w))
    smax = s[r0].copy()
    smin = s[r0].copy()
    for y in range(r0, r1):
        ty = t[y]
        sy = s[y]
        for x in range(w):
            a = np.float64(ty[x])
            b = np.float64(sy[x])
            e = b - a
            col[0, x] += a
            col[1, x] += b
            col[2, x] += a * a
            col[3, x] += b * b
            col[4, x] += e * e
            smax[x] = max(smax[x], sy[x])
            smin[x] = min(smin[x], sy[x])
    for bx in range(stats.shape[0]):
        x0 = bx * block
        x1 = min(x0 + block, w)
        n = np.float64((r1 - r0) * (x1 - x0))
        st = ss = stt = sss = see = 0.0
        mx = smax[x0]
        mn = smin[x0]
        for x in range(x0, x1):
            st += col[0, x]
            ss += col[1, x]
            stt += col[2, x]
            sss += col[3, x]
            see += col[4, x]
            mx = max(mx, smax[x])
            mn = min(mn, smin[x])
        mt = st / n
        ms = ss / n
        stats[bx, 0] = mt
        stats[bx, 1] = ms
        stats[bx, 2] = ms - mt
        stats[bx, 3] = np.sqrt(see / n)
        stats[bx, 4] = np.sqrt(max(stt / n - mt * mt, 0.0))
        stats[bx, 5] = np.sqrt(max(sss / n - ms * ms, 0.0))
        stats[bx, 6] = mx
        stats[bx, 7] = mn


@nb.njit(inline="always", error_model="numpy")
def _put_inputs(stats, channels, shift, gain, out, by):
    """The chosen statistics of a band's blocks, scaled by 1/256 and standardised, into out[by, :, :]."""
    for bx in range(stats.shape[0]):
        for k in range(len(channels)):
            out[by, bx, k] = (stats[bx, channels[k]] * np.float32(1.0 / 256.0) - shift[k]) * gain[k]


@nb.njit(parallel=True, cache=True, error_model="numpy")
def _net_input_pu(target, shown, block, channels, shift, gain, out):
    """:meth:`DeepMetric.inputs` of :func:`block_features` of PU21 maps (H, W), channels last: (hb, wb, C)."""
    h = shown.shape[0]
    hb, wb = out.shape[0], out.shape[1]
    for by in nb.prange(hb):
        stats = np.empty((wb, 8), np.float32)
        _band_stats(target, shown, by * block, min(by * block + block, h), block, stats)
        _put_inputs(stats, channels, shift, gain, out, by)


@nb.njit(inline="always", fastmath={"contract"})
def _encode_band(rgb, y0, y1, band, p):
    """PU21 of the luminance of rows y0:y1 of a linear RGB image into band (y1 − y0, W)."""
    for y in range(y0, y1):
        pu21_rgb_row(rgb[y], band[y - y0], band[y - y0], p)


@nb.njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def _net_input_rgb(target, shown, same, block, channels, shift, gain, out, p):
    """:func:`_net_input_pu` from linear RGB images (H, W, 3) in cd/m², PU21-encoded here a band of
    ``block`` rows at a time into per-thread scratch, so no full-size map is written. With ``same`` (a
    no-reference model) the target is not read and the target-side statistics repeat the shown image's."""
    h, w = shown.shape[0], shown.shape[1]
    hb, wb = out.shape[0], out.shape[1]
    for by in nb.prange(hb):
        y0 = by * block
        y1 = min(y0 + block, h)
        sp = np.empty((y1 - y0, w), np.float32)
        _encode_band(shown, y0, y1, sp, p)
        tp = sp
        if not same:
            tp = np.empty((y1 - y0, w), np.float32)
            _encode_band(target, y0, y1, tp, p)
        stats = np.empty((wb, 8), np.float32)
        _band_stats(tp, sp, 0, y1 - y0, block, stats)
        _put_inputs(stats, channels, shift, gain, out, by)


def block_features(target_pu: np.ndarray | None, shown_pu: np.ndarray, block: int | None = None) -> np.ndarray:
    """The :data:`FEATURES` of PU21 maps (H, W) per block: float32 (8, ceil(H/block), ceil(W/block)).

    With ``target_pu=None`` (no reference) the target-side channels repeat the shown image's.
    """
    s = np.ascontiguousarray(shown_pu, dtype=np.float32)
    t = s if target_pu is None else np.ascontiguousarray(target_pu, dtype=np.float32)
    if s.ndim != 2 or t.shape != s.shape:
        raise ValueError(f"expected PU21 maps of one (H, W) shape, got {t.shape} and {s.shape}")
    b = block_size(s.shape[0]) if block is None else int(block)
    n = len(FEATURES)
    out = np.empty((-(-s.shape[0] // b), -(-s.shape[1] // b), n), np.float32)
    # the network-input kernel with every channel and no standardisation: (x/256 − 0)·1 is exactly x/256
    _net_input_pu(t, s, b, np.arange(n), np.zeros(n, np.float32), np.ones(n, np.float32), out)
    return np.ascontiguousarray(out.transpose(2, 0, 1))


@nb.njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def _conv3x3_s2_relu(x, w, b, out):
    """ReLU(conv(x)) with a 3 × 3 kernel, stride 2, zero padding 1, channels last: x (H, W, C),
    w (3, 3, C, OC), b (OC,), out (ceil(H/2), ceil(W/2), OC); as ``nn.Conv2d(C, OC, 3, 2, 1)`` + ReLU.
    The output channels are the inner loop, so each input value is one broadcast multiply-add."""
    h, wd, c_in = x.shape
    ho, wo, oc = out.shape
    for oy in nb.prange(ho):
        acc = np.empty(oc, np.float32)
        for ox in range(wo):
            for k in range(oc):
                acc[k] = b[k]
            for ky in range(3):
                iy = 2 * oy - 1 + ky
                if iy < 0 or iy >= h:
                    continue
                for kx in range(3):
                    ix = 2 * ox - 1 + kx
                    if ix < 0 or ix >= wd:
                        continue
                    for c in range(c_in):
                        v = x[iy, ix, c]
                        for k in range(oc):
                            acc[k] += v * w[ky, kx, c, k]
            for k in range(oc):
                out[oy, ox, k] = max(acc[k], np.float32(0.0))


@nb.njit(cache=True, error_model="numpy")
def _network(x, cw1, cb1, cw2, cb2, cw3, cb3, cw4, cb4, hw1, hb1, hw2, hb2):
    """The whole network on one standardised input (h, w, C) in one call: four :func:`_conv3x3_s2_relu`,
    global mean and max pooling, and the two-layer head (float64); the JOD before offset and clamp.
    (One call instead of a dozen: on a 68 × 120 map the per-call costs are a third of the time.)"""
    h = x
    for cw, cb in ((cw1, cb1), (cw2, cb2), (cw3, cb3), (cw4, cb4)):
        out = np.empty(((h.shape[0] + 1) // 2, (h.shape[1] + 1) // 2, cw.shape[3]), np.float32)
        _conv3x3_s2_relu(h, cw, cb, out)
        h = out
    c = h.shape[2]
    f = h.reshape(-1, c)
    z = np.empty(2 * c)
    for k in range(c):
        s = 0.0
        m = f[0, k]
        for i in range(f.shape[0]):
            s += f[i, k]
            m = max(m, f[i, k])
        z[k] = s / f.shape[0]
        z[c + k] = m
    hidden = np.maximum(z @ hw1 + hb1, 0.0)
    return (hidden @ hw2 + hb2)[0]


def _state_shapes(in_channels: int, width: int) -> dict[str, tuple[int, ...]]:
    """Every tensor of the network's state dict and its shape (what :func:`_net` builds)."""
    w = width
    shapes = {"shift": (in_channels,), "scale": (in_channels,)}
    for i, (cin, cout) in enumerate([(in_channels, w), (w, 2 * w), (2 * w, 2 * w), (2 * w, 2 * w)]):
        shapes[f"features.{2 * i}.weight"] = (cout, cin, 3, 3)
        shapes[f"features.{2 * i}.bias"] = (cout,)
    shapes.update({"head.0.weight": (32, 4 * w), "head.0.bias": (32,), "head.2.weight": (1, 32), "head.2.bias": (1,)})
    return shapes


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
            return self.head(pooled)[:, 0] + JOD_OFFSET

    return Net()


class DeepMetric:
    """A learned metric: ``kind`` "fr" (target and shown) or "nr" (shown only).

    Two forms of one network: the torch module :attr:`net` (training, :meth:`forward`, :meth:`score`) and
    numba kernels (:meth:`predict`, what ``dm.evaluate`` calls). A model made from a ``state`` (numpy
    arrays, as :func:`load_model` reads them) predicts without importing torch; :attr:`net` is built from
    that state when first used.
    """

    def __init__(self, kind: str, width: int = 16, state: dict[str, np.ndarray] | None = None):
        if kind not in ("fr", "nr"):
            raise ValueError(f"kind must be 'fr' or 'nr', got {kind!r}")
        self.kind = kind
        self.width = width
        self.channels = list(FR_CHANNELS if kind == "fr" else NR_CHANNELS)
        if state is not None:
            want = _state_shapes(len(self.channels), width)
            missing, unexpected = sorted(set(want) - set(state)), sorted(set(state) - set(want))
            wrong = [k for k in want if k in state and tuple(state[k].shape) != want[k]]
            if missing or unexpected or wrong:
                raise ValueError(f"the weights do not fit a {kind} model of width {width}: missing {missing}, "
                                 f"unexpected {unexpected}, wrong shape {wrong}")
            state = {k: np.array(v, dtype=np.float32) for k, v in state.items()}
        self._state = state
        self._net = None
        self._fast = None  # (key, what _infer reads), see _inference_weights

    @property
    def net(self):
        """The torch module (built on first use; from the ``state`` the model was made with, strictly)."""
        if self._net is None:
            net = _net(len(self.channels), self.width)
            if self._state is not None:
                import torch

                net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self._state.items()}, strict=True)
                net.eval()
            self._net = net
        return self._net

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

    def net_input(self, target: np.ndarray | None, shown: np.ndarray) -> np.ndarray:
        """:meth:`inputs` of one pair in one numba pass, channels last: float32 (h, w, C).

        ``target`` and ``shown`` are both PU21 maps (H, W) or both linear RGB images (H, W, 3) in cd/m²;
        from RGB, PU21 is computed a band of rows at a time and no full-size map is written. ``target``
        is ignored by ``nr`` models. Equal to ``inputs(block_features(...))`` (tested).
        """
        return self._net_input(self._inference_weights(), target, shown)

    def _net_input(self, weights, target, shown) -> np.ndarray:
        s = np.ascontiguousarray(shown, dtype=np.float32)
        if s.ndim not in (2, 3) or (s.ndim == 3 and s.shape[2] != 3):
            raise ValueError(f"expected a PU21 map (H, W) or an RGB image (H, W, 3), got shape {s.shape}")
        same = self.kind == "nr" or target is None
        t = s if same else np.ascontiguousarray(target, dtype=np.float32)
        if t.shape != s.shape:
            raise ValueError(f"target and shown differ in shape: {t.shape} vs {s.shape}")
        b = block_size(s.shape[0])
        channels, shift, gain = weights[0]
        out = np.empty((-(-s.shape[0] // b), -(-s.shape[1] // b), len(channels)), np.float32)
        if s.ndim == 3:
            _net_input_rgb(t, s, same, b, channels, shift, gain, out, PU21_ARRAY)
        else:
            _net_input_pu(t, s, b, channels, shift, gain, out)
        return out

    def _inference_weights(self):
        """What :meth:`net_input` and :meth:`_infer` read: ((channels, shift, gain), [(conv weight (3, 3, C, OC),
        bias)], [(head weight (in, out) float64, bias)]). From the torch module once it exists, rebuilt
        whenever one of its tensors has changed in place (torch counts in-place writes in ``_version``:
        an optimiser step, loading a state dict); until then from the numpy state."""
        if self._net is None and self._state is not None:
            key, state = "state", self._state
        else:
            tensors = [*self.net.parameters(), *self.net.buffers()]
            key = tuple(t._version for t in tensors) + tuple(id(t) for t in tensors)
            state = None
        if self._fast is None or self._fast[0] != key:
            if state is None:
                state = {k: v.detach().numpy() for k, v in self.net.state_dict().items()}
            f32 = lambda k: np.ascontiguousarray(state[k], dtype=np.float32)  # noqa: E731
            standardise = (np.array(self.channels, np.int64), f32("shift"), f32("scale"))
            convs = [(np.ascontiguousarray(f32(f"features.{i}.weight").transpose(2, 3, 1, 0)),
                      f32(f"features.{i}.bias")) for i in (0, 2, 4, 6)]
            head = [(np.ascontiguousarray(state[f"head.{i}.weight"].astype(np.float64).T),
                     state[f"head.{i}.bias"].astype(np.float64)) for i in (0, 2)]
            self._fast = (key, (standardise, convs, head))
        return self._fast[1]

    def _infer(self, x: np.ndarray, weights) -> float:
        """:meth:`score` of one :meth:`net_input` (h, w, C) in one numba call (:func:`_network`), without
        torch: on a 68 × 120 map torch's per-operation overhead is most of its time. Equal to :meth:`score`
        (tested)."""
        _, convs, head = weights
        (cw1, cb1), (cw2, cb2), (cw3, cb3), (cw4, cb4) = convs
        (hw1, hb1), (hw2, hb2) = head
        jod = float(_network(x, cw1, cb1, cw2, cb2, cw3, cb3, cw4, cb4, hw1, hb1, hw2, hb2)) + JOD_OFFSET
        return min(jod, JOD_MAX)

    def predict(self, target: np.ndarray | None, shown: np.ndarray) -> float:
        """JOD of one pair: PU21 maps (H, W) or linear RGB images (H, W, 3) in cd/m² (``target`` is
        ignored by ``nr`` models). What :meth:`score` gives for it, in a fraction of the time."""
        weights = self._inference_weights()  # once: for a torch-backed model it checks every tensor's version
        return self._infer(self._net_input(weights, target, shown), weights)


def _weights_dir():
    return resources.files("dualmod.metrics") / "weights"


@lru_cache(maxsize=2)
def load_model(kind: str) -> DeepMetric:
    """The shipped ``deep_fr`` / ``deep_nr`` model, checked (version, SHA-256) and loaded strictly (every
    tensor, every shape); without importing torch."""
    from .._weights import load_checked
    from ..errors import DualmodError

    state, entry = load_checked(_weights_dir(), f"deep_{kind}", WEIGHTS_VERSION, as_numpy=True,
                                how_to_make="run 'dualmod train-metric' to produce them")
    try:
        return DeepMetric(kind, width=int(entry.get("width", 16)), state=state)
    except ValueError as exc:
        raise DualmodError(f"deep_{kind}: {exc}") from None


def _predict(kind: str, pair: Pair) -> float:
    # From the PU21 maps when an earlier metric has computed them; else from the RGB images in one pass.
    model = load_model(kind)
    if pair.encoded("both" if kind == "fr" else "displayed"):
        return model.predict(pair.pu_target if kind == "fr" else None, pair.pu_displayed)
    return model.predict(pair.target, pair.displayed)


def deep_fr(pair: Pair) -> float:
    """Predicted ColorVideoVDP JOD of the shown image against the target (full reference)."""
    return _predict("fr", pair)


def deep_nr(pair: Pair) -> float:
    """Predicted ColorVideoVDP JOD of the shown image from the shown image alone (no reference)."""
    return _predict("nr", pair)
