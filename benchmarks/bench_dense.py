"""Sparse fan-out kernels vs a dense ``P[S, A, S]`` transition tensor (as MFGLib stores it).

What it measures, on crowd exploration on empty ``N x N`` grids of growing size
(``make_game("crowd", map="empty:N", horizon=T, mu0=(1, 1))``, float32):

- **sparse** (mfgtools): one online-mirror-descent iteration of ``solve``'s
  compiled chunk program (forward pass through the inverse table
  ``incoming[S, J]``, fused backward pass through ``next_state[S, A, K]``,
  exploitability of the input policy computed in the same pass);
- **dense**: the same OMD iteration and exploitability written with a dense
  transition tensor ``P[S, A, S]`` and ``einsum`` (forward
  ``mu_{t+1} = einsum("sa,sap->p", mu_t pi_t, P)``, backward
  ``E[V(s')] = einsum("sap,pk->sak", P, [V_pi, V_br])``), the same rewards,
  softmax and ``lax.scan`` structure, equally ``jax.jit``-compiled. This is
  the representation MFGLib uses (``env.prob(t, L)`` returns ``P[S', S, A]``).

For each size it prints the median time per iteration (after compile and a
warm-up), the memory of the transition representation (ours: ``next_state`` +
``transition_prob`` + ``incoming``; dense: ``S * A * S`` floats) and the ratio.
The dense variant is skipped where ``P`` alone would exceed the memory budget
(``--dense-budget-gb``, default: 40 % of the available memory, at most 8 GB):
the script then prints the bytes it would need instead of running it. On the
sizes where both run, it checks that they agree (policies and exploitabilities
after ``--check-iterations`` iterations).

Optional: ``--mfglib-python PATH`` times MFGLib itself (``OnlineMirrorDescent``
step + ``exploitability_score``, PyTorch, dense) on the same games, running a
small helper in that interpreter (a virtual environment with ``mfglib``
installed; it needs no JAX), and checks its exploitability against ours
(MFGLib's horizon ``T`` counts from 0, so ``T_mfglib = T - 1``; its reward here
is the same ``-log clip(mu, floor, 1)``).

Run it from the repository root (no pytest involved)::

    python benchmarks/bench_dense.py
    python benchmarks/bench_dense.py --sizes 10 20 40 70 100 --horizon 40 --repeats 5
    python benchmarks/bench_dense.py --mfglib-python /tmp/mfglib_venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import _common  # noqa: F401  (puts the checkout on sys.path)
from _common import SolverRunner, block, load_average, machine, median_time, seconds, table

LEARNING_RATE = 0.1


# ----- the dense formulation ------------------------------------------------------------
def dense_transition(game):
    """``P[S, A, S]`` from the fan-out table (numpy, float of the game's dtype)."""
    import numpy as np

    S, A, K = game.n_states, game.n_actions, game.fan_out
    P = np.zeros((S, A, S), dtype=np.dtype(game.initial_distribution.dtype))
    s, a, _ = np.meshgrid(np.arange(S), np.arange(A), np.arange(K), indexing="ij")
    np.add.at(P, (s, a, np.asarray(game.next_state)), np.asarray(game.transition_prob))
    return P


def dense_init(game):
    from mfgtools import kernels

    policy = kernels.uniform_policy(game)
    import jax.numpy as jnp

    return {"cumulative": jnp.zeros_like(policy), "policy": policy + 0.0}


def dense_step(game, P, state, learning_rate):
    """One OMD iteration + exploitability of the input policy, with a dense ``P``."""
    import jax.numpy as jnp
    from jax import lax

    from mfgtools import kernels

    times = jnp.arange(game.horizon)

    def forward(mu, xs):
        _, policy_t = xs
        return jnp.einsum("sa,sap->p", mu[:, None] * policy_t, P), mu

    last, flow = lax.scan(forward, game.initial_distribution, (times, state["policy"]))

    def backward(carry, xs):
        v_pi, v_br = carry
        t, mu_t, y_t, pi_t = xs
        expected = jnp.einsum("sap,pk->sak", P, jnp.stack([v_pi, v_br], axis=-1))
        reward = game.reward(t, mu_t)
        q_pi = reward + game.discount * expected[..., 0]
        q_br = reward + game.discount * expected[..., 1]
        y_new = y_t + learning_rate * q_pi
        carry = (jnp.sum(pi_t * q_pi, axis=-1), kernels.masked_max(game, q_br))
        return carry, (y_new, kernels.masked_softmax(game, y_new))

    terminal = game.terminal_reward(last)
    (v_pi, v_br), (cumulative, policy) = lax.scan(
        backward, (terminal, terminal), (times, flow, state["cumulative"], state["policy"]), reverse=True
    )
    exploitability = jnp.dot(game.initial_distribution, v_br - v_pi)
    return {"cumulative": cumulative, "policy": policy}, exploitability


# ----- MFGLib, in another interpreter ----------------------------------------------------
MFGLIB_HELPER = r"""
import json, sys, time
import numpy as np, torch
from mfglib.env import Environment
from mfglib.alg.online_mirror_descent import OnlineMirrorDescent
from mfglib.scoring import exploitability_score
data = np.load(sys.argv[1])
repeats, iterations, lr, floor = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
S, A, K = data["next_state"].shape
T = int(data["horizon"])
P = np.zeros((S, S, A), dtype=np.float32)            # MFGLib: P[s', s, a]
s, a, _ = np.meshgrid(np.arange(S), np.arange(A), np.arange(K), indexing="ij")
np.add.at(P, (data["next_state"], s, a), data["transition_prob"].astype(np.float32))
P = torch.from_numpy(P)
def reward(env, t, L):                               # crowd exploration: -log clip(mu, floor, 1)
    mu = L.sum(dim=-1)
    return (-torch.log(torch.clamp(mu, floor, 1.0)))[:, None].expand(S, A)
env = Environment(T=T - 1, S=(S,), A=(A,), mu0=torch.from_numpy(data["mu0"].astype(np.float32)),
                  r_max=-float(np.log(floor)), reward_fn=reward, transition_fn=lambda env, t, L: P)
alg = OnlineMirrorDescent(alpha=lr)
state = alg.init_state(env, torch.full((T, S, A), 1.0 / A))
values = [exploitability_score(env, state.pi)]
for _ in range(iterations):
    state = alg.step_next_state(state, None, None)
    values.append(exploitability_score(env, state.pi))
times = []
for _ in range(repeats):
    start = time.perf_counter()
    state = alg.step_next_state(state, None, None)
    exploitability_score(env, state.pi)
    times.append(time.perf_counter() - start)
print(json.dumps({"time": sorted(times)[len(times) // 2], "exploitability": values}))
"""


def run_mfglib(python: str, game, repeats: int, iterations: int, floor: float):
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        arrays = Path(tmp) / "game.npz"
        np.savez(
            arrays,
            next_state=np.asarray(game.next_state),
            transition_prob=np.asarray(game.transition_prob),
            mu0=np.asarray(game.initial_distribution),
            horizon=game.horizon,
        )
        helper = Path(tmp) / "helper.py"
        helper.write_text(MFGLIB_HELPER)
        env = dict(os.environ, OMP_NUM_THREADS=str(os.cpu_count()))
        out = subprocess.run(
            [python, str(helper), str(arrays), str(repeats), str(iterations), str(LEARNING_RATE), str(floor)],
            capture_output=True,
            text=True,
            env=env,
        )
    if out.returncode:
        raise RuntimeError(f"MFGLib helper failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----- driver ------------------------------------------------------------------------------
def available_bytes() -> float:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8e9


def gigabytes(n: float) -> str:
    if n >= 1e12:
        return f"{n / 1e12:.3g} TB"
    return f"{n / 1e9:.3g} GB" if n >= 1e8 else f"{n / 1e6:.3g} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 40, 70, 100, 200, 400, 1000])
    parser.add_argument("--horizon", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5, help="timed iterations per variant (median)")
    parser.add_argument("--check-iterations", type=int, default=3)
    parser.add_argument("--dense-budget-gb", type=float, default=None)
    parser.add_argument("--mfglib-python", default=None, help="interpreter with mfglib installed (optional)")
    parser.add_argument("--mfglib-max-size", type=int, default=40, help="largest grid side given to MFGLib")
    parser.add_argument("--mfglib-repeats", type=int, default=1, help="timed MFGLib iterations (median)")
    args = parser.parse_args()

    import jax
    import numpy as np

    import mfgtools

    budget = args.dense_budget_gb * 1e9 if args.dense_budget_gb else min(8e9, 0.4 * available_bytes())
    print(f"machine: {machine()}")
    print(f"load average at start: {load_average()}; dense budget {gigabytes(budget)} for P")
    rows, checks, mfglib_rows = [], [], []
    for size in args.sizes:
        game = mfgtools.make_game("crowd", map=f"empty:{size}", horizon=args.horizon, mu0=(1, 1))
        S, A = game.n_states, game.n_actions
        itemsize = game.initial_distribution.dtype.itemsize
        sparse_bytes = sum(int(np.asarray(x).nbytes) for x in (game.next_state, game.transition_prob, game.incoming))
        dense_bytes = S * A * S * itemsize
        print(f"N={size}: S={S} ...", flush=True)

        runner = SolverRunner(game, learning_rate=LEARNING_RATE)
        sparse_curve = [runner.step() for _ in range(args.check_iterations)]
        sparse_policy = np.asarray(runner.state["policy"])
        sparse_time, _ = median_time(runner.step, args.repeats)
        sparse_compile = runner.compile_time
        del runner

        if dense_bytes > budget:
            rows.append(
                [
                    str(size),
                    str(S),
                    seconds(sparse_time),
                    f"would need {gigabytes(dense_bytes)}",
                    "-",
                    gigabytes(sparse_bytes),
                    gigabytes(dense_bytes),
                    f"{dense_bytes / sparse_bytes:,.0f}x",
                ]
            )
        else:
            P = jax.device_put(dense_transition(game))
            step = jax.jit(partial(dense_step, learning_rate=LEARNING_RATE), donate_argnums=2)
            state = block(jax.jit(dense_init)(game))
            start = time.perf_counter()
            compiled = step.lower(game, P, state).compile()
            dense_compile = time.perf_counter() - start
            dense_curve = []
            for _ in range(args.check_iterations):
                state, value = compiled(game, P, state)
                dense_curve.append(float(value))
            dense_policy = np.asarray(state["policy"])

            def dense_once():
                nonlocal state
                state, value = compiled(game, P, state)
                block(value)

            dense_time, _ = median_time(dense_once, args.repeats)
            del P, state
            rows.append(
                [
                    str(size),
                    str(S),
                    seconds(sparse_time),
                    seconds(dense_time),
                    f"{dense_time / sparse_time:,.1f}x",
                    gigabytes(sparse_bytes),
                    gigabytes(dense_bytes),
                    f"{dense_bytes / sparse_bytes:,.0f}x",
                ]
            )
            checks.append(
                [
                    str(size),
                    f"{max(abs(a - b) / max(abs(b), 1e-30) for a, b in zip(sparse_curve, dense_curve)):.1e}",
                    f"{np.abs(sparse_policy - dense_policy).max():.1e}",
                    f"{seconds(sparse_compile)} / {seconds(dense_compile)}",
                ]
            )

        if args.mfglib_python and size <= args.mfglib_max_size:
            result = run_mfglib(args.mfglib_python, game, args.mfglib_repeats, args.check_iterations, game.floor)
            # both lists start with the uniform policy: entry k is the exploitability of pi_k
            theirs = result["exploitability"]
            diff = max(abs(a - b) / max(abs(b), 1e-30) for a, b in zip(sparse_curve, theirs))
            mfglib_rows.append(
                [
                    str(size),
                    str(S),
                    seconds(sparse_time),
                    seconds(result["time"]),
                    f"{result['time'] / sparse_time:,.0f}x",
                    f"{diff:.1e}",
                ]
            )

    print()
    print(f"One OMD iteration + exploitability, crowd exploration on empty N x N grids, T={args.horizon}, float32:")
    print(
        table(
            [
                "N",
                "S",
                "sparse (ours)",
                "dense P[S,A,S]",
                "dense / sparse",
                "transitions (ours)",
                "transitions (dense)",
                "memory ratio",
            ],
            rows,
        )
    )
    print("(median of the timed iterations after compile and warm-up; 'would need': P alone exceeds the budget)")
    if checks:
        print()
        print(f"Agreement after {args.check_iterations} iterations (learning rate {LEARNING_RATE}):")
        print(
            table(
                ["N", "max rel. diff. of exploitabilities", "max abs. diff. of policies", "compile sparse / dense"],
                checks,
            )
        )
    if mfglib_rows:
        print()
        print("MFGLib (PyTorch, dense, OnlineMirrorDescent step + exploitability_score):")
        print(
            table(
                ["N", "S", "sparse (ours)", "MFGLib", "MFGLib / ours", "max rel. diff. of exploitabilities"],
                mfglib_rows,
            )
        )
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    sys.exit(main())
