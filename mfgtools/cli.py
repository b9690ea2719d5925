"""The ``mfgtools`` command line: ``solve``, ``list`` and ``plot``.

::

    mfgtools solve --game crowd --solver omd --map four_rooms --iterations 200 --out run.nc --plot run.png
    mfgtools solve --game crowd_modelling_2d --setting maze -p noise=0.5 -p learning_rate=0.05
    mfgtools list [games | solvers]
    mfgtools plot run.nc [--out run.png]

User errors (unknown game, solver or parameter, bad value, missing file, ...)
print one line ``mfgtools: error: <message>`` on stderr and exit with status 2;
command-line syntax errors exit 2 with argparse's usage message; a refusal of
the operating system (permission denied, disk full) prints one such line and
exits 1; Ctrl-C exits 130. Files are written to a temporary name and renamed, so
an error or an interrupt never leaves a partial file behind.

JAX, xarray and matplotlib are imported only by the subcommands that use them,
so ``mfgtools --help`` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from mfgtools.errors import MFGError, as_int

EXIT_ERROR = 2  # user errors, as argparse's usage errors
EXIT_IO = 1  # the operating system refused a read or a write
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell convention

NONE_WORDS = ("none", "null")
# shortcut flags of `solve` that set a game parameter of the same name
GAME_SHORTCUTS = ("map", "task", "setting", "horizon")


# ----- parser ---------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mfgtools`` (its subcommands set ``args.command``)."""
    parser = argparse.ArgumentParser(
        prog="mfgtools",
        description="Exact equilibria of finite mean-field games in JAX: solve a game, "
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
               "  mfgtools solve --game crowd -p mu0='1,1;11,11' -p floor=1e-4\n\n"
               "Values are validated by the game or solver; `none` (or `null`) gives None, "
               "the default of parameters listed as none.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    solve.add_argument("--game", default="crowd", help="game name (default: crowd; see `mfgtools list games`)")
    solve.add_argument("--solver", default="omd", help="solver name (default: omd; see `mfgtools list solvers`)")
    solve.add_argument("--map", help="game parameter map (crowd: four_rooms, labyrinth, maze, empty:N, ...)")
    solve.add_argument("--task", help="game parameter task (crowd: exploration or navigation)")
    solve.add_argument("--setting", help="game parameter setting (crowd_modelling_2d: default, four_rooms, maze)")
    solve.add_argument("--horizon", metavar="T", help="game parameter horizon: number of decision steps")
    solve.add_argument("--iterations", default="100", metavar="N", help="solver iterations (default: 100)")
    solve.add_argument("--seed", default="0", metavar="S", help="random seed (default: 0)")
    solve.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                       help="set a game or solver parameter (repeatable); the key goes to the game if "
                            "it has a parameter of that name, else to the solver")
    solve.add_argument("--out", metavar="PATH",
                       help="netCDF file of the result (default: GAME-SOLVER.nc in the current "
                            "directory; overwritten if it exists)")
    solve.add_argument("--plot", metavar="PATH", help="also write a figure of the result (.png, .pdf, .svg, ...)")
    solve.add_argument("--x64", action="store_true", help="compute in float64 (jax_enable_x64)")
    solve.add_argument("-q", "--quiet", action="store_true", help="no progress bar (the summary is still printed)")
    solve.set_defaults(handler=run_solve)

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
    plot.add_argument("--times", metavar="T,T,...",
                      help="time steps of the density panels (default: about 6 from 0 to T)")
    plot.add_argument("--scale", choices=("log", "linear"), default="log", help="density colour scale (default: log)")
    plot.set_defaults(handler=run_plot)
    return parser


def _version() -> str:
    from mfgtools import __version__

    return __version__


