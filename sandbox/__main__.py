"""``python -m sandbox serve [--scale ...] [--seed N] [--faults SPEC] [--fast]``."""

import sys

from sandbox.server import main

sys.exit(main())
