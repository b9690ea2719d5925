"""Solver registry and ``solve``: every solver is a module here, registered by name.

A solver is a ``flax.struct`` dataclass (a pytree: hyperparameters static,
data such as an offline dataset as leaves; see :mod:`mfgtools.solvers.base`) with

- ``init(game, key) -> state`` (a pytree),
- ``step(game, state, key) -> (state, metrics)``: one iteration; ``metrics`` are
  scalars describing the policy *before* the update,
- ``policy(game, state) -> (T, S, A)`` and
- ``evaluate(game, policy) -> metrics`` for the final policy.

``solve``, ``solve_seeds`` (and :func:`mfgtools.sweep`) are compositions of the
run engine (:mod:`mfgtools.engine`): a whole run as one compiled program, or
chunks of one compiled program between which the engine reports progress,
saves checkpoints and calls callbacks.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from mfgtools import checkpoints
from mfgtools.engine import BatchRuns, Hooks, OneRun, execute, headline_metric, merge_metrics, seed_key
from mfgtools.engine.loop import run_lengths
from mfgtools.engine.programs import TRACE_COUNT, tolerance
from mfgtools.engine.progress import make_report
from mfgtools.errors import MFGError, as_float, as_int, as_seed
from mfgtools.registry import Entry, import_modules, requirement_name, satisfies
from mfgtools.resources import check_run
from mfgtools.results import Result
from mfgtools.solvers.registry import DEFAULT_ITERATIONS, SOLVERS, SolverSpec, register_solver


def _load_builtin_solvers() -> None:
    import_modules("mfgtools.solvers")  # every module of this folder: a solver registers itself when imported


SOLVERS.set_loader(_load_builtin_solvers)


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
        needed = requirement_name(spec.kind)
        raise MFGError(
            f"solver {spec.name!r} needs a {needed} game, but {name!r} is {kind}"
            + (f"; {needed} games: {fitting}" if fitting else "")
        )
    mode = getattr(game, "mode", None)
    if mode is not None and mode not in spec.modes:
        from mfgtools.games import GAMES

        needs = " or ".join(spec.modes)
        others = ", ".join(n for n, s in list_solvers().items() if mode in s.modes and s.kind == kind)
        game_modes = GAMES.entry(name).modes if name in GAMES.entries() else (mode,)
        switch = (
            f"play it in {needs} mode (--mode {spec.modes[0]}, or mode={spec.modes[0]!r}), or "
            if any(m in spec.modes for m in game_modes)
            else ""
        )
        raise MFGError(
            f"solver {spec.name!r} needs a {needs} game, but {name!r} is played in {mode} mode; "
            f"{switch}use a solver for {mode} games: {others or 'none yet'}"
        )


def prepare_solver(game, solver, solver_params: dict | None = None) -> tuple[str, object]:
    """``(name, solver)`` ready to run on ``game``: built from its registry name with
    ``solver_params`` (validated), or a solver object as given; checked against the
    game and prepared (data loaded). A solver object takes no ``solver_params``."""
    solver_params = {} if solver_params is None else solver_params
    if isinstance(solver, str):
        spec = solver_spec(solver)
        check_compatible(game, spec)
        algorithm = make_solver(solver, **solver_params)
        name = solver
    else:
        missing = [
            method for method in ("init", "step", "policy", "evaluate") if not callable(getattr(solver, method, None))
        ]
        if missing:
            raise MFGError(
                f"solver must be a registry name (see `mfgtools list solvers`) or a solver object with "
                f"init, step, policy and evaluate; {type(solver).__name__} lacks {', '.join(missing)}"
            )
        if solver_params:
            raise MFGError(
                f"solver parameters ({', '.join(sorted(solver_params))}) are for a solver given by name; "
                "a solver object carries its own settings"
            )
        algorithm = solver
        name = registry_name(solver)
    algorithm.check(game)
    return name, algorithm.prepare(game)


def registry_name(solver) -> str:
    """What results call a solver object: its ``registry_name`` attribute if it has one, else its class name."""
    return getattr(solver, "registry_name", None) or type(solver).__name__


def _iterations(solver, iterations) -> int:
    if iterations is None:
        name = solver if isinstance(solver, str) else registry_name(solver)
        iterations = default_iterations(name) if name in SOLVERS.entries() else DEFAULT_ITERATIONS
    return as_int(iterations, "iterations", 0)


class _CheckpointHook:
    """The engine's checkpoint hook over a :class:`mfgtools.checkpoints.Checkpoint` (the run's carry, its
    seed key, the iterations done and the metrics so far)."""

    def __init__(self, holder, key):
        self.holder, self.key = holder, key

    def load(self, template):
        loaded = self.holder.load(template)
        if loaded is None:
            return None
        carry, _, done, collected = loaded
        return carry, done, collected

    def save(self, carry, done, collected):
        self.holder.save(carry, self.key, done, collected)


def early_stop(game, atol=None, rtol=None):
    """The engine's early stopping of ``atol``/``rtol`` (validated; None when both are None)."""
    atol = None if atol is None else as_float(atol, "atol", 0.0)
    rtol = None if rtol is None else as_float(rtol, "rtol", 0.0)
    if (atol is not None or rtol is not None) and headline_metric(game)[0] != "exploitability":
        raise MFGError(
            f"atol/rtol stop a run on its exploitability; {game.name!r} is a swarm game "
            "(mean-field control), which reports a return"
        )
    return tolerance(atol, rtol)


