"""The ``mfgtools`` command line: ``solve``, ``sweep``, ``dataset``, ``list`` and ``plot``.

::

    mfgtools solve --game crowd --solver omd --map four_rooms --iterations 200 --out run.nc --plot run.png
    mfgtools solve --game crowd_modelling_2d --setting maze -p noise=0.5 -p learning_rate=0.05
    mfgtools solve --game crowd --solver off-mmd --task navigation --dataset my-data.nc --resume
    mfgtools sweep --game crowd --map four_rooms --solver omd --seeds 0-7 --grid learning_rate=0.01,0.03,0.1 \
        --out sweep.nc --plot sweep.png
    mfgtools dataset collect --game crowd --policy omd:50 --epsilon 0.2 --episodes 2000 --out data.nc
    mfgtools dataset mix a.nc b.nc --counts 500,1500 --out mix.nc
    mfgtools dataset info data.nc --quality
    mfgtools list [games | solvers]
    mfgtools plot run.nc [--out run.png]

User errors (unknown game, solver or parameter, bad value, missing or broken file,
...) and failed writes (disk full, permission denied: the line names the file)
print one line ``mfgtools: error: <message>`` on stderr and exit with status 2;
command-line syntax errors exit 2 with argparse's usage message; any other
refusal of the operating system prints one such line and exits 1; Ctrl-C exits
130, SIGTERM 143, both with one line. Files are written to a temporary name and
renamed, so an error or an interrupt never leaves a partial file behind.

No file is lost (mfgtools.files): an existing ``--out``/``--plot`` is replaced
only with ``--overwrite``; an output equal to an input (dataset, map, graph,
policy, mixed dataset, checkpoint) is refused; a file being written is locked
(``PATH.lock``) against a second mfgtools process; a checkpoint is deleted only
by the run that wrote or resumed it, and an existing checkpoint stops a run
unless ``--resume`` (continue) or ``--restart`` (discard) says what to do.

JAX, xarray and matplotlib are imported only by the subcommands that use them,
so ``mfgtools --help`` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time

from mfgtools.errors import MFGError, as_int, as_seed

EXIT_ERROR = 2  # user errors, as argparse's usage errors
EXIT_IO = 1  # the operating system refused a read or a write
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell convention
EXIT_TERMINATED = 143  # 128 + SIGTERM

NONE_WORDS = ("none", "null")
# shortcut flags of `solve` that set a game parameter of the same name
GAME_SHORTCUTS = ("map", "task", "setting", "horizon", "mode", "graph")
# ... and a solver parameter of the same name
SOLVER_SHORTCUTS = ("dataset",)
# the solver of `solve` without --solver, by game family (others: omd)
DEFAULT_SOLVERS = {"swarm": "dec-pomfc"}
LABEL_WIDTH = len("behaviour_exploitability")  # the label column of `dataset` output: its longest label


# ----- parser ---------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mfgtools`` (its subcommands set ``args.command``)."""
    parser = argparse.ArgumentParser(
        prog="mfgtools",
        description="Equilibria of mean-field games and mean-field control of swarms in JAX: solve a game, "
                    "list what is available, plot a saved result.",
        epilog="Run `mfgtools COMMAND --help` for the options of a command, "
               "`mfgtools list` for the games, solvers and their parameters.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    solve = commands.add_parser(
        "solve", help="solve a game and save the result (netCDF) and, optionally, a figure",
        description="Solve a game with a solver, show progress, save the result as netCDF "
                    "(and a figure with --plot) and print a summary.",
        epilog="examples:\n"
               "  mfgtools solve --game crowd --solver omd --iterations 200 --out run.nc --plot run.png\n"
               "  mfgtools solve --game crowd --map labyrinth --task navigation --solver fp\n"
               "  mfgtools solve --game crowd_modelling_2d --setting maze -p noise=0.5 -p learning_rate=0.05\n"
               "  mfgtools solve --game crowd -p mu0='1,1;11,11' -p floor=1e-4\n"
               "  mfgtools solve --game crowd --solver off-mmd --task navigation --dataset intermediate\n"
               "  mfgtools solve --game vicsek --solver dec-pomfc -p n_agents=200 --plot vicsek.png\n\n"
               "Values are validated by the game or solver; `none` (or `null`) gives None, "
               "the default of parameters listed as none.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    solve.add_argument("--game", default="crowd", help="game name (default: crowd; see `mfgtools list games`)")
    solve.add_argument("--solver", help="solver name (default: omd, or dec-pomfc on swarm games; "
                                        "see `mfgtools list solvers`)")
    _add_game_flags(solve)
    solve.add_argument("--dataset", metavar="PATH",
                       help="solver parameter dataset (off-mmd: random, intermediate, expert or a dataset file)")
    solve.add_argument("--iterations", metavar="N",
                       help="solver iterations (default: the solver's, 100 for most, 2000 for dec-pomfc and ippo; "
                            "see `mfgtools list solvers`)")
    solve.add_argument("--seed", default="0", metavar="S", help="random seed (default: 0)")
    solve.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                       help="set a game or solver parameter (repeatable); the key goes to the game if "
                            "it has a parameter of that name, else to the solver")
    solve.add_argument("--out", metavar="PATH",
                       help="netCDF file of the result (default: GAME-SOLVER.nc in the current "
                            "directory, a / in GAME written _; an existing file is replaced only with --overwrite)")
    solve.add_argument("--overwrite", action="store_true",
                       help="replace --out and --plot if they exist (default: refuse)")
    solve.add_argument("--plot", metavar="PATH", help="also write a figure of the result (.png, .pdf, .svg, ...)")
    solve.add_argument("--checkpoint", metavar="PATH",
                       help="checkpoint file of the run (default: OUT.ckpt; deleted when the run completes; "
                            "an existing file other than a checkpoint of mfgtools is never touched)")
    solve.add_argument("--checkpoint-every", default="10", metavar="N",
                       help="save the checkpoint at least N iterations apart (default: 10; 0: never)")
    solve.add_argument("--resume", action="store_true",
                       help="continue from the checkpoint of an interrupted run with the same arguments")
    solve.add_argument("--restart", action="store_true",
                       help="discard the checkpoint of an interrupted run and start afresh (without --resume or "
                            "--restart, an existing checkpoint stops the run)")
    solve.add_argument("--devices", metavar="N",
                       help="split this one run over the first N devices, the state space sharded (finite games; "
                            "default: one device; docs/sweeps.md)")
    solve.add_argument("--x64", action="store_true", help="compute in float64 (jax_enable_x64)")
    solve.add_argument("--dry-run", action="store_true",
                       help="print the shapes, the memory estimate and a time estimate (one iteration compiled "
                            "and timed); run and write nothing")
    _add_force_flag(solve)
    solve.add_argument("-q", "--quiet", action="store_true", help="no progress bar (the summary is still printed)")
    solve.add_argument("--distributed", action="store_true",
                       help="one of several processes (jax.distributed; also MFGTOOLS_DISTRIBUTED=1): every "
                            "process runs the whole solve, process 0 writes the files (docs/sweeps.md)")
    solve.set_defaults(handler=run_solve)

    _add_sweep_parser(commands)
    _add_dataset_parser(commands)

    listing = commands.add_parser(
        "list", help="list games and solvers with their parameters",
        description="List the registered games and solvers with each parameter's default and help.",
    )
    listing.add_argument("what", nargs="?", choices=("games", "solvers"), help="list only games or only solvers")
    listing.set_defaults(handler=run_list)

    plot = commands.add_parser(
        "plot", help="plot a saved result",
        description="Draw the densities and the exploitability curve of a result saved by "
                    "`mfgtools solve` (or Result.save).",
    )
    plot.add_argument("path", help="netCDF result file")
    plot.add_argument("--out", metavar="PATH", help="figure file (default: PATH with the extension .png)")
    plot.add_argument("--overwrite", action="store_true", help="replace the figure file if it exists (default: refuse)")
    plot.add_argument("--times", metavar="T,T,...",
                      help="time steps of the density panels (default: about 6 from 0 to T; "
                           "finite-horizon results only)")
    plot.add_argument("--scale", choices=("log", "linear"), default="log", help="density colour scale (default: log)")
    plot.set_defaults(handler=run_plot)
    return parser


