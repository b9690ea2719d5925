"""Alias of :mod:`mfgtools.parallel.sharding`, kept at its old path ``mfgtools.sharding``.

The module moved into its family's folder (docs/architecture.md). Importing
``mfgtools.sharding`` gives the module ``mfgtools.parallel.sharding`` itself (one module object, so
attributes set on either name are seen by both); new code imports
``mfgtools.parallel.sharding``.
"""

import sys

from mfgtools.parallel import sharding as _module

sys.modules[__name__] = _module
