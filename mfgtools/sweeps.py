"""Sweeps: one solver over seeds x a grid of its parameters, as few compiled programs as possible.

::

    import mfgtools
    game = mfgtools.make_game("crowd", map="four_rooms")
    sweep = mfgtools.sweep(game, "omd", grid={"learning_rate": [0.01, 0.03, 0.1]}, seeds=range(8))
    sweep["exploitability"].isel(iteration=-1).mean("seed")

Every run (grid point x seed) gives the same iterates as ``solve(game, solver,
seed=s, **point)``: the same keys (:func:`mfgtools.engine.seed_keys`), the same
programs of the run engine (:mod:`mfgtools.engine`), vmapped. How the runs are executed:

- **vmapped parameters.** A grid parameter whose values are all floats and that
  enters the computation arithmetically (OMD's ``learning_rate``, PMA's
  ``learning_rate``, ...) becomes an array with one entry per run: inside the
  compiled program the solver is rebuilt as ``dataclasses.replace(solver,
  name=traced_value)``, so one program runs every value at once, vmapped
  together with the seeds. Whether that works is what the parameter's
  declaration says (:class:`mfgtools.registry.Parameter` ``traced``: True,
  False); where it does not say (None), it is found out by tracing the
  program once with the parameter traced: a parameter used in Python control
  flow or in a shape (``if self.temperature:``, ``int(self.x * n)``) fails to
  trace and falls back to the outer loop, as do integers, strings, booleans,
  None and parameters that change what ``solver.prepare`` builds.
- **outer loop.** Every combination of the other grid parameters is a program
  of its own, compiled and run one after another.
- **sharding.** The runs of a program (vmapped grid points x seeds, flattened to
  one ``runs`` axis) are sharded over the devices (``jax.devices()``, or
  ``devices=``): the keys, parameter arrays and solver states are placed with
  ``NamedSharding(Mesh(devices, "runs"), PartitionSpec("runs"))`` and jit
  (GSPMD) partitions the program; each device runs its share of the runs. The
  batch is padded to a multiple of the device count with copies of its last run
  (dropped afterwards). ``batch_size`` runs at most that many runs at a time
  (rounded up to a multiple of the device count), one batch after another, when
  all runs at once do not fit in memory.

With several processes (:mod:`mfgtools.distributed`), ``jax.devices()`` are the
devices of all hosts: every process calls :func:`sweep` with the same
arguments, each computes its share, and each gets the whole Dataset back.

The result is one :class:`xarray.Dataset`: the variables of
``Result.to_xarray()`` (policy, mean field, metric histories over
``iteration``, ...) with the dimensions ``seed`` and one per grid parameter in
front, in the order of ``grid``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import time
import warnings

import numpy as np

from mfgtools.errors import MFGError, as_int
from mfgtools.registry import FAMILIES

RUNS = "runs"  # name of the mesh axis the runs are sharded over
GAME_VARIABLES = ("free",)  # variables of the game itself, the same in every run: not stacked
# the metric a sweep is judged by, and whether higher is better
HEADLINES = tuple(dict.fromkeys((family.headline, family.higher_is_better) for family in FAMILIES.values()))


# ----- where a swept parameter lives ------------------------------------------------
def _field_path(solver, name, depth: int = 2):
    """Where the setting ``name`` is stored in ``solver``: ``(field, ...)``, or None.

    A dataclass field of that name, else one of a dataclass held by a field
    (one level down); None when it is not found, or found more than once.
    """
    fields = {field.name for field in dataclasses.fields(solver)}
    if name in fields:
        return (name,)
    if depth <= 1:
        return None
    found = []
    for field in sorted(fields):
        inner = getattr(solver, field)
        if dataclasses.is_dataclass(inner) and not isinstance(inner, type):
            path = _field_path(inner, name, depth - 1)
            if path is not None:
                found.append((field,) + path)
    return found[0] if len(found) == 1 else None


def _traces(base, game, paths) -> bool:
    """Whether a whole run (init, an iteration, the final values) traces with ``paths`` vmapped.

    Abstract evaluation only (nothing is compiled or run). Any failure counts as
    "cannot vmap": a parameter used in Python control flow or in a shape raises a
    concretisation error here; the outer loop then runs it with concrete values
    (and any genuine error surfaces there).
    """
    import jax
    import jax.numpy as jnp

    from mfgtools.engine import programs

    dtype = jnp.result_type(float)
    values = {name: jax.ShapeDtypeStruct((1,), dtype) for name, _ in paths}
    key = jax.ShapeDtypeStruct((1,) + jax.random.PRNGKey(0).shape, jax.random.PRNGKey(0).dtype)
    try:
        jax.eval_shape(lambda v, k: programs.whole_runs(base, game, v, k, 1, 1, paths), values, key)
    except Exception:  # noqa: BLE001  (see the docstring: fall back, never fail here)
        return False
    return True


# ----- inputs -----------------------------------------------------------------------
def parse_seeds(seeds, name: str = "seeds") -> list[int]:
    """Seeds as a list of distinct ints in ``[0, 2^32 - 1]`` (:func:`~mfgtools.errors.as_seed`).

    Accepts an int, a sequence of ints, or a string such as ``"0-7"``,
    ``"0,1,2"`` or ``"0-3,10"`` (ranges include both ends). Ranges are counted
    before they are listed (at most :data:`MAX_SEEDS` seeds), and repeats are
    found in one pass.
    """
    from mfgtools.errors import as_seed

    if isinstance(seeds, str):
        ranges = []
        for part in (part.strip() for part in seeds.split(",")):
            low, dash, high = part.partition("-")
            try:
                if not part or (dash and (not low.strip() or not high.strip())):
                    raise ValueError
                first = as_seed(low.strip(), name)
                last = as_seed(high.strip(), name) if dash else first
            except MFGError as error:
                if "at most" in str(error):
                    raise
                raise MFGError(
                    f"{name} must be seeds such as 0-7 or 0,1,2 (non-negative integers), got {seeds!r}"
                ) from None
            except ValueError:
                raise MFGError(
                    f"{name} must be seeds such as 0-7 or 0,1,2 (non-negative integers), got {seeds!r}"
                ) from None
            if last < first:
                raise MFGError(f"{name}: the range {part!r} is empty (write it low-high)")
            ranges.append((first, last))
        count = sum(last - first + 1 for first, last in ranges)
        if count > MAX_SEEDS:
            raise MFGError(f"{name} {seeds!r} names {count:,} seeds, more than {MAX_SEEDS:,}; sweep fewer seeds")
        values = [value for first, last in ranges for value in range(first, last + 1)]  # ends checked
    elif isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        values = [seeds]
    else:
        try:
            values = list(seeds)
        except TypeError:
            raise MFGError(
                f"{name} must be an int, a sequence of ints or a string such as '0-7', got {seeds!r}"
            ) from None
    if len(values) > MAX_SEEDS:
        raise MFGError(f"{name} names {len(values):,} seeds, more than {MAX_SEEDS:,}; sweep fewer seeds")
    if not isinstance(seeds, str):
        values = [as_seed(value, name) for value in values]
    if not values:
        raise MFGError(f"{name} must name at least one seed")
    ordered = sorted(ranges) if isinstance(seeds, str) else None
    disjoint = ordered is not None and all(a[1] < b[0] for a, b in zip(ordered, ordered[1:]))
    seen: set = set()
    repeated = [] if disjoint else sorted({value for value in values if value in seen or seen.add(value)})
    if repeated:
        shown = ", ".join(map(str, repeated[:10])) + (
            f" (and {len(repeated) - 10:,} more)" if len(repeated) > 10 else ""
        )
        raise MFGError(
            f"{name} repeat{'s' if len(repeated) == 1 else ''} seed{'s' if len(repeated) > 1 else ''} "
            f"{shown}; give each seed once"
        )
    return values


MAX_SEEDS = 10_000_000  # seeds of one sweep (each is a run; the resource check sizes the runs)


def _label(value):
    """A grid value as a coordinate: numbers stay numbers, the rest become text."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return value
    if value is None:
        return "none"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(str(_label(v)) for v in value)
    return str(value)