def _add_game_flags(parser) -> None:
    """The shortcut flags (GAME_SHORTCUTS) that set a game parameter of the same name."""
    parser.add_argument("--map", help="game parameter map (crowd: four_rooms, labyrinth, maze, empty:N, ...)")
    parser.add_argument("--task", help="game parameter task (crowd: exploration or navigation)")
    parser.add_argument("--setting", help="game parameter setting (crowd_modelling_2d: default, four_rooms, maze)")
    parser.add_argument("--horizon", metavar="T", help="game parameter horizon: number of decision steps")
    parser.add_argument("--mode", help="game parameter mode: finite-horizon or stationary, for games that have both")
    parser.add_argument("--graph", metavar="PATH",
                        help="game parameter graph: edge-list file of a real network (graphex games; plain or .gz)")


def _add_force_flag(parser) -> None:
    parser.add_argument("--force", action="store_true",
                        help="run even when the memory estimate exceeds the memory available (mfgtools refuses "
                             "such runs at once otherwise; docs/reliability.md)")


def _version() -> str:
    from mfgtools import __version__

    return __version__


# ----- entry point ------------------------------------------------------------------
class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that a terminated run cleans up as an interrupted one."""


def _on_sigterm(signum, frame):
    raise Terminated()


def file_stem(game: str) -> str:
    """``game`` as part of a default file name: ``mfglib/beach_bar`` -> ``mfglib_beach_bar``."""
    return game.replace("/", "_")


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error (status 2)
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else EXIT_ERROR)
    args.written = []  # files completed so far (atomic writes: never partial)
    previous = _install_sigterm()
    with contextlib.ExitStack() as cleanup:  # locks of the files being written, released on any exit
        args.cleanup = cleanup
        try:
            from mfgtools.resources import forcing

            with forcing(getattr(args, "force", False)):  # --force: resource checks refuse nothing
                return args.handler(args)
        except MFGError as error:
            return _fail(str(error), EXIT_ERROR)
        except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (Terminated)
            terminated = isinstance(stop, Terminated)
            written = getattr(args, "written", [])
            done = f"after writing {', '.join(written)}" if written else "before writing any file"
            kept = getattr(args, "checkpoint_path", None)
            resume = (f"; checkpoint {kept!r} kept: rerun with --resume to continue"
                      if kept and os.path.isfile(kept) else "")
            print(f"mfgtools: {'terminated (SIGTERM)' if terminated else 'interrupted'} {done} "
                  f"(no partial file is left){resume}", file=sys.stderr)
            return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
        except BrokenPipeError:  # e.g. `mfgtools list | head`: the reader left
            _silence_stdout()
            return 0
        except OSError as error:
            where = f": {error.filename!r}" if getattr(error, "filename", None) else ""
            return _fail(f"{error.strerror or error}{where}", EXIT_IO)
        finally:
            _restore_sigterm(previous)


def _install_sigterm():
    """Turn SIGTERM into :class:`Terminated` while a command runs (main thread only); returns the old handler."""
    try:
        return signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # not the main thread
        return None


def _restore_sigterm(previous) -> None:
    if previous is not None:
        try:
            signal.signal(signal.SIGTERM, previous)
        except (ValueError, OSError):
            pass


def _fail(message: str, status: int) -> int:
    one_line = " ".join(message.split())
    print(f"mfgtools: error: {one_line}", file=sys.stderr)
    return status


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# ----- solve ------------------------------------------------------------------------
def parse_assignments(items) -> list[tuple[str, object]]:
    """``["key=value", ...]`` as ``[(key, value), ...]``; ``none``/``null`` become None."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise MFGError(f"-p/--param expects KEY=VALUE, got {item!r}")
        pairs.append((key, None if value.strip().lower() in NONE_WORDS else value))
    return pairs


