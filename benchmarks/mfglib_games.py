"""MFGLib's environments rebuilt exactly through ``mfgtools.games.tabular.tabular_game`` (benchmarks only).

The arrays are read from MFGLib's own environment objects (transition tensor,
the reward's constant part), so the rebuilt game is the same game: MFGLib's
``T`` counts time steps ``0..T``, i.e. ``T + 1`` decisions (our ``horizon``),
no discount, no terminal reward, and its rewards ``c(t, s, a) - log(mu_t(s) + eps)``
are our ``base_reward - crowd_aversion * log(mu + floor)``. Importing this
module needs ``mfglib`` (and torch); ``bench_latency.py`` skips it otherwise.

Native MFGLib games (with MFGLib's conventions, registered by name) are the
subject of another issue; this module only serves the latency benchmark.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from mfglib.alg import OnlineMirrorDescent
from mfglib.env import Environment


def _dense(p: torch.Tensor, n_states: int, n_actions: int) -> np.ndarray:
    """MFGLib's ``p[*S', *S, A]`` as our dense ``P[s, a, s']`` (states flattened row-major)."""
    p = p.double().numpy().reshape(n_states, n_states, n_actions)  # (s', s, a)
    return np.transpose(p, (1, 2, 0))


def rebuilt(env: Environment, base_reward: np.ndarray, log_eps: float, name: str):
    """``env`` as an mfgtools tabular game with reward ``base_reward[t] - log(mu + log_eps)``."""
    from mfgtools.games.tabular import tabular_game

    n_states, n_actions = int(np.prod(env.S)), int(np.prod(env.A))
    return tabular_game(dense_transition=_dense(env.transition_fn.p, n_states, n_actions),
                        reward=base_reward.reshape(env.T + 1, n_states, n_actions),
                        initial_distribution=env.mu0.double().numpy().reshape(-1), horizon=env.T + 1,
                        crowd_aversion=1.0, floor=log_eps, name=f"mfglib/{name}")


def beach_bar():
    env = Environment.beach_bar()
    reward = env.reward_fn
    base = (reward.c1 + reward.c2).double().numpy()
    return env, rebuilt(env, np.broadcast_to(base, (env.T + 1,) + base.shape), reward.log_eps, "beach_bar")


def crowd_motion():
    env = Environment.crowd_motion()
    reward = env.reward_fn
    base = np.stack([reward.c * c1.double().numpy() for c1 in reward.c1s[: env.T + 1]])
    return env, rebuilt(env, base, reward.log_eps, "crowd_motion")


def timer(env):
    """``time(repeats) -> (seconds per OMD iteration with exploitability, exploitability after 1 iteration)``."""

    def run(repeats: int):
        algorithm = OnlineMirrorDescent(alpha=1.0)
        algorithm.solve(env, max_iter=1, atol=None, rtol=None)  # warm-up
        start = time.perf_counter()
        _, scores, _ = algorithm.solve(env, max_iter=repeats, atol=None, rtol=None)
        return (time.perf_counter() - start) / repeats, float(scores[1])

    return run


def cases():
    """``[(label, time_fn, mfgtools_game)]`` in float64 (torch's default dtype is set to float64)."""
    torch.set_default_dtype(torch.float64)
    out = []
    for label, build in (("beach_bar", beach_bar), ("crowd_motion", crowd_motion)):
        env, game = build()
        out.append((f"{label} (S={game.n_states}, T+1={game.horizon})", timer(env), game))
    return out
