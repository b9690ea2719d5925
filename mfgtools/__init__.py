"""mfgtools: exact and learned equilibria of mean-field games in JAX.

Quick start::

    import mfgtools
    game = mfgtools.make_game("crowd", map="four_rooms", task="exploration")
    result = mfgtools.solve(game, "omd", iterations=100)
    result.metrics["exploitability"][-1]
    result.to_xarray()

The public names are imported on first use (PEP 562), so that ``import
mfgtools`` (and the ``mfgtools --help`` command line) does not pay for JAX,
flax and xarray until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "MFGError": "mfgtools.errors",
    "make_game": "mfgtools.games",
    "list_games": "mfgtools.games",
    "solve": "mfgtools.solvers",
    "solve_seeds": "mfgtools.solvers",
    "sweep": "mfgtools.sweeps",
    "tune": "mfgtools.tuning",
    "list_solvers": "mfgtools.solvers",
    "default_iterations": "mfgtools.solvers",
    "mean_field": "mfgtools.finite.evaluation",
    "exploitability": "mfgtools.finite.evaluation",
    "best_response": "mfgtools.finite.evaluation",
    "uniform_policy": "mfgtools.finite.evaluation",
    "n_player_exploitability": "mfgtools.finite.simulate",
    "Result": "mfgtools.results",
    "load_result": "mfgtools.results",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for static analysers only
    from mfgtools.errors import MFGError
    from mfgtools.finite.evaluation import best_response, exploitability, mean_field, uniform_policy
    from mfgtools.finite.simulate import n_player_exploitability
    from mfgtools.games import list_games, make_game
    from mfgtools.results import Result, load_result
    from mfgtools.solvers import default_iterations, list_solvers, solve, solve_seeds
    from mfgtools.sweeps import sweep
    from mfgtools.tuning import tune


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # cache: later lookups skip this hook
        return value
    # Submodules (``mfgtools.finite.kernels``, ``mfgtools.plotting``, ...) stay reachable as
    # attributes after a bare ``import mfgtools``, as they were with eager imports.
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
