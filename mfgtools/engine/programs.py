"""The pure programs of a run: initialise, advance some iterations, finish, or all three at once.

A run of a solver on a game is described by pure functions of explicit
arrays, written once here and reused by every way of executing runs (one run,
seeds vmapped, a sweep sharded over devices, one run split over devices):

- :func:`init` ``(solver, game, key) -> Carry``: the solver's state plus the
  best iterate seen so far (finite games; see :class:`Best`).
- :func:`advance` ``(solver, game, carry, key, start, count, cap)``: iterations
  ``start .. start + count - 1``; ``count`` is a traced integer (at most the
  static ``cap``), so one compiled program runs chunks of any length. The key of
  iteration ``i`` is ``fold_in(key, i)``: iterates do not depend on how a run is
  cut into chunks (a whole run in one program, chunks sized by time, a run
  resumed from a checkpoint all give the same iterates). Metrics come back in
  buffers of length ``cap`` (NaN past ``count``).
- :func:`finish` ``(solver, game, carry) -> Final``: the final policy, its mean
  field and metrics, and the best iterate with its mean field.
- :func:`whole_run` ``(solver, game, run_key, init_key, iterations, cap)``: the
  three in one program, the shape of purejaxrl's ``train(key)``: pure, so it can
  be used inside a user's own ``jit`` or ``vmap``.

Early stopping (MFGLib's ``atol``/``rtol``): a carry built with a :class:`Stop`
(``init(..., stop=tolerance(atol, rtol))``) ends its run at the first iterate
``k`` whose exploitability is at most ``atol + rtol *`` (that of iterate 0),
inside the compiled program: iteration ``k``'s update is discarded, so the run
holds iterates ``0..k`` and its final policy is iterate ``k``; every iterate up
to it is the one a run without tolerance computes. The tolerances are traced
values (one program for all of them); a carry without a :class:`Stop` runs the
programs unchanged.

The jitted versions (:data:`PROGRAMS`) are built once per process and cached by
JAX on the solver's and game's static settings and shapes: a second ``solve``
of the same game and solver compiles nothing.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax import lax

from mfgtools.registry import family_of

# Number of times the advance program has been traced, per solver class (tests use it to
# check that iterating never retraces).
TRACE_COUNT: dict[str, int] = {}

SWARM_FLOW_EPISODES = 4  # episodes whose mean field a swarm result shows


def is_swarm(game) -> bool:
    """Swarm games (mean-field control with particles) have no exact policy table or flow."""
    return family_of(game).particles


def headline_metric(game) -> tuple[str, bool]:
    """``(metric, higher_is_better)`` that judges a run on ``game``, as its family declares (return on swarm
    games, exploitability otherwise)."""
    family = family_of(game)
    return family.headline, family.higher_is_better


@struct.dataclass
class Best:
    """The best iterate so far by the headline metric (exploitability): its value, iteration and policy table."""

    value: jax.Array  # () float; +inf before the first iteration
    iteration: jax.Array  # () int32; -1 before the first iteration
    policy: jax.Array  # the policy table, (T, S, A) or (S, A)


@struct.dataclass
class Stop:
    """Early stopping of a run: stop at the first iterate whose headline metric (exploitability) is at most
    ``atol + rtol * initial``; every field a () array (a leading run axis in a batch)."""

    atol: jax.Array  # () float
    rtol: jax.Array  # () float
    initial: jax.Array  # () float: the exploitability of iterate 0; NaN until the first iteration
    at: jax.Array  # () int32: the iterate at which the run stopped (its length), -1 while it runs


def tolerance(atol=None, rtol=None) -> Stop | None:
    """The :class:`Stop` of ``atol``/``rtol`` (None for either means 0, as MFGLib); None when both are None."""
    if atol is None and rtol is None:
        return None
    dtype = jnp.result_type(float)
    return Stop(
        jnp.asarray(0.0 if atol is None else atol, dtype),
        jnp.asarray(0.0 if rtol is None else rtol, dtype),
        jnp.asarray(jnp.nan, dtype),
        jnp.asarray(-1, jnp.int32),
    )


@struct.dataclass
class Carry:
    """What a run carries between iterations: the solver's state, the best iterate (or None) and the early
    stopping of the run (a :class:`Stop`, or None: run every iteration)."""

    state: Any
    best: Best | None = None
    stop: Stop | None = None


@struct.dataclass
class Final:
    """The end of a run: ``executable`` (swarm policy, else None), the policy table, its mean field,
    the final metrics and extras; the best iterate (finite games: iteration, policy, mean field)."""

    executable: Any
    policy: jax.Array
    mean_field: jax.Array
    metrics: dict
    extras: dict
    best_iteration: Any = None
    best_policy: Any = None
    best_mean_field: Any = None
    stopped_at: Any = None  # with a Stop: the iterate at which the run stopped early (its length), -1: it did not


def _tracks_best(game) -> bool:
    return not is_swarm(game)


def init(solver, game, key, stop: Stop | None = None) -> Carry:
    """The solver's initial state and an empty best iterate; ``stop``: early stopping (:func:`tolerance`)."""
    state = solver.init(game, key)
    if not _tracks_best(game):
        if stop is not None:
            from mfgtools.errors import MFGError

            raise MFGError(
                f"atol/rtol stop a run on its exploitability; {getattr(game, 'name', 'this game')!r} "
                "is a swarm game (mean-field control), which reports a return"
            )
        return Carry(state)
    table = jax.eval_shape(solver.policy, game, state)
    dtype = jnp.result_type(float)
    best = Best(jnp.asarray(jnp.inf, dtype), jnp.asarray(-1, jnp.int32), jnp.zeros(table.shape, table.dtype))
    return Carry(state, best, stop)


