"""``python -m platonic.cli``: the same command line as the ``platonic`` console script."""

import sys

from platonic.cli import main

sys.exit(main())