def route_parameters(game: str, solver: str, shortcuts: dict, assignments, solver_shortcuts=None
                     ) -> tuple[dict, dict]:
    """Split parameters between the game and the solver.

    ``shortcuts`` (``--map`` etc.) must be game parameters, ``solver_shortcuts``
    (``--dataset``) solver parameters. Each ``-p`` key goes
    to the game when its registry entry has that parameter, else to the solver
    when it has it; anything else is an error that lists both sets.
    """
    from mfgtools.games import game_spec
    from mfgtools.solvers import solver_spec

    game_parameters = game_spec(game).parameters
    solver_parameters = solver_spec(solver).parameters
    game_params: dict = {}
    solver_params: dict = {}
    origin: dict = {}
    for values, known, target, kind, name_of in ((shortcuts, game_parameters, game_params, "game", game),
                                                 (solver_shortcuts or {}, solver_parameters, solver_params,
                                                  "solver", solver)):
        for name, value in values.items():
            if name not in known:
                raise MFGError(
                    f"--{name} does not apply to {kind} {name_of!r}; its parameters are: "
                    f"{', '.join(sorted(known)) or 'none'}"
                )
            target[name] = value
            origin[name] = f"--{name}"
    for key, value in assignments:
        if key in game_parameters:
            target = game_params
        elif key in solver_parameters:
            target = solver_params
        elif key in ("iterations", "seed", "out", "plot"):
            raise MFGError(f"{key!r} is not a game or solver parameter: use --{key}")
        else:
            raise MFGError(
                f"unknown parameter {key!r}: game {game!r} has "
                f"{', '.join(sorted(game_parameters)) or 'no parameters'}; solver {solver!r} has "
                f"{', '.join(sorted(solver_parameters)) or 'no parameters'}"
            )
        if key in target:
            raise MFGError(f"parameter {key!r} is given twice ({origin[key]} and -p {key}=...); keep one")
        target[key] = value
        origin[key] = f"-p {key}=..."
    return game_params, solver_params


def _check_output(path, what: str, overwrite: bool = False, inputs=(), outputs=()) -> str:
    """Before any work: ``path`` is a writable file name, not one of ``inputs`` or ``outputs``
    (``(label, path)`` pairs), and not an existing file unless ``overwrite``."""
    from mfgtools.files import check_output_path

    return check_output_path(path, what, overwrite=overwrite, inputs=inputs, outputs=outputs)


def _claim(args, *paths) -> None:
    """Lock ``paths`` (``PATH.lock``) until the command ends: a second writer of one of them is refused."""
    from mfgtools.files import FileLock

    if getattr(args, "distributed", False):
        from mfgtools.distributed import is_writer

        if not is_writer():  # several processes: only process 0 writes, and locks
            return
    for path in paths:
        if path is not None:
            args.cleanup.enter_context(FileLock(path))


def _inputs(*groups) -> list:
    """``(label, path)`` of every input file: parameter values naming existing files (map, graph, dataset,
    policy, ...) from the dicts or lists in ``groups``."""
    from mfgtools.files import input_files

    found = []
    for group in groups:
        items = group.items() if isinstance(group, dict) else [(None, value) for value in group]
        for name, value in items:
            for path in input_files(value if isinstance(value, (list, tuple)) else [value]):
                found.append((f"{name} file {path!r}" if name else f"input file {path!r}", path))
    return found


def _accepts(function, name: str) -> bool:
    """Whether ``function`` takes the keyword ``name`` (solve's checkpoint options, while they are added)."""
    import inspect

    return name in inspect.signature(function).parameters


def _routed_parameters(args) -> tuple[dict, dict]:
    """``(game_params, solver_params)`` from the flags of ``solve`` or ``sweep``; sets the
    default solver of the game's kind when ``--solver`` is not given."""
    shortcuts = {name: getattr(args, name) for name in GAME_SHORTCUTS if getattr(args, name) is not None}
    solver_shortcuts = {name: getattr(args, name) for name in SOLVER_SHORTCUTS if getattr(args, name) is not None}
    assignments = parse_assignments(args.param)
    if args.solver is None:
        from mfgtools.games import game_spec

        args.solver = DEFAULT_SOLVERS.get(game_spec(args.game).kind, "omd")
    return route_parameters(args.game, args.solver, shortcuts, assignments, solver_shortcuts)


