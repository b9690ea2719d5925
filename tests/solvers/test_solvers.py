"""Solvers: registry, one compiled program per run, convergence, Result contents."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import COVERED_ELSEWHERE, TINY_GAMES, tiny_instances, tiny_solver_params

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


# swarm games whose end-to-end solve (a policy-gradient compile of about 20 s each) another test already does
SOLVED_ELSEWHERE = {
    "kuramoto": "test_swarm_results.py::test_cli_solves_a_swarm_game_with_dec_pomfc_by_default",
    "vicsek": "test_swarm_results.py (the results fixture)",
}


def covering_runs(instances, solver_specs, game_kinds):
    """The (game, solver) runs that cover every game in every mode and every solver on every kind of game in
    every mode it declares: each game instance runs the first solver that fits it, each solver runs on the
    first instance of each (kind, mode) it fits. Returns ``{(game index, solver name)}`` and the refused pairs."""
    fits, refused = {}, []
    for index, (name, mode, _) in enumerate(instances):
        for solver_name, spec in solver_specs.items():
            if satisfies(game_kinds[name], spec.requires) and mode in spec.modes:
                fits.setdefault(index, []).append(solver_name)
            else:
                refused.append((index, solver_name))
    runs = {(index, solvers_[0]) for index, solvers_ in fits.items()}
    for solver_name in solver_specs:
        seen = set()
        for index, (name, mode, _) in enumerate(instances):
            if solver_name in fits.get(index, ()) and (game_kinds[name], mode) not in seen:
                seen.add((game_kinds[name], mode))
                runs.add((index, solver_name))
    return runs, refused


def test_every_game_and_every_solver_runs_and_incompatible_pairs_are_refused():
    """Every game in every mode runs a solver; every solver runs on each kind of game in each mode it declares
    (a covering set, not the whole product: each run compiles); every incompatible pair is refused in one line."""
    games = mfgtools.list_games()
    assert set(TINY_GAMES) | COVERED_ELSEWHERE == set(games)
    instances = list(tiny_instances())
    specs = mfgtools.list_solvers()
    runs, refused = covering_runs(instances, specs, {name: spec.kind for name, spec in games.items()})
    runs = {(index, solver) for index, solver in runs if instances[index][0] not in SOLVED_ELSEWHERE}
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
    pairs = set()
    for index, solver_name in sorted(runs):
        name, mode, game = instances[index]
        assert game.mode == mode
        pairs.add((solver_name, mode))
        result = mfgtools.solve(
            game, solver_name, iterations=2, progress=False, **tiny_solver_params(solver_name, game)
        )
        if game.kind == "swarm":  # mean-field control: returns, a decentralised policy, a histogram flow
            grid = game.observation_grid()
            assert result.policy.shape == (game.horizon, len(grid), game.n_actions)
            np.testing.assert_allclose(result.policy.sum(-1), 1.0, atol=1e-5)
            assert result.mean_field.shape == (game.horizon + 1, *game.histogram_shape)
            np.testing.assert_allclose(result.mean_field.reshape(game.horizon + 1, -1).sum(-1), 1.0, atol=1e-5)
            assert len(result.metrics["return"]) == 3 and np.isfinite(result.metrics["return"]).all()
            assert result.swarm_policy is not None
            continue
        assert result.policy.shape == game.policy_shape
        np.testing.assert_allclose(result.policy.sum(-1), 1.0, atol=1e-5)
        assert (result.policy >= 0).all()
        np.testing.assert_allclose(result.mean_field.sum(-1), 1.0, atol=1e-5)
        assert len(result.metrics["exploitability"]) == 3
        assert (result.metrics["exploitability"] >= -1e-4).all()
    # every game in every mode ran (here, or in the test named in SOLVED_ELSEWHERE)
    assert {index for index, _ in runs} | {
        index for index, (name, _, _) in enumerate(instances) if name in SOLVED_ELSEWHERE
    } == set(range(len(instances)))
    # every solver ran in every mode it declares
    assert pairs == {(name, mode) for name, spec in specs.items() for mode in spec.modes}


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
