"""``python -m mfgtools.cli``: the command line (as ``mfgtools`` and ``python -m mfgtools``)."""

import sys

from mfgtools.cli import main

sys.exit(main())
