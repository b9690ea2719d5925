"""The contract every registered game keeps, checked over the whole registry at tiny sizes.

A game is a pytree (flattens and rebuilds to an equal game, its sizes static);
its uniform policy lies on the simplex of legal actions; the flow of any
policy conserves mass and stays non-negative; exploitability is finite and
>= 0; the jitted evaluation compiles once per game and shape, not once per
policy. The solver side of the contract (every solver on every kind of game
and mode) is ``test_solvers.py::test_every_game_and_every_solver_runs...``.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from helpers import tiny_instances

import mfgtools
from mfgtools import evaluation

INSTANCES = list(tiny_instances(every=True))
FINITE = [(name, mode, game) for name, mode, game in INSTANCES if game.kind != "swarm"]


def ids(instances):
    return [f"{name}-{mode}" for name, mode, _ in instances]


@pytest.mark.parametrize("name, mode, game", INSTANCES, ids=ids(INSTANCES))
def test_every_game_is_a_pytree_with_static_sizes(name, mode, game):
    leaves, treedef = jax.tree_util.tree_flatten(game)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert type(rebuilt) is type(game) and rebuilt.name == game.name
    for before, after in zip(leaves, jax.tree_util.tree_leaves(rebuilt)):
        np.testing.assert_array_equal(np.asarray(before), np.asarray(after))
    assert all(hasattr(leaf, "shape") for leaf in leaves), "every leaf is an array; sizes and settings are static"
    # the same game built twice has the same structure: a jitted function of it compiles once
    again = mfgtools.make_game(
        name, **({"mode": mode} if len(mfgtools.list_games()[name].modes) > 1 else {}), **_params(name)
    )
    assert jax.tree_util.tree_structure(again) == treedef


def _params(name):
    from helpers import TINY_GAMES

    return TINY_GAMES.get(name, {})


@pytest.mark.parametrize("name, mode, game", FINITE, ids=ids(FINITE))
def test_every_finite_game_keeps_the_evaluation_contract(name, mode, game):
    uniform = mfgtools.uniform_policy(game)
    assert uniform.shape == game.policy_shape
    np.testing.assert_allclose(uniform.sum(-1), 1.0, atol=1e-6)
    legal = np.broadcast_to(np.asarray(game.action_mask), uniform.shape)
    assert (uniform[~legal] == 0).all() and (uniform[legal] > 0).all()

    flow = mfgtools.mean_field(game, uniform)
    assert np.isfinite(flow).all() and (flow >= -1e-7).all()
    np.testing.assert_allclose(flow.sum(-1), 1.0, atol=1e-5)  # mass is conserved at every step

    before = evaluation._exploitability._cache_size()
    first = mfgtools.exploitability(game, uniform)
    compiled = evaluation._exploitability._cache_size()
    assert compiled <= before + 1
    # another policy of the same shape (half on the first legal action, half uniform): the same program
    first_legal = np.where(legal & (np.cumsum(legal, axis=-1) == 1), 1.0, 0.0).astype(uniform.dtype)
    second = mfgtools.exploitability(game, 0.5 * uniform + 0.5 * first_legal)
    assert evaluation._exploitability._cache_size() == compiled, "a new policy must not recompile"
    assert np.isfinite(first) and np.isfinite(second) and first >= 0.0 and second >= 0.0


def test_every_game_belongs_to_a_declared_family_whose_default_solver_runs_it():
    from mfgtools.registry import FAMILIES, family_of, satisfies

    solvers = mfgtools.list_solvers()
    for name, spec in mfgtools.list_games().items():
        assert spec.kind in FAMILIES, f"{name}: kind {spec.kind!r} is not a declared family"
        family = family_of(spec.kind)
        default = solvers[family.default_solver]
        assert satisfies(spec.kind, default.requires), f"{name}: default solver {family.default_solver} refuses it"
        assert set(spec.modes) & set(default.modes), f"{name}: default solver {family.default_solver} has no mode"
    # the family is read from a game, a saved dataset's attributes or a kind name alike
    game = INSTANCES[0][2]
    assert family_of(game) is family_of(game.kind) is family_of(type("Saved", (), {"attrs": {"kind": game.kind}})())
    assert family_of("swarm").particles and family_of("swarm").headline == "return"
    assert not family_of("graphex").particles and family_of("graphex").headline == "exploitability"


# ----- parameters declared once (mfgtools.registry.Parameter) ------------------------------------------
def _declared_value(solver, key):
    """The value a built solver holds for its parameter ``key`` (its own field, or its learner's); None when
    the parameter is not stored under its name (fp's ``alpha`` becomes ``damping``)."""
    import dataclasses

    for holder in (solver, getattr(solver, "learner", None)):
        if holder is not None and key in {field.name for field in dataclasses.fields(holder)}:
            value = getattr(holder, key)
            return True, getattr(value, "value", value)  # an Annotation records its value
    return False, None


def test_every_parameter_is_declared_once_with_a_default_that_passes_its_check():
    import dataclasses
    import inspect

    from mfgtools.solvers import make_solver

    registries = {"game": mfgtools.list_games(), "solver": mfgtools.list_solvers()}
    for what, entries in registries.items():
        for name, entry in entries.items():
            if not isinstance(entry.builder, type):
                signature = inspect.signature(entry.builder)
                repeated = [k for k, p in signature.parameters.items() if p.default is not inspect.Parameter.empty]
                assert not repeated, f"{what} {name!r}: its builder repeats the defaults of {repeated}"
                named = {k for k, p in signature.parameters.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}
                assert named <= set(entry.parameters), f"{what} {name!r}: builder arguments not declared"
            for key, parameter in entry.parameters.items():
                assert parameter.help.strip(), f"{what} {name!r}: parameter {key!r} has no help"
                parameter.validate(parameter.default, key)  # a default its own check refuses raises here
    for name, entry in registries["solver"].items():
        solver = make_solver(name)
        fields = {field.name: field for field in dataclasses.fields(solver)}
        for key, parameter in entry.parameters.items():
            default = parameter.validate(parameter.default, key)
            stored, value = _declared_value(solver, key)
            if stored:
                assert value == default, f"solver {name!r}: {key} is {value!r} when built, declared {default!r}"
            declared_on_field = key in fields and fields[key].metadata.get("parameter")
            if declared_on_field:  # one declaration: the registry's is the field's
                assert declared_on_field == parameter, f"solver {name!r}: {key} declared twice, differently"


def test_a_registered_builder_validates_a_direct_call_like_the_registry():
    from mfgtools.errors import MFGError
    from mfgtools.games.garnet import make_garnet

    game = make_garnet(size="4", horizon=3)  # the registry's checks convert, its defaults fill in
    assert game.n_states == 4 and game.horizon == 3 and game.parameters["num_action"] == 3
    with pytest.raises(MFGError, match=r"^size must be at least 1, got 0$"):
        make_garnet(size=0)
    with pytest.raises(MFGError, match="game 'garnet' has no parameter 'sise'"):
        make_garnet(sise=3)


# ----- the Game and Solver protocols (mfgtools.protocols) ----------------------------------------------
@pytest.mark.parametrize("name, mode, game", INSTANCES, ids=ids(INSTANCES))
def test_every_game_satisfies_the_protocol_of_its_family(name, mode, game):
    from mfgtools.protocols import FiniteGameProtocol, Game, SwarmGameProtocol
    from mfgtools.registry import family_of

    assert isinstance(game, Game)
    family = SwarmGameProtocol if family_of(game).particles else FiniteGameProtocol
    assert isinstance(game, family), f"{name}: lacks part of {family.__name__}"
    assert game.kind == mfgtools.list_games()[name].kind and game.mode == mode


def test_every_solver_satisfies_the_solver_protocol_and_the_families_share_a_base():
    from mfgtools.protocols import Solver
    from mfgtools.solvers import make_solver
    from mfgtools.solvers.base import FiniteSolver, SolverBase, SwarmSolver

    for name in mfgtools.list_solvers():
        solver = make_solver(name)
        assert isinstance(solver, Solver), name
        assert isinstance(solver, SolverBase) and jax.tree_util.tree_structure(solver) is not None
    assert not issubclass(SwarmSolver, FiniteSolver) and issubclass(SwarmSolver, SolverBase)
    assert not isinstance(object(), Solver)


def test_every_solver_state_is_a_typed_dataclass_declared_with_the_solvers():
    import dataclasses

    from mfgtools.registry import satisfies
    from mfgtools.solvers import make_solver

    for name, spec in mfgtools.list_solvers().items():
        game = next(
            g for _, mode, g in INSTANCES if satisfies(g.kind, spec.kind) and mode in spec.modes and g.kind != "joint"
        )
        solver = make_solver(name)
        state = jax.eval_shape(lambda key, solver=solver, game=game: solver.init(game, key), jax.random.PRNGKey(0))
        assert dataclasses.is_dataclass(state) and not isinstance(state, dict), f"{name}: {type(state).__name__}"
        assert type(state).__module__.startswith("mfgtools.solvers."), f"{name}: {type(state).__module__}"
