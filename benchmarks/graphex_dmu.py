#!/usr/bin/env python
"""Hybrid graphex vs plain graphon predictions against simulation on sampled and real graphs (spec graphex.md).

For every network and game: the hybrid model (core bins + periphery degrees)
is solved by ``hybrid-omd`` and the plain graphon model (bins only) by
``omd``, both on the same graph; each equilibrium policy is then played by
every vertex of the graph (``simulate_on_graph``, ``--seeds`` runs) and its
prediction compared with the simulation by the spec's
``dmu = (1/2T) E[sum_t ||muhat_t - mu_t||_1]``. The table gives dmu (mean and
standard deviation over seeds), the bias (dmu of the seed-averaged
simulation: what is left without finite-N noise) and each model's final
exploitability. Figures: the degree distributions, and predicted vs
simulated state shares over time for both models.

    python benchmarks/graphex_dmu.py [--networks graphex,ca-grqc,email-enron]
        [--games sis-graphex,sir-graphex,rumour-graphex] [--seeds 100] [--iterations 200] [--out DIR | --docs]

Real networks are read from ../shared/data/networks (skipped when absent).
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
MODELS = {"hybrid": "hybrid-omd", "graphon": "omd"}


def network_source(name: str):
    """``graph=`` for make_game: None (the default sampled graphex) or a file path; None if absent."""
    if name == "graphex":
        return "sampled"
    path = SHARED / f"{name}.txt.gz"
    return str(path) if path.exists() else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="graphex,ca-grqc,email-enron")
    parser.add_argument("--games", default="sis-graphex,sir-graphex,rumour-graphex")
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--k-max", type=int, default=8)
    _common.add_output_arguments(parser, "graphex_dmu", "graphex")
    args = parser.parse_args(argv)

    from matplotlib.figure import Figure

    import mfgtools
    from mfgtools.plotting import plot_degree_distribution, plot_state_shares
    from mfgtools.simulate import mean_field_gap, simulate_on_graph

    args.out = _common.output_folder(args)
    print(f"# {_common.machine()}")
    print(f"# seeds {args.seeds}, iterations {args.iterations}, learning rate {args.learning_rate}, k_max {args.k_max}")
    rows = []
    networks = [n for n in args.networks.split(",") if n]
    games = [g for g in args.games.split(",") if g]
    degree_fig = Figure(figsize=(4.2 * len(networks), 3.6), layout="constrained")
    degree_axes = np.atleast_1d(degree_fig.subplots(1, len(networks)))
    for index, network in enumerate(networks):
        source = network_source(network)
        if source is None:
            print(f"# {network}: not found under {SHARED}, skipped")
            continue
        graph_param = {} if source == "sampled" else {"graph": source}
        share_fig = Figure(figsize=(4.6 * len(games), 7.0), layout="constrained")
        share_axes = share_fig.subplots(2, len(games), squeeze=False)
        for column, game_name in enumerate(games):
            for row, (model, solver) in enumerate(MODELS.items()):
                start = time.perf_counter()
                game = mfgtools.make_game(game_name, model=model, k_max=args.k_max, **graph_param)
                classes = game.population.value
                result = mfgtools.solve(game, solver, iterations=args.iterations, learning_rate=args.learning_rate)
                solved = time.perf_counter()
                play = simulate_on_graph(game, result.policy, n_seeds=args.seeds)
                predicted = np.asarray(game.aggregate(result.mean_field))
                simulated = np.asarray(game.aggregate(play.empirical))
                simulated_at = time.perf_counter()
                gaps = mean_field_gap(predicted, simulated)
                bias = float(mean_field_gap(predicted, simulated.mean(0)))
                rows.append(
                    (
                        network,
                        game_name,
                        model,
                        classes.graph.n_vertices,
                        classes.graph.n_edges,
                        float(gaps.mean()),
                        float(gaps.std()),
                        bias,
                        float(result.metrics["exploitability"][-1]),
                        solved - start,
                        simulated_at - solved,
                    )
                )
                print(
                    f"{network:12s} {game_name:15s} {model:8s} dmu {gaps.mean():.4f} +- {gaps.std():.4f}  "
                    f"bias {bias:.4f}  exploitability {result.metrics['exploitability'][-1]:.3g}  "
                    f"solve {solved - start:.1f} s, simulate {simulated_at - solved:.1f} s",
                    flush=True,
                )
                ax = share_axes[row, column]
                plot_state_shares(predicted, ax=ax, simulated=simulated, label="predicted", names=game.state_names)
                ax.set_title(f"{game_name}, {model}: dmu {gaps.mean():.3f}", fontsize=9)
            if column == 0:
                theory = None
                if source == "sampled":
                    from mfgtools.games.contagion import DEFAULT_L, DEFAULT_NU, DEFAULT_SIGMA
                    from mfgtools.graphs.graphex import degree_distribution, power_law_graphex

                    theory = degree_distribution(
                        power_law_graphex(DEFAULT_SIGMA), DEFAULT_NU, DEFAULT_L, int(classes.graph.degree.max())
                    )
                plot_degree_distribution(classes.graph.degree, ax=degree_axes[index], theory=theory, label=network)
                degree_axes[index].set_title(
                    classes.graph.name if len(classes.graph.name) < 40 else network, fontsize=9
                )
        share_fig.suptitle(f"{network}: predicted (solid) vs simulated ({args.seeds} seeds, dotted, 5-95% band)")
        share_fig.savefig(os.path.join(args.out, f"shares-{network}.png"), dpi=110)
    degree_fig.savefig(os.path.join(args.out, "degrees.png"), dpi=110)
    header = [
        "network",
        "game",
        "model",
        "vertices",
        "edges",
        "dmu",
        "sd",
        "bias",
        "exploitability",
        "solve s",
        "simulate s",
    ]
    print()
    print(
        _common.table(
            header,
            [
                [
                    r[0],
                    r[1],
                    r[2],
                    f"{r[3]:,}",
                    f"{r[4]:,}",
                    f"{r[5]:.4f}",
                    f"{r[6]:.4f}",
                    f"{r[7]:.4f}",
                    f"{r[8]:.3g}",
                    f"{r[9]:.1f}",
                    f"{r[10]:.1f}",
                ]
                for r in rows
            ],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
