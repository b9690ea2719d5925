"""Alias of :mod:`mfgtools.finite.evaluation`, kept at its old path ``mfgtools.evaluation``.

The module moved into its family's folder (docs/architecture.md). Importing
``mfgtools.evaluation`` gives the module ``mfgtools.finite.evaluation`` itself (one module object, so
attributes set on either name are seen by both); new code imports
``mfgtools.finite.evaluation``.
"""

import sys

from mfgtools.finite import evaluation as _module

sys.modules[__name__] = _module
