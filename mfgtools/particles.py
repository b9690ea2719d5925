"""Alias of :mod:`mfgtools.swarm.particles`, kept at its old path ``mfgtools.particles``.

The module moved into its family's folder (docs/architecture.md). Importing
``mfgtools.particles`` gives the module ``mfgtools.swarm.particles`` itself (one module object, so
attributes set on either name are seen by both); new code imports
``mfgtools.swarm.particles``.
"""

import sys

from mfgtools.swarm import particles as _module

sys.modules[__name__] = _module
