"""Alias of :mod:`mfgtools.parallel.distributed`, kept at its old path ``mfgtools.distributed``.

The module moved into its family's folder (docs/architecture.md). Importing
``mfgtools.distributed`` gives the module ``mfgtools.parallel.distributed`` itself (one module object, so
attributes set on either name are seen by both); new code imports
``mfgtools.parallel.distributed``.
"""

import sys

from mfgtools.parallel import distributed as _module

sys.modules[__name__] = _module
