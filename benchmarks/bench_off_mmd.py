#!/usr/bin/env python
"""Seconds per Off-MMD iteration with the paper's settings, and where they go.

Four-rooms exploration, the shipped 1000-episode expert dataset (40,000
transitions), the paper's learner: 3 x 128 ReLU MLP, 2000 Adam steps of 512
transitions, CQL 3 (tau and alpha do not change the cost). An iteration is one compiled program
(``mfgtools.engine.PROGRAMS.advance`` with one iteration per call, as ``solve``
runs it): the MIS estimate, the frozen network's table and every target, the
2000 gradient steps, and the exact exploitability of the policy in the true
game. The parts are also timed alone. The official code (JAX, Python loops)
takes 13 to 50 s per iteration on a 2-core CPU (spec: off_mmd.md); the ratio
column uses both ends.

    python benchmarks/bench_off_mmd.py [--iterations 5] [--task exploration] [-p model=tabular]
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import SolverRunner, block, load_average, machine, median_time, seconds, table

OFFICIAL_SECONDS = (13.0, 50.0)  # per iteration on 2 CPU cores (spec: off_mmd.md)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5, help="timed iterations (after one warm-up)")
    parser.add_argument("--task", default="exploration")
    parser.add_argument("--dataset", default="expert", help="shipped quality or a dataset file")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    import jax

    import mfgtools
    from mfgtools import kernels

    params = dict(item.split("=", 1) for item in args.param)
    game = mfgtools.make_game("crowd", map="four_rooms", task=args.task)
    print(f"# Off-MMD iteration timing: four rooms {args.task}, dataset {args.dataset}, params {params or 'paper'}")
    print(f"# machine: {machine()}; load average {load_average()}")
    runner = SolverRunner(game, "off-mmd", dataset=args.dataset, **params)
    solver = runner.solver
    print(
        f"# {solver.data.n_transitions} transitions in the dataset, {solver.transitions.time.shape[0]} trained on "
        f"(pairing={solver.pairing}); compile of the iteration program {runner.compile_time:.2f} s"
    )

    runner.step()  # warm-up
    per_iteration, times = median_time(runner.step, args.iterations)
    print(f"# iterations: {', '.join(f'{t:.3f}' for t in times)} s; exploitability now {runner.exploitability:.4g}")

    # the parts alone, each compiled on its own
    learner = solver.learner
    learner_state = runner.state.learner  # the network's parameters and Adam state
    q = block(jax.jit(lambda g, state: learner.q_table(g, state))(game, learner_state))
    policy = block(learner.policy(game, q))
    mis = jax.jit(lambda solver, g, policy: solver.mean_field_estimate(g, policy))
    estimate = lambda g, policy: mis(solver, g, policy)
    block(estimate(game, policy))
    mis_time, _ = median_time(lambda: block(estimate(game, policy)), 5)
    targets = jax.jit(lambda g, q, mu, data: learner.targets(g, q, mu, data))
    mu = estimate(game, policy)
    y = block(targets(game, q, mu, solver.transitions))
    target_time, _ = median_time(lambda: block(targets(game, q, mu, solver.transitions)), 5)
    fit = jax.jit(lambda g, state, data, y, key: learner.fit(g, state, data, y, key))
    state = learner_state
    start = time.perf_counter()
    block(fit(game, state, solver.transitions, y, runner.key))
    fit_compile = time.perf_counter() - start
    fit_time, _ = median_time(lambda: block(fit(game, state, solver.transitions, y, runner.key)), 3)
    exploit = jax.jit(kernels.exploitability)
    block(exploit(game, policy))
    exploit_time, _ = median_time(lambda: block(exploit(game, policy)), 5)

    rows = [
        [
            "whole iteration (one program)",
            seconds(per_iteration),
            f"{OFFICIAL_SECONDS[0] / per_iteration:.0f}x - {OFFICIAL_SECONDS[1] / per_iteration:.0f}x",
        ],
        ["  MIS mean-field estimate", seconds(mis_time), ""],
        ["  frozen-network table + all targets", seconds(target_time), ""],
        [f"  {learner.steps} Adam steps, batch {learner.batch_size}", seconds(fit_time), ""],
        ["  exact exploitability (evaluation)", seconds(exploit_time), ""],
    ]
    print(table(["part", "time", "faster than the official code (13-50 s)"], rows))
    print(f"# Adam steps alone compiled in {fit_compile:.2f} s (first call, includes running them once)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
