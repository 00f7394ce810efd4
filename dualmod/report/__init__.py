# SPDX-License-Identifier: BSD-3-Clause
"""Figures and reports of dimming results (matplotlib, no display needed)."""

from .html import Collector, ImageResult, image_figure, preview, write_report
from .pareto import pareto_figure

__all__ = ["pareto_figure", "write_report", "image_figure", "ImageResult", "Collector", "preview"]
