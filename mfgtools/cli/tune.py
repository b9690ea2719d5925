"""``mfgtools tune``: search a solver's parameters for the lowest exploitability within a budget."""

from __future__ import annotations

import argparse
import json
import time

from mfgtools.cli.common import (
    add_force_flag,
    add_game_flags,
    add_tolerance_flags,
    check_output,
    claim_outputs,
    file_stem,
    input_paths,
    routed_parameters,
    show_value,
    tolerances,
)
from mfgtools.errors import MFGError, as_int, as_seed


def add_tune_parser(commands) -> None:
    tune = commands.add_parser(
        "tune",
        help="search a solver's parameters for the lowest exploitability within a budget (sweeps); save one netCDF",
        description="Search a solver's parameters for the best final exploitability: a Sobol design over the "
        "space, then rounds around the best candidates, each round one vmapped sweep program per combination "
        "of choices; save the record of every candidate as netCDF and print the best (docs/sweeps.md).",
        epilog="examples:\n"
        "  mfgtools tune --game crowd_modelling --solver omd --space learning_rate=1e-3:10:log --budget 64 "
        "--out tune.nc\n"
        "  mfgtools tune --map four_rooms --solver pma --budget 32 --seeds 0-3 --score best\n"
        "  mfgtools tune --solver fixed-point --space damping=0.01:1 --space ties=first,split --budget 16\n\n"
        "A range is LOW:HIGH (uniform) or LOW:HIGH:log (uniform in the logarithm); a list V1,V2,... gives "
        "choices, each combination searched as its own program. Without --space: the solver's default space.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tune.add_argument("--game", default="crowd", help="game name (default: crowd; see `mfgtools list games`)")
    tune.add_argument("--solver", help="solver name (default: omd, or the default of the game's kind)")
    add_game_flags(tune)
    tune.add_argument("--dataset", metavar="PATH", help="solver parameter dataset (off-mmd)")
    tune.add_argument(
        "--space",
        action="append",
        default=[],
        metavar="KEY=LOW:HIGH[:log]",
        help="search the solver parameter KEY over a range, or over choices KEY=V1,V2,... (repeatable; "
        "default: the solver's default space)",
    )
    tune.add_argument("--budget", default="32", metavar="N", help="candidates to evaluate in all (default: 32)")
    tune.add_argument("--rounds", metavar="R", help="rounds of the search (default: up to 4, one per 8 candidates)")
    tune.add_argument("--seeds", default="0", metavar="SEEDS", help="seeds every candidate runs (default: 0)")
    tune.add_argument("--iterations", metavar="N", help="solver iterations per run (default: the solver's)")
    tune.add_argument(
        "--score",
        choices=("final", "best", "mean-last"),
        default="final",
        help="what a run scores: the final iterate's exploitability (default), the best iterate's "
        "(MFGLib's tuner), or the mean over the last --last iterations",
    )
    tune.add_argument("--last", default="10", metavar="K", help="iterations --score mean-last averages (default: 10)")
    tune.add_argument("--aggregate", choices=("mean", "geomean"), default="mean", help="over seeds (default: mean)")
    tune.add_argument("--search-seed", default="0", metavar="S", help="seed of the candidates drawn (default: 0)")
    tune.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a game or solver parameter for every run (repeatable)",
    )
    add_tolerance_flags(tune)
    tune.add_argument("--batch-size", metavar="B", help="at most B runs at a time (default: a round at once)")
    tune.add_argument("--devices", metavar="N", help="shard over the first N devices (default: all)")
    tune.add_argument(
        "--out",
        metavar="PATH",
        help="netCDF record of the search (default: GAME-SOLVER-tune.nc; an existing file is replaced only "
        "with --overwrite)",
    )
    tune.add_argument("--overwrite", action="store_true", help="replace --out if it exists (default: refuse)")
    tune.add_argument("--x64", action="store_true", help="compute in float64 (jax_enable_x64)")
    add_force_flag(tune)
    tune.add_argument("-q", "--quiet", action="store_true", help="no progress bar (the summary is still printed)")
    tune.set_defaults(handler=run_tune)


def parse_space(items, game: str, solver: str, solver_params: dict) -> dict | None:
    """``["key=low:high[:log]", "key=v1,v2", ...]`` as a space ``{key: (low, high[, scale]) | [choices]}``."""
    from mfgtools.cli.common import NONE_WORDS
    from mfgtools.games import game_spec
    from mfgtools.solvers import solver_spec
    from mfgtools.tuning import parse_range

    space: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise MFGError(f"--space expects KEY=LOW:HIGH[:log] or KEY=V1,V2,..., got {item!r}")
        if key in space:
            raise MFGError(f"--space {key}=... is given twice; give one range or one list of choices")
        if key not in solver_spec(solver).parameters and key in game_spec(game).parameters:
            raise MFGError(
                f"--space searches solver parameters; {key!r} is a parameter of game {game!r}: "
                "tune once per value (set it with -p or its flag)"
            )
        bounds = parse_range(text, key)
        if isinstance(bounds, list):
            bounds = [None if value.lower() in NONE_WORDS else value for value in bounds]
        space[key] = bounds
    return space or None


