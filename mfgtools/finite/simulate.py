"""N-agent simulation of any finite game.

``N`` agents start from ``mu0``; at every step each samples an action from its
policy, the empirical distribution ``mu_N`` of their states drives the rewards
``r_t(s, a, mu_N)`` and the transitions ``p_t(. | s, a, mu_N)``, and each agent
samples its successor. Agents' states are an int array; one ``lax.scan`` over
time, ``vmap`` over seeds. Offline datasets, policy mirror ascent and the
finite-population evaluation of every solver's policy are built on it.

The other families have their own simulators: agents on a graph in
:mod:`mfgtools.graphex.simulate`, swarms in :mod:`mfgtools.swarm.rollouts`.

Policies are shared ``(T, S, A)`` or per agent ``(N, T, S, A)``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax import lax

from mfgtools.errors import MFGError, as_int, as_seed
from mfgtools.finite import kernels
from mfgtools.finite.evaluation import as_policy, check_game
from mfgtools.finite.game import FiniteGame


@struct.dataclass
class Trajectories:
    """Sampled play of ``N`` agents (a leading seed axis when vmapped).

    Attributes:
      states: ``(T+1, N)`` int32 states.
      actions: ``(T, N)`` int32 actions.
      rewards: ``(T, N)`` rewards received.
      empirical: ``(T+1, S)`` empirical state distributions ``mu_N``.
      log_prob: ``(T, N)`` log-probability of each action under the policy.
    """

    states: jax.Array
    actions: jax.Array
    rewards: jax.Array
    empirical: jax.Array
    log_prob: jax.Array

    def returns(self, discount: float = 1.0) -> jax.Array:
        """Discounted return of every agent, ``(..., N)``."""
        horizon = self.rewards.shape[-2]
        weights = discount ** jnp.arange(horizon, dtype=self.rewards.dtype)
        return jnp.einsum("...tn,t->...n", self.rewards, weights)


def empirical_distribution(states: jax.Array, n_states: int) -> jax.Array:
    """Fraction of agents in each state: ``(N,) int -> (S,)``."""
    counts = jax.ops.segment_sum(jnp.ones(states.shape, jnp.result_type(float)), states, n_states)
    return counts / states.shape[0]


def agents_step(game, t, states: jax.Array, probs: jax.Array, mu_t: jax.Array, key: jax.Array):
    """One step of ``N`` agents: each samples an action from its row ``probs``
    ``(N, A)``, receives ``r_t(s, a, mu_t)`` and samples a successor from
    ``p_t(. | s, a, mu_t)``.

    Returns ``(actions, rewards, successors, log_prob)``, each ``(N,)``.
    """
    action_key, move_key = jax.random.split(key)
    log_probs = jnp.log(probs)
    actions = jax.random.categorical(action_key, log_probs).astype(jnp.int32)
    rewards = game.reward(t, mu_t)[states, actions]
    successor_prob = game.transition(t, mu_t)[states, actions]  # (N, K)
    branch = jax.random.categorical(move_key, jnp.log(successor_prob))
    successors = kernels.successors_at(game, t, mu_t)[states, actions, branch]
    chosen = jnp.take_along_axis(log_probs, actions[:, None], axis=1)[:, 0]
    return actions, rewards, successors, chosen


def simulate_agents(
    game, policy: jax.Array, key: jax.Array, n_agents: int, flow: jax.Array | None = None
) -> Trajectories:
    """Pure, jit-able N-agent rollout of ``policy`` (``(T,S,A)`` or ``(N,T,S,A)``).

    With ``flow`` (``(T+1, S)``), rewards and transitions see ``flow[t]`` instead of
    the agents' empirical distribution (independent agents in a given mean field,
    as online learners sample them); ``empirical`` still records ``mu_N``.
    Stationary games: policies ``(S, A)`` or ``(N, S, A)``, ``game.horizon`` steps
    of the sample path from ``mu0``; ``flow``, if given, is the population ``(S,)``.
    """
    n_states = game.n_states
    per_agent = policy.ndim == len(game.policy_shape) + 1
    agents = jnp.arange(n_agents)
    start_key, key = jax.random.split(key)
    log_mu0 = jnp.log(game.initial_distribution)
    states0 = jax.random.categorical(start_key, log_mu0, shape=(n_agents,)).astype(jnp.int32)

    def rows(t, states):
        if game.stationary:
            return policy[agents, states] if per_agent else policy[states]
        return policy[agents, t, states] if per_agent else policy[t][states]

    def step(states, xs):
        t, step_key = xs
        mu_n = empirical_distribution(states, n_states)
        if flow is None:
            mu_t = mu_n
        else:
            mu_t = flow if game.stationary else flow[t]
        model_t = 0 if game.stationary else t
        actions, rewards, next_states, chosen = agents_step(game, model_t, states, rows(t, states), mu_t, step_key)
        return next_states, (states, actions, rewards, mu_n, chosen)

    keys = jax.random.split(key, game.horizon)
    final, (states, actions, rewards, empirical, log_prob) = lax.scan(step, states0, (jnp.arange(game.horizon), keys))
    states = jnp.concatenate([states, final[None]], axis=0)
    empirical = jnp.concatenate([empirical, empirical_distribution(final, n_states)[None]], axis=0)
    return Trajectories(states, actions, rewards, empirical, log_prob)


@partial(jax.jit, static_argnames=("n_agents",))
def simulate_seeds(game, policy, keys, n_agents):
    """``simulate_agents`` vmapped over a batch of PRNG keys ``(n_seeds, 2)``."""
    return jax.vmap(lambda k: simulate_agents(game, policy, k, n_agents))(keys)


def simulate(game, policy, n_agents: int, seed: int = 0, n_seeds: int | None = None) -> Trajectories:
    """Simulate ``n_agents`` agents playing ``policy`` in ``game`` (validated).

    Returns :class:`Trajectories`; with ``n_seeds`` every array gains a leading
    seed axis (independent runs, one compiled, vmapped program).
    """
    check_game(game)
    n_agents = as_int(n_agents, "n_agents", 1)
    seed = as_seed(seed)
    policy = np.asarray(policy)
    if policy.ndim == len(game.policy_shape) + 1:
        if policy.shape[0] != n_agents:
            raise MFGError(f"per-agent policy has {policy.shape[0]} agents, expected n_agents = {n_agents}")
        checked = as_policy(game, policy, batched=True)
    else:
        checked = as_policy(game, policy)
    count = 1 if n_seeds is None else as_int(n_seeds, "n_seeds", 1)
    from mfgtools.resources import check_bytes

    # per agent and step: state, action, reward, log-probability; per step the empirical flow
    check_bytes(
        f"simulating {count:,} x {n_agents:,} agents for T={game.horizon:,} steps",
        count * (game.horizon + 1) * (n_agents * 16 * 2 + game.n_states * 8),
        "n_agents or n_seeds",
    )
    keys = jax.random.split(jax.random.PRNGKey(seed), count)
    runs = simulate_seeds(game, checked, keys, n_agents)
    if n_seeds is None:
        runs = jax.tree_util.tree_map(lambda x: x[0], runs)
    return runs


# ----- the N-player game: exploitability of a policy by a deviating player -------------------------------
DEVIATORS = ("empirical", "mean-field")


@struct.dataclass
class NPlayerEstimate:
    """Monte Carlo estimate of one player's gain from deviating in the game of ``N`` players.

    Attributes:
      gain: ``E[return of the deviator] - E[return of a player following the policy]`` (float).
      stderr: its standard error over the episodes (common random numbers: both returns come from
        episodes that share every random draw, so most of the noise cancels).
      deviator_return, policy_return: the two means.
      mean_field: the mean-field exploitability of the policy (exact kernels), for comparison.
      n_players, episodes: the sizes; deviator: ``"empirical"`` or ``"mean-field"``.
    """

    gain: float = struct.field(pytree_node=False)
    stderr: float = struct.field(pytree_node=False)
    deviator_return: float = struct.field(pytree_node=False)
    policy_return: float = struct.field(pytree_node=False)
    mean_field: float = struct.field(pytree_node=False)
    n_players: int = struct.field(pytree_node=False)
    episodes: int = struct.field(pytree_node=False)
    deviator: str = struct.field(pytree_node=False)


def _play_n(game, policies: jax.Array, who: jax.Array, key: jax.Array, n_players):
    """One episode of ``n_players`` (traced; ``who`` ``(C,)`` sizes the ``C >= N`` simulated slots, of which
    the first ``N`` play): player ``i`` follows ``policies[who[i]]`` (``(2, T, S, A)``), rewards and
    transitions read the empirical distribution of the ``N`` players. Returns player 0's return (its
    terminal reward included, discounted as the kernels' values) and the empirical distribution of
    players ``1..N-1`` counted over ``N`` at every time ``(T+1, S)``."""
    n_states = game.n_states
    dtype = game.initial_distribution.dtype
    start_key, key = jax.random.split(key)
    log_mu0 = jnp.log(game.initial_distribution)
    states0 = jax.random.categorical(start_key, log_mu0, shape=who.shape).astype(jnp.int32)
    playing = (jnp.arange(who.shape[0]) < n_players).astype(dtype) / n_players
    weight = jnp.asarray(1.0, dtype)

    def empirical(states):
        return jax.ops.segment_sum(playing, states, n_states)

    def others(states, mu_n):
        return mu_n - jax.nn.one_hot(states[0], n_states, dtype=mu_n.dtype) / n_players

    def step(carry, xs):
        states, total, weight = carry
        t, step_key = xs
        mu_n = empirical(states)
        rows = policies[who, t, states]
        _, rewards, successors, _ = agents_step(game, t, states, rows, mu_n, step_key)
        return (successors, total + weight * rewards[0], weight * game.discount), others(states, mu_n)

    keys = jax.random.split(key, game.horizon)
    carry = (states0, jnp.zeros((), dtype), weight)
    (final, total, weight), flows = lax.scan(step, carry, (jnp.arange(game.horizon), keys))
    mu_final = empirical(final)
    total = total + weight * game.terminal_reward(mu_final)[final[0]]
    return total, jnp.concatenate([flows, others(final, mu_final)[None]], axis=0)


def slots(n_players: int) -> int:
    """Simulated slots for ``n_players``: the next power of two (at least 16), so that every ``N`` up to it
    runs one compiled program (the players beyond ``N`` move but are not counted)."""
    return max(16, 1 << (int(n_players) - 1).bit_length())


@partial(jax.jit, static_argnames=("capacity",))
def n_player_returns(game, policy: jax.Array, deviation: jax.Array, keys: jax.Array, n_players, capacity: int):
    """Returns of player 0 in paired episodes of ``n_players`` ``<= capacity`` (traced: one program for
    every ``N`` up to ``capacity``; one episode per key ``(E, 2)``, vmapped): deviating to ``deviation``
    ``(T, S, A)`` while the others follow ``policy``, and following ``policy`` itself, with the same
    random draws (common random numbers). Returns ``((E,), (E,))``."""
    policies = jnp.stack([policy, deviation])
    following = jnp.zeros((capacity,), jnp.int32)
    deviating = following.at[0].set(1)

    def episode(key):
        gained, _ = _play_n(game, policies, deviating, key, n_players)
        kept, _ = _play_n(game, policies, following, key, n_players)
        return gained, kept

    return jax.vmap(episode)(keys)


@partial(jax.jit, static_argnames=("capacity",))
def empirical_best_response(game, policy: jax.Array, keys: jax.Array, n_players, capacity: int) -> jax.Array:
    """A deviator's best response ``(T, S, A)`` in the game of ``n_players`` where the others follow
    ``policy``: backward induction on the expected model, ``Q_t(s, a) = E[r_t(s, a, mu_t^s)] +
    gamma E[sum_k p_t(k | s, a, mu_t^s) V_{t+1}(s'_k)]``, where ``mu_t^s`` is the empirical distribution of
    the ``N - 1`` others (sampled in one episode per key, ``(E, 2)``) plus the deviator itself at ``s``.

    Against the mean-field best response it sees the finite-``N`` effects on the average: the fluctuations
    of the empirical flow (rewards are not linear in it, e.g. ``-log mu``) and the deviator's own ``1/N``
    mass. It is still a Markov policy in the deviator's own state, blind to the realised flow.
    """
    n_states = game.n_states
    policies = jnp.stack([policy, policy])
    who = jnp.zeros((capacity,), jnp.int32)
    _, flows = jax.vmap(lambda k: _play_n(game, policies, who, k, n_players))(keys)  # (E, T+1, S)
    own = jnp.eye(n_states, dtype=flows.dtype) / n_players  # row s: the deviator at s
    cells = jnp.arange(n_states)

    def seen(flow_t):  # (S,) -> (S, S): row s is the distribution the deviator at s reads
        return flow_t[None, :] + own

    def rows(t, flow_t, v_next):
        def at(s, mu):
            reward = game.reward(t, mu)[s]
            table = kernels.successors_at(game, t, mu)[s]
            return reward + game.discount * jnp.sum(game.transition(t, mu)[s] * v_next[table], axis=-1)

        return jax.vmap(at)(cells, seen(flow_t))

    def terminal(flow_t):
        return jax.vmap(lambda s, mu: game.terminal_reward(mu)[s])(cells, seen(flow_t))

    def step(v_next, xs):
        t, flow_t = xs
        q = jnp.mean(jax.vmap(lambda f: rows(t, f, v_next))(flow_t), axis=0)
        return kernels.masked_max(game, q), q

    v_last = jnp.mean(jax.vmap(terminal)(flows[:, -1]), axis=0)
    times = jnp.arange(game.horizon)
    _, qs = lax.scan(step, v_last, (times, jnp.swapaxes(flows[:, :-1], 0, 1)), reverse=True)
    return kernels.greedy_policy(game, qs)


@jax.jit
def mean_field_deviation(game, policy: jax.Array):
    """The mean-field best response to ``policy``'s flow and the policy's mean-field exploitability."""
    flow = kernels.mean_field(game, policy)
    _, _, best = kernels.best_response(game, flow)
    return best, kernels.exploitability(game, policy, flow=flow)


def check_n_player_game(game, what: str = "n_player_exploitability") -> None:
    """One-line error unless ``game`` is a finite-horizon, single-population finite game whose model reads
    the state distribution (the N-player game this module simulates)."""
    if not isinstance(game, FiniteGame):
        raise MFGError(
            f"{what} needs a finite game from mfgtools.make_game(...), got {type(game).__name__} "
            "(swarm and graphex games are simulated by their own families)"
        )
    if game.stationary:
        raise MFGError(
            f"{what} needs a finite-horizon game; {game.name!r} is stationary (make it with mode='finite-horizon')"
        )
    if game.joint:
        raise MFGError(
            f"{what}: game {game.name!r} reads the joint state-action distribution; the N-player estimate "
            "supports games whose model reads the state distribution only"
        )
    if game.populations > 1:
        raise MFGError(
            f"{what}: game {game.name!r} has {game.populations} populations; the N-player estimate supports "
            "single-population games only"
        )


def n_player_exploitability(game, policy, n_players, episodes: int = 256, seed: int = 0, deviator: str = "empirical"):
    """Estimate how much one player gains by deviating from ``policy`` in the game of ``n_players``.

    Every player's reward and transition read the empirical distribution of all ``N`` players (the
    deviator included), as in :func:`simulate`. Player 0 deviates to a best response, the ``N - 1``
    others follow ``policy``; the gain ``E[R_deviator] - E[R_policy]`` is a Monte Carlo mean over
    ``episodes`` paired episodes (the same random draws with and without the deviation), with its
    standard error. The deviator:

    - ``"mean-field"``: the best response to the policy's mean-field flow;
    - ``"empirical"`` (default): the best response to the expected model of the ``N``-player game
      (:func:`empirical_best_response`), fitted on ``episodes`` further episodes with their own draws.

    Both are one particular deviation, so the gain is a lower bound (up to its standard error) on the
    ``N``-player exploitability, the gain of the best deviation, which may react to the realised flow.
    As ``N`` grows the empirical flow concentrates on the mean field and both tend to the mean-field
    exploitability (:attr:`NPlayerEstimate.mean_field`). Finite-horizon, single-population games whose
    model reads the state distribution; policies ``(T, S, A)``.

    ``n_players``: an int ``>= 2`` (returns one :class:`NPlayerEstimate`) or a sequence of them (returns a
    list, all sizes run by one compiled program with the same random draws).
    """
    check_n_player_game(game)
    several = isinstance(n_players, (list, tuple)) or (isinstance(n_players, np.ndarray) and n_players.ndim == 1)
    sizes = [as_int(n, "n_players", 2) for n in (list(n_players) if several else [n_players])]
    if not sizes:
        raise MFGError("n_players is an empty list; give at least one number of players, e.g. [10, 100]")
    episodes = as_int(episodes, "episodes", 2)
    seed = as_seed(seed)
    if deviator not in DEVIATORS:
        raise MFGError(f"unknown deviator {deviator!r}; choose one of {', '.join(DEVIATORS)}")
    checked = as_policy(game, policy)
    capacity = slots(max(sizes))
    from mfgtools.resources import check_bytes

    # per episode and step: the slots' states, action and successor rows; the fitted model per state row
    fitted = episodes * game.n_states * game.n_actions * (2 + game.fan_out) * 4 * game.n_states
    check_bytes(
        f"the {max(sizes):,}-player game over {episodes:,} episodes",
        episodes * (game.horizon + 1) * (capacity * 8 * (2 + game.fan_out) + game.n_states * 4)
        + (fitted if deviator == "empirical" else 0),
        "n_players or episodes",
    )
    best, exploitability = mean_field_deviation(game, checked)
    play_key, fit_key = jax.random.split(jax.random.PRNGKey(seed))
    play_keys, fit_keys = jax.random.split(play_key, episodes), jax.random.split(fit_key, episodes)
    estimates = []
    for n in sizes:
        deviation = best
        if deviator == "empirical":
            deviation = empirical_best_response(game, checked, fit_keys, n, capacity)
        gained, kept = n_player_returns(game, checked, deviation, play_keys, n, capacity)
        gained, kept = np.asarray(gained, np.float64), np.asarray(kept, np.float64)
        gain = gained - kept
        estimates.append(
            NPlayerEstimate(
                gain=float(gain.mean()),
                stderr=float(gain.std(ddof=1) / np.sqrt(episodes)),
                deviator_return=float(gained.mean()),
                policy_return=float(kept.mean()),
                mean_field=float(exploitability),
                n_players=n,
                episodes=episodes,
                deviator=deviator,
            )
        )
    return estimates if several else estimates[0]


__all__ = [
    "Trajectories",
    "empirical_distribution",
    "agents_step",
    "simulate_agents",
    "simulate_seeds",
    "simulate",
    "NPlayerEstimate",
    "slots",
    "n_player_returns",
    "empirical_best_response",
    "mean_field_deviation",
    "check_n_player_game",
    "n_player_exploitability",
]
