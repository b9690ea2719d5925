"""Tuning: search a solver's parameters for the lowest exploitability within a budget, on sweeps.

::

    import mfgtools
    game = mfgtools.make_game("crowd_modelling")
    tuned = mfgtools.tune(game, "omd", space={"learning_rate": (1e-3, 10.0, "log")}, budget=64, iterations=100)
    tuned.best, tuned.score          # {'learning_rate': ...}, the final exploitability (mean over seeds)
    tuned.record                     # every candidate: parameters, score, round, metric histories

How the search goes (each round is one :func:`mfgtools.sweep` with ``points=``,
so the candidates of a round run as one vmapped program per combination of
the parameters that cannot be vmapped):

- **the space.** A range ``(low, high)`` or ``(low, high, "log")`` for a float
  parameter (uniform, or uniform in its logarithm), a list of choices for any
  parameter (integers, strings, booleans, structure: every combination of
  choices is searched on its own, its candidates one program, as a sweep's
  outer loop). Without ``space``, the solver's default space
  (:data:`DEFAULT_SPACES`).
- **rounds.** The budget (candidates in all, each run on every seed) is
  split over the combinations of choices and then into ``rounds`` nearly
  equal rounds. The first round is a scrambled Sobol design over the ranges
  (the default values of the ranges take the first slot of every combination
  when they lie in the space, so the tuner never reports worse than the
  defaults it saw); each later round
  draws Sobol points in boxes around the best candidates so far (the best
  quarter of a round's size), the box half as wide each round (a quarter of
  each range, in the unit cube of the log/linear coordinates, in round 1).
  The Sobol scrambling is seeded by ``search_seed``: the same arguments give
  the same candidates and scores.
- **scores.** Each run is scored from its headline metric history
  (exploitability; return on swarm games, maximised): ``"final"`` (the last
  iterate, default), ``"best"`` (the best iterate of the run: MFGLib's tuner
  metrics read the minimum exploitability of each run's trace), or
  ``"mean-last"`` (the mean of the last ``last`` iterations); the runs of a
  candidate are combined over seeds by ``aggregate``: ``"mean"`` or
  ``"geomean"`` (MFGLib's ``GeometricMean``). A NaN score ranks last.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import time
import warnings
from typing import TYPE_CHECKING

import numpy as np

from mfgtools.errors import MFGError, as_int

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

SCALES = ("linear", "log")
SCORES = ("final", "best", "mean-last")
AGGREGATES = ("mean", "geomean")

# default search spaces of the solvers' float parameters (only those a solver has are used)
LOG_RATE = (1e-3, 10.0, "log")
DEFAULT_SPACES: dict[str, dict] = {
    "omd": {"learning_rate": LOG_RATE},
    "munchausen-omd": {"learning_rate": LOG_RATE},
    "boltzmann-pi": {"learning_rate": LOG_RATE},
    "hybrid-omd": {"learning_rate": LOG_RATE},
    "pma": {"learning_rate": LOG_RATE, "temperature": (1e-3, 1.0, "log")},
    "boltzmann": {"temperature": (1e-2, 10.0, "log"), "damping": (0.01, 1.0)},
    "fixed-point": {"damping": (0.01, 1.0)},
    "fp": {"alpha": (0.0, 1.0)},
    "prior-descent": {"eta": (1e-3, 1e3, "log")},
}


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searched parameter: a range ``[low, high]`` (``scale`` linear or log) or a tuple of ``choices``."""

    name: str
    low: float = 0.0
    high: float = 1.0
    scale: str = "linear"
    choices: tuple | None = None

    def value(self, unit: float) -> float:
        """The parameter value at ``unit`` in [0, 1] (uniform in the value, or in its logarithm)."""
        if self.scale == "log":
            return float(math.exp(math.log(self.low) + unit * (math.log(self.high) - math.log(self.low))))
        return float(self.low + unit * (self.high - self.low))

    def unit(self, value: float) -> float:
        """Inverse of :meth:`value`."""
        if self.scale == "log":
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)

    def describe(self) -> str:
        if self.choices is not None:
            return f"{self.name} in {{{', '.join(map(str, self.choices))}}}"
        return f"{self.name} in [{self.low:g}, {self.high:g}]" + (" (log)" if self.scale == "log" else "")


