"""Online mirror descent on a big empty grid: time per iteration and peak memory.

What it measures: ``mfgtools.make_game("crowd", map="empty:N", horizon=T,
mu0=(1, 1))`` (crowd exploration, float32; ``N = 1000``, ``T = 100`` by default:
10^6 states, 5 actions, policy and cumulative-value arrays of 2 GB each) and
one OMD iteration of ``solve``'s compiled chunk program
(``mfgtools.engine.PROGRAMS.advance``, one iteration per call, the carry donated
as ``solve`` does). Each iteration is the forward pass (mean field of the
current policy) plus the fused backward pass that evaluates the policy, the
best response (the exploitability it reports) and writes the new cumulative
values and policy in place. It prints the game construction time, the compile
time, the wall time of each of ``--iterations`` iterations (their median too),
the user/system CPU time of each, and the peak resident memory of the process.

Run it from the repository root (no pytest involved)::

    python benchmarks/bench_big_grid.py                      # 1000x1000, T = 100
    python benchmarks/bench_big_grid.py --size 500 --horizon 50 --iterations 5
    python benchmarks/bench_big_grid.py --solve              # also time mfgtools.solve

With ``--solve`` it also times ``mfgtools.solve(game, "omd", iterations=...)``
end to end (it compiles its own programs and adds a final evaluation of the
last policy: mean field + exploitability).

With ``--devices N`` the same OMD iteration runs as ``solve(..., devices=N)``
runs it: one run with its state space split over the first ``N`` of
``jax.devices()`` (:class:`mfgtools.sharding.SpaceRun`: the ``S`` axis of the
``(T, S, A)`` and ``(T, S)`` arrays and of the game's tables sharded over a
mesh ``("space",)``, GSPMD partitioning the chunk program). It also prints the
compiled program's memory per device (arguments and temporaries) and its
collectives. On a CPU, simulate devices (they share the same cores, so expect
no speed-up, only a check that it runs and what it communicates)::

    XLA_FLAGS=--xla_force_host_platform_device_count=2 \
        python benchmarks/bench_big_grid.py --size 200 --horizon 20 --devices 2

On a machine with several GPUs the point is memory: each device holds ``1/N``
of every ``(T, S, A)`` array (the gathers of the forward and backward passes
move ``O(S)`` values per time step), so grids too big for one GPU fit.
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import time

import _common  # noqa: F401  (puts the checkout on sys.path)
from _common import SolverRunner, block, load_average, machine, peak_rss_gb, seconds, table


def cpu_times():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


class SplitRunner:
    """:class:`~_common.SolverRunner` with the state space split over ``devices`` (``solve(..., devices=)``)."""

    def __init__(self, game, devices: int, **solver_params):
        import jax

        from mfgtools.sharding import SpaceRun
        from mfgtools.solvers import make_solver

        self.game = game
        self.split = SpaceRun(game, make_solver("omd", **solver_params).prepare(game), devices)
        self.key = jax.random.PRNGKey(0)
        self.carry = block(self.split.init(self.key))
        self.done = 0
        start = time.perf_counter()
        self.compiled, self.run = self.split.compile_advance(self.carry, cap=1)
        self.compile_time = time.perf_counter() - start

    def whole_array_copies(self) -> int:
        """Copies of a device's whole ``(T, S / N, A)`` shard in the compiled program."""
        g, n = self.game, self.split.n_devices
        shape = rf"\[{g.horizon},{self.split.padded // n},{g.n_actions}\]\{{[0-9,]+\}} copy\("
        return len(re.findall(shape, self.compiled.as_text()))

    def describe(self) -> str:
        memory = self.compiled.memory_analysis()
        found = re.findall(
            r"(all-gather|all-reduce|collective-permute|all-to-all|reduce-scatter)\(", self.compiled.as_text()
        )
        kinds = ", ".join(f"{found.count(k)} {k}" for k in dict.fromkeys(found)) or "none"
        return (
            f"split over {self.split.n_devices} devices ({self.split.mesh.devices.flat[0].platform}); per device: "
            f"arguments {memory.argument_size_in_bytes / 1e9:.3f} GB, temporaries "
            f"{memory.temp_size_in_bytes / 1e9:.3f} GB; collectives in the program: {kinds}"
        )

    def step(self):
        self.carry, metrics = self.run(self.carry, self.key, self.done, 1)
        block(self.carry)
        self.done += 1
        return float(metrics["exploitability"][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1000, help="side N of the empty N x N grid")
    parser.add_argument("--horizon", type=int, default=100, help="decision steps T")
    parser.add_argument("--iterations", type=int, default=3, help="timed OMD iterations")
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--solve", action="store_true", help="also time mfgtools.solve end to end")
    parser.add_argument(
        "--devices",
        type=int,
        default=None,
        help="split the run's state space over this many devices (solve(..., devices=N))",
    )
    args = parser.parse_args()

    import mfgtools

    print(f"machine: {machine()}")
    print(f"load average at start: {load_average()}")
    start = time.perf_counter()
    game = mfgtools.make_game("crowd", map=f"empty:{args.size}", horizon=args.horizon, mu0=(1, 1))
    build = time.perf_counter() - start
    array_gb = game.horizon * game.n_states * game.n_actions * game.initial_distribution.dtype.itemsize / 1e9
    print(f"game: {game.describe()} (built in {seconds(build)}); each (T, S, A) array {array_gb:.2f} GB")

    if args.devices is None:
        runner = SolverRunner(game, learning_rate=args.learning_rate)
    else:
        runner = SplitRunner(game, args.devices, learning_rate=args.learning_rate)
        print(runner.describe())
    print(
        f"compile: {seconds(runner.compile_time)}; copies of whole (T, S, A) arrays (or shards) in the compiled "
        f"program: {runner.whole_array_copies()} (0: the state is updated in place)",
        flush=True,
    )
    rows, times = [], []
    for i in range(args.iterations):
        user0, sys0 = cpu_times()
        start = time.perf_counter()
        exploitability = runner.step()
        elapsed = time.perf_counter() - start
        user1, sys1 = cpu_times()
        times.append(elapsed)
        rows.append(
            [
                str(i),
                seconds(elapsed),
                f"{user1 - user0:.2f} s",
                f"{sys1 - sys0:.2f} s",
                f"{exploitability:.6g}",
                load_average(),
            ]
        )
        print(f"iteration {i}: {seconds(elapsed)}", flush=True)
    print()
    print(f"OMD on {game.describe()}" + ("" if args.devices is None else f", split over {args.devices} devices"))
    print(
        table(
            ["iteration", "wall time", "user CPU", "system CPU", "exploitability (of the input policy)", "load avg"],
            rows,
        )
    )
    print(
        f"compile {seconds(runner.compile_time)}; median iteration {seconds(statistics.median(times))}; "
        f"peak RSS {peak_rss_gb():.2f} GB"
    )

    if args.solve:
        del runner
        start = time.perf_counter()
        result = mfgtools.solve(
            game, "omd", iterations=args.iterations, learning_rate=args.learning_rate, devices=args.devices
        )
        total = time.perf_counter() - start
        print(
            f"mfgtools.solve(..., iterations={args.iterations}, devices={args.devices}): {seconds(total)} "
            "including compile and the "
            f"final evaluation; final exploitability {float(result.metrics['exploitability'][-1]):.6g}; "
            f"peak RSS {peak_rss_gb():.2f} GB"
        )
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
