"""Solvers: registry, one compiled program per run, convergence, Result contents."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import covering_runs, covering_selection, run_covering_half

import mfgtools
from mfgtools import solvers
from mfgtools.errors import MFGError
from mfgtools.registry import requirement_name, satisfies


def test_default_iterations_are_the_solvers():
    assert mfgtools.default_iterations("omd") == 100
    assert mfgtools.default_iterations("dec-pomfc") == mfgtools.default_iterations("ippo") == 2000
    game = mfgtools.make_game("crowd", map="empty:3", horizon=3)
    assert mfgtools.solve(game, "omd").iterations == 100
    with pytest.raises(MFGError, match="unknown solver 'nope'"):
        mfgtools.solve(game, "nope")


def test_every_game_and_every_solver_runs_and_incompatible_pairs_are_refused():
    """Every game in every mode runs a solver; every solver runs on each kind of game in each mode it declares
    (a covering set, not the whole product: each run compiles); every incompatible pair is refused in one line.
    The runs are split over this module and test_solvers_covering_second_half.py, so that pytest's two workers
    share them; each half checks that the whole selection covers everything."""
    instances, runs, refused = covering_selection()
    games, specs = mfgtools.list_games(), mfgtools.list_solvers()
    for index, solver_name in refused:
        name, mode, game = instances[index]
        spec = specs[solver_name]
        needed = re.escape(requirement_name(spec.requires))
        expected = (
            f"needs a {needed} game.*{needed} games: "
            if not satisfies(games[name].kind, spec.requires)
            else f"needs a .*{spec.modes[0]}"
        )
        with pytest.raises(MFGError, match=expected):
            mfgtools.solve(game, solver_name, iterations=2)
    run_covering_half(instances, runs, half=0)


def test_the_covering_set_covers_games_solvers_kinds_and_modes():
    """The selection itself, on a made-up registry: nothing is left out, nothing runs twice without need."""

    class Spec:
        def __init__(self, requires, modes):
            self.requires, self.modes = requires, modes

    instances = [
        ("a", "finite-horizon", None),
        ("a", "stationary", None),
        ("b", "finite-horizon", None),
        ("g", "finite-horizon", None),
        ("w", "finite-horizon", None),
    ]
    kinds = {"a": "finite", "b": "finite", "g": "graphex", "w": "swarm"}
    specs = {
        "omd": Spec("finite", ("finite-horizon",)),
        "pma": Spec("finite", ("finite-horizon", "stationary")),
        "hyb": Spec("graphex", ("finite-horizon",)),
        "swarm": Spec("swarm", ("finite-horizon",)),
    }
    runs, refused = covering_runs(instances, specs, kinds)
    assert runs == {(0, "omd"), (0, "pma"), (1, "pma"), (2, "omd"), (3, "omd"), (3, "pma"), (3, "hyb"), (4, "swarm")}
    assert (4, "omd") in refused and (1, "omd") in refused and (0, "hyb") in refused and (3, "swarm") in refused
    assert not runs & set(refused) and len(runs | set(refused)) == 19  # of 20 pairs, only (2, pma) is left out:
    # game b ran omd, and pma ran on a finite game in that mode


def test_iterating_never_retraces():
    game = mfgtools.make_game("crowd", map="empty:4", horizon=4, mu0=(0, 0))
    mfgtools.solve(game, "omd", iterations=45, learning_rate=0.3)  # chunks of 2 and a partial one
    count = solvers.TRACE_COUNT["OnlineMirrorDescent"]
    result = mfgtools.solve(game, "omd", iterations=45, learning_rate=0.3)
    assert solvers.TRACE_COUNT["OnlineMirrorDescent"] == count
    assert len(result.metrics["exploitability"]) == 46
    assert np.isfinite(result.metrics["exploitability"]).all()


def test_chunked_run_equals_one_long_scan():
    game = mfgtools.make_game("crowd", map="empty:4", horizon=4, mu0=(0, 0))
    long = mfgtools.solve(game, "omd", iterations=45, learning_rate=0.3)
    short = mfgtools.solve(game, "omd", iterations=7, learning_rate=0.3)
    np.testing.assert_allclose(long.metrics["exploitability"][:8], short.metrics["exploitability"], rtol=1e-5)


def test_mirror_descent_converges_on_four_rooms_exploration():
    game = mfgtools.make_game("crowd", map="four_rooms", task="exploration", horizon=20)
    result = mfgtools.solve(game, "omd", iterations=150, learning_rate=0.1)
    curve = result.metrics["exploitability"]
    assert curve[0] > 10.0
    assert curve[-1] < 0.05 * curve[0]
    explored = (result.mean_field[-1] > 1e-3).sum()
    assert explored > 40  # the crowd spreads over the rooms


def test_fixed_point_solvers_agree_with_regularised_equilibrium():
    """Boltzmann iteration's fixed point is the entropy-regularised equilibrium."""
    game = mfgtools.make_game("crowd_modelling", horizon=4, openspiel_quirks=False)
    result = mfgtools.solve(game, "boltzmann", iterations=60, temperature=1.0, damping=0.5)
    regularised = mfgtools.exploitability(game, result.policy, temperature=1.0)
    assert regularised < 1e-3


@pytest.mark.parametrize(
    "solver, params, message",
    [
        ("simplex", {}, "unknown solver"),
        ("omd", {"learning_rate": -1}, "learning_rate must be >"),
        ("omd", {"learning_rate": "fast"}, "must be a number"),
        ("omd", {"momentum": 0.9}, "no parameter 'momentum'"),
        ("fixed-point", {"damping": 0}, "damping must be >"),
    ],
)
def test_solver_errors(solver, params, message):
    game = mfgtools.make_game("crowd_modelling", horizon=2)
    with pytest.raises(MFGError, match=message):
        mfgtools.solve(game, solver, iterations=1, **params)


def test_iterations_are_validated():
    game = mfgtools.make_game("crowd_modelling", horizon=2)
    with pytest.raises(MFGError, match="iterations must be at least 0"):
        mfgtools.solve(game, "omd", iterations=-3)
    assert len(mfgtools.solve(game, "omd", iterations=0).metrics["exploitability"]) == 1