def _result(game, name, algorithm, final, metrics, iterations, seed, wall_time, checkpoint=None) -> Result:
    """A :class:`Result` from the host values of one run (of the iterations it ran, when it stopped early)."""
    ran = int(run_lengths(final, iterations))
    return Result(
        checkpoint=checkpoint,
        game=game,
        solver=name,
        solver_params=algorithm.settings(),
        policy=np.asarray(final.policy),
        mean_field=np.asarray(final.mean_field),
        metrics=merge_metrics(metrics, final.metrics, ran),
        iterations=ran,
        seed=seed,
        wall_time=wall_time,
        stopped_early=ran < iterations or (final.stopped_at is not None and int(final.stopped_at) >= 0),
        extras={key: np.asarray(value) for key, value in final.extras.items()},
        swarm_policy=None if final.executable is None else jax.tree_util.tree_map(jnp.asarray, final.executable),
        **best_iterate(final),
    )


def best_iterate(final) -> dict:
    """The best-iterate fields of a :class:`Result` from a run's host final values (empty on swarm games)."""
    if final.best_policy is None:
        return {}
    return dict(
        best_iteration=int(final.best_iteration),
        best_policy=np.asarray(final.best_policy),
        best_mean_field=np.asarray(final.best_mean_field),
    )


def _checkpoint_holder(checkpoint, game, name, algorithm, seed, iterations, resume, restart, outputs, stop=None):
    """The run's :class:`~mfgtools.checkpoints.Checkpoint` (None without a path), opened before anything is
    compiled so that refusals come first."""
    if checkpoint is None:  # resume and restart have nothing to act on (a process that writes no checkpoint)
        return None
    identity = checkpoints.run_identity(game, name, algorithm.settings(), seed, iterations)
    if stop is not None:  # a run with early stopping carries its tolerance: resume it only with the same
        identity.update(atol=float(stop.atol), rtol=float(stop.rtol))
    return checkpoints.Checkpoint(checkpoint, identity, resume=resume, restart=restart, outputs=outputs)


def _hooks(game, holder, key, report, every, callback) -> Hooks:
    return Hooks(
        report=report,
        checkpoint=None if holder is None else _CheckpointHook(holder, key),
        every=every,
        callback=callback,
        headline=headline_metric(game)[0],
    )


def solve_seeds(
    game,
    solver,
    iterations: int | None = None,
    seeds=(0, 1, 2, 3),
    progress=None,
    checkpoint=None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    restart: bool = False,
    outputs=(),
    callback=None,
    force: bool | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    **solver_params,
) -> list[Result]:
    """Run ``solver`` from several seeds at once: one compiled program, vmapped over seeds.

    Seed ``s`` gives the same iterates as ``solve(..., seed=s)`` (same keys); the
    seeds run side by side as one batch, which is what makes many small
    stochastic runs (N-agent learners, say) cheap. Returns one
    :class:`~mfgtools.results.Result` per seed; ``wall_time`` is the whole batch's.
    ``iterations``: default :func:`default_iterations` of the solver.
    ``progress``: None shows a report where a person is watching (a terminal or a notebook).
    ``checkpoint``, ``checkpoint_every``, ``resume``, ``restart``, ``outputs``,
    ``callback``: as for :func:`solve`, for the whole batch (one file; its
    identity lists the seeds); every result's ``checkpoint`` is that file's
    :class:`~mfgtools.checkpoints.Checkpoint`.
    ``force``: run even when the memory estimate exceeds the memory available
    (:func:`mfgtools.resources.check_run`; None: as the command line's ``--force`` says).
    ``atol``, ``rtol``: early stopping as for :func:`solve`, each seed on its own (the batch ends once every
    seed has stopped; each result holds its own iterations).
    """
    iterations = _iterations(solver, iterations)
    seeds = [as_seed(seed) for seed in np.atleast_1d(np.asarray(seeds, dtype=object))]
    if not seeds:
        raise MFGError("seeds must name at least one seed")
    every = 1 if checkpoint_every is None else as_int(checkpoint_every, "checkpoint_every", 0)
    name, algorithm = prepare_solver(game, solver, solver_params)
    stop = early_stop(game, atol, rtol)
    check_run(game, algorithm, iterations, runs=len(seeds), force=force)
    holder = _checkpoint_holder(checkpoint, game, name, algorithm, seeds, iterations, resume, restart, outputs, stop)
    start = time.perf_counter()
    keys = np.stack([seed_key(seed) for seed in seeds])  # (n, 2)
    report = make_report(iterations, f"{name} on {game.name}, {len(seeds)} seeds", progress)
    try:
        final, metrics = execute(
            BatchRuns(algorithm, game, stop=stop),
            keys,
            iterations,
            _hooks(game, holder, keys, report, every, callback),
            chunk_hint=algorithm.iterations_per_chunk,
        )
    finally:
        if report is not None:
            report.close()
        if holder is not None:
            holder.close()
    wall_time = time.perf_counter() - start
    results = []
    for index, seed in enumerate(seeds):
        mine = jax.tree_util.tree_map(lambda x, index=index: x[index], final)
        results.append(
            _result(
                game,
                name,
                algorithm,
                mine,
                {k: v[index] for k, v in metrics.items()},
                iterations,
                seed,
                wall_time,
                checkpoint=holder,
            )
        )
    return results


