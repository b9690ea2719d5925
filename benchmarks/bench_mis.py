#!/usr/bin/env python
"""How accurate is the MIS mean field, and do normalising or clipping the weights help?

For four-rooms exploration, datasets of several sizes are collected from a
behaviour policy (the recipe's intermediate: 0.5 * OMD equilibrium + 0.5 *
uniform) and the mean field of several target policies is estimated by
marginalised importance sampling, with the official code's convention (each
``mu_t`` normalised), without normalisation, and with weights clipped at
``--clips``. The table gives the L1 error to the exact flow, averaged over
time (0 is perfect, 2 is the largest possible), and its worst time step,
averaged over ``--seeds`` datasets.

    python benchmarks/bench_mis.py [--sizes 200,1000,5000,20000] [--seeds 3] [--behaviour uniform]
"""

from __future__ import annotations

import argparse
import sys

import _common
import jax.numpy as jnp
import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,1000,5000,20000")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--clips", default="2,10")
    parser.add_argument(
        "--behaviour",
        choices=("intermediate", "uniform"),
        default="intermediate",
        help="behaviour of the data: 0.5 * equilibrium + 0.5 * uniform, or uniform",
    )
    args = parser.parse_args(argv)

    import mfgtools
    from mfgtools.offline import collect_dataset, mis_mean_field, mixed_policy

    game = mfgtools.make_game("crowd", map="four_rooms", task="exploration")
    equilibrium = mfgtools.solve(game, "omd", iterations=1000).policy
    behaviour = mixed_policy(game, equilibrium, 0.5 if args.behaviour == "intermediate" else 1.0)
    targets = {
        "behaviour": behaviour,
        "OMD iterate 5": mfgtools.solve(game, "omd", iterations=5).policy,
        "equilibrium": equilibrium,
        "uniform": mfgtools.uniform_policy(game),
    }
    variants = [("normalised", True, np.inf), ("raw", False, np.inf)]
    variants += [(f"normalised, clip {c}", True, float(c)) for c in args.clips.split(",") if c]
    print(f"# MIS L1 error to the exact flow, mean over t (worst t); behaviour {args.behaviour}")
    print(f"# machine: {_common.machine()}")
    sizes = [int(s) for s in args.sizes.split(",")]
    exact = {label: mfgtools.mean_field(game, target) for label, target in targets.items()}
    errors = {}  # (label, size, variant) -> [(mean, worst) per seed]
    for size in sizes:
        for seed in range(args.seeds):
            data = collect_dataset(game, behaviour, size, seed=seed)
            for label, target in targets.items():
                for name, normalise, clip in variants:
                    estimate = np.asarray(
                        mis_mean_field(
                            data.state,
                            data.action,
                            data.next_state,
                            data.log_prob,
                            jnp.asarray(target),
                            game.n_states,
                            normalise,
                            clip,
                        )
                    )
                    error = np.abs(estimate - exact[label]).sum(-1)
                    errors.setdefault((label, size, name), []).append((error.mean(), error.max()))
    print("| target | episodes | " + " | ".join(name for name, _, _ in variants) + " |")
    print("|" + "---|" * (2 + len(variants)))
    for label in targets:
        for size in sizes:
            cells = []
            for name, _, _ in variants:
                values = np.asarray(errors[(label, size, name)])
                cells.append(f"{values[:, 0].mean():.3f} ({values[:, 1].mean():.3f})")
            print(f"| {label} | {size} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
