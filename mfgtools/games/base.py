"""Alias of :mod:`mfgtools.finite.game`, kept at its old path ``mfgtools.games.base``.

The module moved into its family's folder (docs/architecture.md). Importing
``mfgtools.games.base`` gives the module ``mfgtools.finite.game`` itself (one module object, so
attributes set on either name are seen by both); new code imports
``mfgtools.finite.game``.
"""

import sys

from mfgtools.finite import game as _module

sys.modules[__name__] = _module