def _check_plot(plot, out, overwrite: bool = False, inputs=(), outputs=()) -> None:
    """``--plot``, when given: a writable figure path other than ``--out`` and the inputs."""
    if plot is None:
        return
    from mfgtools.plotting import check_figure_path

    if plot and out and (os.path.abspath(plot) == os.path.abspath(out)):
        raise MFGError(f"--out and --plot are the same file {out!r}; give two paths")
    _check_output(plot, "--plot", overwrite, inputs, [("--out", out), *outputs])
    check_figure_path(plot)


def run_solve(args) -> int:
    started = time.perf_counter()
    from mfgtools.distributed import initialize_from_environment, is_writer

    args.distributed = initialize_from_environment(force=args.distributed)  # before JAX computes anything
    iterations = None if args.iterations is None else as_int(args.iterations, "--iterations", 0)
    devices = None if args.devices is None else as_int(args.devices, "--devices", 1)
    seed = as_seed(args.seed, "--seed")
    every = as_int(args.checkpoint_every, "--checkpoint-every", 0)
    game_params, solver_params = _routed_parameters(args)

    from mfgtools import checkpoints

    out = args.out if args.out is not None else f"{file_stem(args.game)}-{args.solver}.nc"
    inputs = _inputs(game_params, solver_params)  # map, graph and dataset files: never an output
    checkpoint = args.checkpoint if args.checkpoint is not None else out + ".ckpt"
    checkpointed = bool(every or args.resume or args.restart)
    extra = [("--checkpoint", checkpoint)] if checkpointed else []
    _check_output(out, "--out", args.overwrite, inputs, extra)
    _check_plot(args.plot, out, args.overwrite, inputs, extra)
    if checkpointed:
        checkpoints.check_path(checkpoint, resume=args.resume, restart=args.restart,
                               outputs=[("--out", out), ("--plot", args.plot)], inputs=inputs, existing=False)
    _claim(args, out, args.plot)  # a second run writing the same files is refused from here on
    if checkpointed:  # an existing checkpoint is an interrupted run's (a running one holds the lock of --out)
        checkpoints.check_path(checkpoint, resume=args.resume, restart=args.restart)
        args.checkpoint_path = checkpoint
    if args.resume and not os.path.isfile(checkpoint):
        print(f"mfgtools: no checkpoint {checkpoint!r} to resume from; starting from iteration 0", file=sys.stderr)

    if args.x64:
        import jax

        jax.config.update("jax_enable_x64", True)
    from mfgtools.games import make_game
    from mfgtools.results import save_dataset
    from mfgtools.solvers import make_solver, solve

    make_solver(args.solver, **solver_params)  # bad solver values fail before the game is built
    game = make_game(args.game, **game_params)
    if args.dry_run:
        return _dry_run(args, game, iterations, solver_params)
    writer = is_writer()  # with several processes, only process 0 writes (checkpoints included)
    checkpointed = checkpointed and writer
    options = {name: value for name, value in (("restart", args.restart),
                                               ("outputs", tuple(p for p in (out, args.plot) if p)))
               if _accepts(solve, name)}  # the run loop's Checkpoint options, where solve takes them
    result = solve(game, args.solver, iterations=iterations, seed=seed, progress=not args.quiet and writer,
                   checkpoint=checkpoint if checkpointed else None, checkpoint_every=every,
                   resume=args.resume, devices=devices, **options, **solver_params)
    dataset = result.to_xarray()
    written = args.written  # main() reports it when interrupted
    if writer:
        written.append(save_dataset(dataset, out, overwrite=args.overwrite))
        if args.plot is not None:
            from mfgtools.plotting import plot_result

            written.append(plot_result(dataset, args.plot))
        if checkpointed:  # the run is complete and saved: its checkpoint goes, nothing else
            holder = getattr(result, "checkpoint", None)
            if holder is not None:
                holder.remove()
            else:
                checkpoints.discard(checkpoint, None if args.restart else {"game": game.name, "solver": args.solver,
                                                                            "seed": seed})

    import numpy as np

    from mfgtools.solvers.base import shown_settings

    shown = shown_settings(args.solver, result.solver_params)
    settings = ", ".join(f"{k}={_show(v)}" for k, v in sorted(shown.items()))
    lines = [
        ("game", result.game.describe()),
        ("solver", f"{args.solver}" + (f" ({settings})" if settings else "")
         + f", {result.iterations} iteration{'s' if result.iterations != 1 else ''}, seed {seed}"),
    ]
    if "exploitability" in result.metrics:
        history = np.asarray(result.metrics["exploitability"], dtype=float)
        lines.append(("exploitability", f"{float(history[-1]):.6g} (initial policy: {float(history[0]):.6g}"
                      + (f"; lowest {np.nanmin(history):.6g} at iteration {int(np.nanargmin(history))})"
                         if np.nanmin(history) < history[-1] else ")")))
    else:  # mean-field control of a swarm: the shared return of the decentralised policy
        returns = np.asarray(result.metrics["return"], dtype=float)
        order = np.asarray(result.metrics["order_parameter"], dtype=float)
        agents = result.game.n_agents
        lines += [
            ("return", f"{returns[-1]:.6g} (decentralised, {agents} agents; first training episodes: "
                       f"{returns[0]:.6g})"),
            (result.game.order_label, f"{order[-1]:.4g} at the horizon (first training episodes: {order[0]:.4g})"),
        ]
    if "regularised_exploitability" in result.metrics:  # what entropy-regularised solvers drive to 0
        regularised = np.asarray(result.metrics["regularised_exploitability"], dtype=float)
        temperature = result.solver_params.get("temperature")
        lines.append(("regularised", f"{float(regularised[-1]):.6g} (initial policy: {float(regularised[0]):.6g}; "
                                     f"exploitability of the temperature={temperature} game)"))
    lines.append(("wall time", f"{time.perf_counter() - started:.1f} s (solve {result.wall_time:.1f} s, "
                               "compilation included)"))
    lines += [("wrote", path) for path in written]
    if writer:
        for label, text in lines:
            print(f"{label:<15} {text}")
    return 0


