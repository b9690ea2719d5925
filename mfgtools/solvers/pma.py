"""Policy mirror ascent (PMA; Yardim, Cayci, Geist, He, ICML 2023; spec: pma.md).

The PMA map with the entropy regulariser ``h(p) = -lam sum p log p`` has the
closed form, per state (and time step, in finite-horizon mode),

    pi_{k+1} ∝ pi_k ** (1 / (1 + eta lam)) * exp(eta Q_h(pi_k, mu_k) / (1 + eta lam)),

computed here in log space (:func:`mirror_step`). For small enough ``eta`` it
contracts to the regularised equilibrium, with no best response and no reset
of the population.

- ``pma``: exact PMA. ``mu_k`` is the population of ``pi_k`` (the stationary one
  in stationary mode, the flow in finite-horizon mode) and ``Q_h`` is computed
  exactly. Runs in both modes.
- ``pma-sampled`` (centralised) and ``pma-independent``: sample-based PMA on the
  N-agent game, stationary mode. ``N`` agents follow one sample path that is
  never reset (their states carry over from iteration to iteration); the
  empirical distribution of their states drives rewards and transitions. Each
  iteration runs ``mixing_steps`` steps under ``pi_k``, then ``td_steps`` steps
  of conditional TD(0) (expected SARSA on the regularised values of ``pi_k``),
  then the PMA update. Centralised: one ``Q`` from all agents' transitions, one
  policy. Independent: agent ``i`` learns its own ``Q_i`` from its own
  trajectory and updates its own ``pi_i`` (all start from the uniform policy);
  agents are a vmapped axis. ``Q`` is warm-started from the previous iteration.

Metrics (exact, in the mean-field game, of the policy before each update):
``exploitability`` (unregularised), ``regularised_exploitability`` (what PMA
drives to 0), ``population_residual`` (stationary mode: how well the
stationary population converged). The sample-based solvers add ``q_error``
(``sum_s mu(s) sum_a pi(a|s) |Q - Q_h|``, mean over agents), ``samples`` (transitions
per agent so far) and, for independent learners, ``agent_exploitability``: the
agents' mean regularised exploitability against the population of their average
policy (the other metrics are of that average policy).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from jax import lax

from mfgtools.finite import kernels
from mfgtools.finite.simulate import agents_step, empirical_distribution
from mfgtools.registry import integer, number, parameters_of, positive
from mfgtools.solvers.base import FiniteSolver, setting
from mfgtools.solvers.registry import register_solver

BOTH_MODES = ("finite-horizon", "stationary")


def mirror_step(game, log_policy: jax.Array, q: jax.Array, learning_rate, temperature) -> jax.Array:
    """The entropy PMA update in log space, ``(..., S, A)``: ``log pi_{k+1} =
    (log pi_k + eta Q) / (1 + eta lam)`` normalised over the legal actions."""
    z = jnp.where(game.action_mask, (log_policy + learning_rate * q) / (1.0 + learning_rate * temperature), -jnp.inf)
    return z - jax.nn.logsumexp(z, axis=-1, keepdims=True)


def log_uniform(game) -> jax.Array:
    """``log`` of the uniform policy (``-inf`` on illegal actions)."""
    return jnp.log(kernels.uniform_policy(game))


def _exact_metrics(game, policy, temperature, warm):
    """Exact regularised ``Q_h`` of ``policy`` and its metrics; ``warm``: the
    stationary loops' previous solutions (population and value vectors)."""
    if not game.stationary:
        flow = kernels.mean_field(game, policy)
        q_h, v_h = kernels.evaluate_policy(game, policy, flow, temperature)
        _, v_star_h, _ = kernels.best_response(game, flow, temperature, flow_policy=policy)
        metrics = {
            "exploitability": kernels.exploitability(game, policy, flow=flow),
            "regularised_exploitability": kernels.gap_at_start(game, v_star_h[0], v_h[0]),
        }
        return q_h, flow, metrics, warm
    mu, residual, _ = kernels.stationary_population(game, policy, start=warm["population"])
    q_h, v_h, _ = kernels.stationary_evaluate(game, policy, mu, temperature, start=warm["value"])
    _, v_star_h, _, _ = kernels.stationary_best_response(game, mu, temperature, start=warm["best_value"])
    _, v_pi, _ = kernels.stationary_evaluate(game, policy, mu, start=warm["plain_value"])
    _, v_star, _, _ = kernels.stationary_best_response(game, mu, start=warm["plain_best_value"])
    metrics = {
        "exploitability": kernels.stationary_gap(game, mu, v_star, v_pi),
        "regularised_exploitability": kernels.stationary_gap(game, mu, v_star_h, v_h),
        "population_residual": residual,
    }
    warm = {"population": mu, "value": v_h, "best_value": v_star_h, "plain_value": v_pi, "plain_best_value": v_star}
    return q_h, mu, metrics, warm


