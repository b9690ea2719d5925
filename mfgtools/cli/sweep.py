"""``mfgtools sweep``: a grid of runs over parameter values and seeds."""

from __future__ import annotations

import argparse
import time

from mfgtools.cli.common import (
    NONE_WORDS,
    add_checkpoint_flags,
    add_force_flag,
    add_game_flags,
    add_tolerance_flags,
    file_stem,
    input_paths,
    prepare_checkpoint,
    routed_parameters,
    show_value,
    tolerances,
)
from mfgtools.errors import MFGError, as_int, as_seed


# ----- sweep ------------------------------------------------------------------------
def add_sweep_parser(commands) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="run a solver over seeds x a grid of its parameters (one program, all devices); save one netCDF",
        description="Run a solver for every seed and every point of a grid of its parameters, as one vmapped, "
        "jitted program per combination of the parameters that cannot be vmapped, sharded over all "
        "local devices; save one netCDF with the dimensions seed and one per grid parameter, and print "
        "the best grid point (docs/sweeps.md).",
        epilog="examples:\n"
        "  mfgtools sweep --map four_rooms --solver omd --seeds 0-7 --grid learning_rate=0.01,0.03,0.1,0.3 "
        "--out lr.nc --plot lr.png\n"
        "  mfgtools sweep --game sis --mode stationary --solver pma --grid learning_rate=0.1,0.5 "
        "--grid temperature=0.05,0.1 --seeds 0,1\n"
        "  mfgtools sweep --game vicsek --solver ippo --seeds 0-3 --grid clip=0.1,0.2 -p n_envs=4 "
        "--iterations 200\n\n"
        "Grid values are separated by commas, or by semicolons when a value itself has commas "
        "(--grid 'hidden=64,64;128,128').",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("--game", default="crowd", help="game name (default: crowd; see `mfgtools list games`)")
    sweep.add_argument("--solver", help="solver name (default: omd, or dec-pomfc on swarm games)")
    add_game_flags(sweep)
    sweep.add_argument("--dataset", metavar="PATH", help="solver parameter dataset (off-mmd)")
    sweep.add_argument(
        "--seeds",
        default="0",
        metavar="SEEDS",
        help="seeds: a range 0-7 (both ends included), a list 0,1,2, or both: 0-3,10 (default: 0)",
    )
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="sweep the solver parameter KEY over these values (repeatable: the grid is the product)",
    )
    sweep.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a game or solver parameter for every run (repeatable)",
    )
    sweep.add_argument("--iterations", metavar="N", help="solver iterations per run (default: the solver's)")
    add_tolerance_flags(sweep)
    sweep.add_argument(
        "--batch-size", metavar="B", help="at most B runs at a time (default: all runs of a program at once)"
    )
    sweep.add_argument("--devices", metavar="N", help="shard over the first N devices (default: all)")
    sweep.add_argument(
        "--out",
        metavar="PATH",
        help="netCDF file of the sweep (default: GAME-SOLVER-sweep.nc; an existing file is "
        "replaced only with --overwrite)",
    )
    sweep.add_argument(
        "--overwrite", action="store_true", help="replace --out and --plot if they exist (default: refuse)"
    )
    sweep.add_argument("--plot", metavar="PATH", help="also write a figure: final metric against the swept parameter")
    sweep.add_argument("--x64", action="store_true", help="compute in float64 (jax_enable_x64)")
    add_force_flag(sweep)
    add_checkpoint_flags(sweep, "sweep")
    sweep.add_argument("-q", "--quiet", action="store_true", help="no progress bar (the summary is still printed)")
    sweep.add_argument(
        "--distributed",
        action="store_true",
        help="one of several processes (jax.distributed; also MFGTOOLS_DISTRIBUTED=1): the runs "
        "are sharded over the devices of all processes, process 0 writes the files",
    )
    sweep.set_defaults(handler=run_sweep)


