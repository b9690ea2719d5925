"""A dry run of ``solve``: what a run would hold and take, without running it.

Above the solvers (it builds a solver from its registry name) and below the
command line (``mfgtools solve --dry-run``). The memory model itself is
:func:`mfgtools.resources.estimate_run`, which the solvers use before every run.
"""

from __future__ import annotations

from mfgtools.registry import family_of
from mfgtools.resources import ASSUMED_RATE, USABLE_SHARE, available_memory, estimate_run, format_bytes, format_seconds
from mfgtools.solvers import prepare_solver


def dry_run(
    game, solver: str, iterations: int, solver_params: dict | None = None, measure: bool = True
) -> list[tuple[str, str]]:
    """What ``solve`` would hold and take, as rows ``(label, text)``; writes nothing.

    Shapes (``S, A, K, T`` or ``N, A, T``, the solver state's arrays), the memory
    estimate against the memory available, and the time: measured (one
    iteration compiled and run twice, the second timed) when ``measure`` and the
    estimate fits, else the cost model's element operations at
    :data:`ASSUMED_RATE`.
    """
    import time

    import jax

    _, algorithm = prepare_solver(game, solver, dict(solver_params or {}))
    estimate = estimate_run(game, algorithm, iterations)
    available, source = available_memory()
    fits = estimate.total <= USABLE_SHARE * available
    if family_of(game).particles:
        shape = f"N={game.n_agents:,} agents, A={game.n_actions}, T={game.horizon:,}"
    else:
        length = "stationary" if game.stationary else f"T={game.horizon:,}"
        shape = f"S={game.n_states:,}, A={game.n_actions}, K={game.fan_out}, {length}"
    rows = [("game", game.describe()), ("shapes", shape), ("solver", f"{solver}, {iterations:,} iterations")]
    for path, leaf_shape, dtype in estimate.state_leaves:
        rows.append(("state" if path == estimate.state_leaves[0][0] else "", f"{path or '.'} {leaf_shape} {dtype}"))
    rows += estimate.describe()
    verdict = "fits" if fits else f"would be refused (more than {USABLE_SHARE:.0%} of it; --force to try anyway)"
    rows.append(("memory available", f"{format_bytes(available)} ({source}): {verdict}"))
    modelled = estimate.work / ASSUMED_RATE
    rows.append(
        (
            "time (model)",
            f"{format_seconds(modelled)} per iteration, "
            f"{format_seconds(modelled * iterations)} in all, "
            f"at an assumed {ASSUMED_RATE:.0e} element operations/s",
        )
    )
    if measure and fits:
        key = jax.random.PRNGKey(0)
        state = jax.jit(algorithm.init)(game, key)
        # game and solver are arguments, not constants baked into (and folded by) the program
        step = jax.jit(lambda a, g, s, k: a.step(g, s, k))
        started = time.perf_counter()
        compiled = step.lower(algorithm, game, state, key).compile()
        compile_time = time.perf_counter() - started
        jax.block_until_ready(compiled(algorithm, game, state, key))
        started = time.perf_counter()
        jax.block_until_ready(compiled(algorithm, game, state, key))
        per_iteration = time.perf_counter() - started
        rows.append(
            (
                "time (measured)",
                f"compile {format_seconds(compile_time)}, "
                f"one iteration {format_seconds(per_iteration)}: "
                f"about {format_seconds(compile_time + per_iteration * iterations)} in all "
                "(one step compiled alone; solve compiles chunks of steps)",
            )
        )
    elif measure:
        rows.append(("time (measured)", "not measured: the run does not fit in memory"))
    return rows


__all__ = ["dry_run"]
