"""The Munchausen mirror-descent learner shared by Off-MMD and online D-MOMD.

One iteration ``k`` (spec: off_mmd.md) fits ``Q_{k+1}`` to the targets

``y = r(s, a, muhat_t) + alpha * tau * log pi_k(a|s)
      + gamma * (1 - done) * sum_a' pi_k(a'|s') [Q_k(s', a') - tau log pi_k(a'|s')]``

with ``pi_k = softmax(Q_k / tau)`` and ``Q_k`` frozen for the whole iteration
(``theta_prev = theta_target = theta_k``), minimising

``td_weight * mean((Q(s, a_t) - y)^2) + cql * mean(logsumexp_a Q(s, a) - Q(s, a_t))``.

The scaling is the official code's, so that ``cql`` means what it means there:
Off-MMD's objective is ``0.5 * mean(optax.l2_loss(Q, y)) + 3.0 * CQL`` and
``optax.l2_loss`` is already ``0.5 * (Q - y)^2``, so ``td_weight = 0.25`` and
``cql = 3`` (against a plain MSE that CQL weight would be 12). The official
online learner (D-MOMD) minimises ``mean(optax.l2_loss)``: ``td_weight = 0.5``,
no CQL. The sum in the target is the soft value ``tau * logsumexp(Q_k(s') / tau)``.

Because the frozen network is a function of ``(t, s)`` on a finite state space,
it is evaluated once per iteration on every ``(t, s)``, and every target of the
data is computed once from that table: the gradient steps then only run the
trained network (forward and backward) on their batch. The result is the same
as evaluating the frozen network on each batch.

Two models:

- ``mlp``: the paper's Q-network, ReLU MLP (default 3 x 128) on the observation
  ``[onehot(row), onehot(col), t/T]`` (``[onehot(state), t/T]`` off grids),
  trained by Adam on mini-batches; its first layer is written as a sum of
  embedding rows, the same function as a dense layer on the one-hot vector.
- ``tabular``: a ``(T, S, A)`` table set to the exact minimiser of the same
  loss over the data: per ``(t, s)`` a strictly convex problem in the actions
  the data shows there, solved by Newton steps with a line search. Without CQL
  the minimiser is the mean target of each ``(t, s, a)``; with CQL > 0 an
  action the data never shows at ``(t, s)`` gets ``Q = -inf`` (probability 0),
  as the penalty's gradient on it never vanishes. Entries without data keep
  their previous values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax import lax

from mfgtools.errors import MFGError, as_int
from mfgtools.finite import kernels
from mfgtools.registry import choice, integer, number, parameters_of, positive, validate
from mfgtools.solvers.base import FiniteSolver, setting

MODELS = ("mlp", "tabular")
NEWTON_STEPS = 30
LINE_SEARCH = 2.0 ** -np.arange(11)


@struct.dataclass
class Transitions:
    """Flat transitions ``(n,)``: time, state, action, successor, done (0/1)."""

    time: jax.Array
    state: jax.Array
    action: jax.Array
    next_state: jax.Array
    done: jax.Array

    @classmethod
    def from_episodes(cls, state, action, next_state, done, drop_last: bool = False) -> Transitions:
        """From ``(E, T)`` episode arrays (row-major flattening).

        ``drop_last``: pair consecutive steps within each episode as the official
        code does (``(s_t, a_t, s_{t+1})`` for ``t = 0..T-2``): the last step of an
        episode is then never a training transition and ``done`` is never 1.
        """
        episodes, horizon = state.shape
        time = jnp.broadcast_to(jnp.arange(horizon, dtype=jnp.int32), (episodes, horizon))
        if drop_last:
            if horizon < 2:
                raise MFGError("pairing=consecutive needs episodes of at least 2 steps; use pairing=all")
            time, state, action, next_state, done = (x[:, :-1] for x in (time, state, action, next_state, done))
        flat = lambda x: jnp.reshape(x, (-1,))
        return cls(
            flat(time),
            flat(state).astype(jnp.int32),
            flat(action).astype(jnp.int32),
            flat(next_state).astype(jnp.int32),
            flat(done).astype(jnp.result_type(float)),
        )


class QNetwork(nn.Module):
    """``Q(t, s, .)``: an MLP on ``[onehot(row), onehot(col), t/T]`` (or ``[onehot(s), t/T]``), plus
    ``onehot(population)`` on multi-population grid games (``populations`` grids of ``grid_shape``).

    ``time_input="onehot"`` reads the time as ``onehot(t)`` instead of ``t/T`` (OpenSpiel's observation
    of a time step, which the average network of ``avg-network-fp`` reads)."""

    n_actions: int
    hidden: Sequence[int]
    horizon: int
    n_states: int
    grid_shape: tuple | None = None
    populations: int = 1
    time_input: str = "fraction"  # "fraction" (t/T) or "onehot" (onehot(t))

    @nn.compact
    def __call__(self, t, s):
        width = self.hidden[0]
        time_features = self.horizon if self.time_input == "onehot" else 1
        if self.grid_shape is not None:
            height, grid_width = self.grid_shape
            fan_in = height + grid_width + time_features + (self.populations if self.populations > 1 else 0)
            init = nn.initializers.normal(stddev=fan_in**-0.5)
            population, cell = jnp.divmod(s, height * grid_width)
            row, col = jnp.divmod(cell, grid_width)
            x = nn.Embed(height, width, embedding_init=init, name="row")(row)
            x = x + nn.Embed(grid_width, width, embedding_init=init, name="col")(col)
            if self.populations > 1:
                x = x + nn.Embed(self.populations, width, embedding_init=init, name="population")(population)
        else:
            fan_in = self.n_states + time_features
            init = nn.initializers.normal(stddev=fan_in**-0.5)
            x = nn.Embed(self.n_states, width, embedding_init=init, name="state")(s)
        if self.time_input == "onehot":
            # one row per time step: also the first layer's bias of a dense layer on the one-hot input
            x = nn.relu(x + nn.Embed(self.horizon, width, embedding_init=init, name="time_step")(t))
        else:
            time = (t / self.horizon).astype(x.dtype)[..., None]
            x = nn.relu(x + nn.Dense(width, kernel_init=init, name="time")(time))
        for size in self.hidden[1:]:
            x = nn.relu(nn.Dense(size)(x))
        return nn.Dense(self.n_actions)(x)


def network_table(game, network: nn.Module, params) -> jax.Array:
    """A network of ``(t, s)`` (:class:`QNetwork`) evaluated on every ``(t, s)`` of ``game``: ``(T, S, A)``
    in the game's dtype."""
    times = jnp.repeat(jnp.arange(game.horizon, dtype=jnp.int32), game.n_states)
    states = jnp.tile(jnp.arange(game.n_states, dtype=jnp.int32), game.horizon)
    out = network.apply(params, times, states)
    return out.reshape(game.horizon, game.n_states, game.n_actions).astype(game.initial_distribution.dtype)


