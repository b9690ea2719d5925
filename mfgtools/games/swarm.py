"""Alias of :mod:`mfgtools.swarm.game`, kept at its old path ``mfgtools.games.swarm``.

The module moved into its family's folder (docs/architecture.md). Importing
``mfgtools.games.swarm`` gives the module ``mfgtools.swarm.game`` itself (one module object, so
attributes set on either name are seen by both); new code imports
``mfgtools.swarm.game``.
"""

import sys

from mfgtools.swarm import game as _module

sys.modules[__name__] = _module
