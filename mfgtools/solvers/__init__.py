"""Solver registry and ``solve``: every solver is a module here, registered by name.

A solver is a ``flax.struct`` dataclass (a pytree: hyperparameters static,
data such as an offline dataset as leaves; see :mod:`mfgtools.solvers.base`) with

- ``init(game, key) -> state`` (a pytree),
- ``step(game, state, key) -> (state, metrics)``: one iteration; ``metrics`` are
  scalars describing the policy *before* the update,
- ``policy(game, state) -> (T, S, A)`` and
- ``evaluate(game, policy) -> metrics`` for the final policy.

``solve`` runs the iterations in chunks of one compiled ``lax.scan`` (the same
program for every chunk, so nothing retraces) and updates a progress bar
between chunks.
"""

from __future__ import annotations

import os
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from mfgtools import checkpoints, kernels
from mfgtools.errors import MFGError, as_int
from mfgtools.registry import Entry, Parameter, Registry, satisfies
from mfgtools.results import Result


def _load_builtin_solvers() -> None:
    from mfgtools.solvers import (  # noqa: F401  (registration)
        d_momd, fictitious_play, hybrid_omd, mirror_descent, off_mmd, pma,
        dec_pomfc, ippo,
    )


SOLVERS = Registry("solver", _load_builtin_solvers)
SolverSpec = Entry
# Number of times the chunk program has been traced, per solver class (tests use it
# to check that iterating never retraces).
TRACE_COUNT: dict[str, int] = {}


DEFAULT_ITERATIONS = 100


def register_solver(name: str, description: str, parameters: dict[str, Parameter], requires: str = "finite",
                    modes: tuple = ("finite-horizon",), iterations: int = DEFAULT_ITERATIONS):
    """Decorator registering ``factory(**params) -> solver``; ``requires``: the game
    family it needs; ``modes``: the game modes it solves (finite-horizon, stationary);
    ``iterations``: the default length of a run (``solve``, the CLI)."""
    return SOLVERS.register(name, description, parameters, kind=requires, modes=modes, iterations=iterations)


def default_iterations(solver: str) -> int:
    """The number of iterations a run of ``solver`` takes unless told otherwise."""
    return SOLVERS.entry(solver).iterations


def list_solvers() -> dict[str, Entry]:
    """All registered solvers by name."""
    return SOLVERS.entries()


def solver_spec(name: str) -> Entry:
    return SOLVERS.entry(name)


def make_solver(name: str, **params):
    """Build the solver ``name`` with validated parameters."""
    return SOLVERS.build(name, **params)


def check_compatible(game, spec: Entry) -> None:
    """Clear error when a solver cannot run on a game."""
    kind = getattr(game, "kind", type(game).__name__)
    name = getattr(game, "name", kind)
    if not satisfies(kind, spec.kind):
        from mfgtools.games import GAMES

        fitting = ", ".join(n for n, entry in GAMES.entries().items() if satisfies(entry.kind, spec.kind))
        raise MFGError(f"solver {spec.name!r} needs a {spec.kind} game, but {name!r} is {kind}"
                       + (f"; {spec.kind} games: {fitting}" if fitting else ""))
    mode = getattr(game, "mode", None)
    if mode is not None and mode not in spec.modes:
        from mfgtools.games import GAMES

        needs = " or ".join(spec.modes)
        others = ", ".join(n for n, s in list_solvers().items() if mode in s.modes and s.kind == kind)
        game_modes = GAMES.entry(name).modes if name in GAMES.entries() else (mode,)
        switch = (f"play it in {needs} mode (--mode {spec.modes[0]}, or mode={spec.modes[0]!r}), or "
                  if any(m in spec.modes for m in game_modes) else "")
        raise MFGError(
            f"solver {spec.name!r} needs a {needs} game, but {name!r} is played in {mode} mode; "
            f"{switch}use a solver for {mode} games: {others or 'none yet'}"
        )