def layer_widths(value, name: str) -> tuple:
    """Hidden layer widths, from ``"128,128,128"`` or a sequence of ints: a tuple of at least one width >= 1."""
    if isinstance(value, str):
        parts = [part for part in value.replace(" ", "").split(",") if part]
    else:
        parts = list(np.atleast_1d(value))
    if not parts:
        raise MFGError(f"{name} needs at least one layer width, e.g. 128,128,128")
    return tuple(as_int(part, f"{name} layer width", 1) for part in parts)


@struct.dataclass
class MunchausenLearner:
    """Hyperparameters of the learner (all static), each declared once here: :func:`learner_parameters`
    (the registry's entries of Off-MMD and D-MOMD) and :func:`make_learner` read these declarations."""

    model: str = setting(
        "mlp", "mlp (the paper's Q-network) or tabular (exact minimiser of the same loss)", choice(*MODELS)
    )
    hidden: tuple = setting((128, 128, 128), "hidden layer widths of the MLP", layer_widths)
    tau: float = setting(20.0, "temperature tau of pi = softmax(Q / tau)", positive())
    alpha: float = setting(0.99, "Munchausen weight alpha of tau * log pi_prev", number(0.0, 1.0))
    gamma: float = setting(0.99, "discount of the learner's targets", number(0.0, 1.0))
    learning_rate: float = setting(1e-3, "Adam step size", positive())
    steps: int = setting(2000, "Adam steps per iteration", integer(1))
    batch_size: int = setting(512, "transitions per Adam step", integer(1))
    cql: float = setting(3.0, "weight of the CQL(H) penalty (0: none), against td_weight * MSE", number(0.0))
    # weight of the mean squared TD error (0.25: Off-MMD's 0.5 * mean(l2_loss); 0.5: D-MOMD's mean(l2_loss))
    td_weight: float = setting(
        0.25, "weight of the mean squared TD error (official: 0.25 offline, 0.5 online)", positive()
    )

    # ----- models -----------------------------------------------------------------
    def network(self, game) -> QNetwork:
        return QNetwork(
            game.n_actions, tuple(self.hidden), game.horizon, game.n_states, game.grid_shape, game.populations
        )

    def optimizer(self):
        return optax.adam(self.learning_rate)

    def init(self, game, key) -> dict:
        """Initial learner state: network parameters and Adam state, or a zero table."""
        if self.model == "tabular":
            return {"q": jnp.zeros((game.horizon, game.n_states, game.n_actions), game.initial_distribution.dtype)}
        params = self.network(game).init(key, jnp.zeros((1,), jnp.int32), jnp.zeros((1,), jnp.int32))
        return {"params": params, "opt_state": self.optimizer().init(params)}

    def q_table(self, game, state) -> jax.Array:
        """``Q(t, s, a)`` on every ``(t, s)``: ``(T, S, A)``."""
        if self.model == "tabular":
            return state["q"]
        return network_table(game, self.network(game), state["params"])

    def policy(self, game, q) -> jax.Array:
        """``softmax(Q / tau)`` over legal actions, ``(T, S, A)``."""
        return kernels.masked_softmax(game, q, self.tau)

    # ----- one iteration ----------------------------------------------------------
    def targets(self, game, q, flow, data: Transitions) -> jax.Array:
        """Munchausen targets ``y`` of every transition, ``(n,)``, from the frozen table ``q``
        (``theta_prev = theta_target``).

        ``flow``: the ``(T+1, S)`` mean field the rewards are computed with.
        """
        immediate, terminal, _ = self.target_tables(game, q, flow)
        soft = kernels.soft_value(game, q, self.tau)  # (T, S): sum_a pi (Q - tau log pi)
        later = jnp.concatenate([soft[1:], terminal[None]], axis=0)  # value of s' at t + 1
        return self.combine_targets(immediate, terminal, data, later[data.time, data.next_state])

    def target_tables(self, game, q, flow):
        """What the targets of one iteration read from ``pi_k = softmax(Q_k / tau)`` and the mean field:
        ``(immediate, terminal, log_pi)``, with ``immediate = r(t, s, a, flow_t) + alpha * tau * log pi_k``
        ``(T, S, A)``, ``terminal`` the terminal reward ``(S,)`` and ``log pi_k`` ``(T, S, A)`` (``-inf`` on
        illegal actions)."""
        rewards = jax.vmap(game.reward)(jnp.arange(game.horizon), flow[:-1])  # (T, S, A)
        log_pi = jax.nn.log_softmax(jnp.where(game.action_mask, q / self.tau, -jnp.inf), axis=-1)
        return rewards + self.alpha * self.tau * log_pi, game.terminal_reward(flow[-1]), log_pi

    def combine_targets(self, immediate, terminal, data: Transitions, next_value) -> jax.Array:
        """``y = immediate(t, s, a) + gamma * (terminal(s') if done else next_value)``, ``(n,)``;
        ``next_value`` ``(n,)``: the soft value of ``s'`` at ``t + 1`` (:func:`soft_value_under`)."""
        continuation = jnp.where(data.done > 0, terminal[data.next_state], next_value)
        return immediate[data.time, data.state, data.action] + self.gamma * continuation

    def fit(self, game, state, data: Transitions, y, key):
        """Fit the model to the targets; returns ``(state, {"td_loss", "cql_loss"})``: the two
        terms of the objective as it weighs them (``td_loss = td_weight * MSE``; ``cql_loss``
        the penalty before its weight ``cql``)."""
        if self.model == "tabular":
            return self._fit_table(game, state, data, y)
        return self._fit_network(game, state, data, y, key)

    def _fit_network(self, game, state, data, y, key):
        network, optimizer = self.network(game), self.optimizer()
        n = data.time.shape[0]
        y = y.astype(jnp.float32)

        def loss(params, index):
            q_all = network.apply(params, data.time[index], data.state[index])
            mask = game.action_mask[data.state[index]]
            q_all = jnp.where(mask, q_all, -jnp.inf)
            return munchausen_loss(q_all, data.action[index], y[index], self.td_weight, self.cql)

        def step(carry, step_key):
            params, opt_state = carry
            index = jax.random.randint(step_key, (self.batch_size,), 0, n)
            (_, (td, penalty)), grads = jax.value_and_grad(loss, has_aux=True)(params, index)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), (td, penalty)

        (params, opt_state), (td, penalty) = lax.scan(
            step, (state["params"], state["opt_state"]), jax.random.split(key, self.steps)
        )
        return {"params": params, "opt_state": opt_state}, {"td_loss": jnp.mean(td), "cql_loss": jnp.mean(penalty)}

    def _fit_table(self, game, state, data, y):
        shape = state["q"].shape
        dtype = state["q"].dtype
        flat = (data.time * shape[1] + data.state) * shape[2] + data.action
        size = shape[0] * shape[1] * shape[2]
        counts = jax.ops.segment_sum(jnp.ones_like(y, dtype), flat, size).reshape(shape)
        sums = jax.ops.segment_sum(y.astype(dtype), flat, size).reshape(shape)
        seen = counts > 0
        means = jnp.where(seen, sums / jnp.where(seen, counts, 1.0), 0.0)
        visited = jnp.any(seen, axis=-1, keepdims=True)
        if self.cql > 0:
            # argmin of td_weight * sum n (Q - ybar)^2 + cql * (...)
            #   = argmin of sum n (Q - ybar)^2 + cql / td_weight * (...)
            q = _cql_minimiser(counts, means, seen, self.cql / self.td_weight)
            q = jnp.where(visited, q, state["q"])
        else:
            q = jnp.where(seen, means, state["q"])
        legal_q = jnp.where(game.action_mask[data.state], q[data.time, data.state], -jnp.inf)
        _, (td, penalty) = munchausen_loss(legal_q, data.action, y, self.td_weight, self.cql)
        return {"q": q}, {"td_loss": td, "cql_loss": penalty}


