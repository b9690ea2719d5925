#!/usr/bin/env python
"""The launch floor of XLA's CPU runtime on small arrays: what one time step of a ``lax.scan`` costs when
it does nothing but ``n`` small fused operations.

Each operation gathers a float64 vector of ``--size`` entries through a fixed permutation and scales it;
every second one also adds the vector's maximum (a reduction, so a second fusion). One jitted scan of
``--steps`` steps (80: four rooms' forward and backward passes, horizon 40) is timed, compiled, best of
``--repeats`` calls. Issue 18's four-rooms criterion leaves about 5.5 us per time step; this shows how many
fused operations fit in that (docs/benchmarks.md, "Small games").

    python benchmarks/bench_xla_floor.py            # --size 845 --steps 80 --ops 1 2 4 8 15
"""

from __future__ import annotations

import argparse
import time

import _common  # noqa: F401  (puts the checkout on sys.path)
from _common import load_average, machine, table


def scan_of(ops: int, size: int, steps: int):
    """A jitted scan of ``steps`` steps, each ``ops`` gather fusions (every second one with a maximum)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    order = jnp.asarray((jnp.arange(size) * 7) % size, jnp.uint32)

    def step(x, _):
        for i in range(ops):
            x = x[order] * 1.0001 + (jnp.max(x) if i % 2 else 0.5)
        return x, None

    return jax.jit(lambda x: lax.scan(step, x, None, length=steps)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=845, help="entries per vector (four rooms: S x A = 845)")
    parser.add_argument("--steps", type=int, default=80, help="time steps of the scan")
    parser.add_argument("--ops", type=int, nargs="+", default=[1, 2, 4, 8, 15], help="fused operations per step")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    print(machine())
    print(f"load average at start: {load_average()}")
    x = jnp.ones(args.size)
    rows = []
    for ops in args.ops:
        run = scan_of(ops, args.size, args.steps)
        run(x).block_until_ready()
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            run(x).block_until_ready()
            best = min(best, time.perf_counter() - start)
        rows.append(
            [
                ops,
                f"{best * 1e6:.0f} us",
                f"{best * 1e6 / args.steps:.2f} us",
                f"{best * 1e6 / args.steps / ops:.2f} us",
            ]
        )
    print(f"\nA lax.scan of {args.steps} steps over {args.size} float64 values, compiled, best of {args.repeats}:")
    print(table(["operations per step", "scan", "per step", "per operation"], rows))


if __name__ == "__main__":
    main()
