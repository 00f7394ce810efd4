# SPDX-License-Identifier: BSD-3-Clause
"""Training loops (learned metrics; later the CNN dimming)."""
