#!/usr/bin/env python
"""How fast does the block sampler draw power-law graphexes, up to a million vertices?

For each ``sigma`` and each target number of non-isolated vertices, ``nu`` is
chosen so that :func:`expected_vertex_count` hits the target at label
truncation ``--L``; the graph is then sampled ``--repeats`` times (median wall
time, seeds 0, 1, ...) and the table gives its vertices and edges (last
sample), the expected vertices, and the degree-tail exponent fitted on the
window ``10 .. cutoff/4`` (``cutoff`` = the core's expected degree, where the
power law ends) against the theory ``1 + sigma``. The time includes building
the :class:`Graph` (sorted edges and CSR).

    python benchmarks/bench_graphex_sampling.py [--sigmas 0.5,0.7] [--targets 1e4,1e5,1e6] [--L 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys

import _common


def time_sampling(sample, repeats: int):
    """Median wall time of ``sample(seed)`` over seeds ``0..repeats - 1``, and the last graph."""
    seeds = iter(range(repeats))
    last = []

    def run():
        last[:] = [None]  # free the previous graph before drawing the next
        last[:] = [sample(next(seeds))]

    median, _ = _common.median_time(run, repeats)
    return median, last[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigmas", default="0.5,0.7")
    parser.add_argument("--targets", default="1e4,1e5,1e6", help="expected non-isolated vertices")
    parser.add_argument("--L", type=float, default=5000.0, help="label truncation")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from scipy.optimize import brentq

    from mfgtools.graphs.graphex import (
        expected_degree,
        expected_vertex_count,
        fit_tail_exponent,
        power_law_graphex,
        sample_graphex,
        tail_exponent,
    )

    print(f"# power-law graphex sampling, L = {args.L:g}, median of {args.repeats}")
    print(f"# machine: {_common.machine()}; load {_common.load_average()}")
    rows = []
    for sigma in (float(s) for s in args.sigmas.split(",") if s):
        graphex = power_law_graphex(sigma)
        for target in (float(t) for t in args.targets.split(",") if t):
            nu = brentq(lambda nu: expected_vertex_count(graphex, nu, args.L) - target, 1e-3, 1e6, rtol=1e-6)
            median, graph = time_sampling(lambda seed: sample_graphex(graphex, nu, args.L, seed=seed), args.repeats)
            cutoff = float(expected_degree(graphex, nu, args.L, 0.0))
            alpha = fit_tail_exponent(graph.degree, 10, max(20, int(cutoff / 4)))
            rows.append(
                [
                    f"{sigma:g}",
                    f"{nu:.1f}",
                    f"{expected_vertex_count(graphex, nu, args.L):,.0f}",
                    f"{graph.n_vertices:,}",
                    f"{graph.n_edges:,}",
                    _common.seconds(median),
                    f"{alpha:.3f}",
                    f"{tail_exponent(graphex):.3f}",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
            del graph
    print()
    print(
        _common.table(
            ["sigma", "nu", "expected vertices", "vertices", "edges", "time", "fitted alpha", "1 + sigma"], rows
        )
    )
    print(f"\npeak RSS {_common.peak_rss_gb():.2f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