# ----- inputs -----------------------------------------------------------------------
def parse_range(text: str, name: str) -> tuple:
    """``"LOW:HIGH[:log|linear]"`` as ``(low, high, scale)``, or ``"V1,V2,..."`` as a list of choices."""
    text = text.strip()
    if ":" not in text:
        values = [value.strip() for value in text.split(";" if ";" in text else ",")]
        if not text or any(not value for value in values):
            raise MFGError(f"space {name}: expected LOW:HIGH[:log] or choices V1,V2,..., got {text!r}")
        return values  # type: ignore[return-value]
    parts = [part.strip() for part in text.split(":")]
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].lower() not in SCALES):
        raise MFGError(f"space {name}: expected LOW:HIGH or LOW:HIGH:log (or :linear), got {text!r}")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise MFGError(f"space {name}: the bounds of {text!r} must be numbers such as 1e-3:10") from None
    return (low, high, parts[2].lower()) if len(parts) == 3 else (low, high)


def check_space(solver: str, space, fixed_params: dict | None = None) -> list[Dimension]:
    """Validate a search space of ``solver``'s parameters; returns its :class:`Dimension` list.

    ``space``: ``{parameter: (low, high) | (low, high, "log") | "LOW:HIGH[:log]" | [choice, ...]}``;
    None: the solver's default space. Each bound and choice is checked by
    building the solver with it (the solver's own error when it is refused).
    """
    from mfgtools.solvers import make_solver, solver_spec

    fixed_params = dict(fixed_params or {})
    parameters = solver_spec(solver).parameters  # read through the public registry API only
    if space is None:
        space = {name: bounds for name, bounds in DEFAULT_SPACES.get(solver, {}).items() if name in parameters}
        space = {name: bounds for name, bounds in space.items() if name not in fixed_params}
        if not space:
            raise MFGError(
                f"solver {solver!r} has no default search space; give one, e.g. space={{'PARAMETER': (low, high)}} "
                f"(--space PARAMETER=LOW:HIGH); its parameters are: {', '.join(sorted(parameters)) or 'none'}"
            )
    if not isinstance(space, dict) or not space:
        raise MFGError("space must be a non-empty dict {parameter: (low, high[, 'log']) or [choices]}")
    make_solver(solver, **fixed_params)  # the fixed parameters alone first: their own errors
    dimensions = []
    for name, bounds in space.items():
        if name not in parameters:
            raise MFGError(
                f"solver {solver!r} has no parameter {name!r} to tune; its parameters are: "
                f"{', '.join(sorted(parameters)) or 'none'}"
            )
        if name in fixed_params:
            raise MFGError(f"parameter {name!r} is both tuned (space) and fixed; keep one")
        if isinstance(bounds, str):
            bounds = parse_range(bounds, name)
        if isinstance(bounds, list):  # choices: each one a separate combination
            if not bounds:
                raise MFGError(f"space {name}: the list of choices is empty")
            built = [
                make_solver(solver, **fixed_params, **{name: value}).settings().get(name, value) for value in bounds
            ]
            labels = [str(value) for value in built]
            if len(set(labels)) != len(labels):
                raise MFGError(f"space {name}: the choices repeat a value; give each once")
            dimensions.append(Dimension(name, choices=tuple(built)))
            continue
        if not isinstance(bounds, tuple) or len(bounds) not in (2, 3):
            raise MFGError(
                f"space {name}: expected (low, high), (low, high, 'log') or a list of choices, got {bounds!r}"
            )
        default = parameters[name].default
        if isinstance(default, (bool, int, str)) and not isinstance(default, float):
            raise MFGError(
                f"space {name}: {name} is not a float parameter (default {default!r}); give its values as a "
                f"list of choices ({name}=V1,V2,...)"
            )
        scale = bounds[2] if len(bounds) == 3 else "linear"
        if scale not in SCALES:
            raise MFGError(f"space {name}: the scale must be 'linear' or 'log', got {scale!r}")
        try:
            low, high = float(bounds[0]), float(bounds[1])
        except (TypeError, ValueError):
            raise MFGError(f"space {name}: the bounds must be numbers, got {bounds[:2]!r}") from None
        if not (math.isfinite(low) and math.isfinite(high)):
            raise MFGError(f"space {name}: the bounds must be finite, got {low:g}:{high:g}")
        if low >= high:
            raise MFGError(f"space {name}: low must be below high, got {low:g}:{high:g}")
        if scale == "log" and low <= 0:
            raise MFGError(f"space {name}: a log range needs low > 0, got {low:g}; use a linear range or raise low")
        for value in (low, high):
            make_solver(solver, **fixed_params, **{name: value})  # the solver's own error for a bad bound
        dimensions.append(Dimension(name, low, high, scale))
    return dimensions