def _dry_run(args, game, iterations, solver_params) -> int:
    """``solve --dry-run``: shapes, memory and time estimates; nothing is written."""
    from mfgtools.resources import dry_run
    from mfgtools.solvers import default_iterations

    iterations = default_iterations(args.solver) if iterations is None else iterations
    for label, text in dry_run(game, args.solver, iterations, solver_params):
        print(f"{label:<17} {text}")
    print(f"{'dry run':<17} nothing was run or written")
    return 0


# ----- sweep ------------------------------------------------------------------------
def _add_sweep_parser(commands) -> None:
    sweep = commands.add_parser(
        "sweep", help="run a solver over seeds x a grid of its parameters (one program, all devices); save one netCDF",
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
    _add_game_flags(sweep)
    sweep.add_argument("--dataset", metavar="PATH", help="solver parameter dataset (off-mmd)")
    sweep.add_argument("--seeds", default="0", metavar="SEEDS",
                       help="seeds: a range 0-7 (both ends included), a list 0,1,2, or both: 0-3,10 (default: 0)")
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                       help="sweep the solver parameter KEY over these values (repeatable: the grid is the "
                            "product)")
    sweep.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                       help="set a game or solver parameter for every run (repeatable)")
    sweep.add_argument("--iterations", metavar="N", help="solver iterations per run (default: the solver's)")
    sweep.add_argument("--batch-size", metavar="B",
                       help="at most B runs at a time (default: all runs of a program at once)")
    sweep.add_argument("--devices", metavar="N", help="shard over the first N devices (default: all)")
    sweep.add_argument("--out", metavar="PATH",
                       help="netCDF file of the sweep (default: GAME-SOLVER-sweep.nc; an existing file is "
                            "replaced only with --overwrite)")
    sweep.add_argument("--overwrite", action="store_true",
                       help="replace --out and --plot if they exist (default: refuse)")
    sweep.add_argument("--plot", metavar="PATH", help="also write a figure: final metric against the swept parameter")
    sweep.add_argument("--x64", action="store_true", help="compute in float64 (jax_enable_x64)")
    _add_force_flag(sweep)
    sweep.add_argument("-q", "--quiet", action="store_true", help="no progress bar (the summary is still printed)")
    sweep.add_argument("--distributed", action="store_true",
                       help="one of several processes (jax.distributed; also MFGTOOLS_DISTRIBUTED=1): the runs "
                            "are sharded over the devices of all processes, process 0 writes the files")
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
                raise MFGError(f"--grid sweeps solver parameters; {key!r} is a parameter of game {game!r}: "
                               "run one sweep per value (set it with -p or its flag)")
            raise MFGError(f"--grid {key}: solver {solver!r} has no parameter {key!r}; its parameters are: "
                           f"{', '.join(sorted(solver_parameters)) or 'none'}")
        separator = ";" if ";" in text else ","
        values = [value.strip() for value in text.split(separator)]
        if any(not value for value in values):
            raise MFGError(f"--grid {key}: empty value in {text!r}")
        grid[key] = [None if value.lower() in NONE_WORDS else value for value in values]
    return grid


