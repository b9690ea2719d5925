#!/usr/bin/env python
"""N-agent contagion on a real network: mfgtools' jitted simulation vs SciPy sparse and a networkx loop.

Every vertex of the network is an agent playing an SIS policy (the hybrid
equilibrium's, solved first); ``--seeds`` independent runs of ``T`` steps. The
compared implementations do the same work per step (sample actions, count
infected neighbours, sample transitions):

- ``mfgtools``: :func:`mfgtools.simulate.simulate_on_graph`, all seeds in one
  compiled program (neighbour counts by one ``segment_sum`` over the edges);
- ``scipy``: NumPy with the neighbour counts as one sparse-times-dense product
  ``A @ infected`` for all seeds at once (the fast way to write it by hand);
- ``networkx``: a Python loop over vertices and their neighbours (the direct
  way), timed on ``--loop-seeds`` runs and scaled to ``--seeds``.

    python benchmarks/bench_graph_simulation.py [--network email-enron] [--seeds 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import _common
import numpy as np

SHARED = Path(os.environ.get("MFGTOOLS_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data" / "networks"


def scipy_rollout(game, policy, graph, vertex_class, n_seeds, rng):
    """The SIS N-agent game with SciPy: states (N, seeds); returns the infected share (T+1, seeds)."""
    import scipy.sparse as sp

    n = graph.n_vertices
    source, target = graph.directed_pairs()
    adjacency = sp.csr_matrix((np.ones(source.size, np.float32), (source, target)), shape=(n, n))
    n_epidemic = game.n_epidemic_states
    policy = np.asarray(policy)
    within = np.asarray(game.class_shares(game.initial_distribution))
    infected = rng.random((n, n_seeds)) < within[vertex_class, 1][:, None]
    beta = np.asarray(game.contact_rate)[0]  # susceptible row: per-contact infection by action
    recovery = float(np.asarray(game.spontaneous)[1, 0])
    shares = [infected.mean(0)]
    base = (vertex_class * n_epidemic)[:, None]
    for t in range(game.horizon):
        protect_prob = policy[t][base + infected.astype(np.int64), 1]
        protect = rng.random((n, n_seeds)) < protect_prob
        contacts = adjacency @ infected.astype(np.float32)
        infect = rng.random((n, n_seeds)) >= np.power(1.0 - beta[protect.astype(np.int64)], contacts)
        recover = rng.random((n, n_seeds)) < recovery
        infected = np.where(infected, ~recover, infect)
        shares.append(infected.mean(0))
    return np.array(shares)


def networkx_rollout(game, policy, nx_graph, vertex_class, rng):
    """One run, vertex by vertex (``nx_graph`` on vertices 0..N-1); returns the infected share (T+1,)."""
    n_epidemic = game.n_epidemic_states
    policy = np.asarray(policy)
    within = np.asarray(game.class_shares(game.initial_distribution))
    beta = np.asarray(game.contact_rate)[0]
    recovery = float(np.asarray(game.spontaneous)[1, 0])
    infected = {v: rng.random() < within[vertex_class[v], 1] for v in nx_graph}
    shares = [np.mean(list(infected.values()))]
    for t in range(game.horizon):
        new = {}
        for v in nx_graph:
            state = int(infected[v])
            protect = rng.random() < policy[t][vertex_class[v] * n_epidemic + state, 1]
            if infected[v]:
                new[v] = rng.random() >= recovery
            else:
                contacts = sum(infected[u] for u in nx_graph[v])
                new[v] = rng.random() >= (1.0 - beta[int(protect)]) ** contacts
        infected = new
        shares.append(np.mean(list(infected.values())))
    return np.array(shares)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="email-enron")
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--loop-seeds", type=int, default=1, help="runs of the networkx loop (0: skip it)")
    parser.add_argument("--horizon", type=int, default=50)
    args = parser.parse_args(argv)

    import jax
    import networkx

    import mfgtools
    from mfgtools.graphs.graph import Graph
    from mfgtools.simulate import simulate_on_graph

    path = SHARED / f"{args.network}.txt.gz"
    if not path.exists():
        print(f"{path} not found: nothing to benchmark")
        return 0
    print(f"# {_common.machine()}")
    start = time.perf_counter()
    game = mfgtools.make_game("sis-graphex", graph=str(path), horizon=args.horizon)
    loaded = time.perf_counter() - start
    classes = game.population.value
    graph: Graph = classes.graph
    policy = mfgtools.solve(game, "hybrid-omd", iterations=100).policy
    print(f"# {graph}; load and build {loaded:.2f} s; {args.seeds} seeds x {args.horizon} steps")

    start = time.perf_counter()
    play = jax.block_until_ready(simulate_on_graph(game, policy, n_seeds=args.seeds, seed=0))
    first = time.perf_counter() - start
    ours, _ = _common.median_time(
        lambda: jax.block_until_ready(simulate_on_graph(game, policy, n_seeds=args.seeds, seed=1)), repeats=3
    )
    infected_ours = np.asarray(game.aggregate(play.empirical))[..., 1].mean(0)

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    infected_scipy = scipy_rollout(game, policy, graph, classes.vertex_class, args.seeds, rng).mean(1)
    scipy_time = time.perf_counter() - start

    nx_graph = networkx.Graph()
    nx_graph.add_nodes_from(range(graph.n_vertices))
    nx_graph.add_edges_from(graph.edges.tolist())
    start = time.perf_counter()
    loops = [networkx_rollout(game, policy, nx_graph, classes.vertex_class, rng) for _ in range(args.loop_seeds)]
    loop_time = (time.perf_counter() - start) * args.seeds / max(args.loop_seeds, 1)

    rows = [
        ["mfgtools (first call, compile included)", _common.seconds(first), f"{first / ours:.1f}x"],
        ["mfgtools (compiled)", _common.seconds(ours), "1.0x"],
        ["scipy sparse, all seeds at once", _common.seconds(scipy_time), f"{scipy_time / ours:.1f}x"],
    ]
    if loops:
        rows.append(
            [
                f"networkx loop (scaled from {args.loop_seeds} seed)",
                _common.seconds(loop_time),
                f"{loop_time / ours:.0f}x",
            ]
        )
    print(_common.table(["implementation", f"{args.seeds} seeds", "time / mfgtools compiled"], rows))
    looped = f", networkx {np.mean([r[-1] for r in loops]):.4f}" if loops else ""
    print(
        f"# infected share at T: mfgtools {infected_ours[-1]:.4f}, scipy {infected_scipy[-1]:.4f}{looped} "
        f"(the same game; runs differ by sampling only)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