def parse_grid(items, game: str, solver: str, solver_params: dict) -> dict:
    """``["key=v1,v2", ...]`` as ``{key: [v1, v2]}`` (``;`` separates values that contain commas)."""
    from mfgtools.games import game_spec
    from mfgtools.solvers import solver_spec

    grid: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise MFGError(f"--grid expects KEY=V1,V2,..., got {item!r}")
        if key in grid:
            raise MFGError(f"--grid {key}=... is given twice; list all its values in one --grid")
        if key in solver_params:
            raise MFGError(f"parameter {key!r} is both swept (--grid) and set (-p or its flag); keep one")
        solver_parameters = solver_spec(solver).parameters
        if key not in solver_parameters:
            if key in game_spec(game).parameters:
                raise MFGError(
                    f"--grid sweeps solver parameters; {key!r} is a parameter of game {game!r}: "
                    "run one sweep per value (set it with -p or its flag)"
                )
            raise MFGError(
                f"--grid {key}: solver {solver!r} has no parameter {key!r}; its parameters are: "
                f"{', '.join(sorted(solver_parameters)) or 'none'}"
            )
        separator = ";" if ";" in text else ","
        values = [value.strip() for value in text.split(separator)]
        if any(not value for value in values):
            raise MFGError(f"--grid {key}: empty value in {text!r}")
        grid[key] = [None if value.lower() in NONE_WORDS else value for value in values]
    return grid