# ----- the search -------------------------------------------------------------------
def _split(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` nearly equal non-negative integers (the larger first)."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def _sobol(count: int, dims: int, rng) -> np.ndarray:
    """``count`` scrambled Sobol points in the unit cube ``[0, 1]^dims``: ``(count, dims)``."""
    from scipy.stats import qmc

    if dims == 0 or count == 0:
        return np.zeros((count, dims))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a count that is not a power of 2 is fine here
        return qmc.Sobol(d=dims, scramble=True, seed=rng).random(count)


def _run_scores(histories: np.ndarray, score: str, last: int, higher: bool) -> np.ndarray:
    """The score of each run from its metric history ``(..., iteration)``."""
    if score == "final":
        return histories[..., -1]
    if score == "best":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN runs stay NaN
            return np.nanmax(histories, axis=-1) if higher else np.nanmin(histories, axis=-1)
    return histories[..., -last:].mean(axis=-1)


def _aggregate(runs: np.ndarray, aggregate: str) -> np.ndarray:
    """Combine the run scores ``(seed, candidate)`` over seeds."""
    if aggregate == "geomean":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.exp(np.log(runs).mean(axis=0))
    return runs.mean(axis=0)


def _ranked(scores: np.ndarray, higher: bool) -> np.ndarray:
    """Indices of ``scores`` from best to worst (NaN last)."""
    key = np.where(np.isfinite(scores), -scores if higher else scores, np.inf)
    return np.argsort(key, kind="stable")


@dataclasses.dataclass(frozen=True)
class TuneResult:
    """What :func:`tune` found.

    Attributes:
      best: the best candidate's parameters ``{name: value}``.
      score: its score (``metric``, scored as ``score_kind``, aggregated over seeds).
      metric: the headline metric scored (exploitability, or return on swarm games).
      higher_is_better: whether ``metric`` is maximised.
      record: an :class:`xarray.Dataset` over ``candidate`` (and ``seed``,
        ``iteration``): each tuned parameter, ``score``, ``run_score`` per
        seed, ``round``, ``default`` (the solver's default point), and the metric
        histories of every run; attributes describe the search.
      sweeps: the Dataset of every round (``sweep(points=...)``: policies included).
    """

    best: dict
    score: float
    metric: str
    higher_is_better: bool
    record: xr.Dataset
    sweeps: tuple

    def save(self, path, overwrite: bool = True) -> str:
        """Write :attr:`record` to netCDF atomically (:func:`mfgtools.results.save_dataset`)."""
        from mfgtools.results import save_dataset

        return save_dataset(self.record, path, overwrite=overwrite)


def tune(
    game,
    solver: str,
    space: dict | None = None,
    budget: int = 32,
    seeds=(0,),
    iterations: int | None = None,
    rounds: int | None = None,
    score: str = "final",
    last: int = 10,
    aggregate: str = "mean",
    search_seed: int = 0,
    batch_size: int | None = None,
    devices=None,
    progress=None,
    solver_params: dict | None = None,
    force: bool | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    **fixed_params,
) -> TuneResult:
    """Search ``solver``'s parameters on ``game`` for the best score within ``budget`` candidates.

    Args:
      game: the game (as for :func:`mfgtools.solve`).
      solver: registry name of the solver.
      space: ``{parameter: (low, high) | (low, high, "log") | "LOW:HIGH[:log]" | [choices]}``
        (None: the solver's default space, :data:`DEFAULT_SPACES`).
      budget: candidates to evaluate in all (each is run on every seed); at
        least the number of combinations of choices.
      seeds: the seeds every candidate runs (as for :func:`mfgtools.sweep`).
      iterations: per run (default: the solver's).
      rounds: rounds of the search (default: 1 below a budget of 8 per
        combination, else up to 4, one per 8 candidates).
      score: ``"final"``, ``"best"`` or ``"mean-last"`` (see the module docstring);
        ``last``: the iterations ``"mean-last"`` averages.
      aggregate: over seeds, ``"mean"`` or ``"geomean"``.
      search_seed: seeds the Sobol scrambling (the candidates drawn).
      batch_size, devices, progress, force, atol, rtol: as for :func:`mfgtools.sweep`.
      solver_params, fixed_params: the solver's other parameters, fixed.

    Returns:
      A :class:`TuneResult`: ``best`` parameters, their ``score``, the ``record``
      of every candidate (save it with ``result.save(path)``) and each round's sweep.
    """
    from mfgtools.solvers import default_iterations, solver_spec
    from mfgtools.sweeps import headline, parse_seeds
    from mfgtools.sweeps import sweep as run_sweep

    started = time.perf_counter()
    if solver_params is not None:
        if not isinstance(solver_params, dict):
            raise MFGError(f"solver_params must be a dict, got {type(solver_params).__name__}")
        twice = sorted(set(solver_params) & set(fixed_params))
        if twice:
            raise MFGError(f"solver parameter {', '.join(map(repr, twice))} given twice; keep one")
        fixed_params = {**solver_params, **fixed_params}
    dimensions = check_space(solver, space, fixed_params)
    budget = as_int(budget, "budget", 1)
    if score not in SCORES:
        raise MFGError(f"score must be one of {', '.join(SCORES)}, got {score!r}")
    if aggregate not in AGGREGATES:
        raise MFGError(f"aggregate must be one of {', '.join(AGGREGATES)}, got {aggregate!r}")
    last = as_int(last, "last", 1)
    search_seed = as_int(search_seed, "search_seed", 0)
    seeds = parse_seeds(seeds)
    iterations = as_int(default_iterations(solver) if iterations is None else iterations, "iterations", 1)
    ranges = [d for d in dimensions if d.choices is None]
    choices = [d for d in dimensions if d.choices is not None]
    combos = list(itertools.product(*(d.choices or () for d in choices)))
    if budget < len(combos):
        raise MFGError(
            f"budget {budget} is below the {len(combos)} combinations of choices; "
            "raise the budget or give fewer choices"
        )
    per_combo = _split(budget, len(combos)) if ranges else [1] * len(combos)
    smallest = min(per_combo)
    rounds = (1 if smallest < 8 else min(4, smallest // 8)) if rounds is None else as_int(rounds, "rounds", 1)
    rounds = 1 if not ranges else min(rounds, smallest)
    sizes = [_split(count, rounds) for count in per_combo]  # [combo][round]

    parameters = solver_spec(solver).parameters
    defaults = [parameters[d.name].default for d in ranges]
    default_unit = None
    if ranges and all(type(v) is float and d.low <= v <= d.high for d, v in zip(ranges, defaults)):
        default_unit = np.asarray([d.unit(v) for d, v in zip(ranges, defaults)])

    streams = np.random.SeedSequence(search_seed).spawn(len(combos))
    rngs = [np.random.default_rng(stream) for stream in streams]
    units: list[list] = [[] for _ in combos]  # per combo: unit points evaluated
    scores: list[list] = [[] for _ in combos]  # per combo: their scores
    entries = []  # (combo, round, is default)
    evaluated: list[dict] = []  # every candidate's parameters, as the solver takes them
    datasets = []
    metric, higher = "exploitability", False
    for round_index in range(rounds):
        drawn = []
        for combo_index in range(len(combos)):
            count = sizes[combo_index][round_index]
            dims = len(ranges)
            if round_index == 0:
                points = _sobol(count, dims, rngs[combo_index])
                flags = [False] * count
                if default_unit is not None and count:  # the default ranges first, in every combination
                    points[0] = default_unit
                    flags[0] = all(
                        str(value) == str(parameters[d.name].default) for d, value in zip(choices, combos[combo_index])
                    )
            else:
                order = _ranked(np.asarray(scores[combo_index]), higher)
                keep = max(1, math.ceil(count / 4))
                centres = [units[combo_index][i] for i in order[:keep]]
                half = 0.25 * 0.5 ** (round_index - 1)
                per_centre = _split(count, len(centres))
                points = (
                    np.concatenate(
                        [
                            np.clip(centre + half * (2 * _sobol(n, dims, rngs[combo_index]) - 1), 0.0, 1.0)
                            for centre, n in zip(centres, per_centre)
                        ]
                    )
                    if count
                    else np.zeros((0, dims))
                )
                flags = [False] * count
            for unit, flag in zip(points, flags):
                drawn.append((combo_index, unit, flag))
        if not drawn:
            continue
        candidates = [
            {
                **{d.name: d.value(u) for d, u in zip(ranges, unit)},
                **dict(zip((d.name for d in choices), combos[combo_index])),
            }
            for combo_index, unit, _ in drawn
        ]
        dataset = run_sweep(
            game,
            solver,
            points=candidates,
            seeds=seeds,
            iterations=iterations,
            batch_size=batch_size,
            devices=devices,
            progress=progress,
            solver_params=fixed_params,
            force=force,
            atol=atol,
            rtol=rtol,
        )
        metric, higher = headline(dataset)
        histories = np.asarray(dataset[metric].transpose("seed", "point", "iteration").values, dtype=np.float64)
        run_scores = _run_scores(histories, score, last, higher)
        candidate_scores = _aggregate(run_scores, aggregate)
        evaluated += candidates
        for (combo_index, unit, flag), value in zip(drawn, candidate_scores):
            units[combo_index].append(unit)
            scores[combo_index].append(float(value))
            entries.append((combo_index, round_index, flag))
        datasets.append((dataset, run_scores, candidate_scores))

    record = _record(datasets, entries, dimensions, metric)
    all_scores = np.asarray(record["score"].values, dtype=np.float64)
    if not np.isfinite(all_scores).any():
        raise MFGError(f"no candidate has a finite {metric} score; narrow the space (e.g. smaller learning rates)")
    best_index = int(_ranked(all_scores, higher)[0])
    best = evaluated[best_index]
    record.attrs.update(
        tune=1,
        space=json.dumps({d.name: _space_entry(d) for d in dimensions}),
        budget=budget,
        rounds=rounds,
        score=score,
        last=last,
        aggregate=aggregate,
        search_seed=search_seed,
        metric=metric,
        higher_is_better=int(higher),
        best=json.dumps(best, default=str),
        best_score=float(all_scores[best_index]),
        candidates=int(all_scores.size),
        programs=int(sum(int(d.attrs["programs"]) for d, _, _ in datasets)),
        wall_time_s=time.perf_counter() - started,
    )
    return TuneResult(
        best=best,
        score=float(all_scores[best_index]),
        metric=metric,
        higher_is_better=higher,
        record=record,
        sweeps=tuple(d for d, _, _ in datasets),
    )


def _coordinate(value):
    """A parameter value as a netCDF coordinate: numbers stay numbers, the rest become text (as sweeps write)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value
    return "none" if value is None else str(value)


def _space_entry(dimension: Dimension):
    if dimension.choices is not None:
        return [str(choice) for choice in dimension.choices]
    return [dimension.low, dimension.high, dimension.scale]


def _record(datasets, entries, dimensions, metric):
    """One Dataset over ``candidate``: parameters, scores, rounds and the metric histories of every round."""
    import xarray as xr

    parts = []
    for dataset, run_scores, candidate_scores in datasets:
        histories = [
            name
            for name, variable in dataset.data_vars.items()
            if "iteration" in variable.dims and set(variable.dims) <= {"seed", "point", "iteration"}
        ]
        extra = [name for name in ("best_iteration", "iterations_run") if name in dataset]
        part = dataset[histories + extra].reset_coords(drop=True)
        part = part.drop_vars([name for name in part.coords if name not in ("seed", "iteration", "point")])
        part["run_score"] = (("seed", "point"), run_scores)
        part["score"] = (("point",), candidate_scores)
        parts.append(part.drop_vars("point", errors="ignore"))
    record = xr.concat(parts, dim="point", data_vars="all", coords="minimal", compat="override", join="override")
    record = record.rename({"point": "candidate"})
    record = record.assign_coords(candidate=np.arange(record.sizes["candidate"], dtype=np.int64))
    first = datasets[0][0]
    for dimension in dimensions:
        values = [
            value
            for dataset, _, _ in datasets
            for value in np.atleast_1d(dataset[dimension.name].values if dimension.name in dataset.coords else [])
        ]
        labels = np.asarray([_coordinate(value.item() if hasattr(value, "item") else value) for value in values])
        record[dimension.name] = (
            ("candidate",),
            labels,
            {"description": f"tuned solver parameter: {dimension.describe()}"},
        )
    record["round"] = (("candidate",), np.asarray([r for _, r, _ in entries], dtype=np.int64))
    record["default"] = (("candidate",), np.asarray([int(f) for _, _, f in entries], dtype=np.int8))
    record["score"].attrs["description"] = f"the candidate's score: {metric} of its runs, aggregated over seeds"
    record["run_score"].attrs["description"] = f"each run's score from its {metric} history"
    record["round"].attrs["description"] = "round of the search that drew the candidate (0: the Sobol design)"
    record["default"].attrs["description"] = "1 for the solver's default point"
    kept = {
        key: value
        for key, value in first.attrs.items()
        if key not in ("grid", "vmapped", "programs", "wall_time_s", "batch_size", "sweep", "parameters")
    }
    record.attrs = {**kept, "vmapped": first.attrs.get("vmapped", "[]")}
    return record


__all__ = ["tune", "TuneResult", "Dimension", "check_space", "parse_range", "DEFAULT_SPACES", "SCORES", "AGGREGATES"]