def check_grid(solver: str, grid, fixed_params: dict) -> dict:
    """Validate a grid of ``solver`` parameters; returns ``{name: [setting, ...]}``.

    Each value is checked by building the solver with it (and ``fixed_params``):
    a bad value gives the solver's own error. The settings returned are the
    values as the solver stores them (``"0.1"`` becomes ``0.1``).
    """
    return _grid_values(solver, grid, fixed_params)[1]


def _check_swept(spec, solver: str, name: str, fixed_params: dict, source: str) -> None:
    """A swept parameter (of a ``grid`` or of ``points``) must be the solver's and not fixed as well."""
    if name not in spec.parameters:
        raise MFGError(
            f"solver {solver!r} has no parameter {name!r} to sweep over; its parameters are: "
            f"{', '.join(sorted(spec.parameters)) or 'none'}"
        )
    if name in fixed_params:
        raise MFGError(f"parameter {name!r} is both swept ({source}) and fixed; keep one")


def _grid_values(solver: str, grid, fixed_params: dict) -> tuple[dict, dict]:
    """``({name: [value as given, ...]}, {name: [setting, ...]})`` of a validated grid."""
    from mfgtools.solvers import make_solver, solver_spec

    spec = solver_spec(solver)
    make_solver(solver, **fixed_params)  # the fixed parameters alone first: their own errors
    if grid is None:
        return {}, {}
    if not isinstance(grid, dict):
        raise MFGError(f"grid must be a dict {{parameter: values}}, got {type(grid).__name__}")
    raw, settings = {}, {}
    for name, values in grid.items():
        _check_swept(spec, solver, name, fixed_params, "grid")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = [values]
        values = list(values)
        if not values:
            raise MFGError(f"the grid of {name!r} has no values")
        built = [  # a parameter the solver stores under another form (fp's alpha): as given
            make_solver(solver, **fixed_params, **{name: value}).settings().get(name, value) for value in values
        ]
        labels = [_label(value) for value in built]
        repeated = sorted({str(v) for v in labels if labels.count(v) > 1})
        if repeated:
            raise MFGError(f"the grid of {name!r} repeats {', '.join(repeated)}; give each value once")
        raw[name], settings[name] = values, built
    return raw, settings