def metric_shapes(solver, game, state):
    """Shapes and dtypes of the metrics one iteration reports (abstract evaluation only)."""
    return jax.eval_shape(lambda s, k: solver.step(game, s, k)[1], state, jax.random.PRNGKey(0))


def advance(solver, game, carry: Carry, key, start, count, cap: int):
    """Iterations ``start .. start + count - 1`` (``count <= cap``, traced); returns ``(carry, metrics)``.

    ``metrics``: each metric in a buffer of ``cap`` entries (one per iteration of
    this chunk, NaN past ``count``); entry ``i`` describes the policy before
    iteration ``start + i``. The best iterate is updated from the headline metric.
    With a :class:`Stop` in the carry the loop ends at the iterate that meets the
    tolerance (its update discarded, its entry left NaN; see :func:`tolerance`).
    """
    TRACE_COUNT[type(solver).__name__] = TRACE_COUNT.get(type(solver).__name__, 0) + 1
    shapes = metric_shapes(solver, game, carry.state)
    buffers = {name: jnp.full((cap,) + s.shape, jnp.nan, s.dtype) for name, s in shapes.items()}
    headline, _ = headline_metric(game)

    def body(i, loop):
        carry, buffers = loop
        iteration = start + i
        before = solver.policy(game, carry.state) if carry.best is not None else None
        state, metrics = solver.step(game, carry.state, jax.random.fold_in(key, iteration))
        best = carry.best
        if best is not None and headline in metrics:
            value = metrics[headline].astype(best.value.dtype)
            best = lax.cond(
                value < best.value,  # NaN never counts as better
                lambda: Best(value, iteration.astype(jnp.int32), before.astype(best.policy.dtype)),  # type: ignore[union-attr]
                lambda: best,
            )
        buffers = {
            name: lax.dynamic_update_index_in_dim(buffers[name], metrics[name].astype(buffers[name].dtype), i, 0)
            for name in buffers
        }
        return Carry(state, best), buffers

    if carry.stop is None:
        return lax.fori_loop(0, count, body, (carry, buffers))
    return _advance_until(solver, game, carry, buffers, key, start, count, headline)


