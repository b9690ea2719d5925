"""Static metadata every family carries: :class:`Annotation` and parameters as JSON.

At the bottom of the package (it imports nothing of mfgtools): finite games,
swarms, offline datasets, results and checkpoints all use it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def params_to_json(params: dict[str, Any]) -> str:
    """Game or solver parameters as a JSON string (for netCDF attributes)."""

    def plain(value):
        if isinstance(value, (np.generic,)):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    return json.dumps({k: plain(v) for k, v in params.items()}, sort_keys=True)


class Annotation:
    """Descriptive metadata carried by a game that never changes a compiled program.

    Game parameters are kept for display and result files; everything a kernel
    reads is a separate field. Every ``Annotation`` compares equal, so two games
    that differ only in such values share their compiled programs.
    """

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Annotation)

    def __hash__(self):
        return 0

    def __repr__(self):
        return f"Annotation({self.value!r})"


__all__ = ["Annotation", "params_to_json"]