def _same_solver(a, b) -> bool:
    """Whether two solvers are the same pytree: equal static settings and equal data."""
    import jax

    leaves_a, tree_a = jax.tree_util.tree_flatten(a)
    leaves_b, tree_b = jax.tree_util.tree_flatten(b)
    return tree_a == tree_b and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(leaves_a, leaves_b))


# ----- sweep ------------------------------------------------------------------------
def sweep(
    game,
    solver: str,
    grid: dict | None = None,
    seeds=(0,),
    iterations: int | None = None,
    batch_size: int | None = None,
    devices=None,
    progress=None,
    solver_params: dict | None = None,
    force: bool | None = None,
    checkpoint=None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    restart: bool = False,
    outputs=(),
    callback=None,
    remove_checkpoint: bool = True,
    atol: float | None = None,
    rtol: float | None = None,
    points=None,
    **fixed_params,
):
    """Run ``solver`` on ``game`` for every seed x every point of ``grid``; one Dataset.

    Args:
      game: the game (as for :func:`mfgtools.solve`).
      solver: registry name of the solver.
      grid: ``{parameter: values}`` of solver parameters to sweep over (their
        product is the grid; None: no grid, only seeds). Values are validated
        as ``make_solver`` does (strings such as ``"0.1"`` are accepted).
      seeds: the seeds (ints, a sequence, or a string such as ``"0-7"``);
        seed ``s`` of a grid point gives the iterates of
        ``solve(game, solver, seed=s, **point, **fixed_params)``.
      iterations: per run (default: the solver's :func:`~mfgtools.solvers.default_iterations`).
      batch_size: at most this many runs at a time (default: all runs of a
        program at once); rounded up to a multiple of the device count.
      devices: the devices to shard the runs over: a sequence of JAX devices,
        or a count (the first of ``jax.devices()``); default: all of them.
      progress: show a progress report (on process 0); None: where a person is watching.
      force: run even when the memory estimate exceeds the memory available
        (:func:`mfgtools.resources.check_run`; None: as the command line's ``--force`` says).
      checkpoint: a file path: the sweep survives a kill. The batch in progress
        is saved there (as :func:`mfgtools.solve` saves a run, at least
        ``checkpoint_every`` iterations apart; default: after every chunk; 0:
        never) and every finished batch beside it (``PATH.batch-K``);
        ``resume=True`` continues (finished batches are read back, the batch in
        progress resumes) and gives the same Dataset as an uninterrupted sweep;
        ``restart=True`` discards them; with neither, existing files stop the
        sweep. ``outputs``: the sweep's output files, which the checkpoint must
        not be. ``remove_checkpoint``: delete the files once the sweep is
        complete (False: leave them until the Dataset is saved, then call
        :func:`remove_checkpoint_files`, as the command line does).
      callback: ``callback(done, metrics)`` after every chunk of every batch
        (``done``: iterations of this batch).
      solver_params: the solver's other parameters, the same for every run, as
        a dict: needed for a parameter named like an argument of ``sweep``
        (``batch_size`` of ``off-mmd`` and ``d-momd``).
      fixed_params: the same, as keywords (merged with ``solver_params``).
      atol, rtol: early stopping as for :func:`mfgtools.solve`, each run on its
        own (a batch ends once every run has stopped). A stopped run's metrics
        keep its final value to the end of the ``iteration`` axis (its policy
        stays iterate ``k``); when a run stopped, the variable ``iterations_run`` gives each run's ``k``.
      points: instead of ``grid``, a list of points ``[{parameter: value}, ...]``
        (every point names the same parameters): those points only, not a
        product. The Dataset then has the dimensions ``seed`` and ``point``,
        each parameter a coordinate over ``point``, and the attribute
        ``parameters`` (JSON list); points that differ only in vmapped
        parameters share one program (what :func:`mfgtools.tune` draws).

    Returns:
      An :class:`xarray.Dataset` with the variables of ``Result.to_xarray()``
      (``policy``, ``mean_field``, the metrics over ``iteration``, ...), each
      with the dimensions ``seed`` and one per grid parameter in front (the
      game's ``free`` mask, if any, as it is). Attributes: those of a result
      (game, its parameters, mode, solver, ...), ``solver_params`` the settings
      common to every run (JSON), ``grid`` the swept parameters (JSON list),
      ``vmapped`` those run inside one program, ``programs`` the number of
      compiled programs (outer-loop combinations), ``iterations``,
      ``wall_time_s``, ``devices`` (count), ``platform``, ``processes``,
      ``batch_size``.
    """
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from mfgtools import checkpoints
    from mfgtools.engine import BatchRuns, Hooks, execute, headline_metric, merge_metrics, run_lengths, seed_key
    from mfgtools.engine.progress import make_report
    from mfgtools.parallel.devices import put, replicate, resolve_devices
    from mfgtools.resources import check_run
    from mfgtools.results import Result
    from mfgtools.solvers import (
        best_iterate,
        check_compatible,
        default_iterations,
        early_stop,
        prepare_solver,
        solver_spec,
    )

    spec = solver_spec(solver)
    check_compatible(game, spec)
    stop = early_stop(game, atol, rtol)
    if solver_params is not None:
        if not isinstance(solver_params, dict):
            raise MFGError(f"solver_params must be a dict, got {type(solver_params).__name__}")
        twice = sorted(set(solver_params) & set(fixed_params))
        if twice:
            raise MFGError(
                f"solver parameter {', '.join(map(repr, twice))} given both in solver_params and as a keyword; keep one"
            )
        fixed_params = {**solver_params, **fixed_params}
    iterations = as_int(default_iterations(solver) if iterations is None else iterations, "iterations", 0)
    seeds = parse_seeds(seeds)
    batch_size = None if batch_size is None else as_int(batch_size, "batch_size", 1)
    every = 1 if checkpoint_every is None else as_int(checkpoint_every, "checkpoint_every", 0)
    zipped = points is not None
    if zipped:
        if grid is not None:
            raise MFGError("give grid (a product of values) or points (a list of points), not both")
        raw, settings = _point_values(solver, points, fixed_params)
    else:
        raw, settings = _grid_values(solver, grid, fixed_params)
    names = list(settings)
    sizes = [len(settings[name]) for name in names]
    devices = resolve_devices(devices, local_only=False)

    start = time.perf_counter()
    # every grid point's solver (index of its value per parameter), built, checked and prepared as `solve` does
    if zipped:
        points = [(index,) * len(names) for index in range(sizes[0])]
    else:
        points = list(itertools.product(*(range(size) for size in sizes)))
    solvers = {
        point: prepare_solver(game, solver, {**fixed_params, **{n: raw[n][i] for n, i in zip(names, point)}})[1]
        for point in points
    }
    first = solvers[points[0]]
    total = len(points) * len(seeds)
    check_run(
        game,
        first,
        iterations,
        runs=min(batch_size or total, total),
        stored_runs=total,
        devices=len(devices),
        force=force,
    )
    paths = _vmappable(game, solvers, names, settings, spec.parameters, zipped)
    vmapped = [name for name, _ in paths]
    outer = [name for name in names if name not in vmapped]

    mesh = Mesh(np.asarray(devices), (RUNS,))
    sharded = NamedSharding(mesh, PartitionSpec(RUNS))
    replicated = NamedSharding(mesh, PartitionSpec())
    game_on_devices = replicate(game, replicated)
    dtype = np.dtype(jax.numpy.result_type(float))

    programs: dict = {}  # the values of the outer parameters -> [grid points of this program]
    for point in points:
        outer_values = tuple(str(_label(settings[n][point[names.index(n)]])) for n in outer)
        programs.setdefault(outer_values, []).append(point)
    groups = list(programs.items())  # (outer values, [grid points of this program])
    runs_per_program = max(len(members) for _, members in groups) * len(seeds)
    per_batch = runs_per_program if batch_size is None else min(batch_size, runs_per_program)
    padded = math.ceil(per_batch / len(devices)) * len(devices)
    batches = sum(math.ceil(len(members) * len(seeds) / per_batch) for _, members in groups)

    holder = None
    if checkpoint is not None:  # before anything is compiled: refusals come first
        identity = checkpoints.run_identity(game, solver, _common_settings(first, names), seeds, iterations)
        identity.update(
            grid=json.dumps({name: [_label(value) for value in settings[name]] for name in names}, default=_label),
            **({"points": 1} if zipped else {}),
            batch_size=padded,
            batches=batches,
            devices=len(devices),
        )
        if stop is not None:
            identity.update(atol=float(stop.atol), rtol=float(stop.rtol))
        holder = _open_checkpoint(checkpoint, identity, batches, resume, restart, outputs)

    report = None
    if jax.process_index() == 0:
        report = make_report(
            iterations * batches,
            f"{solver} on {game.name}: {len(points) * len(seeds)} runs, "
            f"{len(devices)} device{'s' if len(devices) != 1 else ''}",
            progress,
        )
    headline_name = headline_metric(game)[0]
    results = {}  # (point, seed index) -> (metrics, final)
    batch_index = 0
    try:
        for _, members in groups:
            base = replicate(_canonical(solvers[members[0]], paths, spec), replicated)
            runs = [(point, index) for point in members for index in range(len(seeds))]
            for begin in range(0, len(runs), per_batch):
                batch = runs[begin : begin + per_batch]
                filled = batch + [batch[-1]] * (padded - len(batch))  # padding: copies of the last run
                keys = np.stack([seed_key(seeds[index]) for _, index in filled])
                values = {
                    name: put(
                        np.asarray([settings[name][point[names.index(name)]] for point, _ in filled], dtype=dtype),
                        sharded,
                    )
                    for name in vmapped
                }
                batch_runs = BatchRuns(base, game_on_devices, values, paths, sharded, stop=stop)
                finished = None if holder is None else batch_path(holder.path, batch_index)
                if finished is not None and resume and os.path.exists(finished):  # done before the kill
                    final, metrics = _finished_batch(
                        finished, holder.identity, batch_index, batch_runs, keys, iterations
                    )
                    if report is not None:
                        report.update(iterations)
                else:
                    hook = None if holder is None else _BatchHook(holder, batch_index, keys)
                    final, metrics = execute(
                        batch_runs,
                        put(keys, sharded),
                        iterations,
                        Hooks(report=report, checkpoint=hook, every=every, callback=callback, headline=headline_name),
                        chunk_hint=first.iterations_per_chunk,
                    )
                    if finished is not None and batch_index < batches - 1:  # the last batch ends the sweep
                        checkpoints.save(
                            finished, dict(holder.identity, batch=batch_index), final, keys, iterations, [metrics]
                        )
                for row, run in enumerate(batch):
                    results[run] = (
                        {name: value[row] for name, value in metrics.items()},
                        jax.tree_util.tree_map(lambda x, row=row: x[row], final),
                    )
                batch_index += 1
    finally:
        if report is not None:
            report.close()
        if holder is not None:
            holder.close()
    wall_time = time.perf_counter() - start

    datasets = {}
    for (point, index), (metrics, final) in results.items():
        ran = int(run_lengths(final, iterations))
        merged = merge_metrics(metrics, final.metrics, ran)  # a stopped run holds its final value to the end
        merged = {
            name: np.concatenate([values, np.repeat(values[-1:], iterations - ran)]) for name, values in merged.items()
        }
        datasets[point, index] = Result(
            game=game,
            solver=solver,
            solver_params=solvers[point].settings(),
            policy=final.policy,
            mean_field=final.mean_field,
            metrics=merged,
            iterations=ran,
            seed=seeds[index],
            wall_time=wall_time,
            extras=final.extras,
            stopped_early=stop is not None and ran < iterations,
            **best_iterate(final),
        ).to_xarray()
    if holder is not None and remove_checkpoint:
        remove_checkpoint_files(holder.path)
    return _assemble(
        datasets,
        points,
        seeds,
        names,
        settings,
        vmapped,
        dict(
            solver_params=json.dumps(_common_settings(first, names), default=_label),
            grid=json.dumps(["point"] if zipped else names),
            **({"parameters": json.dumps(names)} if zipped else {}),
            vmapped=json.dumps(vmapped),
            programs=len(groups),
            iterations=iterations,
            wall_time_s=wall_time,
            devices=len(devices),
            platform=devices[0].platform,
            processes=jax.process_count(),
            batch_size=padded,
        ),
        zipped,
    )


