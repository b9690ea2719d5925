"""What the commands share: output checks, parameter routing, game flags, value display."""

from __future__ import annotations

import os

from mfgtools.errors import MFGError
from mfgtools.registry import FAMILIES, family_of

EXIT_ERROR = 2  # user errors, as argparse's usage errors
EXIT_IO = 1  # the operating system refused a read or a write
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell convention
EXIT_TERMINATED = 143  # 128 + SIGTERM

NONE_WORDS = ("none", "null")
# shortcut flags of `solve` that set a game parameter of the same name
GAME_SHORTCUTS = ("map", "task", "setting", "horizon", "mode", "graph")
# ... and a solver parameter of the same name
SOLVER_SHORTCUTS = ("dataset",)
# the solver of `solve` without --solver, by game family (mfgtools.registry.FAMILIES declares it)
DEFAULT_SOLVERS = {kind: family.default_solver for kind, family in FAMILIES.items()}  # as the families declare
LABEL_WIDTH = len("behaviour_exploitability")  # the label column of `dataset` output: its longest label


def add_game_flags(parser) -> None:
    """The shortcut flags (GAME_SHORTCUTS) that set a game parameter of the same name."""
    parser.add_argument("--map", help="game parameter map (crowd: four_rooms, labyrinth, maze, empty:N, ...)")
    parser.add_argument("--task", help="game parameter task (crowd: exploration or navigation)")
    parser.add_argument("--setting", help="game parameter setting (crowd_modelling_2d: default, four_rooms, maze)")
    parser.add_argument("--horizon", metavar="T", help="game parameter horizon: number of decision steps")
    parser.add_argument("--mode", help="game parameter mode: finite-horizon or stationary, for games that have both")
    parser.add_argument(
        "--graph",
        metavar="PATH",
        help="game parameter graph: edge-list file of a real network (graphex games; plain or .gz)",
    )


def add_force_flag(parser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help="run even when the memory estimate exceeds the memory available (mfgtools refuses "
        "such runs at once otherwise; docs/reliability.md)",
    )


def add_tolerance_flags(parser) -> None:
    """``--atol``/``--rtol``: MFGLib's early stopping on the exploitability (``solve`` and ``sweep``)."""
    parser.add_argument(
        "--atol",
        metavar="X",
        help="stop a run early once its exploitability <= atol + rtol * its initial exploitability (default: off)",
    )
    parser.add_argument("--rtol", metavar="X", help="relative part of the early-stopping tolerance (see --atol)")


def tolerances(args) -> tuple[float | None, float | None]:
    """The validated ``(atol, rtol)`` of :func:`add_tolerance_flags` (None: not given)."""
    from mfgtools.errors import as_float

    atol = None if args.atol is None else as_float(args.atol, "--atol", 0.0)
    rtol = None if args.rtol is None else as_float(args.rtol, "--rtol", 0.0)
    return atol, rtol


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


def route_parameters(game: str, solver: str, shortcuts: dict, assignments, solver_shortcuts=None) -> tuple[dict, dict]:
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
    for values, known, target, kind, name_of in (
        (shortcuts, game_parameters, game_params, "game", game),
        (solver_shortcuts or {}, solver_parameters, solver_params, "solver", solver),
    ):
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


def check_output(path, what: str, overwrite: bool = False, inputs=(), outputs=()) -> str:
    """Before any work: ``path`` is a writable file name, not one of ``inputs`` or ``outputs``
    (``(label, path)`` pairs), and not an existing file unless ``overwrite``."""
    from mfgtools.files import check_output_path

    return check_output_path(path, what, overwrite=overwrite, inputs=inputs, outputs=outputs)


def claim_outputs(args, *paths) -> None:
    """Lock ``paths`` (``PATH.lock``) until the command ends: a second writer of one of them is refused."""
    from mfgtools.files import FileLock

    if getattr(args, "distributed", False):
        from mfgtools.parallel.distributed import is_writer

        if not is_writer():  # several processes: only process 0 writes, and locks
            return
    for path in paths:
        if path is not None:
            args.cleanup.enter_context(FileLock(path))


def input_paths(*groups) -> list:
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


