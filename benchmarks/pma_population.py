#!/usr/bin/env python
"""Sample-based PMA with N agents: exploitability against samples, the finite-N floor.

For N in ``--agents``, centralised (``pma-sampled``) and independent
(``pma-independent``) learners run from ``--seeds`` seeds at once
(:func:`mfgtools.solve_seeds`, one vmapped program per N) on one never-reset
sample path of the N-agent game. The exact PMA curve (``pma``) is the
reference. The figure shows the regularised exploitability of the learned
policy (independent learners: of their average policy; dashed: the agents' mean
own exploitability) against the samples each agent has drawn, median over seeds
with the inter-quartile band. The table gives each run's floor: the mean over
the last ``--tail`` iterations; mean, median and range over seeds (the mean
counts the seeds whose small population lost the epidemic, see docs/pma.md).

    python benchmarks/pma_population.py [--game sis] [--agents 10,100,1000] [--seeds 8]
        [--iterations 100] [--out DIR | --docs]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import _common
import numpy as np

KINDS = {"pma-sampled": "centralised", "pma-independent": "independent"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="sis")
    parser.add_argument("--size", default=None, help="torus-crowd size (e.g. 4x4)")
    parser.add_argument("--agents", default="10,100,1000")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=0.3)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--tail", type=int, default=20)
    _common.add_output_arguments(parser, "pma_population", "pma")
    args = parser.parse_args(argv)
    args.out = _common.output_folder(args)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import mfgtools

    game = mfgtools.make_game(args.game, **({"size": args.size} if args.size else {}))
    common = dict(learning_rate=args.learning_rate, temperature=args.temperature)
    exact = mfgtools.solve(game, "pma", iterations=args.iterations, **common)
    per_iteration = None
    curves, rows = {}, []
    for solver, kind in KINDS.items():
        for n in [int(x) for x in args.agents.split(",")]:
            start = time.perf_counter()
            runs = mfgtools.solve_seeds(
                game, solver, iterations=args.iterations, seeds=range(args.seeds), n_agents=n, **common
            )
            seconds = time.perf_counter() - start
            regularised = np.stack([r.metrics["regularised_exploitability"][:-1] for r in runs])
            agents = (
                np.stack([r.metrics["agent_exploitability"][:-1] for r in runs])
                if solver == "pma-independent"
                else None
            )
            per_iteration = runs[0].metrics["samples"][0]
            curves[kind, n] = (regularised, agents)
            floors = regularised[:, -args.tail :].mean(axis=1)
            row = [
                kind,
                str(n),
                f"{floors.mean():.3g}",
                f"{np.median(floors):.3g}",
                f"{floors.min():.3g} – {floors.max():.3g}",
            ]
            if agents is not None:
                row.append(f"{agents[:, -args.tail :].mean():.3g}")
            else:
                row.append("")
            row.append(f"{seconds:.1f}")
            rows.append(row)
            print(" | ".join(row), flush=True)

    samples = per_iteration * np.arange(args.iterations)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    colors = dict(zip(sorted({n for _, n in curves}), ("tab:red", "tab:orange", "tab:blue", "tab:green")))
    for ax, kind in zip(axes, KINDS.values()):
        for (which, n), (regularised, agents) in curves.items():
            if which != kind:
                continue
            low, mid, high = np.percentile(regularised, [25, 50, 75], axis=0)
            ax.plot(samples, mid, color=colors[n], label=f"N = {n}")
            ax.fill_between(samples, low, high, color=colors[n], alpha=0.2, linewidth=0)
            if agents is not None:
                ax.plot(samples, np.median(agents, axis=0), color=colors[n], linestyle="--", linewidth=1)
        ax.plot(
            samples, exact.metrics["regularised_exploitability"][:-1], color="black", linewidth=1.2, label="exact PMA"
        )
        ax.set_yscale("log")
        ax.set_xlabel("samples per agent")
        ax.set_title(f"{kind} learners" + (" (dashed: agents' own)" if kind == "independent" else ""))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("regularised exploitability")
    axes[0].legend()
    fig.suptitle(
        f"sample-based PMA on {game.describe()}; eta = {args.learning_rate}, "
        f"lam = {args.temperature}, {args.seeds} seeds",
        fontsize=9,
    )
    fig.tight_layout()
    stem = f"population-{args.game}"
    figure = os.path.join(args.out, f"{stem}.png")
    fig.savefig(figure, dpi=130)
    headers = [
        "learners",
        "N",
        "floor (mean)",
        "floor (median)",
        "floor (seed range)",
        "agents' own floor (mean)",
        "seconds",
    ]
    text = (
        f"Floors of sample-based PMA on `{game.describe()}` (mean regularised exploitability over the last "
        f"{args.tail} of {args.iterations} iterations; {args.seeds} seeds; eta = {args.learning_rate}, "
        f"lam = {args.temperature}; exact PMA ends at "
        f"{exact.metrics['regularised_exploitability'][-1]:.2g}).\n"
        f"Machine: {_common.machine()}. "
        f"Command: `python benchmarks/pma_population.py {' '.join(argv or sys.argv[1:])}`\n\n"
        + _common.table(headers, rows)
        + "\n"
    )
    with open(os.path.join(args.out, f"{stem}.md"), "w") as handle:
        handle.write(text)
    print(text)
    print(f"wrote {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