# ----- checkpoints of a sweep -------------------------------------------------------
def batch_path(path, index: int) -> str:
    """Where a checkpointed sweep keeps its finished batch ``index``: ``PATH.batch-K``."""
    return f"{os.fspath(path)}.batch-{index}"


def _batch_files(path) -> list[str]:
    folder = os.path.dirname(os.path.abspath(path))
    prefix = os.path.basename(path) + ".batch-"
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(
        os.path.join(folder, name) for name in names if name.startswith(prefix) and name[len(prefix) :].isdigit()
    )


def _open_checkpoint(path, identity: dict, batches: int, resume: bool, restart: bool, outputs):
    """The sweep's :class:`~mfgtools.checkpoints.Checkpoint` (the batch in progress), its finished batches
    checked: without ``resume`` or ``restart`` they stop the sweep; ``restart`` deletes those of mfgtools."""
    from mfgtools import checkpoints
    from mfgtools.files import remove_stale_temporaries

    holder = checkpoints.Checkpoint(path, identity, resume=resume, restart=restart, outputs=outputs)
    try:
        saved = _batch_files(holder.path)
        for index in range(batches):
            remove_stale_temporaries(batch_path(holder.path, index))  # we hold the lock: any is a leftover
        foreign = [name for name in saved if not checkpoints.is_checkpoint_file(name)]
        if foreign:
            raise MFGError(
                f"{foreign[0]!r} is in the way of the sweep's checkpoint {holder.path!r} and is not an "
                "mfgtools checkpoint; mfgtools never replaces or deletes a file it did not write: give "
                "--checkpoint another path"
            )
        if saved and restart:
            for name in saved:
                os.unlink(name)
        elif saved and not resume:
            raise MFGError(
                f"{len(saved)} finished batch{'es' if len(saved) != 1 else ''} of an interrupted sweep "
                f"lie beside checkpoint {holder.path!r} ({os.path.basename(saved[0])}...); pass --resume "
                "(resume=True) to continue it or --restart (restart=True) to discard it"
            )
    except BaseException:
        holder.close()
        raise
    return holder