# ----- entry point ------------------------------------------------------------------
def main(argv=None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error (status 2)
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else EXIT_ERROR)
    args.written = []  # files completed so far (atomic writes: never partial)
    try:
        return args.handler(args)
    except MFGError as error:
        return _fail(str(error), EXIT_ERROR)
    except KeyboardInterrupt:
        written = getattr(args, "written", [])
        done = f"after writing {', '.join(written)}" if written else "before writing any file"
        print(f"mfgtools: interrupted {done} (no partial file is left)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `mfgtools list | head`: the reader left
        _silence_stdout()
        return 0
    except OSError as error:
        where = f": {error.filename!r}" if getattr(error, "filename", None) else ""
        return _fail(f"{error.strerror or error}{where}", EXIT_IO)


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


def route_parameters(game: str, solver: str, shortcuts: dict, assignments) -> tuple[dict, dict]:
    """Split parameters between the game and the solver.

    ``shortcuts`` (``--map`` etc.) must be game parameters. Each ``-p`` key goes
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
    for name, value in shortcuts.items():
        if name not in game_parameters:
            raise MFGError(
                f"--{name} does not apply to game {game!r}; its parameters are: "
                f"{', '.join(sorted(game_parameters)) or 'none'}"
            )
        game_params[name] = value
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


def _check_output(path: str, what: str) -> None:
    if os.path.isdir(path):
        raise MFGError(f"{what} {path!r} is a directory; give a file name")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise MFGError(f"cannot write {path!r}: directory {directory!r} does not exist")
    try:  # the only reliable test (read-only mounts, ACLs, root): create a file there
        handle, probe = tempfile.mkstemp(prefix=".tmp-", dir=directory)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise MFGError(f"cannot write {path!r}: {error.strerror or error} in {directory!r}") from None


def run_solve(args) -> int:
    started = time.perf_counter()
    iterations = as_int(args.iterations, "--iterations", 0)
    seed = as_int(args.seed, "--seed", 0)
    shortcuts = {name: getattr(args, name) for name in GAME_SHORTCUTS if getattr(args, name) is not None}
    assignments = parse_assignments(args.param)
    game_params, solver_params = route_parameters(args.game, args.solver, shortcuts, assignments)

    out = args.out if args.out is not None else f"{args.game}-{args.solver}.nc"
    _check_output(out, "--out")
    if args.plot is not None:
        from mfgtools.plotting import check_figure_path

        _check_output(args.plot, "--plot")
        check_figure_path(args.plot)
        if os.path.abspath(args.plot) == os.path.abspath(out):
            raise MFGError(f"--out and --plot are the same file {out!r}; give two paths")

    if args.x64:
        import jax

        jax.config.update("jax_enable_x64", True)
    from mfgtools.games import make_game
    from mfgtools.results import save_dataset
    from mfgtools.solvers import make_solver, solve

    make_solver(args.solver, **solver_params)  # bad solver values fail before the game is built
    game = make_game(args.game, **game_params)
    result = solve(game, args.solver, iterations=iterations, seed=seed, progress=not args.quiet, **solver_params)
    dataset = result.to_xarray()
    written = args.written  # main() reports it when interrupted
    written.append(save_dataset(dataset, out))
    if args.plot is not None:
        from mfgtools.plotting import plot_result

        written.append(plot_result(dataset, args.plot))

    history = result.metrics["exploitability"]
    settings = ", ".join(f"{k}={v}" for k, v in sorted(result.solver_params.items()))
    lines = [
        ("game", game.describe()),
        ("solver", f"{args.solver}" + (f" ({settings})" if settings else "")
         + f", {iterations} iteration{'s' if iterations != 1 else ''}, seed {seed}"),
        ("exploitability", f"{float(history[-1]):.6g} (initial policy: {float(history[0]):.6g})"),
        ("wall time", f"{time.perf_counter() - started:.1f} s (solve {result.wall_time:.1f} s, compilation included)"),
    ]
    lines += [("wrote", path) for path in written]
    for label, text in lines:
        print(f"{label:<15} {text}")
    return 0


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
    return 0


# ----- plot -------------------------------------------------------------------------
def run_plot(args) -> int:
    from mfgtools.plotting import check_figure_path, plot_result
    from mfgtools.results import load_result

    out = args.out if args.out is not None else os.path.splitext(args.path)[0] + ".png"
    if os.path.abspath(out) == os.path.abspath(args.path):
        raise MFGError(f"the figure would overwrite the result {args.path!r}; give --out")
    times = None
    if args.times is not None:
        times = [as_int(part, "--times", 0) for part in args.times.split(",") if part.strip()]
    _check_output(out, "--out")
    check_figure_path(out)
    dataset = load_result(args.path)
    plot_result(dataset, out, times=times, scale=args.scale)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