def _chunk_size(iterations: int) -> int:
    return max(1, min(50, iterations // 20))


def _chunk(solver, game, state, key, active, length):
    """``length`` iterations as one scan; iterations ``>= active`` are skipped.

    Compiled as :func:`_run_chunk` (and, vmapped over seeds, :func:`_run_chunk_seeds`).
    ``solver`` is a pytree: its hyperparameters are static (part of the program's
    identity), its data (if any) are arguments. ``state`` is donated: its buffers
    are reused for the new state (solvers such as OMD update their ``(T, S, A)``
    arrays in place), so do not use it afterwards.
    """
    TRACE_COUNT[type(solver).__name__] = TRACE_COUNT.get(type(solver).__name__, 0) + 1
    keys = jax.random.split(key, length)
    metric_shapes = jax.eval_shape(lambda s, k: solver.step(game, s, k)[1], state, keys[0])

    def body(carry, xs):
        index, step_key = xs

        def run(c):
            return solver.step(game, c, step_key)

        def skip(c):
            return c, jax.tree_util.tree_map(lambda m: jnp.full(m.shape, jnp.nan, m.dtype), metric_shapes)

        return lax.cond(index < active, run, skip, carry)

    return lax.scan(body, state, (jnp.arange(length), keys))


_run_chunk = jax.jit(_chunk, static_argnames=("length",), donate_argnames=("state",))


# the same, vmapped over a leading seed axis of ``state`` and ``key``
@partial(jax.jit, static_argnames=("length",), donate_argnames=("state",))
def _run_chunk_seeds(solver, game, state, key, active, length):
    return jax.vmap(lambda s, k: _chunk(solver, game, s, k, active, length))(state, key)


SWARM_FLOW_EPISODES = 4  # episodes whose mean field a swarm result shows


def _final_values(solver, game, state):
    """``(policy, table, mean_field, metrics, extras)`` of the final solver state.

    Finite games: ``table`` is the policy ``(T, S, A)`` itself, ``mean_field``
    its exact flow. Swarm games: ``policy`` is the decentralised swarm policy,
    ``table`` its action distributions at ``game.observation_grid()`` ``(T, G, A)``,
    ``mean_field`` the histogram flow of a few episodes of ``game.n_agents``
    agents and ``extras["order"]`` their mean order parameter ``(T+1,)``.
    """
    policy = solver.policy(game, state)
    if getattr(game, "kind", None) != "swarm":
        return None, policy, kernels.mean_field(game, policy), solver.evaluate(game, policy), {}
    from mfgtools.simulate import swarm_flow

    grid = jnp.asarray(game.observation_grid(), jnp.result_type(float))
    table = jax.vmap(lambda t: policy.probabilities(t, grid))(jnp.arange(game.horizon))
    keys = jax.random.split(jax.random.PRNGKey(1), SWARM_FLOW_EPISODES)
    histogram, order = swarm_flow(game, policy, keys, game.n_agents)
    return policy, table, histogram, solver.evaluate(game, policy), {"order": order}


_final = jax.jit(_final_values)
_final_seeds = jax.jit(jax.vmap(_final_values, in_axes=(None, None, 0)))


def _prepared(game, solver: str, solver_params: dict):
    spec = solver_spec(solver)
    check_compatible(game, spec)
    algorithm = make_solver(solver, **solver_params)
    algorithm.check(game)
    return algorithm.prepare(game)


def _seed_keys(seed: int):
    """The run key and the init key of ``seed`` (as :func:`solve` draws them)."""
    key = jax.random.PRNGKey(seed)
    return jax.random.split(key)


def solve_seeds(game, solver: str, iterations: int | None = None, seeds=(0, 1, 2, 3), progress: bool = False,
                **solver_params) -> list[Result]:
    """Run ``solver`` from several seeds at once: one compiled program, vmapped over seeds.

    Seed ``s`` gives the same iterates as ``solve(..., seed=s)`` (same keys, same
    chunks); the seeds run side by side as one batch, which is what makes many
    small stochastic runs (N-agent learners, say) cheap. Returns one
    :class:`~mfgtools.results.Result` per seed; ``wall_time`` is the whole batch's.
    ``iterations``: default :func:`default_iterations` of the solver.
    """
    iterations = as_int(default_iterations(solver) if iterations is None else iterations, "iterations", 0)
    seeds = [as_int(seed, "seed", 0) for seed in np.atleast_1d(np.asarray(seeds, dtype=object))]
    if not seeds:
        raise MFGError("seeds must name at least one seed")
    algorithm = _prepared(game, solver, solver_params)
    start = time.perf_counter()
    pairs = jnp.stack([jnp.stack(_seed_keys(seed)) for seed in seeds])  # (n, 2, key)
    keys, init_keys = pairs[:, 0], pairs[:, 1]
    state = jax.jit(jax.vmap(algorithm.init, in_axes=(None, 0)))(game, init_keys)
    chunk = algorithm.iterations_per_chunk or _chunk_size(iterations)
    collected = []
    done = 0
    bar = _progress_bar(iterations, f"{solver} on {game.name}, {len(seeds)} seeds") if progress else None
    try:
        while done < iterations:
            split = jax.vmap(jax.random.split)(keys)
            keys, chunk_keys = split[:, 0], split[:, 1]
            active = min(chunk, iterations - done)
            state, metrics = _run_chunk_seeds(algorithm, game, state, chunk_keys, active, length=chunk)
            metrics = jax.device_get(metrics)
            collected.append({name: np.asarray(values)[:, :active] for name, values in metrics.items()})
            done += active
            if bar is not None:
                bar.update(active)
        executables, policies, flows, final, extras = jax.device_get(_final_seeds(algorithm, game, state))
    finally:
        if bar is not None:
            bar.close()
    wall_time = time.perf_counter() - start
    results = []
    for index, seed in enumerate(seeds):
        mine = [{name: values[index] for name, values in chunk.items()} for chunk in collected]
        last = {name: values[index] for name, values in final.items()}
        results.append(Result(
            game=game, solver=solver, solver_params=algorithm.settings(), policy=np.asarray(policies[index]),
            mean_field=np.asarray(flows[index]), metrics=_merge_metrics(mine, last, iterations),
            iterations=iterations, seed=seed, wall_time=wall_time,
            extras={name: np.asarray(values[index]) for name, values in extras.items()},
            swarm_policy=None if executables is None else jax.tree_util.tree_map(lambda x: x[index], executables),
        ))
    return results


def solve(game, solver: str, iterations: int | None = None, seed: int = 0, progress: bool = False,
          checkpoint=None, checkpoint_every: int | None = None, resume: bool = False, callback=None,
          devices=None, **solver_params) -> Result:
    """Run ``solver`` on ``game`` for ``iterations`` iterations (default: the
    solver's :func:`default_iterations`, 100 for most).

    Returns a :class:`~mfgtools.results.Result` whose ``metrics["exploitability"]``
    has ``iterations + 1`` entries (entry 0: the initial policy). On a swarm game
    (mean-field control) the metrics are ``return`` and ``order_parameter``
    instead, and ``result.swarm_policy`` is the decentralised policy to execute.

    Long runs: with ``checkpoint`` (a file path) the solver state, the random
    key and the metrics so far are saved atomically between chunks, at least
    ``checkpoint_every`` iterations apart (default: after every chunk; 0: never);
    ``resume=True`` continues from that file (starting afresh when there is none)
    and ends with the same result as an uninterrupted run with the same seed.
    The file is left in place; delete it once the result is saved.
    ``callback(done, metrics)`` is called after every chunk.

    ``devices`` (a count, or a list of JAX devices): split this one run over
    them, the state space sharded (finite games; see :mod:`mfgtools.sharding`);
    the result is the same as on one device, up to float rounding. None: one device.
    """
    iterations = as_int(default_iterations(solver) if iterations is None else iterations, "iterations", 0)
    seed = as_int(seed, "seed", 0)
    every = 1 if checkpoint_every is None else as_int(checkpoint_every, "checkpoint_every", 0)
    algorithm = _prepared(game, solver, solver_params)
    split = None
    if devices is not None:  # one run over several devices: mfgtools.sharding places and runs it
        from mfgtools.sharding import SpaceRun

        split = SpaceRun(game, algorithm, devices)
    start = time.perf_counter()
    key, init_key = _seed_keys(seed)
    state = jax.jit(algorithm.init)(game, init_key) if split is None else split.init(init_key)
    chunk = algorithm.iterations_per_chunk or _chunk_size(iterations)
    identity = checkpoints.run_identity(game, solver, algorithm.settings(), seed, iterations, chunk)
    collected = []
    done = last_saved = 0
    if checkpoint is not None and resume and os.path.exists(checkpoint):
        template = state if split is None else split.fetch(state)  # a split state is padded: its true shapes
        state, key, done, collected = checkpoints.load(checkpoint, identity, template)
        if split is not None:
            state = split.put(state)
        last_saved = done
    bar = _progress_bar(iterations, f"{solver} on {game.name}") if progress else None
    try:
        if bar is not None and done:
            bar.update(done)
        while done < iterations:
            key, chunk_key = jax.random.split(key)
            active = min(chunk, iterations - done)
            if split is None:
                state, metrics = _run_chunk(algorithm, game, state, chunk_key, active, length=chunk)
            else:
                state, metrics = split.chunk(state, chunk_key, active, length=chunk)
            metrics = jax.device_get(metrics)
            collected.append({name: np.asarray(values)[:active] for name, values in metrics.items()})
            done += active
            if checkpoint is not None and every and done < iterations and done - last_saved >= every:
                checkpoints.save(checkpoint, identity, state if split is None else split.fetch(state), key, done,
                                 collected)
                last_saved = done
            if bar is not None:
                bar.update(active)
                headline = _headline(collected[-1])
                if headline is not None:
                    bar.set_postfix({headline: f"{float(collected[-1][headline][-1]):.4g}"})
            if callback is not None:
                callback(done, collected)
        executable, policy, flow, final, extras = (_final(algorithm, game, state) if split is None
                                                   else split.final(state))
        policy, flow, final, extras = jax.device_get((policy, flow, final, extras))
        if bar is not None and _headline(final) is not None:
            bar.set_postfix({_headline(final): f"{float(final[_headline(final)]):.4g}"})
    finally:
        if bar is not None:
            bar.close()
    metrics = _merge_metrics(collected, final, iterations)
    return Result(
        game=game, solver=solver, solver_params=algorithm.settings(), policy=np.asarray(policy),
        mean_field=np.asarray(flow), metrics=metrics, iterations=iterations, seed=seed,
        wall_time=time.perf_counter() - start, extras={name: np.asarray(v) for name, v in extras.items()},
        swarm_policy=executable,
    )


def _headline(metrics: dict):
    """The metric a progress bar shows: exploitability (games), else return (swarm control)."""
    for name in ("exploitability", "return"):
        values = metrics.get(name)
        if values is not None and np.size(values):
            return name
    return None


def _merge_metrics(collected: list[dict], final: dict, iterations: int) -> dict:
    """Per-iteration metrics plus the final entry; NaN where a metric is missing."""
    names = list(final) + [name for chunk in collected for name in chunk if name not in final]
    names = list(dict.fromkeys(names))
    merged = {}
    for name in names:
        parts = [np.asarray(c[name], dtype=np.float64) if name in c
                 else np.full(len(next(iter(c.values()))), np.nan) for c in collected]
        last = np.atleast_1d(np.asarray(final.get(name, np.nan), dtype=np.float64))
        merged[name] = np.concatenate(parts + [last])
    return merged


def _progress_bar(total: int, label: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="it", dynamic_ncols=True)


__all__ = ["register_solver", "default_iterations", "list_solvers", "make_solver", "solve", "solve_seeds", "solver_spec", "SolverSpec"]
