"""`python -m surfaces.cli`: the same as `postline`."""

import sys

from surfaces.cli import main

sys.exit(main())