def soft_value_under(log_pi, q, tau):
    """``sum_a pi(a) (Q(a) - tau log pi(a))`` over the last axis, ``(..., A) -> (...)``: the soft value of
    ``Q`` under ``pi`` (illegal actions, ``log pi = -inf``, count 0). With ``pi = softmax(Q / tau)`` it is
    ``tau * logsumexp(Q / tau)``; the official online learner reads the target network's ``Q`` under the
    frozen ``pi_k``."""
    legal = log_pi > -jnp.inf
    terms = jnp.exp(log_pi) * (q - tau * jnp.where(legal, log_pi, 0.0))
    return jnp.sum(jnp.where(legal, terms, 0.0), axis=-1)


def munchausen_loss(q_all, action, y, td_weight: float, cql: float):
    """The learner's objective on a batch: ``(loss, (td, penalty))``.

    ``td = td_weight * mean((Q(s, a_t) - y)^2)``, ``penalty = mean(logsumexp_a Q(s, a) - Q(s, a_t))``,
    ``loss = td + cql * penalty``. ``q_all`` ``(n, A)`` (``-inf`` on illegal actions),
    ``action`` ``(n,)``, ``y`` ``(n,)``. The official Off-MMD objective is ``td_weight = 0.25``
    (``0.5 * mean(optax.l2_loss)``), ``cql = 3``.
    """
    q_taken = jnp.take_along_axis(q_all, action[:, None], axis=1)[:, 0]
    td = td_weight * jnp.mean((q_taken - y) ** 2)
    penalty = jnp.mean(jax.nn.logsumexp(q_all, axis=1) - q_taken)
    return td + cql * penalty, (td, penalty)