def run_sweep(args) -> int:
    started = time.perf_counter()
    from mfgtools.distributed import initialize_from_environment, is_writer

    args.distributed = initialize_from_environment(force=args.distributed)  # before JAX computes anything
    from mfgtools.sweeps import check_grid, parse_seeds

    iterations = None if args.iterations is None else as_int(args.iterations, "--iterations", 0)
    batch_size = None if args.batch_size is None else as_int(args.batch_size, "--batch-size", 1)
    devices = None if args.devices is None else as_int(args.devices, "--devices", 1)
    seeds = parse_seeds(args.seeds, "--seeds")
    as_seed(max(seeds, default=0), "--seeds")  # JAX keys hold 32-bit seeds
    game_params, solver_params = _routed_parameters(args)
    grid = parse_grid(args.grid, args.game, args.solver, solver_params)
    check_grid(args.solver, grid, solver_params)  # every value, before the game is built

    out = args.out if args.out is not None else f"{file_stem(args.game)}-{args.solver}-sweep.nc"
    inputs = _inputs(game_params, solver_params, grid)
    _check_output(out, "--out", args.overwrite, inputs)
    _check_plot(args.plot, out, args.overwrite, inputs)
    _claim(args, out, args.plot)

    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    if devices is not None:
        from mfgtools.sharding import resolve_devices

        resolve_devices(devices, local_only=False)  # too many: the error before the game is built
    from mfgtools.games import make_game
    from mfgtools.results import save_dataset
    from mfgtools.sweeps import best_point, final_metric, grid_dims, sweep

    game = make_game(args.game, **game_params)
    writer = is_writer()
    dataset = sweep(game, args.solver, grid=grid, seeds=seeds, iterations=iterations, batch_size=batch_size,
                    devices=devices, progress=not args.quiet and writer, solver_params=solver_params)
    written = args.written  # main() reports it when interrupted
    if writer:
        written.append(save_dataset(dataset, out, overwrite=args.overwrite))
        if args.plot is not None:
            from mfgtools.plotting import write_sweep_plot

            written.append(write_sweep_plot(dataset, args.plot))
    if not writer:
        return 0

    import json

    import numpy as np

    dims = grid_dims(dataset)
    vmapped = json.loads(dataset.attrs["vmapped"])
    from mfgtools.solvers.base import shown_settings

    common = shown_settings(args.solver, json.loads(dataset.attrs["solver_params"]))
    settings = ", ".join(f"{k}={_show(v)}" for k, v in sorted(common.items()))
    shape = " x ".join([f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}"]
                       + [f"{d} ({dataset.sizes[d]} value{'s' if dataset.sizes[d] != 1 else ''})" for d in dims])
    runs = int(np.prod([dataset.sizes[d] for d in ("seed", *dims)]))
    count = int(dataset.attrs["devices"])
    programs = int(dataset.attrs["programs"])
    lines = [
        ("game", game.describe()),
        ("solver", f"{args.solver}" + (f" ({settings})" if settings else "")
         + f", {int(dataset.attrs['iterations'])} iterations per run"),
        ("runs", f"{runs} = {shape}; vmapped: {', '.join(vmapped) or 'seeds only'}; {programs} program"
                 f"{'s' if programs != 1 else ''} on {count} {dataset.attrs['platform']} device"
                 f"{'s' if count != 1 else ''}" + (f" x {dataset.attrs['processes']} processes"
                                                   if int(dataset.attrs["processes"]) > 1 else "")),
    ]
    best = best_point(dataset)
    where = ", ".join(f"{k}={_show(v)}" for k, v in best["point"].items()) or "all seeds"
    metric = best["metric"]
    start = float(dataset[metric].isel(iteration=0).mean())  # the initial policies, mean over every run
    lines.append(("best", f"{where}: final {metric} {best['mean']:.6g} (mean over {len(seeds)} seeds; "
                          f"min {best['min']:.6g}, max {best['max']:.6g}; initial policy: {start:.6g})"))
    final = final_metric(dataset).transpose("seed", *dims)
    if dims and int(np.prod([dataset.sizes[d] for d in dims])) <= 40:
        values = np.asarray(final.values, dtype=np.float64).reshape(len(seeds), -1)
        for flat, index in enumerate(np.ndindex(*[dataset.sizes[d] for d in dims])):
            point = ", ".join(f"{d}={_show(dataset[d].values[i].item())}" for d, i in zip(dims, index))
            column = values[:, flat]
            lines.append(("", f"{point:<32} {metric} {np.nanmean(column):.6g}"
                              + (f" (std {np.nanstd(column):.3g} over seeds)" if len(seeds) > 1 else "")))
    lines.append(("wall time", f"{time.perf_counter() - started:.1f} s (sweep {float(dataset.attrs['wall_time_s']):.1f}"
                               " s, compilation included)"))
    lines += [("wrote", path) for path in written]
    for label, text in lines:
        print(f"{label:<15} {text}")
    return 0


# ----- dataset ----------------------------------------------------------------------
def _add_dataset_parser(commands) -> None:
    dataset = commands.add_parser(
        "dataset", help="offline datasets: collect, mix, info",
        description="Collect offline datasets by simulating a population that follows a policy, mix "
                    "datasets, and print a dataset's schema summary and quality metrics.",
    )
    actions = dataset.add_subparsers(dest="action", metavar="ACTION", required=True)

    collect = actions.add_parser(
        "collect", help="simulate a population following a policy and save its episodes",
        description="Simulate EPISODES agents following a behaviour policy (one population unless "
                    "--population is smaller) and save their episodes as a dataset file.",
        epilog="policies: uniform; omd:K (online mirror descent after K iterations); equilibrium "
               "(omd:1000); or a result file of `mfgtools solve` (its final policy).",
    )
    collect.add_argument("--game", default="crowd", help="game name (default: crowd)")
    _add_game_flags(collect)
    collect.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                         help="set a game parameter (repeatable)")
    collect.add_argument("--policy", default="uniform", help="behaviour policy (default: uniform; see below)")
    collect.add_argument("--epsilon", default="0", help="mix the policy with uniform: (1-e) pi + e uniform")
    collect.add_argument("--episodes", default="1000", metavar="E", help="episodes to record (default: 1000)")
    collect.add_argument("--population", metavar="N", help="agents per simulated population (default: E)")
    collect.add_argument("--seed", default="0", metavar="S", help="random seed (default: 0)")
    collect.add_argument("--out", required=True, metavar="PATH", help="dataset file to write (netCDF)")
    collect.add_argument("--overwrite", action="store_true", help="replace --out if it exists (default: refuse)")
    _add_force_flag(collect)
    collect.set_defaults(handler=run_dataset_collect)

    mix = actions.add_parser("mix", help="concatenate episodes of datasets of the same game",
                             description="Mix datasets of the same game and map into one file.")
    mix.add_argument("paths", nargs="+", metavar="PATH", help="dataset files")
    mix.add_argument("--counts", metavar="N,N,...", help="episodes to draw from each (default: all)")
    mix.add_argument("--seed", default="0", metavar="S", help="random seed of the draws (default: 0)")
    mix.add_argument("--out", required=True, metavar="PATH", help="dataset file to write")
    mix.add_argument("--overwrite", action="store_true", help="replace --out if it exists (default: refuse)")
    mix.set_defaults(handler=run_dataset_mix)

    info = actions.add_parser("info", help="summary and quality metrics of a dataset",
                              description="Print a dataset's game, size, coverage and returns; with "
                                          "--quality also its trajectory quality and the behaviour's "
                                          "exploitability (these need the game's dynamics).")
    info.add_argument("path", help="dataset file")
    info.add_argument("--quality", action="store_true",
                      help="also compute the trajectory quality (runs OMD for the expert reference)")
    info.set_defaults(handler=run_dataset_info)