def solve(
    game,
    solver,
    iterations: int | None = None,
    seed: int = 0,
    progress=None,
    checkpoint=None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    restart: bool = False,
    outputs=(),
    callback=None,
    devices=None,
    force: bool | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    **solver_params,
) -> Result:
    """Run ``solver`` (a registry name, or a solver object) on ``game`` for ``iterations``
    iterations (default: the solver's :func:`default_iterations`, 100 for most).

    Returns a :class:`~mfgtools.results.Result` whose ``metrics["exploitability"]``
    has ``iterations + 1`` entries (entry 0: the initial policy). On a swarm game
    (mean-field control) the metrics are ``return`` and ``order_parameter``
    instead, and ``result.swarm_policy`` is the decentralised policy to execute.

    ``progress``: a progress report (a bar in a terminal or notebook, a line per
    interval in a log); None (default) shows it where a person is watching.
    Without progress, checkpoint or callback the whole run is one compiled
    program; with them, it runs in chunks of about a quarter second. Iterates
    never depend on how the run is cut.

    Long runs: with ``checkpoint`` (a file path) the solver state and the
    metrics so far are saved atomically between chunks, at least
    ``checkpoint_every`` iterations apart (default: after every chunk; 0: never);
    ``resume=True`` continues from that file (starting afresh when there is none)
    and ends with the same result as an uninterrupted run with the same seed;
    ``restart=True`` discards an existing checkpoint of mfgtools (with neither,
    an existing file stops the run); ``outputs``: the run's output files, which
    the checkpoint must not be. The file is left in place (resumable after an
    error); ``result.checkpoint.remove()`` deletes it once the result is saved.
    ``callback(done, metrics)`` is called after every chunk.

    ``devices`` (a count, or a list of JAX devices): split this one run over
    them, the state space sharded (finite games; see :mod:`mfgtools.sharding`);
    the result is the same as on one device, up to float rounding. None: one device.

    ``force``: run even when the memory estimate exceeds the memory available
    (:func:`mfgtools.resources.check_run`; None: as the command line's ``--force`` says).

    ``atol``, ``rtol`` (MFGLib's early stopping; off by default): stop at the
    first iterate ``k`` whose exploitability is at most ``atol + rtol *`` that of
    the initial policy (either alone: the other is 0). The result then holds
    iterates ``0..k``: ``result.iterations == k``, metrics of ``k + 1`` entries,
    ``result.stopped_early`` True, the final policy iterate ``k``; each iterate
    is the one a run without tolerance computes. The check runs inside the
    compiled program, so where a run stops does not depend on how it is cut
    into chunks.
    """
    iterations = _iterations(solver, iterations)
    seed = as_seed(seed)
    every = 1 if checkpoint_every is None else as_int(checkpoint_every, "checkpoint_every", 0)
    name, algorithm = prepare_solver(game, solver, solver_params)
    stop = early_stop(game, atol, rtol)
    if devices is not None:
        if stop is not None:
            raise MFGError("atol/rtol (early stopping) are not available for a run split over devices (devices=)")
        from mfgtools.parallel.devices import resolve_devices

        devices = resolve_devices(devices)
    check_run(game, algorithm, iterations, force=force, devices=1 if devices is None else len(devices))
    holder = _checkpoint_holder(checkpoint, game, name, algorithm, seed, iterations, resume, restart, outputs, stop)
    if devices is None:
        runs = OneRun(algorithm, game, stop)
    else:  # one run over several devices: mfgtools.sharding places and runs it
        from mfgtools.parallel.sharding import SpaceRun

        runs = SpaceRun(game, algorithm, devices)
    start = time.perf_counter()
    key = seed_key(seed)
    report = make_report(iterations, f"{name} on {game.name}", progress)
    try:
        final, metrics = execute(
            runs,
            key,
            iterations,
            _hooks(game, holder, key, report, every, callback),
            chunk_hint=algorithm.iterations_per_chunk,
        )
    finally:
        if report is not None:
            report.close()
        if holder is not None:
            holder.close()
    return _result(
        game, name, algorithm, final, metrics, iterations, seed, time.perf_counter() - start, checkpoint=holder
    )


__all__ = [
    "register_solver",
    "default_iterations",
    "list_solvers",
    "make_solver",
    "prepare_solver",
    "solve",
    "solve_seeds",
    "solver_spec",
    "SolverSpec",
    "TRACE_COUNT",
    "early_stop",
]
