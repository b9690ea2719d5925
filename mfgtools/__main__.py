"""``python -m mfgtools``: the same command line as the ``mfgtools`` script."""

import sys

from mfgtools.cli import main

sys.exit(main())