class _stage:
    """``with _stage("collecting 2000 episodes"):`` one line on stderr when a person watches
    (stderr is a terminal): the stage's name, then its duration when it ends. Nothing
    otherwise, so that pipes and logs get only the results."""

    def __init__(self, message: str):
        self.message = message
        self.shown = sys.stderr.isatty()

    def __enter__(self):
        self.started = time.perf_counter()
        if self.shown:
            print(f"mfgtools: {self.message} ...", file=sys.stderr, flush=True)
        return self

    def __exit__(self, kind, error, traceback):
        if self.shown and kind is None:
            print(f"mfgtools: {self.message}: done in {time.perf_counter() - self.started:.1f} s", file=sys.stderr,
                  flush=True)
        return False


def _behaviour(game, spec: str):
    from mfgtools.evaluation import uniform_policy
    from mfgtools.solvers import solve

    text = spec.strip()
    if text == "uniform":
        return uniform_policy(game)
    if text == "equilibrium":
        text = "omd:1000"
    if text.startswith("omd"):
        _, _, count = text.partition(":")
        iterations = as_int(count or "1000", "--policy omd:K", 0)
        return solve(game, "omd", iterations=iterations).policy
    if not os.path.isfile(text):
        raise MFGError(f"--policy {spec!r} is not uniform, omd:K, equilibrium or an existing result file")
    from mfgtools.results import load_result

    result = load_result(text)
    if "policy" not in result or result.attrs.get("game") != game.name:
        raise MFGError(f"{text!r} holds no policy of game {game.name!r}")
    if result.attrs["mode"] != "finite-horizon":
        raise MFGError(f"{text!r} holds a {result.attrs['mode']} policy; datasets are collected with a "
                       "finite-horizon policy: solve the game with --mode finite-horizon")
    policy = result["policy"].values[:-1]
    if game.grid_shape is not None and policy.ndim == 4:
        policy = game.from_grid(policy)
    return policy


def run_dataset_collect(args) -> int:
    from mfgtools.games import make_game
    from mfgtools.offline import check_collection, collect_dataset, dataset_metrics, require_finite_horizon

    shortcuts = {name: getattr(args, name) for name in GAME_SHORTCUTS if getattr(args, name) is not None}
    game_params = dict(shortcuts)
    for key, value in parse_assignments(args.param):
        if key in game_params:
            raise MFGError(f"game parameter {key!r} is given twice; keep one")
        game_params[key] = value
    episodes = as_int(args.episodes, "--episodes", 1)
    population = None if args.population is None else as_int(args.population, "--population", 1)
    seed = as_seed(args.seed, "--seed")
    _check_output(args.out, "--out", args.overwrite, _inputs(game_params, {"--policy": args.policy}))
    _claim(args, args.out)
    game = make_game(args.game, **game_params)
    require_finite_horizon(game)  # before a behaviour policy is computed
    check_collection(game, episodes, episodes if population is None else population)
    with _stage(f"behaviour policy {args.policy}"):
        policy = _behaviour(game, args.policy)
    description = f"{args.policy}" + (f" mixed with uniform (epsilon {args.epsilon})" if float(args.epsilon) else "")
    with _stage(f"simulating {episodes} episodes"):
        dataset = collect_dataset(game, policy, episodes, seed=seed, population=population, epsilon=args.epsilon,
                                  description=f"{description}, {episodes} episodes")
    with _stage(f"writing {args.out}"):
        args.written.append(dataset.save(args.out))
    _print_metrics(dataset_metrics(dataset))
    print(f"{'wrote':<{LABEL_WIDTH}} {args.out}")
    return 0


