"""Dec-POMFC policy gradient (Cui, Hauck, Fabian, Koeppl, ICLR 2024; spec ``dec_pomfc.md``).

Decentralised partially observable mean-field control by PPO on the
upper-level (Dec-MFC) MDP, trained centrally on finite swarms:

- upper-level state: the representation of the swarm's empirical mean field,
  the kernel (or histogram) averages ``f_b = (1/N) sum_i k(x_i, c_b)`` over
  ``M`` centres on ``game.feature_periods``
  (:func:`mfgtools.swarm.representations.mean_field_features`), fed to the networks
  as ``(M f_b / m - 1) / sqrt(M)`` (``m``: the kernel mass of a point; 0 for the
  uniform distribution, of order 1 for a swarm gathered at one point), plus the
  time ``2 t / T - 1``;
- upper-level action: ``xi_t`` in ``R^{M_obs x A}``, the logits of the
  per-centre action distributions ``p_b = softmax(xi_b)`` of the lower-level
  kernel mixture policy ``pi(u|y) = sum_b k(y, c_b) p_b(u) / sum_b k(y, c_b)``
  over observation space, shared by all agents. The upper-level policy is a
  diagonal Gaussian on the flattened logits: mean from a flax MLP, learned
  state-independent log standard deviation (``init_log_std``);
- upper-level reward: the game's shared reward ``r(mu_N, u)``.

Each iteration samples ``n_envs`` episodes (vmapped) of swarms of ``n_agents``
agents (default: the game's). At every step the upper level sees the swarm's
mean-field features and draws ``xi_t``; then every agent samples its own action
from ``pi(.|y_i)`` with its own observation. The episodes feed one PPO update
(GAE, clipped surrogate, value loss, minibatch epochs stopped early at
``target_kl``: :mod:`mfgtools.solvers.ppo`).

Decentralised execution: since ``mu_t`` is nearly deterministic for large
swarms, :meth:`DecPOMFC.policy` runs the upper-level policy's mean action
along ``policy_rollouts`` rollouts of ``policy_agents`` agents (default: the
training swarm size, whose mean fields the upper level was trained on; fixed
keys from ``policy_seed``), averages the logits ``xi_t`` over the rollouts (a
Monte Carlo estimate of the sequence of the mean-field limit, where all
rollouts agree) and hands the sequence ``xi_0 .. xi_{T-1}`` to every agent in
advance: a :class:`~mfgtools.swarm.representations.MixturePolicy` that needs nothing
but each agent's own observation and the time.

``representation="histogram"`` replaces the kernels by histograms in both
places (bin shares as the upper-level input, a piecewise constant lower-level
policy), the paper's baseline representation.

Metrics of :meth:`DecPOMFC.step` (of the iteration's training episodes, before
the update): ``return`` (mean discounted shared return), ``order_parameter``
(mean over the episodes of the order parameter after the last step), and the PPO
diagnostics ``policy_loss``, ``value_loss``, ``entropy``, ``approx_kl``,
``clip_fraction``, ``grad_norm``, ``updates`` (fraction of the gradient steps
taken before early stopping) and ``action_std`` (mean standard deviation of the
Gaussian on the logits).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct
from jax import lax

from mfgtools.errors import MFGError, as_int
from mfgtools.registry import choice, integer, number, optional, parameters_of, positive
from mfgtools.solvers import ppo
from mfgtools.solvers.base import setting
from mfgtools.solvers.registry import register_solver
from mfgtools.swarm import representations as rep

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_prob(x: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """``(..., d) -> (...)``: log-density of a diagonal Gaussian."""
    z = (x - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z * z - log_std - 0.5 * LOG_2PI, axis=-1)


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
    """Entropy of a diagonal Gaussian with log standard deviations ``log_std`` ``(d,)``."""
    return jnp.sum(log_std + 0.5 * (LOG_2PI + 1.0))


def centres(value, name):
    """None, a count for every coordinate, or one count per coordinate (a sequence or ``"4,6"``)."""
    if value is None:
        return None
    if isinstance(value, str) and "," in value:
        value = value.split(",")
    if isinstance(value, (tuple, list)):
        return tuple(as_int(str(v).strip() if isinstance(v, str) else v, name, 1, 4096) for v in value)
    return as_int(value, name, 1, 4096)


@struct.dataclass
class DecPOMFC(ppo.PPOSolver):
    """PPO on the upper-level Dec-MFC MDP (see the module docstring)."""

    representation: str = setting(
        "kernel", "mean-field and lower-level policy representation: kernel or histogram", choice(*rep.KINDS)
    )
    feature_centres: int | tuple | None = setting(
        None,
        "centres per mean-field coordinate, or one count per coordinate (none: 16 on a circle, 8 per torus axis)",
        centres,
    )
    observation_centres: int | tuple | None = setting(
        None,
        "centres per observation coordinate, or one count per coordinate (none: 8 on a circle, 4 per bounded axis)",
        centres,
    )
    bandwidth: float = setting(
        rep.DEFAULT_BANDWIDTH,
        "kernel width in units of the centre spacing",
        positive(label="bandwidth (kernel width in units of the centre spacing)"),
    )
    init_log_std: float = setting(
        0.0, "initial log standard deviation of the Gaussian on the logits", number(-20.0, 5.0)
    )
    policy_agents: int | None = setting(
        None,
        "swarm size of the rollouts that fix the open-loop logits xi_0..xi_{T-1} (none: the training swarm size)",
        optional(integer(1, 1_000_000)),
    )
    policy_rollouts: int = setting(
        16, "rollouts whose logits are averaged into the open-loop policy", integer(1, 10_000)
    )
    policy_seed: int = setting(0, "seed of those rollouts", integer(0))

    def check(self, game) -> None:
        super().check(game)
        for name, basis in (("feature", self.feature_basis(game)), ("observation", self.observation_basis(game))):
            if basis.size > 100_000:
                raise MFGError(f"{name} basis of {basis.size} centres is too large; lower {name}_centres")

    # ----- the pieces -----------------------------------------------------------------
    def feature_basis(self, game) -> rep.Basis:
        return rep.feature_basis(game, self.feature_centres, self.representation, self.bandwidth)

    def observation_basis(self, game) -> rep.Basis:
        return rep.observation_basis(game, self.observation_centres, self.representation, self.bandwidth)

    def action_dim(self, game) -> int:
        return self.observation_basis(game).size * game.n_actions

    def networks(self, game):
        """The flax actor (mean of the logits) and critic (value in units of
        :func:`~mfgtools.solvers.ppo.horizon_scale`)."""
        actor = ppo.MLP(self.width, 2, self.action_dim(game), output_scale=0.01)
        critic = ppo.MLP(self.width, 2, 1, output_scale=1.0)
        return actor, critic

    def upper_observation(self, game, states: jax.Array, t) -> jax.Array:
        """``(N, D) -> (M_f + 1,)``: the mean-field features of the swarm and the time.

        Features ``(M f_b / m - 1) / sqrt(M)``: 0 for the uniform distribution and of
        order 1 (not ``M``) when the swarm gathers at one point."""
        basis = self.feature_basis(game)
        features = rep.mean_field_features(basis, game.mean_field_coordinates(states))
        features = (features * (basis.size / rep.kernel_mass(basis)) - 1.0) / math.sqrt(basis.size)
        time = 2.0 * jnp.asarray(t, features.dtype) / game.horizon - 1.0
        return jnp.concatenate([features, time[None]])

    def heads(self, game, params, observation):
        """Upper-level policy and value: ``(..., K) -> (mean (..., d), log_std (d,), value (...))``."""
        actor, critic = self.networks(game)
        mean = actor.apply(params["actor"], observation)
        value = critic.apply(params["critic"], observation)[..., 0]
        return mean, params["log_std"], value

    def lower_probabilities(self, game, xi: jax.Array, observations: jax.Array) -> jax.Array:
        """``xi`` ``(M_obs * A,)``, observations ``(N, O)`` -> ``(N, A)``: the agents' mixture policy."""
        logits = xi.reshape(self.observation_basis(game).size, game.n_actions)
        return rep.mixture_from_logits(self.observation_basis(game), logits, observations)

    # ----- the solver protocol --------------------------------------------------------
    def init(self, game, key):
        actor, critic = self.networks(game)
        dtype = jnp.result_type(float)
        probe = jnp.zeros((self.feature_basis(game).size + 1,), dtype)
        actor_key, critic_key = jax.random.split(key)
        params = {
            "actor": actor.init(actor_key, probe),
            "critic": critic.init(critic_key, probe),
            "log_std": jnp.full((self.action_dim(game),), self.init_log_std, dtype),
        }
        return ppo.PPOState(opt_state=self.optimizer().init(params), params=params)

    def transition(self, game, params, states, t, key):
        """One step of the ``n_envs`` training swarms under the stochastic upper-level policy.

        Returns the next states and ``(E, ...)`` arrays: ``observation``
        (upper-level inputs), ``xi`` (sampled logits), ``log_prob``, ``value``
        (critic, in reward units) and ``reward``.
        """
        noise_key, env_key = jax.random.split(key)

        def agents_act(states, xi, key):
            action_key, move_key = jax.random.split(key)
            probs = self.lower_probabilities(game, xi, game.observe(states))
            actions = ppo.sample_categorical(action_key, probs)
            return game.move(states, actions, move_key), game.reward(states, actions)

        observation = jax.vmap(lambda s: self.upper_observation(game, s, t))(states)
        mean, log_std, value = self.heads(game, params, observation)
        xi = mean + jnp.exp(log_std) * jax.random.normal(noise_key, mean.shape, mean.dtype)
        log_prob = gaussian_log_prob(xi, mean, log_std)
        states, reward = jax.vmap(agents_act)(states, xi, jax.random.split(env_key, self.n_envs))
        scale = ppo.horizon_scale(game.discount, game.horizon)
        return states, {
            "observation": observation,
            "xi": xi,
            "log_prob": log_prob,
            "value": scale * value,
            "reward": reward.astype(value.dtype),
        }

    def evaluate_batch(self, game, params, minibatch):
        mean, log_std, value = self.heads(game, params, minibatch["observation"])
        log_prob = gaussian_log_prob(minibatch["xi"], mean, log_std)
        return log_prob, value, jnp.broadcast_to(gaussian_entropy(log_std), log_prob.shape)

    def extra_metrics(self, params) -> dict:
        return {"action_std": jnp.mean(jnp.exp(params["log_std"]))}

    def logits_sequence(self, game, params, key, n_agents: int):
        """``(T, M_obs * A)``: the upper-level mean actions along one rollout of ``n_agents`` agents."""
        start_key, key = jax.random.split(key)
        states = game.initial_states(start_key, n_agents)

        def step(states, xs):
            t, step_key = xs
            action_key, move_key = jax.random.split(step_key)
            xi, _, _ = self.heads(game, params, self.upper_observation(game, states, t))
            probs = self.lower_probabilities(game, xi, game.observe(states))
            actions = ppo.sample_categorical(action_key, probs)
            return game.move(states, actions, move_key), xi

        _, xis = lax.scan(step, states, (jnp.arange(game.horizon), jax.random.split(key, game.horizon)))
        return xis

    def policy(self, game, state):
        """The open-loop decentralised policy: the logits ``xi_t`` of the upper-level
        mean action along ``policy_rollouts`` rollouts of ``policy_agents`` agents
        (default: the training swarm size, so that the upper level sees the mean
        fields it was trained on), averaged over the rollouts (a Monte Carlo
        estimate of the sequence of the deterministic mean-field limit)."""
        basis = self.observation_basis(game)
        n = self.swarm_size(game) if self.policy_agents is None else self.policy_agents
        keys = jax.random.split(jax.random.PRNGKey(self.policy_seed), self.policy_rollouts)
        xis = jax.vmap(lambda key: self.logits_sequence(game, state.params, key, n))(keys).mean(0)
        probs = jax.nn.softmax(xis.reshape(game.horizon, basis.size, game.n_actions), axis=-1)
        return rep.MixturePolicy(basis, probs)


PARAMETERS = parameters_of(DecPOMFC)


@register_solver(
    "dec-pomfc",
    "Dec-POMFC: PPO on the upper-level mean-field MDP with kernel representations; "
    "decentralised open-loop kernel mixture policy",
    PARAMETERS,
    requires="swarm",
    iterations=2000,
)
def make_dec_pomfc(**params) -> DecPOMFC:
    """``dec-pomfc`` with validated parameters (declared on the fields of :class:`DecPOMFC`)."""
    return DecPOMFC(**params)