def _cold(game) -> dict:
    """Starting points of the stationary loops: ``mu0`` and zero values."""
    if not game.stationary:
        return {}
    zeros = jnp.zeros(game.n_states, game.initial_distribution.dtype)
    return {
        "population": game.initial_distribution,
        "value": zeros,
        "best_value": zeros,
        "plain_value": zeros,
        "plain_best_value": zeros,
    }


@struct.dataclass
class PolicyMirrorAscentState:
    """Exact PMA's state: ``log_policy`` ``(T, S, A)`` (stationary ``(S, A)``) and ``warm``, the stationary
    loops' previous solutions (empty in finite-horizon mode; see :func:`_cold`)."""

    log_policy: jax.Array
    warm: dict


@struct.dataclass
class SampledPolicyMirrorAscentState:
    """Sample-based PMA's state: ``log_policy``, ``q`` (learned ``Q``) and ``visits`` ``(S, A)`` (independent
    learners: ``(N, S, A)``), ``agents`` ``(N,)`` int32 the agents' states, ``samples`` the transitions per
    agent so far, ``warm`` as in :class:`PolicyMirrorAscentState` (plus ``agent_values`` ``(N, S)`` for
    independent learners)."""

    agents: jax.Array
    log_policy: jax.Array
    q: jax.Array
    samples: jax.Array
    visits: jax.Array
    warm: dict


class _PMABase(FiniteSolver):
    def policy(self, game, state):
        return jnp.exp(state.log_policy)

    def evaluate(self, game, policy):
        _, _, metrics, _ = _exact_metrics(game, policy, self.temperature, _cold(game))
        return metrics


def _learning_rate():
    return setting(
        0.1, "PMA step size eta (too large a step diverges on strongly crowd-averse games)", positive(), traced=True
    )


def _temperature():
    return setting(
        0.1, "entropy regulariser lam (the equilibrium is the lam-regularised one)", number(0.0), traced=False
    )


@register_solver(
    "pma",
    "exact policy mirror ascent (entropy-regularised; converges to the regularised NE)",
    modes=BOTH_MODES,
)
@struct.dataclass
class PolicyMirrorAscent(_PMABase):
    """Exact PMA (see the module docstring)."""

    learning_rate: float = _learning_rate()
    temperature: float = _temperature()

    def init(self, game, key):
        del key
        return PolicyMirrorAscentState(log_policy=log_uniform(game), warm=_cold(game))

    def step(self, game, state, key):
        del key
        policy = jnp.exp(state.log_policy)
        q_h, _, metrics, warm = _exact_metrics(game, policy, self.temperature, state.warm)
        log_policy = mirror_step(game, state.log_policy, q_h, self.learning_rate, self.temperature)
        return PolicyMirrorAscentState(log_policy=log_policy, warm=warm), metrics


