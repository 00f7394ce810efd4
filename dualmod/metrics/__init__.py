# SPDX-License-Identifier: BSD-3-Clause
"""Quality metrics (one module per published method)."""

from .pu21 import pu21_decode, pu21_encode, pu21_psnr

__all__ = ["pu21_encode", "pu21_decode", "pu21_psnr"]