def _cql_minimiser(counts, means, seen, cql):
    """Per ``(t, s)``: argmin over ``Q`` (seen actions) of
    ``sum_a n_a (Q_a - ybar_a)^2 + cql * (N logsumexp(Q) - sum_a n_a Q_a)``, unseen actions ``-inf``.

    Newton's method (the Hessian ``diag(2n + cN p) - cN p p^T`` is inverted by
    Sherman-Morrison) with a line search over ``LINE_SEARCH`` step sizes,
    vectorised over all ``(t, s)``: the largest step that does not increase the
    objective (beyond float rounding) is taken.
    """
    total = counts.sum(-1, keepdims=True)
    steps = jnp.asarray(LINE_SEARCH, means.dtype)

    def objective(q):
        square = jnp.where(seen, counts * (q - means) ** 2, 0.0).sum(-1)
        linear = jnp.where(seen, counts * q, 0.0).sum(-1)
        lse = jax.nn.logsumexp(jnp.where(seen, q, -jnp.inf), axis=-1)
        return square + cql * (total[..., 0] * jnp.where(total[..., 0] > 0, lse, 0.0) - linear)

    def newton(q, _):
        p = jnp.where(seen, jax.nn.softmax(jnp.where(seen, q, -jnp.inf), axis=-1), 0.0)
        p = jnp.nan_to_num(p)
        gradient = jnp.where(seen, 2.0 * counts * (q - means) + cql * (total * p - counts), 0.0)
        diagonal = jnp.where(seen, 2.0 * counts + cql * total * p, 1.0)
        scaled_g, scaled_p = gradient / diagonal, p / diagonal
        denominator = 1.0 - cql * total[..., 0] * (p * scaled_p).sum(-1)
        correction = cql * total[..., 0] * (p * scaled_g).sum(-1) / jnp.where(denominator > 0, denominator, 1.0)
        direction = jnp.where(seen, scaled_g + correction[..., None] * scaled_p, 0.0)
        candidates = q[None] - steps[:, None, None, None] * direction[None]
        values = jax.vmap(objective)(candidates)  # (L, T, S)
        current = objective(q)
        # the largest step that does not increase the objective beyond rounding (near the
        # optimum float32 cannot see the decrease: Newton's full step is then right)
        slack = 1e-5 * jnp.abs(current) + 1e-6
        acceptable = values <= current + slack
        first = jnp.argmax(acceptable, axis=0)
        chosen = jnp.take_along_axis(candidates, first[None, ..., None], axis=0)[0]
        chosen = jnp.where(acceptable.any(axis=0)[..., None], chosen, q)
        return jnp.where(seen, chosen, q), None

    start = jnp.where(seen, means, 0.0)
    q, _ = lax.scan(newton, start, None, length=NEWTON_STEPS)
    return jnp.where(seen, q, -jnp.inf)