@struct.dataclass
class SampledPolicyMirrorAscent(_PMABase):
    """Sample-based PMA on the N-agent game (centralised or independent learners)."""

    learning_rate: float = _learning_rate()
    temperature: float = _temperature()
    n_agents: int = setting(100, "number of agents N", integer(1))
    mixing_steps: int = setting(20, "steps under the new policy before learning its Q", integer(0))
    td_steps: int = setting(200, "steps of TD(0) learning per iteration", integer(1))
    td_learning_rate: float = setting(0.05, "TD step size alpha", number(0.0, 1.0, low_open=True), traced=True)
    independent: bool = setting(False)  # not a parameter: pma-independent is another solver

    def init(self, game, key):
        dtype = game.initial_distribution.dtype
        table = (game.n_states, game.n_actions)
        shape = (self.n_agents,) + table if self.independent else table
        states = jax.random.categorical(key, jnp.log(game.initial_distribution), shape=(self.n_agents,))
        warm = _cold(game)
        if self.independent:
            warm["agent_values"] = jnp.zeros((self.n_agents, game.n_states), dtype)
        return SampledPolicyMirrorAscentState(
            agents=states.astype(jnp.int32),
            log_policy=jnp.broadcast_to(log_uniform(game), shape),
            q=jnp.zeros(shape, dtype),
            samples=jnp.zeros((), jnp.int32),
            visits=jnp.zeros(shape, dtype),
            warm=warm,
        )

    def policy(self, game, state):
        """The learned policy ``(S, A)``; independent learners: their average."""
        policy = jnp.exp(state.log_policy)
        return policy.mean(axis=0) if self.independent else policy

    def step(self, game, state, key):
        policy = jnp.exp(state.log_policy)
        agents, q, visits = self._sample_and_learn(
            game, policy, state.log_policy, state.q, state.visits, state.agents, state.samples == 0, key
        )
        mean_policy = policy.mean(axis=0) if self.independent else policy
        q_h, mu, metrics, warm = _exact_metrics(game, mean_policy, self.temperature, state.warm)
        if self.independent:
            v_star_h = warm["best_value"]  # the soft best response to mu, just computed
            evaluate = jax.vmap(lambda p, v: kernels.stationary_evaluate(game, p, mu, self.temperature, start=v))
            agent_q, agent_values, _ = evaluate(policy, state.warm["agent_values"])
            metrics["agent_exploitability"] = jnp.mean((v_star_h[None] - agent_values) @ mu)
            error = jnp.abs(q - agent_q)
            warm["agent_values"] = agent_values
        else:
            error = jnp.abs(q - q_h)
        metrics["q_error"] = jnp.mean(kernels.sum_last(policy * error) @ mu)
        samples = state.samples + self.mixing_steps + self.td_steps
        metrics["samples"] = samples.astype(mu.dtype)
        log_policy = mirror_step(game, state.log_policy, q, self.learning_rate, self.temperature)
        new_state = SampledPolicyMirrorAscentState(
            agents=agents, log_policy=log_policy, q=q, samples=samples, visits=visits, warm=warm
        )
        return new_state, metrics

    def _sample_and_learn(self, game, policy, log_policy, q, visits, agents, first, key):
        """``mixing_steps`` steps under ``policy``, then ``td_steps`` steps of TD(0).

        The step size of the ``n``-th visit of ``(s, a)`` (counted over the whole
        run) is ``max(1/n, alpha)``: the first visits average their targets,
        later ones track ``Q_h`` of the moving policy. On the ``first`` iteration
        ``Q`` starts at the level ``rbar / (1 - gamma)`` of the rewards seen while
        mixing (per agent when independent), so that the pairs an agent has not
        tried yet are neither favoured nor avoided by the update.
        """
        lam, gamma, alpha = self.temperature, game.discount, self.td_learning_rate
        n_states, n_actions = game.n_states, game.n_actions
        index = jnp.arange(self.n_agents)
        # per-state soft value weights of pi: V(s') = sum_a pi (Q - lam log pi)
        penalty = lam * jnp.where(policy > 0, policy * log_policy, 0.0)

        def probs_of(states):
            return policy[index, states] if self.independent else policy[states]

        def step(carry, xs):
            states, q, visits, earned = carry
            t, step_key = xs
            learning = t >= self.mixing_steps
            level = earned / max(self.mixing_steps, 1) / (1.0 - gamma)
            level = level[:, None, None] if self.independent else jnp.mean(level)
            q = jnp.where(first & (t == self.mixing_steps), jnp.broadcast_to(level, q.shape), q)
            mu_n = empirical_distribution(states, n_states)
            actions, rewards, successors, _ = agents_step(game, 0, states, probs_of(states), mu_n, step_key)
            if self.independent:
                v_next = jnp.sum(policy[index, successors] * q[index, successors] - penalty[index, successors], -1)
                delta = rewards + gamma * v_next - q[index, states, actions]
                count = visits[index, states, actions] + 1.0
                new_visits = visits.at[index, states, actions].set(count)
                new_q = q.at[index, states, actions].add(jnp.maximum(1.0 / count, alpha) * delta)
            else:
                v_next = jnp.sum(policy[successors] * q[successors] - penalty[successors], -1)
                delta = rewards + gamma * v_next - q[states, actions]
                flat = states * n_actions + actions
                total = jax.ops.segment_sum(delta, flat, n_states * n_actions)
                count = jax.ops.segment_sum(jnp.ones_like(delta), flat, n_states * n_actions).reshape(q.shape)
                new_visits = visits + count
                # `count` updates towards their mean target: a step of 1 - (1 - alpha)^count,
                # or count / visits while 1/n averaging is the larger
                step_size = jnp.maximum(count / jnp.maximum(new_visits, 1.0), 1.0 - (1.0 - alpha) ** count)
                mean = total.reshape(q.shape) / jnp.maximum(count, 1.0)
                new_q = q + step_size * mean
            q = jnp.where(learning, new_q, q)
            visits = jnp.where(learning, new_visits, visits)
            return (successors, q, visits, earned + jnp.where(learning, 0.0, rewards)), None

        length = self.mixing_steps + self.td_steps
        keys = jax.random.split(key, length)
        earned = jnp.zeros(self.n_agents, q.dtype)
        (agents, q, visits, _), _ = lax.scan(step, (agents, q, visits, earned), (jnp.arange(length), keys))
        return agents, q, visits


# ----- registration ---------------------------------------------------------------------
@register_solver(
    "pma-sampled",
    "sample-based PMA, centralised: one Q learned by TD from all N agents' path",
    parameters_of(SampledPolicyMirrorAscent),
    modes=("stationary",),
)
def make_pma_sampled(**params):
    return SampledPolicyMirrorAscent(independent=False, **params)


@register_solver(
    "pma-independent",
    "sample-based PMA, independent learners: each of N agents learns its own Q and policy",
    parameters_of(SampledPolicyMirrorAscent),
    modes=("stationary",),
)
def make_pma_independent(**params):
    return SampledPolicyMirrorAscent(independent=True, **params)