def file_stem(game: str) -> str:
    """``game`` as part of a default file name: ``mfglib/beach_bar`` -> ``mfglib_beach_bar``."""
    return game.replace("/", "_")


def add_checkpoint_flags(parser, what: str) -> None:
    """--checkpoint, --checkpoint-every, --resume and --restart of ``solve`` (``what`` = "run") and ``sweep``."""
    beside = "; a sweep keeps its finished batches beside it, PATH.batch-K" if what == "sweep" else ""
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help=f"checkpoint file of the {what} (default: OUT.ckpt; deleted when the {what} completes"
        f"{beside}; an existing file other than a checkpoint of mfgtools is never touched)",
    )
    parser.add_argument(
        "--checkpoint-every",
        default="10",
        metavar="N",
        help="save the checkpoint at least N iterations apart (default: 10; 0: never)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help=f"continue from the checkpoint of an interrupted {what} with the same arguments",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help=f"discard the checkpoint of an interrupted {what} and start afresh (without --resume or "
        "--restart, an existing checkpoint stops it)",
    )


def prepare_checkpoint(args, out, inputs) -> str | None:
    """Check ``--checkpoint`` (default OUT.ckpt) before any work and lock ``--out`` and ``--plot``; returns the
    checkpoint path, or None when the command keeps none (``--checkpoint-every 0`` without --resume/--restart)."""
    import sys

    from mfgtools import checkpoints
    from mfgtools.errors import as_int

    every = as_int(args.checkpoint_every, "--checkpoint-every", 0)
    checkpoint = args.checkpoint if args.checkpoint is not None else out + ".ckpt"
    checkpointed = bool(every or args.resume or args.restart)
    extra = [("--checkpoint", checkpoint)] if checkpointed else []
    check_output(out, "--out", args.overwrite, inputs, extra)
    check_plot(args.plot, out, args.overwrite, inputs, extra)
    if checkpointed:
        checkpoints.check_path(
            checkpoint,
            resume=args.resume,
            restart=args.restart,
            outputs=[("--out", out), ("--plot", args.plot)],
            inputs=inputs,
            existing=False,
        )
    claim_outputs(args, out, args.plot)  # a second run writing the same files is refused from here on
    if checkpointed:  # an existing checkpoint is an interrupted run's (a running one holds the lock of --out)
        checkpoints.check_path(checkpoint, resume=args.resume, restart=args.restart)
        args.checkpoint_path = checkpoint
    if args.resume and not os.path.isfile(checkpoint):
        print(f"mfgtools: no checkpoint {checkpoint!r} to resume from; starting from iteration 0", file=sys.stderr)
    return checkpoint if checkpointed else None


def routed_parameters(args) -> tuple[dict, dict]:
    """``(game_params, solver_params)`` from the flags of ``solve`` or ``sweep``; sets the
    default solver of the game's kind when ``--solver`` is not given."""
    shortcuts = {name: getattr(args, name) for name in GAME_SHORTCUTS if getattr(args, name) is not None}
    solver_shortcuts = {name: getattr(args, name) for name in SOLVER_SHORTCUTS if getattr(args, name) is not None}
    assignments = parse_assignments(args.param)
    if args.solver is None:
        from mfgtools.games import game_spec

        args.solver = family_of(game_spec(args.game).kind).default_solver
    return route_parameters(args.game, args.solver, shortcuts, assignments, solver_shortcuts)


def check_plot(plot, out, overwrite: bool = False, inputs=(), outputs=()) -> None:
    """``--plot``, when given: a writable figure path other than ``--out`` and the inputs."""
    if plot is None:
        return
    from mfgtools.plotting import check_figure_path

    if plot and out and (os.path.abspath(plot) == os.path.abspath(out)):
        raise MFGError(f"--out and --plot are the same file {out!r}; give two paths")
    check_output(plot, "--plot", overwrite, inputs, [("--out", out), *outputs])
    check_figure_path(plot)


# ----- list -------------------------------------------------------------------------
def show_value(value) -> str:
    """A default as it would be typed after ``-p KEY=``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ",".join(show_value(v) for v in value)
    return str(value)


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
    "parse_assignments",
    "route_parameters",
    "check_output",
    "claim_outputs",
    "input_paths",
    "routed_parameters",
    "check_plot",
    "show_value",
]
