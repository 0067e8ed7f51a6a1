"""`python -m queuekit`: the same as the `queuekit` console script."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    # Imported here, not above: a worker process that multiprocessing spawns
    # imports this module again as __mp_main__, and needs none of the CLI.
    from queuekit.cli import main

    sys.exit(main())
