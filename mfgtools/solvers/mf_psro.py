"""Mean-field PSRO with regret minimisers (OpenSpiel's ``MeanFieldPSRO``; Muller et al. 2021).

A population of policies grows by one best response per iteration; between
growths a regret minimiser plays the population against itself and leaves a
*correlated* distribution: ``R`` rows, row ``r`` a distribution ``nu_r`` over
the population, weighted ``rho_r = 1 / R``. Row ``r`` puts the crowd in the
mixed flow ``M_r = sum_p nu_r(p) mu^{pi_p}`` (weights at most 1e-4 dropped and
the rest renormalised, as OpenSpiel's ``MixedDistribution`` does).

One iteration (OpenSpiel's ``MeanFieldPSRO.step`` with ``cce_br``):

1. the joint best response to the rows: a greedy policy against the reward
   ``sum_r rho_r r_t(s, a, M_r)`` (OpenSpiel's ``JointBestResponse``: the
   deviator does not know which row is drawn), added to the population;
2. the regret minimiser restarts on the population and runs ``regret_steps``
   steps; step ``r`` draws ``nu_r`` from its weights, evaluates every policy
   exactly against ``M_r`` (OpenSpiel's ``get_exact_value``: the value at the
   root ``sum_s mu0(s) V^{pi_p}_0(s; M_r)``) and updates:

   - ``hedge``: ``w_p <- w_p exp(eta u_p)``, ``nu = w / sum w``;
   - ``polynomial-weights``: ``w_p <- w_p (1 + eta u_p)``, ``nu = w / sum w``;
   - ``regret-matching``: ``R_p <- R_p + u_p - nu . u``, ``nu`` the positive
     part of ``R`` normalised (uniform over the population where none is
     positive);

   with ``eta = min(sqrt(log P / regret_steps), 0.5)``, ``P`` the population
   size (polynomial weights are rescaled by their largest magnitude after each
   update: the same ``nu``, without overflow over many steps). OpenSpiel
   recomputes this ``eta`` at every restart even when one is given, so its
   MF-PSRO always runs with it.

Metrics of the correlated distribution before each iteration (entry 0: the
uniform policy alone):

- ``cce_gap``: OpenSpiel's ``cce_gap``, the joint best response's value minus
  the on-policy value ``sum_r rho_r sum_p nu_r(p) u_{r,p}``;
- ``ce_gap``: OpenSpiel's ``ce_gap``, the same gap per recommended policy
  (the best response to the rows conditioned on recommending ``p``, weighted
  ``sum_r rho_r nu_r(p)``), summed;
- ``average_regret``: OpenSpiel's ``compute_average_regret`` (external regret
  of the rows, ``max_p sum_r rho_r (u_{r,p} - nu_r . u_r) / R``, its division
  by ``R`` included);
- ``exploitability``: the NashConv of the population's mixture
  ``nubar = sum_r rho_r nu_r`` as one policy (OpenSpiel's ``MergedPolicy``:
  ``pi(a|s) ~ sum_p nubar_p mu^{pi_p}_t(s) pi_p(a|s)``), which is also the
  solver's policy;
- ``policies``: the population's size.

The final entry (after the last iteration) has only ``exploitability``: the
gaps need the rows, which the final policy does not carry; run one more
iteration to get the last gaps.

OpenSpiel's defaults that would make its numbers random or solver-dependent
are replaced by their deterministic choices: exact values instead of sampled
returns (``value_estimator=get_exact_value``), no compression of the rows by
linear programming (``compress_nus=False``) and no early stop
(``stop_early=False``). Its best response is greedy: ties between exactly
equal actions go to the first legal action (``np.argmax``), as here; values
equal in exact arithmetic may round differently in the two programs, which can
break such a tie the other way (no such case on the recorded games).

The population is a ``(max_policies, T, S, A)`` array: once full, later best
responses are not added (``policies`` stops growing) and the iterations go on
on the full population. The joint best response assumes, like OpenSpiel's,
transitions that do not read the mean field; on games whose transitions do,
it moves the deviator by the ``rho``-weighted mean of the rows' flows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from jax import lax

from mfgtools.finite import kernels
from mfgtools.registry import choice, integer, parameters_of
from mfgtools.solvers.base import FiniteSolver, setting
from mfgtools.solvers.registry import register_solver

MINIMIZERS = ("hedge", "regret-matching", "polynomial-weights")
PRUNE = 1e-4  # OpenSpiel's MixedDistribution drops weights at most this


def mixed_flow(flows: jax.Array, nu: jax.Array) -> jax.Array:
    """``sum_p nu'_p flows[p]`` ``(T+1, S)``, ``nu'`` the weights above :data:`PRUNE` renormalised;
    ``flows`` ``(P, T+1, S)``, ``nu`` ``(P,)``."""
    kept = jnp.where(nu > PRUNE, nu, 0.0)
    return jnp.tensordot(kept / jnp.sum(kept), flows, axes=1)


def root_values(game, policies: jax.Array, flow: jax.Array) -> jax.Array:
    """Value at the root ``sum_s mu0(s) V^{pi_p}_0(s)`` of each policy ``(P, T, S, A)`` against ``flow``: ``(P,)``."""

    def one(policy):
        _, v = kernels.evaluate_policy(game, policy, flow)
        return jnp.dot(game.initial_distribution, v[0])

    return jax.vmap(one)(policies)


def joint_best_response(game, flows: jax.Array, weights: jax.Array):
    """Best response to flows ``(R, T+1, S)`` drawn with probabilities ``weights`` ``(R,)`` (zeros allowed):
    its value at the root and its greedy policy ``(T, S, A)``.

    The deviator maximises the expected reward ``sum_r w_r r_t(s, a, flows[r, t])``
    (OpenSpiel's ``JointBestResponse``); it moves by the weighted mean flow.
    """
    positive = weights > 0
    w = jnp.where(positive, weights, 0.0)

    def expected(values):  # (R, ...) -> sum_r w_r values[r], rows of weight 0 left out (their rewards may be inf)
        shape = (-1,) + (1,) * (values.ndim - 1)
        return jnp.sum(jnp.where(positive.reshape(shape), w.reshape(shape) * values, 0.0), axis=0)

    mean = jnp.tensordot(w, flows, axes=1)

    def step(v_next, xs):
        t, mus_t, mean_t = xs
        rewards = expected(jax.vmap(lambda mu: kernels.reward_at(game, t, mu))(mus_t))
        q = rewards + game.discount * kernels.continuation(game, t, mean_t, v_next)
        return kernels.masked_max(game, q), q

    terminal = expected(jax.vmap(game.terminal_reward)(flows[:, -1]))
    times = jnp.arange(game.horizon)
    v0, qs = lax.scan(step, terminal, (times, jnp.swapaxes(flows[:, :-1], 0, 1), mean[:-1]), reverse=True)
    return jnp.dot(game.initial_distribution, v0), kernels.greedy_policy(game, qs)


@struct.dataclass
class PSROState:
    """The population ``policies`` ``(P, T, S, A)`` and their ``flows`` ``(P, T+1, S)`` (the first ``count``
    filled), and the rows of the last regret run: ``nus`` ``(R, P)``, ``rhos`` ``(R,)``, the values
    ``rewards`` ``(R, P)`` of every policy against each row's flow."""

    count: jax.Array
    flows: jax.Array
    nus: jax.Array
    policies: jax.Array
    rewards: jax.Array
    rhos: jax.Array


@register_solver(
    "mf-psro",
    "mean-field PSRO: population of best responses, correlated equilibrium by a regret minimiser "
    "(OpenSpiel's MeanFieldPSRO; reports cce_gap, ce_gap)",
    iterations=10,
)
@struct.dataclass
class MeanFieldPSRO(FiniteSolver):
    """State: the population ``policies`` ``(P, T, S, A)`` and their ``flows`` ``(P, T+1, S)`` (the first
    ``count`` filled), and the rows of the last regret run: ``nus`` ``(R, P)``, ``rhos`` ``(R,)``, the values
    ``rewards`` ``(R, P)`` of every policy against each row's flow."""

    regret_minimizer: str = setting(
        "hedge", "hedge, regret-matching or polynomial-weights", choice(*MINIMIZERS), traced=False
    )
    regret_steps: int = setting(
        100, "regret-minimisation steps per iteration (OpenSpiel's regret_steps_per_step)", integer(1)
    )
    max_policies: int = setting(
        32, "size of the population array (the uniform policy and up to this many - 1 responses)", integer(2)
    )

    def init(self, game, key):
        del key
        dtype = game.initial_distribution.dtype
        uniform = kernels.uniform_policy(game)
        flow = kernels.mean_field(game, uniform)
        n, rows = self.max_policies, self.regret_steps
        policies = jnp.zeros((n, *uniform.shape), dtype).at[0].set(uniform)
        flows = jnp.zeros((n, *flow.shape), dtype).at[0].set(flow)
        first = jnp.zeros((rows,), dtype).at[0].set(1.0)  # one row: the uniform policy, weight 1
        value = jnp.dot(game.initial_distribution, kernels.evaluate_policy(game, uniform, flow)[1][0])
        return PSROState(
            count=jnp.ones((), jnp.int32),
            flows=flows,
            nus=jnp.zeros((rows, n), dtype).at[:, 0].set(1.0),
            policies=policies,
            rewards=jnp.zeros((rows, n), dtype).at[0, 0].set(value),
            rhos=first,
        )

    def policy(self, game, state):
        """The population's mixture as one policy (OpenSpiel's ``MergedPolicy``), ``(T, S, A)``."""
        nubar = state.rhos @ state.nus  # (P,)
        mass = nubar[:, None, None] * state.flows[:, :-1]  # (P, T, S)
        total = jnp.sum(mass, axis=0)
        merged = jnp.einsum("pts,ptsa->tsa", mass, state.policies)
        return jnp.where(
            total[..., None] > 0,
            merged / jnp.where(total > 0, total, 1.0)[..., None],
            kernels.uniform_policy(game),
        )

    def step(self, game, state, key):
        del key
        rows = jax.vmap(lambda nu: mixed_flow(state.flows, nu))(state.nus)  # (R, T+1, S)
        deviation, response = joint_best_response(game, rows, state.rhos)
        metrics = self._gaps(game, state, rows, deviation)
        metrics["exploitability"] = kernels.exploitability(game, self.policy(game, state))
        # 1. grow the population by the joint best response to the rows (dropped once it is full)
        count = state.count
        room = count < self.max_policies
        index = jnp.minimum(count, self.max_policies - 1)
        policies = jnp.where(room, state.policies.at[index].set(response), state.policies)
        flows = jnp.where(room, state.flows.at[index].set(kernels.mean_field(game, response)), state.flows)
        count = count + room.astype(count.dtype)
        # 2. restart the regret minimiser on the population and run it
        nus, rewards = self._regret_run(game, policies, flows, count)
        rhos = jnp.full((self.regret_steps,), 1.0 / self.regret_steps, nus.dtype)
        new = PSROState(count=count, flows=flows, nus=nus, policies=policies, rewards=rewards, rhos=rhos)
        return new, metrics

    def _gaps(self, game, state, rows, deviation):
        """``cce_gap``, ``ce_gap``, ``average_regret`` and ``policies`` of the state's rows, whose flows are
        ``rows`` ``(R, T+1, S)`` and whose joint best response has the value ``deviation``."""
        nus, rhos, rewards, count = state.nus, state.rhos, state.rewards, state.count
        live = rhos > 0
        on_policy_rows = jnp.sum(rewards * nus, axis=1)  # (R,)
        cce = deviation - jnp.sum(jnp.where(live, rhos * on_policy_rows, 0.0))
        # CE: for each recommended policy p, the best response to the rows conditioned on p
        weight = rhos[:, None] * nus  # (R, P)
        proba = jnp.sum(weight, axis=0)  # (P,)
        conditional = weight / jnp.where(proba > 0, proba, 1.0)
        deviations = jax.vmap(lambda c: joint_best_response(game, rows, c)[0], in_axes=1)(conditional)
        on_policy = jnp.sum(rewards * conditional, axis=0)
        ce = jnp.sum(jnp.where(proba > 0, proba * (deviations - on_policy), 0.0))
        regrets = jnp.sum(jnp.where(live[:, None], rhos[:, None] * (rewards - on_policy_rows[:, None]), 0.0), axis=0)
        members = jnp.arange(self.max_policies) < count
        average = jnp.max(jnp.where(members, regrets, -jnp.inf)) / jnp.sum(live)
        return {"cce_gap": cce, "ce_gap": ce, "average_regret": average, "policies": count.astype(nus.dtype)}

    def _regret_run(self, game, policies, flows, count):
        """``regret_steps`` steps of the regret minimiser restarted on the first ``count`` policies:
        the rows ``nus`` ``(R, P)`` and the values ``rewards`` ``(R, P)``."""
        dtype = flows.dtype
        members = jnp.arange(self.max_policies) < count
        size = count.astype(dtype)
        eta = jnp.minimum(jnp.sqrt(jnp.log(size) / self.regret_steps), 0.5)
        rule = self.regret_minimizer

        def distribution(weights):
            if rule == "hedge":  # weights are log-weights (the same nu, without overflow)
                return jnp.where(members, jax.nn.softmax(jnp.where(members, weights, -jnp.inf)), 0.0)
            if rule == "polynomial-weights":
                return weights / jnp.sum(weights)
            positive = jnp.where(members, jnp.maximum(weights, 0.0), 0.0)
            total = jnp.sum(positive)
            return jnp.where(total > 0, positive / jnp.where(total > 0, total, 1.0), members / size)

        def step(weights, _):
            nu = distribution(weights)
            u = jnp.where(members, root_values(game, policies, mixed_flow(flows, nu)), 0.0)
            if rule == "hedge":
                weights = weights + eta * u
            elif rule == "polynomial-weights":
                weights = weights * (1.0 + eta * u)
                weights = weights / jnp.max(jnp.abs(weights))  # the same nu; no overflow over many steps
            else:
                weights = weights + jnp.where(members, u - jnp.dot(nu, u), 0.0)
            return weights, (nu, u)

        start = {"hedge": jnp.zeros, "polynomial-weights": jnp.ones, "regret-matching": jnp.zeros}[rule]
        weights = jnp.where(members, start((self.max_policies,), dtype), 0.0)
        _, (nus, rewards) = lax.scan(step, weights, None, length=self.regret_steps)
        return nus, rewards


# the parameters of the solvers that fix the regret minimiser (hedge, regret-matching, polynomial-weights)
PARAMETERS = {key: value for key, value in parameters_of(MeanFieldPSRO).items() if key != "regret_minimizer"}


def make_psro(regret_minimizer, **params) -> MeanFieldPSRO:
    """A :class:`MeanFieldPSRO` of ``regret_minimizer`` and the validated :data:`PARAMETERS`."""
    return MeanFieldPSRO(regret_minimizer=regret_minimizer, **params)
