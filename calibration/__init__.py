# SPDX-License-Identifier: BSD-3-Clause
"""Measuring a real dual-modulation panel into a dualmod profile.

- :mod:`calibration.captures` reads and checks a ``dualmod-captures/1`` folder (DESIGN.md §11);
- :mod:`calibration.psf_fit` fits the PSF model and ``peak_nits`` from those camera captures;
- :mod:`calibration.virtual` renders captures of a known panel (a virtual camera) for tests and demos;
- :mod:`calibration.responses` fits the LCD and LED responses from photometer readings;
- :mod:`calibration.capture` lights LED patterns through the bridge and runs the user's camera command.

``calibration`` may import :mod:`dualmod` and :mod:`firmware_bridge`; they never import it at module level.
"""
