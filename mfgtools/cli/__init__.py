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

# the commands (one module each) and what they share; re-exported: mfgtools.cli.NAME keeps working
from mfgtools.cli.common import (
    DEFAULT_SOLVERS,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_IO,
    EXIT_TERMINATED,
    GAME_SHORTCUTS,
    LABEL_WIDTH,
    NONE_WORDS,
    SOLVER_SHORTCUTS,
    add_checkpoint_flags,
    add_force_flag,
    add_game_flags,
    add_tolerance_flags,
    check_output,
    check_plot,
    claim_outputs,
    file_stem,
    input_paths,
    parse_assignments,
    prepare_checkpoint,
    route_parameters,
    routed_parameters,
    show_value,
)
from mfgtools.cli.dataset import Stage, add_dataset_parser, run_dataset_collect, run_dataset_info, run_dataset_mix
from mfgtools.cli.listing import run_list
from mfgtools.cli.plot import run_plot
from mfgtools.cli.solve import run_solve
from mfgtools.cli.sweep import add_sweep_parser, parse_grid, run_sweep
from mfgtools.errors import MFGError


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
        "solve",
        help="solve a game and save the result (netCDF) and, optionally, a figure",
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
    solve.add_argument(
        "--solver", help="solver name (default: omd, or dec-pomfc on swarm games; see `mfgtools list solvers`)"
    )
    add_game_flags(solve)
    solve.add_argument(
        "--dataset",
        metavar="PATH",
        help="solver parameter dataset (off-mmd: random, intermediate, expert or a dataset file)",
    )
    solve.add_argument(
        "--iterations",
        metavar="N",
        help="solver iterations (default: the solver's, 100 for most, 2000 for dec-pomfc and ippo; "
        "see `mfgtools list solvers`)",
    )
    solve.add_argument("--seed", default="0", metavar="S", help="random seed (default: 0)")
    add_tolerance_flags(solve)
    solve.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a game or solver parameter (repeatable); the key goes to the game if "
        "it has a parameter of that name, else to the solver",
    )
    solve.add_argument(
        "--out",
        metavar="PATH",
        help="netCDF file of the result (default: GAME-SOLVER.nc in the current "
        "directory, a / in GAME written _; an existing file is replaced only with --overwrite)",
    )
    solve.add_argument(
        "--overwrite", action="store_true", help="replace --out and --plot if they exist (default: refuse)"
    )
    solve.add_argument("--plot", metavar="PATH", help="also write a figure of the result (.png, .pdf, .svg, ...)")
    add_checkpoint_flags(solve, "run")
    solve.add_argument(
        "--devices",
        metavar="N",
        help="split this one run over the first N devices, the state space sharded (finite games; "
        "default: one device; docs/sweeps.md)",
    )
    solve.add_argument("--x64", action="store_true", help="compute in float64 (jax_enable_x64)")
    solve.add_argument(
        "--dry-run",
        action="store_true",
        help="print the shapes, the memory estimate and a time estimate (one iteration compiled "
        "and timed); run and write nothing",
    )
    add_force_flag(solve)
    solve.add_argument("-q", "--quiet", action="store_true", help="no progress bar (the summary is still printed)")
    solve.add_argument(
        "--distributed",
        action="store_true",
        help="one of several processes (jax.distributed; also MFGTOOLS_DISTRIBUTED=1): every "
        "process runs the whole solve, process 0 writes the files (docs/sweeps.md)",
    )
    solve.set_defaults(handler=run_solve)

    add_sweep_parser(commands)
    add_dataset_parser(commands)

    listing = commands.add_parser(
        "list",
        help="list games and solvers with their parameters",
        description="List the registered games and solvers with each parameter's default and help.",
    )
    listing.add_argument("what", nargs="?", choices=("games", "solvers"), help="list only games or only solvers")
    listing.set_defaults(handler=run_list)

    plot = commands.add_parser(
        "plot",
        help="plot a saved result",
        description="Draw the densities and the exploitability curve of a result saved by "
        "`mfgtools solve` (or Result.save).",
    )
    plot.add_argument("path", help="netCDF result file")
    plot.add_argument("--out", metavar="PATH", help="figure file (default: PATH with the extension .png)")
    plot.add_argument("--overwrite", action="store_true", help="replace the figure file if it exists (default: refuse)")
    plot.add_argument(
        "--times",
        metavar="T,T,...",
        help="time steps of the density panels (default: about 6 from 0 to T; finite-horizon results only)",
    )
    plot.add_argument("--scale", choices=("log", "linear"), default="log", help="density colour scale (default: log)")
    plot.set_defaults(handler=run_plot)
    return parser


def _version() -> str:
    from mfgtools import __version__

    return __version__


# ----- entry point ------------------------------------------------------------------
class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that a terminated run cleans up as an interrupted one."""


def _on_sigterm(signum, frame):
    raise Terminated()


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
            resume = (
                f"; checkpoint {kept!r} kept: rerun with --resume to continue" if kept and os.path.isfile(kept) else ""
            )
            print(
                f"mfgtools: {'terminated (SIGTERM)' if terminated else 'interrupted'} {done} "
                f"(no partial file is left){resume}",
                file=sys.stderr,
            )
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


# the old private name of the dataset commands' stage display
_stage = Stage


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

__all__ = [
    "EXIT_ERROR",
    "EXIT_IO",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "NONE_WORDS",
    "GAME_SHORTCUTS",
    "SOLVER_SHORTCUTS",
    "DEFAULT_SOLVERS",
    "LABEL_WIDTH",
    "add_game_flags",
    "add_force_flag",
    "add_checkpoint_flags",
    "prepare_checkpoint",
    "file_stem",
    "parse_assignments",
    "route_parameters",
    "check_output",
    "claim_outputs",
    "input_paths",
    "routed_parameters",
    "check_plot",
    "show_value",
    "accepts",
    "run_solve",
    "add_sweep_parser",
    "parse_grid",
    "run_sweep",
    "add_dataset_parser",
    "Stage",
    "run_dataset_collect",
    "run_dataset_mix",
    "run_dataset_info",
    "run_list",
    "run_plot",
    "build_parser",
    "main",
    "Terminated",
]
