"""Alias of :mod:`mfgtools.swarm.policies`, kept at its old path ``mfgtools.swarm_policies``.

The module moved into its family's folder (docs/architecture.md). Importing
``mfgtools.swarm_policies`` gives the module ``mfgtools.swarm.policies`` itself (one module object, so
attributes set on either name are seen by both); new code imports
``mfgtools.swarm.policies``.
"""

import sys

from mfgtools.swarm import policies as _module

sys.modules[__name__] = _module