@struct.dataclass
class MunchausenState:
    """The state of Off-MMD and D-MOMD.

    Attributes:
      iteration: ``k`` (int32 scalar).
      learner: the learner's state (:meth:`MunchausenLearner.init`): ``{"q": (T, S, A)}`` for the tabular
        model, ``{"params", "opt_state"}`` (network and Adam) for the MLP.
      flow_sum, policy_sum: Off-MMD's running sums of the averaged policy, ``(T, S)`` and ``(T, S, A)``
        (None without averaging, and for D-MOMD).
    """

    iteration: jax.Array
    learner: dict
    flow_sum: jax.Array | None = None
    policy_sum: jax.Array | None = None


class MunchausenSolver(FiniteSolver):
    """What Off-MMD and D-MOMD share: a ``learner`` field, its state, its policy.

    One iteration is thousands of gradient steps: ``solve`` compiles one
    iteration per program, with progress and checkpoints after each.
    """

    iterations_per_chunk = 1

    def learner_settings(self) -> dict:
        return {name: getattr(self.learner, name) for name in self.learner.__dataclass_fields__}

    def init(self, game, key):
        return MunchausenState(iteration=jnp.zeros((), jnp.int32), learner=self.learner.init(game, key))

    def policy(self, game, state):
        return self.learner.policy(game, self.learner.q_table(game, state.learner))


# ----- parameters shared by the registered solvers ------------------------------------
def learner_parameters(**defaults) -> dict:
    """The learner's parameters (declared on :class:`MunchausenLearner`), with other ``defaults`` for a solver
    whose learner differs (D-MOMD: ``cql=0.0, td_weight=0.5``)."""
    declared = parameters_of(MunchausenLearner)
    return {
        name: dataclasses.replace(parameter, default=defaults[name]) if name in defaults else parameter
        for name, parameter in declared.items()
    }


def make_learner(**params) -> MunchausenLearner:
    """A validated :class:`MunchausenLearner` (its declared defaults for the parameters not given)."""
    return MunchausenLearner(**validate(learner_parameters(), params, "learner"))
