"""mfgtools: exact and learned equilibria of mean-field games in JAX.

Quick start::

    import mfgtools
    game = mfgtools.make_game("crowd", map="four_rooms", task="exploration")
    result = mfgtools.solve(game, "omd", iterations=100)
    result.metrics["exploitability"][-1]
    result.to_xarray()
"""

from mfgtools.errors import MFGError
from mfgtools.evaluation import best_response, exploitability, mean_field, uniform_policy
from mfgtools.games import list_games, make_game
from mfgtools.results import Result, load_result
from mfgtools.solvers import list_solvers, solve

__version__ = "0.1.0"

__all__ = [
    "MFGError", "make_game", "list_games", "solve", "list_solvers", "mean_field",
    "exploitability", "best_response", "uniform_policy", "Result", "load_result",
]
