#!/usr/bin/env python
"""A 64-run sweep (8 seeds x 8 learning rates) of OMD as one program vs 64 sequential ``solve`` calls.

What it measures: on the four-rooms crowd game (``make_game("crowd",
map="four_rooms")``: S = 169, A = 5, T = 40), ``--iterations`` OMD iterations
(default: the solver's, 100) for every seed in 0..7 and every learning rate of
``--rates``, run

- as one :func:`mfgtools.sweep` (the learning rate vmapped with the seeds: one
  compiled program, sharded over all local devices), and
- as 64 calls of :func:`mfgtools.solve`, one after another (each learning rate
  is a static setting of the solver: 8 compilations, reused by the 8 seeds).

Each is timed twice: the first call (compilation included) and a second,
identical call (compiled programs reused from JAX's cache). The ratio is
loop / sweep. The last line is the largest difference between the two results
(policies and exploitability histories of all 64 runs); it should be ~0 (same
keys, same chunks, float32 rounding at most).

OMD itself draws no random numbers, so its 8 seeds give equal runs; the seeds
are there to count as a real sweep would (stochastic solvers differ by seed).

    python benchmarks/bench_sweep.py                    # 100 iterations
    python benchmarks/bench_sweep.py --iterations 20
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import load_average, machine, peak_rss_gb, seconds, table  # (puts the checkout on sys.path)

DEFAULT_RATES = "0.01,0.02,0.03,0.05,0.1,0.2,0.3,0.5"


def run_sweep(game, rates, seeds, iterations):
    import mfgtools

    start = time.perf_counter()
    dataset = mfgtools.sweep(game, "omd", grid={"learning_rate": rates}, seeds=seeds, iterations=iterations)
    return time.perf_counter() - start, dataset


def run_loop(game, rates, seeds, iterations):
    import mfgtools

    start = time.perf_counter()
    results = {
        (seed, rate): mfgtools.solve(game, "omd", iterations=iterations, seed=seed, learning_rate=rate)
        for rate in rates
        for seed in seeds
    }
    return time.perf_counter() - start, results


def max_difference(dataset, results) -> tuple[float, float]:
    """Largest absolute differences (policy, exploitability) between the sweep and the loop."""
    import numpy as np

    policy = exploitability = 0.0
    for (seed, rate), result in results.items():
        run = dataset.sel(seed=seed, learning_rate=rate)
        single = result.to_xarray()
        policy = max(policy, float(np.nanmax(np.abs(run["policy"].values - single["policy"].values))))
        exploitability = max(
            exploitability, float(np.nanmax(np.abs(run["exploitability"].values - single["exploitability"].values)))
        )
    return policy, exploitability


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=None, help="OMD iterations per run (default: 100)")
    parser.add_argument("--seeds", type=int, default=8, help="seeds 0..N-1 (default: 8)")
    parser.add_argument("--rates", default=DEFAULT_RATES, help=f"learning rates (default: {DEFAULT_RATES})")
    parser.add_argument("--map", default="four_rooms", help="crowd map (default: four_rooms)")
    args = parser.parse_args(argv)

    import jax

    import mfgtools
    from mfgtools.solvers import default_iterations

    iterations = default_iterations("omd") if args.iterations is None else args.iterations
    rates = [float(rate) for rate in args.rates.split(",")]
    seeds = list(range(args.seeds))
    game = mfgtools.make_game("crowd", map=args.map)
    runs = len(rates) * len(seeds)
    print(f"# {machine()}")
    print(
        f"# {game.describe()}; {runs} runs = {len(seeds)} seeds x {len(rates)} learning rates, "
        f"{iterations} iterations each; {len(jax.devices())} device(s)"
    )
    print(f"# load average at start: {load_average()}")

    sweep_first, _ = run_sweep(game, rates, seeds, iterations)
    print(f"sweep, first call: {seconds(sweep_first)}", flush=True)
    sweep_second, dataset = run_sweep(game, rates, seeds, iterations)
    print(f"sweep, second call: {seconds(sweep_second)}", flush=True)
    loop_first, _ = run_loop(game, rates, seeds, iterations)
    print(f"loop, first pass: {seconds(loop_first)}", flush=True)
    loop_second, results = run_loop(game, rates, seeds, iterations)
    print(f"loop, second pass: {seconds(loop_second)}", flush=True)
    policy, exploitability = max_difference(dataset, results)

    print()
    print(
        table(
            ["", f"one sweep ({dataset.attrs['programs']} program)", f"{runs} solve calls", "loop / sweep"],
            [
                [
                    "first call (compilation included)",
                    seconds(sweep_first),
                    seconds(loop_first),
                    f"{loop_first / sweep_first:.1f}x",
                ],
                [
                    "second call (compiled)",
                    seconds(sweep_second),
                    seconds(loop_second),
                    f"{loop_second / sweep_second:.1f}x",
                ],
            ],
        )
    )
    print(
        f"# max |difference| over the {runs} runs: policy {policy:.1e}, exploitability history "
        f"{exploitability:.1e}; runs per second (compiled): sweep {runs / sweep_second:.1f}, "
        f"loop {runs / loop_second:.1f}"
    )
    print(f"# peak RSS {peak_rss_gb():.2f} GB; load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
