"""``python -m platonic.cli``: the same command line as the ``platonic`` console script."""

import sys

from platonic.cli import main

if __name__ == "__main__":  # not on a plain import (tests import every module)
    sys.exit(main())
