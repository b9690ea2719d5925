#!/usr/bin/env python
"""Swarm simulator throughput: agent-steps per second of the three swarm games, dense vs cell-list neighbours.

What it measures: for each game (Kuramoto, Vicsek, aggregation) at its default
radius and each swarm size ``--agents``, one jitted episode of
:func:`mfgtools.simulate.swarm_rollout` (the simulator every solver uses:
observe, sample actions from the uniform policy, reward, move, all in one
``lax.scan``; the uniform policy, made to read its observations so that
they are computed) of ``--steps`` steps (``--big-steps`` above ``--big`` agents),
with the neighbour sums of :func:`mfgtools.particles.neighbour_sums` forced to
``dense`` (all pairs, only up to ``--dense-max`` agents; "n/a" above) or
``cells`` (the cell list). Compile time (``lower().compile()``) is separate
from run time (median wall time of ``--repeats`` runs); agent-steps per second =
N x steps / run time. Kuramoto computes the neighbour sums twice a step
(observe and move), the others once. The mean number of neighbours per agent
(itself included) is measured on the initial, uniform swarm. ``--small-radius``
adds the largest size again at a smaller radius, to show how the cell list
scales with the number of neighbours. The last column is what ``method="auto"``
(what the games use) picks.

    python benchmarks/bench_swarm.py                          # N = 1,000 and 100,000
    python benchmarks/bench_swarm.py --agents 1000,10000 --steps 20 --repeats 5
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager
from functools import partial

import _common
from _common import load_average, machine, peak_rss_gb, seconds, table


@contextmanager
def neighbour_method(method: str):
    """Force the games' neighbour search (they call ``neighbour_sums`` with ``method="auto"``) while tracing."""
    import mfgtools.games.swarm as swarm
    from mfgtools.particles import neighbour_sums

    swarm.neighbour_sums = partial(neighbour_sums, method=method)
    try:
        yield
    finally:
        swarm.neighbour_sums = neighbour_sums


def observing_uniform_policy(game):
    """The uniform policy, made to read its observations (up to 1e-3 in the logits).

    With :func:`mfgtools.swarm_policies.uniform_policy` itself, XLA would drop
    the observations as dead code wherever the dynamics do not use the
    neighbour sums (Vicsek, aggregation), and time nothing of them.
    """
    import jax
    import jax.numpy as jnp
    from flax import struct

    @struct.dataclass
    class ObservingUniformPolicy:
        n_actions: int = struct.field(pytree_node=False)

        def probabilities(self, t, observations):
            del t
            tilt = 1e-3 * jnp.tanh(jnp.sum(observations, axis=1, keepdims=True))
            return jax.nn.softmax(tilt * jnp.arange(self.n_actions, dtype=observations.dtype), axis=1)

    return ObservingUniformPolicy(game.n_actions)


def measure(game, n_agents: int, method: str, repeats: int):
    """``(compile seconds, median run seconds)`` of one jitted episode with the given neighbour method."""
    import jax

    from mfgtools.simulate import swarm_rollout

    policy, key = observing_uniform_policy(game), jax.random.PRNGKey(0)
    episode = jax.jit(lambda game, policy, key: swarm_rollout(game, policy, key, n_agents))
    with neighbour_method(method):
        start = time.perf_counter()
        compiled = episode.lower(game, policy, key).compile()
        compile_time = time.perf_counter() - start
    jax.block_until_ready(compiled(game, policy, key))  # warm up (first-run allocations)
    run_time, _ = _common.median_time(lambda: jax.block_until_ready(compiled(game, policy, key)), repeats)
    return compile_time, run_time


def mean_neighbours(game, n_agents: int) -> float:
    import jax
    import jax.numpy as jnp

    states = game.initial_states(jax.random.PRNGKey(0), n_agents)
    with neighbour_method("cells" if n_agents > 2000 else "dense"):
        counts = jax.jit(lambda s: game.neighbourhood(s, jnp.zeros((s.shape[0], 0), s.dtype)).counts)(states)
    return float(counts.mean())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", default="kuramoto,vicsek,aggregation")
    parser.add_argument("--agents", default="1000,100000", help="comma-separated swarm sizes N")
    parser.add_argument("--steps", type=int, default=10, help="steps of the timed episode")
    parser.add_argument("--big", type=int, default=20_000, help="above this many agents, --big-steps steps")
    parser.add_argument("--big-steps", type=int, default=3, help="steps of the timed episode for big swarms")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median)")
    parser.add_argument("--dense-max", type=int, default=20_000, help="largest N timed with the dense method")
    parser.add_argument("--small-radius", type=float, default=0.05, help="the largest N again at this radius (0: skip)")
    args = parser.parse_args(argv)

    import mfgtools
    from mfgtools.particles import cell_plan, choose_method

    sizes = [int(a) for a in args.agents.split(",")]
    print(f"# {machine()}")
    print(f"# load average at start: {load_average()}")
    cases = [(name, n, None) for name in args.games.split(",") for n in sizes]
    if args.small_radius > 0:
        cases += [(name, max(sizes), args.small_radius) for name in args.games.split(",")]
    rows = []
    for name, n, radius in cases:
        params = dict(n_agents=n, horizon=args.big_steps if n > args.big else args.steps)
        if radius is not None:
            params["radius"] = radius
        game = mfgtools.make_game(name, **params)
        neighbours = mean_neighbours(game, n)
        row = [name, f"{n:,}", f"{game.radius:g}", f"{neighbours:,.0f}", str(game.horizon)]
        for method in ("dense", "cells"):
            if method == "dense" and n > args.dense_max:
                row += ["n/a"] * 3
                continue
            compile_time, run_time = measure(game, n, method, args.repeats)
            row += [seconds(compile_time), seconds(run_time), f"{n * game.horizon / run_time:,.0f}"]
            print(
                f"{name} N={n} radius={game.radius} {method}: compile {seconds(compile_time)}, run {seconds(run_time)}",
                flush=True,
            )
        plan = cell_plan(n, game.radius)
        auto = choose_method(n, game.radius)
        row.append(auto + (f" ({plan.n}x{plan.n} cells)" if auto == "cells" else ""))
        rows.append(row)
    print()
    print(
        table(
            [
                "game",
                "N",
                "radius",
                "neighbours",
                "steps",
                "dense compile",
                "dense run",
                "dense agent-steps/s",
                "cells compile",
                "cells run",
                "cells agent-steps/s",
                "auto",
            ],
            rows,
        )
    )
    print(
        f"# run = median wall time of {args.repeats} jitted episodes (after one warm-up run); "
        f"N > {args.big:,}: {args.big_steps} steps, otherwise {args.steps}; peak RSS {peak_rss_gb():.2f} GB; "
        f"load average at end: {load_average()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
