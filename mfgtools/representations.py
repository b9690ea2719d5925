"""Alias of :mod:`mfgtools.swarm.representations`, kept at its old path ``mfgtools.representations``.

The module moved into its family's folder (docs/architecture.md). Importing
``mfgtools.representations`` gives the module ``mfgtools.swarm.representations`` itself (one module object, so
attributes set on either name are seen by both); new code imports
``mfgtools.swarm.representations``.
"""

import sys

from mfgtools.swarm import representations as _module

sys.modules[__name__] = _module
