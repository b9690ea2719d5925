"""The ``mfgtools`` command line: ``solve``, ``list`` and ``plot``.

::

    mfgtools solve --game crowd --solver omd --map four_rooms --iterations 200 --out run.nc --plot run.png
    mfgtools solve --game crowd_modelling_2d --setting maze -p noise=0.5 -p learning_rate=0.05
    mfgtools solve --game crowd --solver off-mmd --task navigation --dataset my-data.nc --resume
    mfgtools dataset collect --game crowd --policy omd:50 --epsilon 0.2 --episodes 2000 --out data.nc
    mfgtools dataset mix a.nc b.nc --counts 500,1500 --out mix.nc
    mfgtools dataset info data.nc --quality
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
GAME_SHORTCUTS = ("map", "task", "setting", "horizon", "mode", "graph")
# ... and a solver parameter of the same name
SOLVER_SHORTCUTS = ("dataset",)
# the solver of `solve` without --solver, by game family (others: omd)
DEFAULT_SOLVERS = {"swarm": "dec-pomfc"}


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
                            "directory; overwritten if it exists)")
    solve.add_argument("--plot", metavar="PATH", help="also write a figure of the result (.png, .pdf, .svg, ...)")
    solve.add_argument("--checkpoint", metavar="PATH",
                       help="checkpoint file of the run (default: OUT.ckpt; deleted when the run completes)")
    solve.add_argument("--checkpoint-every", default="10", metavar="N",
                       help="save the checkpoint at least N iterations apart (default: 10; 0: never)")
    solve.add_argument("--resume", action="store_true",
                       help="continue from the checkpoint of an interrupted run with the same arguments")
    solve.add_argument("--x64", action="store_true", help="compute in float64 (jax_enable_x64)")
    solve.add_argument("-q", "--quiet", action="store_true", help="no progress bar (the summary is still printed)")
    solve.set_defaults(handler=run_solve)

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
        kept = getattr(args, "checkpoint_path", None)
        resume = (f"; checkpoint {kept!r} kept: rerun with --resume to continue"
                  if kept and os.path.isfile(kept) else "")
        print(f"mfgtools: interrupted {done} (no partial file is left){resume}", file=sys.stderr)
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
    iterations = None if args.iterations is None else as_int(args.iterations, "--iterations", 0)
    seed = as_int(args.seed, "--seed", 0)
    every = as_int(args.checkpoint_every, "--checkpoint-every", 0)
    shortcuts = {name: getattr(args, name) for name in GAME_SHORTCUTS if getattr(args, name) is not None}
    solver_shortcuts = {name: getattr(args, name) for name in SOLVER_SHORTCUTS if getattr(args, name) is not None}
    assignments = parse_assignments(args.param)
    if args.solver is None:
        from mfgtools.games import game_spec

        args.solver = DEFAULT_SOLVERS.get(game_spec(args.game).kind, "omd")
    game_params, solver_params = route_parameters(args.game, args.solver, shortcuts, assignments, solver_shortcuts)

    out = args.out if args.out is not None else f"{args.game}-{args.solver}.nc"
    _check_output(out, "--out")
    checkpoint = args.checkpoint if args.checkpoint is not None else out + ".ckpt"
    if every or args.resume:
        _check_output(checkpoint, "--checkpoint")
        args.checkpoint_path = checkpoint
    if args.resume and not os.path.isfile(checkpoint):
        print(f"mfgtools: no checkpoint {checkpoint!r} to resume from; starting from iteration 0", file=sys.stderr)
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
    result = solve(game, args.solver, iterations=iterations, seed=seed, progress=not args.quiet,
                   checkpoint=checkpoint if (every or args.resume) else None, checkpoint_every=every,
                   resume=args.resume, **solver_params)
    dataset = result.to_xarray()
    written = args.written  # main() reports it when interrupted
    written.append(save_dataset(dataset, out))
    if args.plot is not None:
        from mfgtools.plotting import plot_result

        written.append(plot_result(dataset, args.plot))
    if os.path.isfile(checkpoint) and (every or args.resume):
        os.unlink(checkpoint)  # the run is complete and saved

    import numpy as np

    settings = ", ".join(f"{k}={v}" for k, v in sorted(result.solver_params.items()))
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
    collect.set_defaults(handler=run_dataset_collect)

    mix = actions.add_parser("mix", help="concatenate episodes of datasets of the same game",
                             description="Mix datasets of the same game and map into one file.")
    mix.add_argument("paths", nargs="+", metavar="PATH", help="dataset files")
    mix.add_argument("--counts", metavar="N,N,...", help="episodes to draw from each (default: all)")
    mix.add_argument("--seed", default="0", metavar="S", help="random seed of the draws (default: 0)")
    mix.add_argument("--out", required=True, metavar="PATH", help="dataset file to write")
    mix.set_defaults(handler=run_dataset_mix)

    info = actions.add_parser("info", help="summary and quality metrics of a dataset",
                              description="Print a dataset's game, size, coverage and returns; with "
                                          "--quality also its trajectory quality and the behaviour's "
                                          "exploitability (these need the game's dynamics).")
    info.add_argument("path", help="dataset file")
    info.add_argument("--quality", action="store_true",
                      help="also compute the trajectory quality (runs OMD for the expert reference)")
    info.set_defaults(handler=run_dataset_info)


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
    from mfgtools.offline import collect_dataset, dataset_metrics, require_finite_horizon

    shortcuts = {name: getattr(args, name) for name in GAME_SHORTCUTS if getattr(args, name) is not None}
    game_params = dict(shortcuts)
    for key, value in parse_assignments(args.param):
        if key in game_params:
            raise MFGError(f"game parameter {key!r} is given twice; keep one")
        game_params[key] = value
    episodes = as_int(args.episodes, "--episodes", 1)
    population = None if args.population is None else as_int(args.population, "--population", 1)
    seed = as_int(args.seed, "--seed", 0)
    _check_output(args.out, "--out")
    game = make_game(args.game, **game_params)
    require_finite_horizon(game)  # before a behaviour policy is computed
    policy = _behaviour(game, args.policy)
    description = f"{args.policy}" + (f" mixed with uniform (epsilon {args.epsilon})" if float(args.epsilon) else "")
    dataset = collect_dataset(game, policy, episodes, seed=seed, population=population, epsilon=args.epsilon,
                              description=f"{description}, {episodes} episodes")
    args.written.append(dataset.save(args.out))
    _print_metrics(dataset_metrics(dataset))
    print(f"{'wrote':<22} {args.out}")
    return 0


def run_dataset_mix(args) -> int:
    from mfgtools.offline import dataset_metrics, load_dataset, mix_datasets

    _check_output(args.out, "--out")
    datasets = [load_dataset(path) for path in args.paths]
    counts = None
    if args.counts is not None:
        counts = [part for part in args.counts.split(",") if part.strip()]
    mixed = mix_datasets(datasets, counts, seed=args.seed)
    args.written.append(mixed.save(args.out))
    _print_metrics(dataset_metrics(mixed))
    print(f"{'wrote':<22} {args.out}")
    return 0


def run_dataset_info(args) -> int:
    from mfgtools.offline import dataset_metrics, load_dataset

    dataset = load_dataset(args.path)
    print(f"{'game':<22} {dataset.game} {_format_params(dataset.game_params)}")
    print(f"{'description':<22} {dataset.description}")
    print(f"{'shape':<22} {dataset.n_episodes} episodes x {dataset.horizon} steps, "
          f"{dataset.n_states} states, {dataset.n_actions} actions")
    game = None
    references = None
    if args.quality:
        from mfgtools.games import make_game
        from mfgtools.offline import check_matches, reference_values

        game = make_game(dataset.game, **_rebuildable(dataset.game_params))
        check_matches(dataset, game)
        references = reference_values(game)
    metrics = dataset_metrics(dataset, references=references)
    if game is not None and dataset.behaviour_policy is not None:
        from mfgtools.evaluation import exploitability

        metrics["behaviour_exploitability"] = exploitability(game, dataset.behaviour_policy)
    _print_metrics(metrics)
    return 0


def _rebuildable(params: dict) -> dict:
    return {key: (tuple(value) if isinstance(value, list) else value) for key, value in params.items()}


def _format_params(params: dict) -> str:
    return ", ".join(f"{key}={_show(value)}" for key, value in sorted(params.items()))


def _print_metrics(metrics: dict) -> None:
    for name, value in metrics.items():
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        print(f"{name:<22} {shown}")


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
    if times is not None and dataset.attrs["mode"] == "stationary":
        raise MFGError(f"--times does not apply to {args.path!r}: it is a stationary result (one stationary "
                       "population, no time steps); leave --times out")
    plot_result(dataset, out, times=times, scale=args.scale)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