def _advance_until(solver, game, carry: Carry, buffers, key, start, count, headline):
    """:func:`advance` with early stopping: the same iterations while no iterate meets the carry's tolerance."""
    if headline not in metric_shapes(solver, game, carry.state):
        from mfgtools.errors import MFGError

        raise MFGError(
            f"atol/rtol stop a run on its {headline}, which solver {type(solver).__name__} "
            "does not report per iteration"
        )

    def running(loop):
        i, carry, _ = loop
        return (i < count) & (carry.stop.at < 0)

    def body(loop):
        i, carry, buffers = loop
        iteration = start + i
        before = solver.policy(game, carry.state)
        state, metrics = solver.step(game, carry.state, jax.random.fold_in(key, iteration))
        stop, best = carry.stop, carry.best
        value = metrics[headline].astype(stop.initial.dtype)
        initial = jnp.where(iteration == 0, value, stop.initial)
        met = value <= stop.atol + stop.rtol * initial  # NaN never meets it
        # the iterate that meets the tolerance ends the run: its update is discarded
        state = jax.tree_util.tree_map(lambda old, new: jnp.where(met, old, new), carry.state, state)
        better = (value.astype(best.value.dtype) < best.value) & ~met
        best = lax.cond(
            better,
            lambda: Best(value.astype(best.value.dtype), iteration.astype(jnp.int32), before.astype(best.policy.dtype)),
            lambda: best,
        )
        buffers = {
            name: lax.dynamic_update_index_in_dim(
                buffers[name], jnp.where(met, buffers[name][i], metrics[name].astype(buffers[name].dtype)), i, 0
            )
            for name in buffers
        }
        stop = stop.replace(initial=initial, at=jnp.where(met, iteration.astype(jnp.int32), stop.at))
        return i + 1, Carry(state, best, stop), buffers

    _, carry, buffers = lax.while_loop(running, body, (jnp.zeros((), jnp.int32), carry, buffers))
    return carry, buffers


def finish(solver, game, carry: Carry, iterations=None) -> Final:
    """The final values of a run (see :class:`Final`); ``iterations``: the index of the final iterate.

    Finite games: the policy table, its exact flow and ``solver.evaluate``; the
    best iterate is the final one if it beats every earlier one. Swarm games:
    the decentralised policy, its table at ``game.observation_grid()`` ``(T, G, A)``,
    the histogram flow of a few episodes of ``game.n_agents`` agents and
    ``extras["order"]``, their mean order parameter ``(T+1,)``.
    """
    state = carry.state
    policy = solver.policy(game, state)
    stopped_at = None
    if carry.stop is not None:
        stopped_at = carry.stop.at
        if iterations is not None:
            iterations = jnp.where(stopped_at >= 0, stopped_at, iterations)
    if is_swarm(game):
        from mfgtools.swarm.rollouts import swarm_flow

        grid = jnp.asarray(game.observation_grid(), jnp.result_type(float))
        table = jax.vmap(lambda t: policy.probabilities(t, grid))(jnp.arange(game.horizon))
        keys = jax.random.split(jax.random.PRNGKey(1), SWARM_FLOW_EPISODES)
        histogram, order = swarm_flow(game, policy, keys, game.n_agents)
        return Final(policy, table, histogram, solver.evaluate(game, policy), {"order": order})
    from mfgtools.finite import kernels

    metrics = solver.evaluate(game, policy)
    final = Final(None, policy, kernels.mean_field(game, policy), metrics, {}, stopped_at=stopped_at)
    best = carry.best
    if best is None:
        return final
    headline, _ = headline_metric(game)
    value = metrics.get(headline, jnp.nan)
    last = jnp.asarray(-1 if iterations is None else iterations, jnp.int32)
    take_last = (value < best.value) | (best.iteration < 0)
    best_policy = jnp.where(take_last, policy, best.policy)
    best_flow = lax.cond(take_last, lambda: final.mean_field, lambda: kernels.mean_field(game, best.policy))
    return final.replace(  # type: ignore[attr-defined]  # flax struct dataclasses add replace
        best_iteration=jnp.where(take_last, last, best.iteration), best_policy=best_policy, best_mean_field=best_flow
    )


def run_keys(key):
    """``(run_key, init_key)`` of a run's seed key ``jax.random.PRNGKey(seed)``."""
    run_key, init_key = jax.random.split(key)
    return run_key, init_key


def whole_run(solver, game, key, iterations, cap: int, stop: Stop | None = None):
    """A whole run in one program: ``(Final, metrics)`` with metric buffers of ``cap`` entries.

    ``key``: the run's seed key, ``jax.random.PRNGKey(seed)`` (split into the run
    key and the init key as :func:`run_keys` does, inside the program).
    ``stop``: early stopping (:func:`tolerance`); ``Final.stopped_at`` then says where the run ended.
    """
    run_key, init_key = run_keys(key)
    carry = init(solver, game, init_key, stop)
    carry, metrics = advance(solver, game, carry, run_key, jnp.zeros((), jnp.int32), iterations, cap)
    return finish(solver, game, carry, iterations), metrics


# ----- batches of runs: seeds and sweeps (vmapped), with traced solver parameters ----------------
def replace_at(obj, path: tuple, value):
    """``obj`` with the field at ``path`` (``(field, ...)``, into nested dataclasses) set to ``value``."""
    import dataclasses

    if len(path) == 1:
        return dataclasses.replace(obj, **{path[0]: value})
    return dataclasses.replace(obj, **{path[0]: replace_at(getattr(obj, path[0]), path[1:], value)})


