#!/usr/bin/env python
"""Independent PMA learners vmapped over seeds: one program against a loop of runs.

``--agents`` independent learners (``pma-independent``, default settings) run
``--iterations`` PMA iterations from ``--seeds`` seeds, once as one vmapped
program (:func:`mfgtools.solve_seeds`) and once as a Python loop of
:func:`mfgtools.solve` calls (compiled once, reused). Both produce the same
iterates; the table gives wall times (the vmapped run's first call includes its
compilation; the second is the steady state) and the ratio. Exact PMA's time
per iteration is given for scale.

    python benchmarks/bench_pma.py [--games sis,torus-crowd:4x4] [--agents 1000] [--seeds 8] [--iterations 100]
"""

from __future__ import annotations

import argparse
import sys
import time

import _common
import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", default="sis,torus-crowd:4x4")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args(argv)

    import mfgtools

    print(_common.machine())
    rows = []
    for spec in args.games.split(","):
        name, _, size = spec.partition(":")
        game = mfgtools.make_game(name, **({"size": size} if size else {}))
        params = dict(n_agents=args.agents)
        seeds = range(args.seeds)

        start = time.perf_counter()
        batch = mfgtools.solve_seeds(game, "pma-independent", iterations=args.iterations, seeds=seeds, **params)
        first = time.perf_counter() - start
        start = time.perf_counter()
        mfgtools.solve_seeds(game, "pma-independent", iterations=args.iterations, seeds=seeds, **params)
        vmapped = time.perf_counter() - start

        mfgtools.solve(game, "pma-independent", iterations=args.iterations, seed=0, **params)  # compile
        start = time.perf_counter()
        loop = [mfgtools.solve(game, "pma-independent", iterations=args.iterations, seed=s, **params) for s in seeds]
        looped = time.perf_counter() - start
        same = max(np.abs(a.policy - b.policy).max() for a, b in zip(batch, loop))

        mfgtools.solve(game, "pma", iterations=args.iterations)  # warm-up: compile
        start = time.perf_counter()
        mfgtools.solve(game, "pma", iterations=args.iterations)
        per_iteration = (time.perf_counter() - start) / args.iterations

        samples = int(batch[0].metrics["samples"][-2]) * args.agents * args.seeds
        floor = np.median([r.metrics["regularised_exploitability"][-21:-1].mean() for r in batch])
        row = [
            game.describe().split(",")[0],
            f"{args.agents} x {args.seeds}",
            _common.seconds(first),
            _common.seconds(vmapped),
            _common.seconds(looped),
            f"{looped / vmapped:.1f}x",
            f"{samples / vmapped / 1e6:.1f} M/s",
            f"{floor:.3g}",
            _common.seconds(per_iteration),
            f"{same:.1g}",
        ]
        rows.append(row)
        print(" | ".join(row), flush=True)
    headers = [
        "game",
        "agents x seeds",
        "vmapped, 1st call",
        "vmapped",
        "loop of solve",
        "speed-up",
        "agent steps",
        "floor",
        "exact PMA / it.",
        "max policy diff",
    ]
    print(
        f"\n{args.iterations} iterations of {batch[0].solver_params['mixing_steps']} + "
        f"{batch[0].solver_params['td_steps']} steps per agent; load {_common.load_average()}\n"
    )
    print(_common.table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