def run_sweep(args) -> int:
    started = time.perf_counter()
    from mfgtools.parallel.distributed import initialize_from_environment, is_writer

    args.distributed = initialize_from_environment(force=args.distributed)  # before JAX computes anything
    from mfgtools.sweeps import check_grid, parse_seeds

    iterations = None if args.iterations is None else as_int(args.iterations, "--iterations", 0)
    batch_size = None if args.batch_size is None else as_int(args.batch_size, "--batch-size", 1)
    devices = None if args.devices is None else as_int(args.devices, "--devices", 1)
    atol, rtol = tolerances(args)
    seeds = parse_seeds(args.seeds, "--seeds")
    as_seed(max(seeds, default=0), "--seeds")  # JAX keys hold 32-bit seeds
    game_params, solver_params = routed_parameters(args)
    grid = parse_grid(args.grid, args.game, args.solver, solver_params)
    check_grid(args.solver, grid, solver_params)  # every value, before the game is built

    out = args.out if args.out is not None else f"{file_stem(args.game)}-{args.solver}-sweep.nc"
    inputs = input_paths(game_params, solver_params, grid)
    checkpoint = prepare_checkpoint(args, out, inputs)

    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    if devices is not None:
        from mfgtools.parallel.sharding import resolve_devices

        resolve_devices(devices, local_only=False)  # too many: the error before the game is built
    from mfgtools.games import make_game
    from mfgtools.results import save_dataset
    from mfgtools.sweeps import best_point, final_metric, grid_dims, remove_checkpoint_files, sweep

    game = make_game(args.game, **game_params)
    writer = is_writer()
    checkpoint = checkpoint if writer else None  # with several processes, only process 0 writes (checkpoints too)
    dataset = sweep(
        game,
        args.solver,
        grid=grid,
        seeds=seeds,
        iterations=iterations,
        batch_size=batch_size,
        devices=devices,
        progress=not args.quiet and writer,
        solver_params=solver_params,
        checkpoint=checkpoint,
        checkpoint_every=as_int(args.checkpoint_every, "--checkpoint-every", 0),
        resume=args.resume,
        restart=args.restart,
        outputs=tuple(p for p in (out, args.plot) if p),
        remove_checkpoint=False,
        atol=atol,
        rtol=rtol,
    )
    written = args.written  # main() reports it when interrupted
    if writer:
        written.append(save_dataset(dataset, out, overwrite=args.overwrite))
        if args.plot is not None:
            from mfgtools.plotting import write_sweep_plot

            written.append(write_sweep_plot(dataset, args.plot))
        if checkpoint is not None:  # the sweep is complete and saved: its checkpoint files go, nothing else
            remove_checkpoint_files(checkpoint)
    if not writer:
        return 0

    import json

    import numpy as np

    dims = grid_dims(dataset)
    vmapped = json.loads(dataset.attrs["vmapped"])
    from mfgtools.solvers.base import shown_settings

    common = shown_settings(args.solver, json.loads(dataset.attrs["solver_params"]))
    settings = ", ".join(f"{k}={show_value(v)}" for k, v in sorted(common.items()))
    shape = " x ".join(
        [f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}"]
        + [f"{d} ({dataset.sizes[d]} value{'s' if dataset.sizes[d] != 1 else ''})" for d in dims]
    )
    runs = int(np.prod([dataset.sizes[d] for d in ("seed", *dims)]))
    count = int(dataset.attrs["devices"])
    programs = int(dataset.attrs["programs"])
    lines = [
        ("game", game.describe()),
        (
            "solver",
            f"{args.solver}"
            + (f" ({settings})" if settings else "")
            + f", {int(dataset.attrs['iterations'])} iterations per run",
        ),
        (
            "runs",
            f"{runs} = {shape}; vmapped: {', '.join(vmapped) or 'seeds only'}; {programs} program"
            f"{'s' if programs != 1 else ''} on {count} {dataset.attrs['platform']} device"
            f"{'s' if count != 1 else ''}"
            + (f" x {dataset.attrs['processes']} processes" if int(dataset.attrs["processes"]) > 1 else ""),
        ),
    ]
    best = best_point(dataset)
    where = ", ".join(f"{k}={show_value(v)}" for k, v in best["point"].items()) or "all seeds"
    metric = best["metric"]
    start = float(dataset[metric].isel(iteration=0).mean())  # the initial policies, mean over every run
    lines.append(
        (
            "best",
            f"{where}: final {metric} {best['mean']:.6g} (mean over {len(seeds)} seeds; "
            f"min {best['min']:.6g}, max {best['max']:.6g}; initial policy: {start:.6g})",
        )
    )
    final = final_metric(dataset).transpose("seed", *dims)
    if dims and int(np.prod([dataset.sizes[d] for d in dims])) <= 40:
        values = np.asarray(final.values, dtype=np.float64).reshape(len(seeds), -1)
        for flat, index in enumerate(np.ndindex(*[dataset.sizes[d] for d in dims])):
            point = ", ".join(f"{d}={show_value(dataset[d].values[i].item())}" for d, i in zip(dims, index))
            column = values[:, flat]
            lines.append(
                (
                    "",
                    f"{point:<32} {metric} {np.nanmean(column):.6g}"
                    + (f" (std {np.nanstd(column):.3g} over seeds)" if len(seeds) > 1 else ""),
                )
            )
    if "iterations_run" in dataset:  # early stopping (--atol/--rtol): how many runs met the tolerance, and when
        ran = np.asarray(dataset["iterations_run"].values).reshape(-1)
        total = int(dataset.attrs["iterations"])
        stopped = ran < total
        lines.append(
            (
                "stopped early",
                f"{int(stopped.sum())} of {ran.size} runs met the tolerance"
                + (
                    f", after {int(ran[stopped].min())} to {int(ran[stopped].max())} iterations"
                    if stopped.any()
                    else ""
                ),
            )
        )
    lines.append(
        (
            "wall time",
            f"{time.perf_counter() - started:.1f} s (sweep {float(dataset.attrs['wall_time_s']):.1f}"
            " s, compilation included)",
        )
    )
    lines += [("wrote", path) for path in written]
    for label, text in lines:
        print(f"{label:<15} {text}")
    return 0


__all__ = ["add_sweep_parser", "parse_grid", "run_sweep"]