class _BatchHook:
    """The engine's checkpoint hook for batch ``index`` of a sweep: resumes the saved progress only if it is
    this batch's, and saves with the batch's index."""

    def __init__(self, holder, index: int, keys):
        self.holder, self.index, self.keys = holder, index, keys

    def load(self, template):
        if self.holder.pending_part != self.index:  # nothing pending, or another batch's stale progress
            return None
        carry, _, done, collected = self.holder.load(template)
        return carry, done, collected

    def save(self, carry, done, collected):
        self.holder.save(carry, self.keys, done, collected, part=self.index)


def _finished_batch(path, identity: dict, index: int, runs, keys, iterations: int):
    """``(final, metrics)`` of a finished batch read back from ``path`` (validated against the batch's structure)."""
    import jax

    from mfgtools import checkpoints
    from mfgtools.engine.loop import split_keys

    _, init_keys = split_keys(keys)
    shapes = jax.eval_shape(lambda: runs.finish(runs.init(init_keys), iterations))
    template = jax.tree_util.tree_map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), shapes)
    final, _, _, collected = checkpoints.load(path, dict(identity, batch=index), template, allow_nan=True)
    final = jax.tree_util.tree_map(np.asarray, final)
    metrics = {name: np.asarray(values) for name, values in (collected[0] if collected else {}).items()}
    return final, metrics


