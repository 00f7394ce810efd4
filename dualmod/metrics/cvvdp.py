# SPDX-License-Identifier: BSD-3-Clause
"""ColorVideoVDP as an optional judge (``cvvdp_jod``).

ColorVideoVDP (Mantiuk et al. 2024) predicts the visibility of differences in just-objectionable
differences (JOD; 10 = identical). The images are passed as linear Rec.709 RGB in cd/m² with the
``standard_hdr_linear`` display. It is an optional extra (``pip install 'dualmod[judge]'``): its
torchvision dependency does not import beside the CPU torch wheel dualmod installs, so run it in a
separate environment (see the README).

References
----------
Mantiuk, R. K. et al. (2024) ColorVideoVDP: A visual difference predictor for image, video and display
distortions. ACM TOG 43(4).
"""

from __future__ import annotations

import numpy as np

from ..errors import DualmodError
from .context import Pair

__all__ = ["cvvdp_jod", "CvvdpMissing"]


class CvvdpMissing(DualmodError):
    """ColorVideoVDP is not installed (or cannot be imported) in this environment."""


def cvvdp_jod(pair: Pair) -> float:
    """ColorVideoVDP JOD of the displayed image against the target (10 = no visible difference)."""
    try:
        import pycvvdp
        import torch
    except Exception as exc:  # ImportError, or torchvision failing to load its operators
        raise CvvdpMissing("cvvdp_jod needs ColorVideoVDP: install it with pip install 'dualmod[judge]' in an "
                           f"environment whose torch/torchvision match (see the README); import failed: {exc}"
                           ) from None
    metric = pycvvdp.cvvdp(display_name="standard_hdr_linear", device=torch.device("cpu"))
    jod, _ = metric.predict(np.asarray(pair.displayed, np.float32), np.asarray(pair.target, np.float32),
                            dim_order="HWC")
    return float(jod)
