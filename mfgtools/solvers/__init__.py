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
from mfgtools.registry import Entry, Parameter, Registry
from mfgtools.games.base import FiniteGame
from mfgtools.results import Result


def _load_builtin_solvers() -> None:
    from mfgtools.solvers import d_momd, fictitious_play, mirror_descent, off_mmd  # noqa: F401  (registration)


SOLVERS = Registry("solver", _load_builtin_solvers)
SolverSpec = Entry
# Number of times the chunk program has been traced, per solver class (tests use it
# to check that iterating never retraces).
TRACE_COUNT: dict[str, int] = {}


def register_solver(name: str, description: str, parameters: dict[str, Parameter], requires: str = "finite"):
    """Decorator registering ``factory(**params) -> solver``; ``requires``: the game family it needs."""
    return SOLVERS.register(name, description, parameters, kind=requires)


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
    kind = "finite" if isinstance(game, FiniteGame) else getattr(game, "kind", type(game).__name__)
    if spec.kind != kind:
        raise MFGError(
            f"solver {spec.name!r} needs a {spec.kind} game, but {getattr(game, 'name', kind)!r} is {kind}"
        )


def _chunk_size(iterations: int) -> int:
    return max(1, min(50, iterations // 20))


@partial(jax.jit, static_argnames=("length",), donate_argnames=("state",))
def _run_chunk(solver, game, state, key, active, length):
    """``length`` iterations as one scan; iterations ``>= active`` are skipped.

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


@jax.jit
def _final(solver, game, state):
    policy = solver.policy(game, state)
    return policy, kernels.mean_field(game, policy), solver.evaluate(game, policy)


def solve(game, solver: str, iterations: int = 100, seed: int = 0, progress: bool = False,
          checkpoint=None, checkpoint_every: int | None = None, resume: bool = False, callback=None,
          **solver_params) -> Result:
    """Run ``solver`` on ``game`` for ``iterations`` iterations.

    Returns a :class:`~mfgtools.results.Result` whose ``metrics["exploitability"]``
    has ``iterations + 1`` entries (entry 0: the initial policy).

    Long runs: with ``checkpoint`` (a file path) the solver state, the random
    key and the metrics so far are saved atomically between chunks, at least
    ``checkpoint_every`` iterations apart (default: after every chunk; 0: never);
    ``resume=True`` continues from that file (starting afresh when there is none)
    and ends with the same result as an uninterrupted run with the same seed.
    The file is left in place; delete it once the result is saved.
    ``callback(done, metrics)`` is called after every chunk.
    """
    spec = solver_spec(solver)
    check_compatible(game, spec)
    iterations = as_int(iterations, "iterations", 0)
    seed = as_int(seed, "seed", 0)
    every = 1 if checkpoint_every is None else as_int(checkpoint_every, "checkpoint_every", 0)
    algorithm = make_solver(solver, **solver_params)
    algorithm.check(game)
    algorithm = algorithm.prepare(game)
    start = time.perf_counter()
    key = jax.random.PRNGKey(seed)
    key, init_key = jax.random.split(key)
    state = jax.jit(algorithm.init)(game, init_key)
    chunk = algorithm.iterations_per_chunk or _chunk_size(iterations)
    identity = checkpoints.run_identity(game, solver, algorithm.settings(), seed, iterations, chunk)
    collected = []
    done = last_saved = 0
    if checkpoint is not None and resume and os.path.exists(checkpoint):
        state, key, done, collected = checkpoints.load(checkpoint, identity, state)
        last_saved = done
    bar = _progress_bar(iterations, f"{solver} on {game.name}") if progress else None
    try:
        if bar is not None and done:
            bar.update(done)
        while done < iterations:
            key, chunk_key = jax.random.split(key)
            active = min(chunk, iterations - done)
            state, metrics = _run_chunk(algorithm, game, state, chunk_key, active, length=chunk)
            metrics = jax.device_get(metrics)
            collected.append({name: np.asarray(values)[:active] for name, values in metrics.items()})
            done += active
            if checkpoint is not None and every and done < iterations and done - last_saved >= every:
                checkpoints.save(checkpoint, identity, state, key, done, collected)
                last_saved = done
            if bar is not None:
                bar.update(active)
                last = collected[-1].get("exploitability")
                if last is not None and last.size:
                    bar.set_postfix(exploitability=f"{float(last[-1]):.4g}")
            if callback is not None:
                callback(done, collected)
        policy, flow, final = jax.device_get(_final(algorithm, game, state))
        if bar is not None:
            bar.set_postfix(exploitability=f"{float(final['exploitability']):.4g}")
    finally:
        if bar is not None:
            bar.close()
    metrics = _merge_metrics(collected, final, iterations)
    return Result(
        game=game, solver=solver, solver_params=algorithm.settings(), policy=np.asarray(policy),
        mean_field=np.asarray(flow), metrics=metrics, iterations=iterations, seed=seed,
        wall_time=time.perf_counter() - start,
    )


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


__all__ = ["register_solver", "list_solvers", "make_solver", "solve", "solver_spec", "SolverSpec"]
