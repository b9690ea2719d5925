"""``mfgtools solve``: one run of a solver on a game (with --dry-run, --plot, checkpoints)."""

from __future__ import annotations

import time

from mfgtools.cli.common import file_stem, input_paths, prepare_checkpoint, routed_parameters, show_value, tolerances
from mfgtools.errors import as_int, as_seed


def run_solve(args) -> int:
    started = time.perf_counter()
    from mfgtools.parallel.distributed import initialize_from_environment, is_writer

    args.distributed = initialize_from_environment(force=args.distributed)  # before JAX computes anything
    iterations = None if args.iterations is None else as_int(args.iterations, "--iterations", 0)
    devices = None if args.devices is None else as_int(args.devices, "--devices", 1)
    seed = as_seed(args.seed, "--seed")
    atol, rtol = tolerances(args)
    every = as_int(args.checkpoint_every, "--checkpoint-every", 0)
    game_params, solver_params = routed_parameters(args)

    from mfgtools import checkpoints

    out = args.out if args.out is not None else f"{file_stem(args.game)}-{args.solver}.nc"
    inputs = input_paths(game_params, solver_params)  # map, graph and dataset files: never an output
    checkpoint = prepare_checkpoint(args, out, inputs)
    checkpointed = checkpoint is not None

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
    result = solve(
        game,
        args.solver,
        iterations=iterations,
        seed=seed,
        progress=not args.quiet and writer,
        checkpoint=checkpoint if checkpointed else None,
        checkpoint_every=every,
        resume=args.resume,
        restart=args.restart,
        outputs=tuple(p for p in (out, args.plot) if p),
        devices=devices,
        atol=atol,
        rtol=rtol,
        **solver_params,
    )
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
                checkpoints.discard(
                    checkpoint, None if args.restart else {"game": game.name, "solver": args.solver, "seed": seed}
                )

    import numpy as np

    from mfgtools.solvers.base import shown_settings

    shown = shown_settings(args.solver, result.solver_params)
    settings = ", ".join(f"{k}={show_value(v)}" for k, v in sorted(shown.items()))
    lines = [
        ("game", result.game.describe()),
        (
            "solver",
            f"{args.solver}"
            + (f" ({settings})" if settings else "")
            + f", {result.iterations} iteration{'s' if result.iterations != 1 else ''}"
            + (" (stopped early: tolerance met)" if result.stopped_early else "")
            + f", seed {seed}",
        ),
    ]
    if "exploitability" in result.metrics:
        history = np.asarray(result.metrics["exploitability"], dtype=float)
        lines.append(
            (
                "exploitability",
                f"{float(history[-1]):.6g} (initial policy: {float(history[0]):.6g}"
                + (
                    f"; lowest {np.nanmin(history):.6g} at iteration {int(np.nanargmin(history))})"
                    if np.nanmin(history) < history[-1]
                    else ")"
                ),
            )
        )
    else:  # mean-field control of a swarm: the shared return of the decentralised policy
        returns = np.asarray(result.metrics["return"], dtype=float)
        order = np.asarray(result.metrics["order_parameter"], dtype=float)
        agents = result.game.n_agents
        lines += [
            (
                "return",
                f"{returns[-1]:.6g} (decentralised, {agents} agents; first training episodes: {returns[0]:.6g})",
            ),
            (result.game.order_label, f"{order[-1]:.4g} at the horizon (first training episodes: {order[0]:.4g})"),
        ]
    if "regularised_exploitability" in result.metrics:  # what entropy-regularised solvers drive to 0
        regularised = np.asarray(result.metrics["regularised_exploitability"], dtype=float)
        temperature = result.solver_params.get("temperature")
        lines.append(
            (
                "regularised",
                f"{float(regularised[-1]):.6g} (initial policy: {float(regularised[0]):.6g}; "
                f"exploitability of the temperature={temperature} game)",
            )
        )
    lines.append(
        ("wall time", f"{time.perf_counter() - started:.1f} s (solve {result.wall_time:.1f} s, compilation included)")
    )
    lines += [("wrote", path) for path in written]
    if writer:
        for label, text in lines:
            print(f"{label:<15} {text}")
    return 0


def _dry_run(args, game, iterations, solver_params) -> int:
    """``solve --dry-run``: shapes, memory and time estimates; nothing is written."""
    from mfgtools.dry_run import dry_run
    from mfgtools.solvers import default_iterations

    iterations = default_iterations(args.solver) if iterations is None else iterations
    for label, text in dry_run(game, args.solver, iterations, solver_params):
        print(f"{label:<17} {text}")
    print(f"{'dry run':<17} nothing was run or written")
    return 0


__all__ = ["run_solve"]
