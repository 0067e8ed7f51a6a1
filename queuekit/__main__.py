"""`python -m queuekit`: the same as the `queuekit` console script."""

from __future__ import annotations

import sys

from queuekit.cli import main

if __name__ == "__main__":
    sys.exit(main())
