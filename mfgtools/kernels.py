"""Alias of :mod:`mfgtools.finite.kernels`, kept at its old path ``mfgtools.kernels``.

The module moved into its family's folder (docs/architecture.md). Importing
``mfgtools.kernels`` gives the module ``mfgtools.finite.kernels`` itself (one module object, so
attributes set on either name are seen by both); new code imports
``mfgtools.finite.kernels``.
"""

import sys

from mfgtools.finite import kernels as _module

sys.modules[__name__] = _module
