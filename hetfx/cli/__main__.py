"""``python -m hetfx.cli``."""

import sys

from hetfx.cli import main

sys.exit(main())