def remove_checkpoint_files(path) -> None:
    """Delete a checkpointed sweep's files at ``path``: the batch in progress and the finished batches
    (mfgtools checkpoints only; anything else is left alone)."""
    from mfgtools import checkpoints

    for name in [os.fspath(path), *_batch_files(path)]:
        if os.path.isfile(name) and checkpoints.is_checkpoint_file(name):
            os.unlink(name)


def _vmappable(game, solvers, names, settings, declared, zipped: bool = False) -> tuple:
    """The grid parameters one program can take as traced values: ``((name, path), ...)``.

    A candidate has only float values, is not declared untraceable (``Parameter.traced`` False in
    ``declared``, the solver's parameters), lives in a dataclass field of the solver
    (:func:`_field_path`), and every grid point's solver is the solver of the same
    point with the first value, that field replaced (so ``prepare`` builds
    nothing from it). Candidates declared traceable (``traced`` True) are taken as they are; the others
    (``traced`` None: not declared) are traced together (and, if that fails, added one at a time): see
    :func:`_traces`. With ``zipped`` points (``sweep(points=...)``) the candidates are checked together:
    every point's solver must be the first point's with all their fields replaced (else none is vmapped).
    """
    from mfgtools.engine.programs import replace_at

    base = next(iter(solvers.values()))
    candidates = []
    for position, name in enumerate(names):
        if not all(type(value) is float for value in settings[name]) or declared[name].traced is False:
            continue
        path = _field_path(base, name)
        if path is None:
            continue
        if zipped:
            candidates.append((name, path))
            continue
        if all(
            _same_solver(
                replace_at(
                    solvers[point[:position] + (0,) + point[position + 1 :]], path, settings[name][point[position]]
                ),
                solver,
            )
            for point, solver in solvers.items()
            if point[position]
        ):
            candidates.append((name, path))
    if zipped and not _zipped_fields_only(solvers, candidates, names, settings):
        candidates = []
    chosen = tuple(candidate for candidate in candidates if declared[candidate[0]].traced)
    trial = tuple(candidate for candidate in candidates if candidate not in chosen)
    if not trial or _traces(base, game, chosen + trial):
        return tuple(candidates)
    for candidate in trial:  # some fail: keep those that trace, one at a time
        if _traces(base, game, chosen + (candidate,)):
            chosen += (candidate,)
    return tuple(candidate for candidate in candidates if candidate in chosen)