def run_dataset_mix(args) -> int:
    from mfgtools.offline import dataset_metrics, load_dataset, mix_datasets

    seed = as_seed(args.seed, "--seed")
    _check_output(args.out, "--out", args.overwrite, _inputs({"dataset": args.paths}))
    _claim(args, args.out)
    datasets = [load_dataset(path) for path in args.paths]
    counts = None
    if args.counts is not None:
        counts = [part for part in args.counts.split(",") if part.strip()]
    mixed = mix_datasets(datasets, counts, seed=seed)
    args.written.append(mixed.save(args.out))
    _print_metrics(dataset_metrics(mixed))
    print(f"{'wrote':<{LABEL_WIDTH}} {args.out}")
    return 0


def run_dataset_info(args) -> int:
    from mfgtools.offline import dataset_metrics, load_dataset

    dataset = load_dataset(args.path)
    print(f"{'game':<{LABEL_WIDTH}} {dataset.game} {_format_params(dataset.game_params)}")
    print(f"{'description':<{LABEL_WIDTH}} {dataset.description}")
    print(f"{'shape':<{LABEL_WIDTH}} {dataset.n_episodes} episodes x {dataset.horizon} steps, "
          f"{dataset.n_states} states, {dataset.n_actions} actions")
    game = None
    references = None
    if args.quality:
        from mfgtools.games import make_game
        from mfgtools.offline import check_matches, reference_values

        game = make_game(dataset.game, **_rebuildable(dataset.game_params))
        check_matches(dataset, game)
        with _stage("reference returns (uniform policy; expert: 1000 OMD iterations)"):
            references = reference_values(game)
    metrics = dataset_metrics(dataset, references=references)
    if game is not None and dataset.behaviour_policy is not None:
        from mfgtools.evaluation import exploitability

        with _stage("behaviour policy's exploitability"):
            metrics["behaviour_exploitability"] = exploitability(game, dataset.behaviour_policy)
    _print_metrics(metrics)
    return 0


def _rebuildable(params: dict) -> dict:
    return {key: (tuple(value) if isinstance(value, list) else value) for key, value in params.items()}


def _format_params(params: dict) -> str:
    from mfgtools.games.crowd import relevant_parameters

    return ", ".join(f"{key}={_show(value)}" for key, value in sorted(relevant_parameters(params).items()))


def _print_metrics(metrics: dict) -> None:
    width = max([LABEL_WIDTH] + [len(name) for name in metrics])
    for name, value in metrics.items():
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        print(f"{name:<{width}} {shown}")


# ----- list -------------------------------------------------------------------------
def _show(value) -> str:
    """A default as it would be typed after ``-p KEY=``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ",".join(_show(v) for v in value)
    return str(value)


def _print_entries(title: str, entries: dict) -> None:
    print(title)
    rows = [(name, _show(p.default), p.help) for spec in entries.values() for name, p in spec.parameters.items()]
    name_width = max([len(r[0]) for r in rows] + [8])
    default_width = min(max([len(r[1]) for r in rows] + [7]), 14)
    for name, spec in entries.items():
        print(f"\n  {name}: {spec.description}")
        print(f"      modes: {', '.join(spec.modes)}"
              + (f"; default iterations: {spec.iterations}" if spec.iterations is not None else ""))
        if not spec.parameters:
            print("      (no parameters)")
        for key, parameter in spec.parameters.items():
            print(f"      {key:<{name_width}}  {_show(parameter.default):<{default_width}}  {parameter.help}")


def run_list(args) -> int:
    from mfgtools.games import list_games
    from mfgtools.solvers import list_solvers

    if args.what in (None, "games"):
        _print_entries("Games (mfgtools solve --game NAME [-p KEY=VALUE ...]); columns: parameter, default, help",
                       list_games())
    if args.what is None:
        print()
    if args.what in (None, "solvers"):
        _print_entries("Solvers (mfgtools solve --solver NAME [-p KEY=VALUE ...]); columns: parameter, default, help",
                       list_solvers())
    if args.what is None:
        print("\n`none`: the game or solver picks the value (see the help); type -p KEY=none to ask for it.")
        print("modes: finite-horizon (policies over t = 0..T-1) or stationary (discounted, one policy for all t);\n"
              "a game with both has a parameter mode (--mode); a solver solves the modes it lists.")
    return 0


# ----- plot -------------------------------------------------------------------------
def run_plot(args) -> int:
    from mfgtools.plotting import check_figure_path, is_sweep, plot_result, write_sweep_plot
    from mfgtools.results import load_result

    out = args.out if args.out is not None else os.path.splitext(args.path)[0] + ".png"
    if os.path.abspath(out) == os.path.abspath(args.path):
        raise MFGError(f"the figure would overwrite the result {args.path!r}; give --out")
    times = None
    if args.times is not None:
        times = [as_int(part, "--times", 0) for part in args.times.split(",") if part.strip()]
    _check_output(out, "--out", args.overwrite, [(f"result file {args.path!r}", args.path)])
    check_figure_path(out)
    _claim(args, out)
    dataset = load_result(args.path)
    if is_sweep(dataset):  # a file of `mfgtools sweep`: the final metric against the swept parameter
        if times is not None:
            raise MFGError(f"--times does not apply to {args.path!r}: it is a sweep (its figure shows the final "
                           "metric against the swept parameter); leave --times out")
        write_sweep_plot(dataset, out)
        print(f"wrote {out}")
        return 0
    if times is not None and dataset.attrs["mode"] == "stationary":
        raise MFGError(f"--times does not apply to {args.path!r}: it is a stationary result (one stationary "
                       "population, no time steps); leave --times out")
    plot_result(dataset, out, times=times, scale=args.scale)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
