"""Games from arrays, and random (Garnet-style) games.

``tabular_game`` turns user arrays into a game: a fan-out transition table (or a
dense ``P[S, A, S]``), a base reward ``r0[S, A]`` (optionally time-dependent,
``[T, S, A]``) and a crowd-aversion term, ``r_t(s, a, mu) = r0 - c log(mu(s) + floor)``.
``make_game("random", ...)`` draws such a game from a seed: random successors,
Dirichlet probabilities and initial distribution, uniform base rewards. Random
games are what the property tests and many benchmarks run on.

Both can be played in either mode (:data:`mfgtools.registry.MODES`): finite
horizon (the default) or stationary (``stationary=True`` / ``mode="stationary"``:
discounted infinite horizon, which needs ``discount < 1`` and a time-homogeneous
reward; ``horizon`` is then only the default length of simulated sample paths).
:func:`~mfgtools.finite.game.resolve_mode` validates the mode and discount.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.errors import MFGError, as_bool, as_float, as_horizon, as_int
from mfgtools.finite.game import Annotation, FiniteGame, fan_out_fields, float_array, resolve_mode
from mfgtools.games.registry import register_game
from mfgtools.registry import MODES, Parameter, horizon, integer, number, seed
from mfgtools.resources import check_game_size


@struct.dataclass(kw_only=True)
class TabularGame(FiniteGame):
    """``r_t(s, a, mu) = base_reward[t, s, a] - crowd_aversion * log(mu(s) + floor)``."""

    base_reward: jax.Array  # (T, S, A)
    crowd_aversion: float = struct.field(pytree_node=False)
    floor: float = struct.field(pytree_node=False)

    def reward(self, t, mu):
        # stationary games have time-homogeneous rewards (checked at construction)
        reward = self.base_reward[0] if self.stationary else self.base_reward[t]
        if self.crowd_aversion:
            reward = reward - self.crowd_aversion * jnp.log(mu + self.floor)[:, None]
        return reward


def tabular_game(
    next_state=None,
    transition_prob=None,
    reward=None,
    initial_distribution=None,
    horizon=None,
    dense_transition=None,
    crowd_aversion=0.0,
    floor=1e-12,
    discount=None,
    action_mask=None,
    name="tabular",
    params=None,
    stationary=False,
) -> TabularGame:
    """Build a game from arrays (all validated).

    Args:
      next_state, transition_prob: ``(S, A, K)`` fan-out table, or instead
      dense_transition: ``(S, A, S)`` probabilities (converted to a fan-out table of
        the nonzero successors: ``K`` the most of any ``(s, a)``).
      reward: ``(S, A)`` or ``(T, S, A)`` base rewards.
      initial_distribution: ``(S,)`` probability vector.
      horizon: ``T``.
      crowd_aversion, floor: the ``-c log(mu + floor)`` term.
      discount: ``gamma``; ``None`` (default) means 1 in finite-horizon mode and
        0.9 in stationary mode, where it must be below 1.
      action_mask: optional ``(S, A)`` bool of legal actions.
      stationary: play the game in stationary (discounted, infinite-horizon)
        mode; the reward must then be time-homogeneous (``(S, A)``, or
        ``(T, S, A)`` with equal slices) and ``horizon`` is only the default
        length of simulated sample paths.
    """
    stationary = as_bool(stationary, "stationary")
    _, discount = resolve_mode("stationary" if stationary else "finite-horizon", discount)
    if dense_transition is not None:
        dense = np.asarray(dense_transition, dtype=np.float64)
        if dense.ndim != 3 or dense.shape[0] != dense.shape[2]:
            raise MFGError(f"dense_transition must have shape (S, A, S), got {dense.shape}")
        # keep only the successors that can happen: the fan-out K is the most of any (s, a), not S
        # (a 20 x 20 crowd with 5 moves: K = 5 instead of 400); rows with fewer pad with probability 0
        possible = dense > 0
        fan_out = max(1, int(possible.sum(axis=-1).max(initial=0)))
        next_state = np.argsort(~possible, axis=-1, kind="stable")[..., :fan_out]
        transition_prob = np.take_along_axis(dense, next_state, axis=-1)
    if next_state is None or transition_prob is None:
        raise MFGError("give next_state and transition_prob, or dense_transition")
    next_state = np.asarray(next_state)
    prob = np.asarray(transition_prob, dtype=np.float64)
    if next_state.ndim != 3 or prob.shape != next_state.shape:
        raise MFGError(
            f"next_state and transition_prob must both be (S, A, K); got {next_state.shape} and {prob.shape}"
        )
    n_states, n_actions, _ = next_state.shape
    if not np.issubdtype(next_state.dtype, np.integer) or next_state.min() < 0 or next_state.max() >= n_states:
        raise MFGError(f"next_state must hold integer states in [0, {n_states})")
    if (prob < 0).any() or not np.allclose(prob.sum(-1), 1.0, atol=1e-6):
        raise MFGError("transition_prob must be non-negative and sum to 1 over successors")
    horizon = as_horizon(horizon)
    reward = np.asarray(reward, dtype=np.float64)
    if reward.shape == (n_states, n_actions):
        reward = np.broadcast_to(reward, (horizon, n_states, n_actions))
    if reward.shape != (horizon, n_states, n_actions) or not np.isfinite(reward).all():
        raise MFGError(f"reward must be finite with shape (S, A) or (T, S, A) = {(horizon, n_states, n_actions)}")
    if stationary and not (reward == reward[:1]).all():
        first = int(np.argmax(~(reward == reward[:1]).reshape(horizon, -1).all(axis=1)))
        raise MFGError(
            f"stationary games need time-homogeneous rewards, but reward[{first}] differs from reward[0]; "
            "give an (S, A) reward, or build the game with stationary=False (finite-horizon mode)"
        )
    mu0 = np.asarray(initial_distribution, dtype=np.float64)
    if mu0.shape != (n_states,) or (mu0 < 0).any() or abs(mu0.sum() - 1.0) > 1e-6:
        raise MFGError(f"initial_distribution must be a probability vector of length {n_states}")
    mask = np.ones((n_states, n_actions), bool) if action_mask is None else np.asarray(action_mask, bool)
    if mask.shape != (n_states, n_actions) or not mask.any(axis=1).all():
        raise MFGError("action_mask must be (S, A) with at least one legal action per state")
    return TabularGame(
        initial_distribution=float_array(mu0),
        **fan_out_fields(next_state, prob),
        action_mask=jnp.asarray(mask),
        horizon=horizon,
        discount=discount,
        name=name,
        stationary=stationary,
        params=Annotation(dict(params or {})),
        grid_shape=None,
        base_reward=float_array(reward),
        crowd_aversion=as_float(crowd_aversion, "crowd_aversion"),
        floor=as_float(floor, "floor", 0.0, 1.0, high_open=True),
    )


PARAMETERS = {
    "n_states": Parameter(10, "number of states S", integer(1)),
    "n_actions": Parameter(3, "number of actions A", integer(1)),
    "fan_out": Parameter(2, "successors per (state, action) K"),
    "horizon": Parameter(10, "decision steps T (stationary mode: default sample-path length)", horizon),
    "crowd_aversion": Parameter(1.0, "coefficient c of -c log(mu + floor)", number()),
    "reward_scale": Parameter(1.0, "base rewards are uniform on [0, reward_scale]", number(0.0)),
    "seed": Parameter(0, "seed of the random draw", seed),
    "discount": Parameter(None, "discount gamma (default 1 in finite-horizon mode, 0.9 in stationary mode)"),
    "mode": Parameter("finite-horizon", "finite-horizon or stationary (discounted, infinite horizon)"),
}


@register_game("random", "random Garnet-style MFG with crowd aversion (tests and benchmarks)", PARAMETERS, modes=MODES)
def make_random(
    n_states,
    n_actions,
    fan_out,
    horizon,
    crowd_aversion,
    reward_scale,
    seed,
    discount,
    mode,
) -> TabularGame:
    mode, discount = resolve_mode(mode, discount)
    fan_out = as_int(fan_out, "fan_out", 1, n_states)
    check_game_size(
        "random",
        n_states,
        n_actions,
        fan_out,
        horizon,
        stationary=mode == "stationary",
        lower="n_states, n_actions, fan_out or the horizon",
    )
    rng = np.random.default_rng(seed)
    next_state = np.stack(
        [rng.choice(n_states, size=fan_out, replace=False) for _ in range(n_states * n_actions)]
    ).reshape(n_states, n_actions, fan_out)
    prob = rng.dirichlet(np.ones(fan_out), size=(n_states, n_actions))
    params = dict(
        n_states=n_states,
        n_actions=n_actions,
        fan_out=fan_out,
        horizon=horizon,
        crowd_aversion=float(crowd_aversion),
        reward_scale=reward_scale,
        seed=seed,
        discount=discount,
        mode=mode,
    )
    return tabular_game(
        next_state=next_state,
        transition_prob=prob,
        reward=rng.uniform(0, reward_scale, (n_states, n_actions)),
        initial_distribution=rng.dirichlet(np.ones(n_states)),
        horizon=horizon,
        crowd_aversion=crowd_aversion,
        discount=discount,
        name="random",
        params=params,
        stationary=mode == "stationary",
    )