def _canonical(solver, paths, spec):
    """``solver`` with its vmapped fields set to the registry defaults (floats), as the base of a program.

    The runs read the vmapped values, never the base's; but a field's value is
    part of the solver's pytree structure, so a base holding the first grid
    point's value would make every sweep over other values compile its program
    again. With the defaults, sweeps of the same shape (the tuner's rounds)
    reuse it.
    """
    from mfgtools.engine.programs import replace_at

    for name, path in paths:
        default = spec.parameters[name].default
        if type(default) is float:
            solver = replace_at(solver, path, default)
    return solver


def _zipped_fields_only(solvers, candidates, names, settings) -> bool:
    """Whether, among the points that agree on every other parameter, each point's solver is the first
    such point's with the candidates' fields replaced (so ``prepare`` builds nothing from them)."""
    others = [name for name in names if name not in {name for name, _ in candidates}]
    first: dict = {}
    for point, solver in solvers.items():
        key = tuple(str(_label(settings[name][point[0]])) for name in others)
        reference = first.setdefault(key, solver)
        if not _same_solver(_replaced(reference, candidates, settings, point), solver):
            return False
    return True


def _replaced(solver, candidates, settings, point):
    """``solver`` with the field of every candidate ``(name, path)`` set to its value at ``point`` (zipped)."""
    from mfgtools.engine.programs import replace_at

    for name, path in candidates:
        solver = replace_at(solver, path, settings[name][point[0]])
    return solver


def _point_values(solver: str, points, fixed_params: dict) -> tuple[dict, dict]:
    """``({name: [value as given per point]}, {name: [setting per point]})`` of validated ``points``."""
    from mfgtools.solvers import make_solver, solver_spec

    spec = solver_spec(solver)
    make_solver(solver, **fixed_params)  # the fixed parameters alone first: their own errors
    if isinstance(points, (dict, str)) or not hasattr(points, "__iter__"):
        raise MFGError(f"points must be a list of dicts {{parameter: value}}, got {type(points).__name__}")
    points = list(points)
    if not points or not all(isinstance(point, dict) for point in points):
        raise MFGError("points must be a non-empty list of dicts {parameter: value}")
    names = list(points[0])
    if not names:
        raise MFGError("every point must set at least one parameter")
    for point in points:
        if set(point) != set(names):
            raise MFGError(f"every point must set the same parameters: {sorted(point)} differs from {sorted(names)}")
    for name in names:
        _check_swept(spec, solver, name, fixed_params, "points")
    raw: dict = {name: [point[name] for point in points] for name in names}
    settings: dict = {name: [] for name in names}
    for point in points:
        built = make_solver(solver, **fixed_params, **point).settings()
        for name in names:  # a parameter the solver stores under another form (fp's alpha): as given
            settings[name].append(built.get(name, point[name]))
    return raw, settings


def _common_settings(solver, names) -> dict:
    return {key: value for key, value in solver.settings().items() if key not in names}


