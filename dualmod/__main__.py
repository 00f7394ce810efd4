# SPDX-License-Identifier: BSD-3-Clause
"""``python -m dualmod`` runs the ``dualmod`` command."""

import sys

from .cli import main

sys.exit(main())