def run_tune(args) -> int:
    started = time.perf_counter()
    from mfgtools.sweeps import parse_seeds
    from mfgtools.tuning import check_space

    budget = as_int(args.budget, "--budget", 1)
    rounds = None if args.rounds is None else as_int(args.rounds, "--rounds", 1)
    iterations = None if args.iterations is None else as_int(args.iterations, "--iterations", 1)
    last = as_int(args.last, "--last", 1)
    search_seed = as_int(args.search_seed, "--search-seed", 0)
    batch_size = None if args.batch_size is None else as_int(args.batch_size, "--batch-size", 1)
    devices = None if args.devices is None else as_int(args.devices, "--devices", 1)
    atol, rtol = tolerances(args)
    seeds = parse_seeds(args.seeds, "--seeds")
    as_seed(max(seeds, default=0), "--seeds")
    game_params, solver_params = routed_parameters(args)
    space = parse_space(args.space, args.game, args.solver, solver_params)
    dimensions = check_space(args.solver, space, solver_params)  # every bound and choice, before the game is built
    out = args.out if args.out is not None else f"{file_stem(args.game)}-{args.solver}-tune.nc"
    check_output(out, "--out", args.overwrite, input_paths(game_params, solver_params, space or {}))
    claim_outputs(args, out)

    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    from mfgtools.games import make_game
    from mfgtools.tuning import tune

    game = make_game(args.game, **game_params)
    result = tune(
        game,
        args.solver,
        space={d.name: space[d.name] for d in dimensions} if space else None,
        budget=budget,
        seeds=seeds,
        iterations=iterations,
        rounds=rounds,
        score=args.score,
        last=last,
        aggregate=args.aggregate,
        search_seed=search_seed,
        batch_size=batch_size,
        devices=devices,
        progress=not args.quiet,
        solver_params=solver_params,
        atol=atol,
        rtol=rtol,
    )
    args.written.append(result.save(out, overwrite=args.overwrite))

    import numpy as np

    record = result.record
    scores = np.asarray(record["score"].values, dtype=np.float64)
    best = ", ".join(f"{k}={show_value(v)}" for k, v in result.best.items())
    scored = {"final": "final", "best": "best-iterate", "mean-last": f"mean of the last {last}"}[args.score]
    over = f"{args.aggregate} over {len(seeds)} seed{'s' if len(seeds) != 1 else ''}"
    lines = [
        ("game", game.describe()),
        ("solver", f"{args.solver}, {int(record.attrs['iterations'])} iterations per run"),
        ("space", "; ".join(d.describe() for d in dimensions)),
        (
            "candidates",
            f"{scores.size} in {int(record.attrs['rounds'])} round{'s' if int(record.attrs['rounds']) != 1 else ''}"
            f" x {len(seeds)} seed{'s' if len(seeds) != 1 else ''}; {int(record.attrs['programs'])} program"
            f" run{'s' if int(record.attrs['programs']) != 1 else ''}; vmapped: "
            f"{', '.join(json.loads(record.attrs['vmapped'])) or 'seeds only'}",
        ),
        ("best", f"{best}: {scored} {result.metric} {result.score:.6g} ({over})"),
    ]
    defaults = np.flatnonzero(np.asarray(record["default"].values) == 1)
    if defaults.size:
        lines.append(("defaults", f"{result.metric} {scores[defaults[0]]:.6g} (the solver's default point)"))
    finite = scores[np.isfinite(scores)]
    worst = finite.min() if result.higher_is_better else finite.max()
    lines.append(
        (
            "scores",
            f"best {result.score:.6g}, median {np.median(finite):.6g}, worst {worst:.6g}"
            + (f"; {scores.size - finite.size} not finite" if finite.size < scores.size else ""),
        )
    )
    lines.append(
        (
            "wall time",
            f"{time.perf_counter() - started:.1f} s (search {float(record.attrs['wall_time_s']):.1f} s, "
            "compilation included)",
        )
    )
    lines += [("wrote", path) for path in args.written]
    for label, text in lines:
        print(f"{label:<15} {text}")
    return 0


__all__ = ["add_tune_parser", "parse_space", "run_tune"]