def rebuilt(base, values: dict, paths: tuple):
    """``base`` with the vmapped parameters set to this run's (traced) values.

    ``paths``: ``((name, (field, ...)), ...)``, where each parameter lives: a
    field of the solver, or of a settings dataclass it holds (Off-MMD's learner).
    """
    for name, path in paths:
        base = replace_at(base, path, values[name])
    return base


def _constrain(tree, sharding):
    if sharding is None:
        return tree
    return jax.tree_util.tree_map(lambda x: lax.with_sharding_constraint(x, sharding), tree)


def init_runs(base, game, values, init_keys, paths=(), sharding=None, stop=None):
    """:func:`init` of a batch of runs (one per row of ``init_keys`` and ``values``); ``stop``: every run's."""
    carry = jax.vmap(lambda v, k: init(rebuilt(base, v, paths), game, k, stop))(values, init_keys)
    return _constrain(carry, sharding)


def advance_runs(base, game, values, carry, keys, start, count, cap, paths=(), sharding=None):
    """:func:`advance` of a batch of runs; metrics ``(runs, cap)``."""

    def one(v, c, k):
        return advance(rebuilt(base, v, paths), game, c, k, start, count, cap)

    return _constrain(jax.vmap(one)(values, carry, keys), sharding)


def finish_runs(base, game, values, carry, iterations=None, paths=(), sharding=None):
    """:func:`finish` of a batch of runs."""
    final = jax.vmap(lambda v, c: finish(rebuilt(base, v, paths), game, c, iterations))(values, carry)
    return _constrain(final, sharding)


def whole_runs(base, game, values, keys, iterations, cap, paths=(), sharding=None, stop=None):
    """:func:`whole_run` of a batch of runs (``keys``: one seed key per run); each run stops on its own."""

    def one(v, k):
        return whole_run(rebuilt(base, v, paths), game, k, iterations, cap, stop)

    return _constrain(jax.vmap(one)(values, keys), sharding)


class _Programs:
    """The jitted programs, built on first use (importing this module compiles nothing)."""

    def __init__(self):
        self._built: dict = {}

    def __getattr__(self, name):
        built = self.__dict__.get("_built")
        if built is None or name.startswith("__"):
            raise AttributeError(name)
        if not built:
            built.update(
                init=jax.jit(init),
                advance=jax.jit(advance, static_argnames=("cap",), donate_argnames=("carry",)),
                finish=jax.jit(finish),
                whole=jax.jit(whole_run, static_argnames=("cap",)),
                run_keys=jax.jit(jax.vmap(run_keys)),
                init_runs=jax.jit(init_runs, static_argnames=("paths", "sharding")),
                advance_runs=jax.jit(
                    advance_runs, static_argnames=("cap", "paths", "sharding"), donate_argnames=("carry",)
                ),
                finish_runs=jax.jit(finish_runs, static_argnames=("paths", "sharding")),
                whole_runs=jax.jit(whole_runs, static_argnames=("cap", "paths", "sharding")),
            )
        try:
            return built[name]
        except KeyError:
            raise AttributeError(name) from None


PROGRAMS = _Programs()


def seed_key(seed: int) -> np.ndarray:
    """``jax.random.PRNGKey(seed)`` computed on the host (no device round trip): ``(2,)`` uint32."""
    seed = int(seed)
    if jax.config.read("jax_enable_x64"):
        return np.asarray([(seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF], np.uint32)
    return np.asarray([0, seed & 0xFFFFFFFF], np.uint32)


def capacity(iterations: int, limit: int | None = None) -> int:
    """The metric buffer length of a program: the next power of two of ``min(iterations, limit)``
    (at least 1), so that runs of similar lengths share one compiled program."""
    n = max(1, iterations if limit is None else min(iterations, limit))
    return 1 << (n - 1).bit_length()


__all__ = [
    "Best",
    "Carry",
    "Final",
    "Stop",
    "tolerance",
    "init",
    "advance",
    "finish",
    "whole_run",
    "init_runs",
    "advance_runs",
    "finish_runs",
    "whole_runs",
    "rebuilt",
    "capacity",
    "seed_key",
    "run_keys",
    "headline_metric",
    "is_swarm",
    "PROGRAMS",
    "TRACE_COUNT",
]
