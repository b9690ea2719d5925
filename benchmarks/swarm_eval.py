#!/usr/bin/env python
"""Dec-POMFC against the uncontrolled swarm, the random swarm and IPPO (spec dec_pomfc.md).

For every task: ``dec-pomfc`` is trained with the kernel representation and
with the histogram representation, ``ippo`` with the same budget (iterations,
parallel swarms, swarm size: the solvers' defaults unless overridden), each
from ``--train-seeds`` seeds. Every trained policy is then executed
decentralised, each agent seeing only its own observation, by swarms of
``N = 10, 100, 1000`` agents over ``--seeds`` episodes, next to the uncontrolled
swarm (every agent idle) and the random swarm (uniform actions). The table
gives the discounted shared return (mean and standard deviation over the
episodes of all training seeds) and the order parameter at the horizon.
Figures: training curves, the order parameter over time, snapshots of a
trained swarm and an animation (``docs/swarm``).

    python benchmarks/swarm_eval.py [--games kuramoto,vicsek,aggregation] [--agents 10,100,1000]
        [--seeds 16] [--train-seeds 1] [--iterations N] [--out DIR | --docs]
"""

from __future__ import annotations

import argparse
import os
import time

import _common
import numpy as np

METHODS = {  # label -> (solver, solver parameters)
    "Dec-POMFC (kernel)": ("dec-pomfc", {"representation": "kernel"}),
    "Dec-POMFC (histogram)": ("dec-pomfc", {"representation": "histogram"}),
    "IPPO": ("ippo", {}),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", default="kuramoto,vicsek,aggregation")
    parser.add_argument("--agents", default="10,100,1000", help="swarm sizes of the evaluation")
    parser.add_argument("--seeds", type=int, default=16, help="evaluation episodes per policy and swarm size")
    parser.add_argument("--train-seeds", type=int, default=1, help="training runs per method")
    parser.add_argument(
        "--iterations", type=int, default=None, help="training iterations (default: each solver's default, as the CLI)"
    )
    parser.add_argument("--methods", default=",".join(METHODS), help="subset of: " + ", ".join(METHODS))
    _common.add_output_arguments(parser, "swarm_eval", "swarm", allow_none=True)
    args = parser.parse_args(argv)

    import mfgtools
    from mfgtools.simulate import simulate_swarm
    from mfgtools.swarm_policies import idle_policy, uniform_policy

    agents = [int(n) for n in args.agents.split(",")]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    args.out = _common.output_folder(args)
    print(f"# Dec-POMFC evaluation\n\nmachine: {_common.machine()}; load {_common.load_average()}\n")
    rows, timing_rows = [], []
    for name in [g.strip() for g in args.games.split(",") if g.strip()]:
        game = mfgtools.make_game(name)
        policies = {"uncontrolled": [idle_policy(game)], "random": [uniform_policy(game)]}
        curves = {}
        for label in methods:
            solver, params = METHODS[label]
            iterations = args.iterations if args.iterations is not None else mfgtools.default_iterations(solver)
            trained, times = [], []
            for seed in range(args.train_seeds):
                start = time.perf_counter()
                result = mfgtools.solve(game, solver, iterations=iterations, seed=seed, **params)
                times.append(time.perf_counter() - start)
                trained.append(result.swarm_policy)
                curves.setdefault(label, []).append(np.asarray(result.metrics["return"])[:-1])
            policies[label] = trained
            timing_rows.append([name, label, str(iterations), f"{np.mean(times):.0f} s", f"{game.n_agents}"])
            print(f"trained {label} on {name}: {iterations} iterations, {np.mean(times):.1f} s per run", flush=True)
        plays = {}
        for label, runs in policies.items():
            for n in agents:
                returns, orders = [], []
                for index, policy in enumerate(runs):
                    play = simulate_swarm(game, policy, n_agents=n, n_seeds=args.seeds, seed=1000 + index)
                    returns.append(np.asarray(play.returns(game.discount)))
                    orders.append(np.asarray(play.order))
                returns, orders = np.concatenate(returns), np.concatenate(orders)
                plays[label, n] = orders
                rows.append(
                    [name, label, str(n), f"{returns.mean():.2f} ± {returns.std():.2f}", f"{orders[:, -1].mean():.3f}"]
                )
            print(f"evaluated {label} on {name}", flush=True)
        if args.out:
            _figures(args.out, game, curves, plays, policies, agents)
    print()
    print(_common.table(["game", "policy", "N", "return (mean ± sd)", "order at T"], rows))
    print()
    print(_common.table(["game", "method", "iterations", "training time", "training N"], timing_rows))
    return 0


def _figures(out, game, curves, plays, policies, agents):
    from matplotlib.figure import Figure

    from mfgtools.plotting import animate_swarm, plot_order_parameter, plot_swarm_snapshots
    from mfgtools.simulate import simulate_swarm

    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    for label, runs in curves.items():
        runs = np.asarray(runs)
        ax.plot(np.arange(runs.shape[1]), runs.mean(0), label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel("discounted shared return (training)")
    ax.set_title(game.name)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.savefig(os.path.join(out, f"{game.name}-training.png"), dpi=120)

    fig = Figure(figsize=(4.2 * len(agents), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(agents), sharey=True))
    for ax, n in zip(axes, agents):
        for label in policies:
            plot_order_parameter(plays[label, n], ax=ax, label=label)
        ax.set_title(f"{game.name}, N = {n}")
        ax.set_ylabel(game.order_label)
    axes[-1].legend(fontsize=7)
    fig.savefig(os.path.join(out, f"{game.name}-order.png"), dpi=120)

    best = policies.get("Dec-POMFC (kernel)", policies["uncontrolled"])[0]
    play = simulate_swarm(game, best, n_agents=100, n_seeds=1, seed=7, record_states=True)
    states = np.asarray(play.states[0])
    fig = plot_swarm_snapshots(game, states)
    fig.suptitle(f"{game.name}: Dec-POMFC (kernel), 100 agents, decentralised")
    fig.savefig(os.path.join(out, f"{game.name}-snapshots.png"), dpi=110)
    animate_swarm(game, states[::2], os.path.join(out, f"{game.name}.gif"), fps=10, dpi=60)


if __name__ == "__main__":
    raise SystemExit(main())