def _assemble(datasets: dict, points, seeds, names, settings, vmapped, attrs, zipped: bool = False):
    """Stack the per-run Datasets into one with the dims ``seed``, then the grid parameters (``point``: zipped)."""
    import xarray as xr

    sizes = (len(points),) if zipped else tuple(len(settings[name]) for name in names)
    order = [(point, index) for index in range(len(seeds)) for point in points]  # seed-major, then the grid
    sample = datasets[order[0]]
    lead_dims = ("seed", "point") if zipped else ("seed", *names)
    lead_shape = (len(seeds), *sizes)
    data = {}
    for name, variable in sample.data_vars.items():
        if name in GAME_VARIABLES:
            data[name] = variable
            continue
        stacked = np.stack([datasets[run][name].values for run in order]).reshape(lead_shape + variable.shape)
        data[name] = xr.Variable(lead_dims + variable.dims, stacked, attrs=variable.attrs)
    coords = {name: coord for name, coord in sample.coords.items()}
    coords["seed"] = np.asarray(seeds, dtype=np.int64)
    if zipped:
        coords["point"] = np.arange(len(points), dtype=np.int64)
    for name in names:
        labels = np.asarray([_label(value) for value in settings[name]])
        coords[name] = ("point", labels) if zipped else labels
    if "best_iteration" in sample.attrs:  # per run: a variable over the runs, not an attribute
        best = np.asarray([datasets[run].attrs["best_iteration"] for run in order]).reshape(lead_shape)
        data["best_iteration"] = xr.Variable(lead_dims, best, attrs={"description": "iteration of the best iterate"})
    if any("stopped_early" in datasets[run].attrs for run in order):  # early stopping: each run's length
        ran = np.asarray([datasets[run].attrs["iterations"] for run in order]).reshape(lead_shape)
        data["iterations_run"] = xr.Variable(
            lead_dims,
            ran,
            attrs={"description": "iterations the run ran (fewer than iterations: it met atol/rtol and stopped)"},
        )
    kept = {
        key: value
        for key, value in sample.attrs.items()
        if key not in ("seed", "wall_time_s", "solver_params", "best_iteration", "stopped_early")
    }
    dataset = xr.Dataset(data, coords=coords, attrs={**kept, "sweep": 1, **attrs})
    dataset["seed"].attrs["description"] = "seed of the run (as solve(..., seed=s))"
    if zipped:
        dataset["point"].attrs["description"] = "index of the point (sweep(points=...))"
    for name in names:
        dataset[name].attrs["description"] = f"solver parameter {name}" + (
            " (vmapped)" if name in vmapped else " (outer loop)"
        )
    return dataset


# ----- reading a sweep --------------------------------------------------------------
def headline(dataset) -> tuple[str, bool]:
    """``(metric, higher_is_better)``: what a sweep's runs are judged by."""
    for name, higher in HEADLINES:
        if name in dataset:
            return name, higher
    raise MFGError("this dataset has neither exploitability nor return to judge the runs by")


def grid_dims(dataset) -> list[str]:
    """The swept parameters of a sweep Dataset (in order)."""
    if "grid" in dataset.attrs:
        return list(json.loads(dataset.attrs["grid"]))
    raise MFGError("this dataset is not a sweep (no grid attribute); make it with mfgtools.sweep")


def final_metric(dataset):
    """The headline metric of the final policies, ``(seed, *grid)``."""
    name, _ = headline(dataset)
    return dataset[name].isel(iteration=-1)


def best_point(dataset) -> dict:
    """The grid point whose final headline metric is best on average over seeds.

    Returns ``{"point": {parameter: value}, "metric": name, "mean", "std",
    "min", "max"}`` (statistics over seeds; NaN runs are ignored unless all are).
    """
    name, higher = headline(dataset)
    final = final_metric(dataset)
    dims = grid_dims(dataset)
    values = np.asarray(final.transpose("seed", *dims).values, dtype=np.float64)
    values = values.reshape(values.shape[0], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        means = np.nanmean(values, axis=0)
    if not np.isfinite(means).any():
        raise MFGError(f"no run of this sweep has a finite final {name}")
    flat = int(np.nanargmax(means) if higher else np.nanargmin(means))
    index = np.unravel_index(flat, tuple(dataset.sizes[d] for d in dims)) if dims else ()
    column = values[:, flat]
    point = {d: dataset[d].values[i].item() for d, i in zip(dims, index)}
    if "parameters" in dataset.attrs:  # sweep(points=...): the parameters of that point
        point.update({name: dataset[name].values[index[0]].item() for name in json.loads(dataset.attrs["parameters"])})
    return {
        "point": point,
        "metric": name,
        "higher_is_better": higher,
        "mean": float(means[flat]),
        "std": float(np.nanstd(column)),
        "min": float(np.nanmin(column)),
        "max": float(np.nanmax(column)),
    }


__all__ = [
    "sweep",
    "parse_seeds",
    "check_grid",
    "best_point",
    "final_metric",
    "grid_dims",
    "headline",
    "batch_path",
    "remove_checkpoint_files",
]
