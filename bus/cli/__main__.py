"""``python -m bus.cli``: the ``silian`` command."""

from __future__ import annotations

import sys

from bus.cli.main import main

sys.exit(main())
