"""Average-network fictitious play (OpenSpiel's ``AverageNetworkFictitiousPlay``; deep FP, Lauriere et al. 2022).

Fictitious play whose average policy is a neural network learnt by supervised
learning, instead of the exact flow-weighted average of the best responses
(:mod:`mfgtools.solvers.fictitious_play`). One iteration ``k``:

1. tabulate the network's policy ``pibar(a | t, s) = softmax(logits(t, s) / tau)``
   over the legal actions on every ``(t, s)`` (``(T, S, A)``) and compute its
   flow ``mubar`` (:func:`mfgtools.finite.kernels.mean_field`);
2. compute the exact best response ``BR_k`` to ``mubar`` (greedy, first
   maximiser: :func:`mfgtools.finite.kernels.best_response`);
3. play ``episodes`` episodes of ``BR_k`` against the flow ``mubar``
   (:func:`mfgtools.finite.simulate.simulate_agents` with that flow) and offer
   their ``episodes * T`` samples ``(t, s, a)`` to a reservoir buffer of
   ``buffer_capacity`` slots (:class:`ReservoirBuffer`: after ``n`` offers
   each of them is kept with probability ``min(1, C / n)``, so the buffer is a
   uniform sample of every best response's play so far);
4. once the buffer holds at least ``max(batch_size, min_buffer_size)``
   samples, take ``steps`` optimiser steps (SGD by default) on mini-batches of
   ``batch_size`` samples drawn uniformly from the buffer, minimising the
   cross-entropy ``-mean log softmax(logits(t, s))[a]`` of the best responses'
   actions (softmax over the legal actions, without ``tau``, as OpenSpiel's loss).

The network is :class:`mfgtools.solvers.munchausen.QNetwork` (the ReLU MLP of
Off-MMD and D-MOMD) reading OpenSpiel's observation of a state: one-hot of the
cell (row and column on grids) and one-hot of the time step. Since every past
best response contributes ``episodes * T`` samples, the network fits, at each
``(t, s)``, the actions of ``BR_0..BR_k`` weighted by their own flows: fictitious
play's average ``sum_j mu_j(t, s) BR_j(a | t, s) / sum_j mu_j(t, s)``, up to
sampling and training error.

Metrics (before the iteration's update, like every solver's): ``exploitability``
of the network's policy, ``loss`` (mean cross-entropy of the iteration's
optimiser steps; NaN when the buffer is still too small to learn) and
``buffer_size`` (samples held).

Defaults are OpenSpiel's ``AveragePolicy`` ones (batch 128, SGD step 0.01,
reservoir of 100,000, learning from 1,000 samples, no clipping, ``tau = 1``)
and, for what it leaves to the caller, its example script's
(``mfg_average_network_fp_jax.py``: 2 hidden layers of 128, 100 episodes and
2,000 training steps per iteration); the script overrides some of the
class's (reservoir 10^8, learning from 100 samples, clipping 100, ``tau = 10``).
What differs from OpenSpiel (docs/algorithms.md): exact best responses only (the
script trains DQN agents); mini-batches drawn with replacement (OpenSpiel:
without); the cross-entropy over the legal actions only (OpenSpiel's softmax
spans every action and is renormalised over the legal ones when acting); the
first average policy is the freshly initialised network, as in OpenSpiel, not
the uniform policy of exact fictitious play.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax import lax

from mfgtools.errors import MFGError
from mfgtools.finite import kernels
from mfgtools.finite.simulate import simulate_agents
from mfgtools.registry import choice, integer, optional, positive
from mfgtools.solvers.base import FiniteSolver, setting
from mfgtools.solvers.munchausen import QNetwork, layer_widths, network_table
from mfgtools.solvers.registry import register_solver

OPTIMIZERS = ("sgd", "adam")
MAX_OFFERS = 2**31 - 2  # the reservoir counts its offers in int32 and draws a slot in 0..offers


@struct.dataclass
class ReservoirBuffer:
    """A reservoir of samples ``(t, s, a)``: ``time``, ``state``, ``action`` ``(C,)`` int32 (the first
    ``min(seen, C)`` slots filled) and ``seen`` (int32 scalar), how many samples were offered so far.

    After ``n`` offers, each of the ``n`` samples is held with probability ``min(1, C / n)``, the same for
    all (reservoir sampling: Vitter's algorithm R, as OpenSpiel's ``ReservoirBuffer``)."""

    time: jax.Array
    state: jax.Array
    action: jax.Array
    seen: jax.Array

    @classmethod
    def empty(cls, capacity: int) -> ReservoirBuffer:
        slots = jnp.zeros((capacity,), jnp.int32)
        return cls(time=slots, state=slots, action=slots, seen=jnp.zeros((), jnp.int32))

    @property
    def capacity(self) -> int:
        return self.time.shape[-1]

    def size(self) -> jax.Array:
        """How many samples the buffer holds (int32 scalar)."""
        return jnp.minimum(self.seen, self.capacity)

    def add(self, time: jax.Array, state: jax.Array, action: jax.Array, key: jax.Array) -> ReservoirBuffer:
        """The buffer after offering the samples ``(n,)`` one by one, in order.

        The ``m``-th offer (0-based, counting earlier calls) fills slot ``m`` while ``m < C``; later ones
        draw ``j`` uniformly in ``0..m`` and replace slot ``j`` if ``j < C``. Two samples of one call that
        draw the same slot leave the later one there, as offering them one by one would.
        """
        n = time.shape[0]
        offer = self.seen + jnp.arange(n, dtype=jnp.int32)
        drawn = jax.random.randint(key, (n,), 0, offer + 1, dtype=jnp.int32)
        slot = jnp.where(offer < self.capacity, offer, drawn)
        # the last sample of the call written into each slot (-1: none); slots >= C are dropped
        last = jnp.full((self.capacity,), -1, jnp.int32).at[slot].max(jnp.arange(n, dtype=jnp.int32), mode="drop")
        written = last >= 0
        source = jnp.maximum(last, 0)

        def merge(old, new):
            return jnp.where(written, new.astype(jnp.int32)[source], old)

        return ReservoirBuffer(
            time=merge(self.time, time),
            state=merge(self.state, state),
            action=merge(self.action, action),
            seen=self.seen + n,
        )

    def sample(self, key: jax.Array, batch_size: int) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``batch_size`` samples drawn uniformly, with replacement, from the samples held: ``(t, s, a)``,
        each ``(batch_size,)`` (slot 0 repeated while the buffer is empty)."""
        index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(self.size(), 1))
        return self.time[index], self.state[index], self.action[index]


@struct.dataclass
class AverageNetworkState:
    """The state of average-network fictitious play.

    Attributes:
      iteration: ``k`` (int32 scalar).
      params: the average network's parameters (:class:`~mfgtools.solvers.munchausen.QNetwork`).
      opt_state: its optimiser's state (optax).
      buffer: the best responses' samples (:class:`ReservoirBuffer`).
    """

    iteration: jax.Array
    params: dict
    opt_state: tuple
    buffer: ReservoirBuffer


@register_solver(
    "avg-network-fp",
    "average-network fictitious play: exact best responses, the average policy learnt by a network "
    "from a reservoir of their play (OpenSpiel's AverageNetworkFictitiousPlay)",
)
@struct.dataclass
class AverageNetworkFictitiousPlay(FiniteSolver):
    """Fields: the network (``hidden``, ``tau``), the sampling (``episodes``), the reservoir
    (``buffer_capacity``, ``min_buffer_size``) and the supervised learning (``steps``, ``batch_size``,
    ``optimizer``, ``learning_rate``, ``gradient_clipping``) of the module's algorithm."""

    hidden: tuple = setting((128, 128), "hidden layer widths of the average network (ReLU MLP)", layer_widths)
    tau: float = setting(1.0, "temperature of the average policy softmax(logits / tau)", positive(), traced=True)
    episodes: int = setting(100, "episodes of the best response played per iteration into the buffer", integer(1))
    buffer_capacity: int = setting(100_000, "slots of the reservoir buffer", integer(1))
    min_buffer_size: int = setting(1000, "samples the buffer holds before the network learns", integer(0))
    steps: int = setting(2000, "optimiser steps on the average network per iteration", integer(1))
    batch_size: int = setting(128, "samples per optimiser step", integer(1))
    optimizer: str = setting("sgd", "optimiser of the average network: sgd or adam", choice(*OPTIMIZERS))
    learning_rate: float = setting(0.01, "optimiser step size", positive(), traced=True)
    gradient_clipping: float | None = setting(
        None,
        "clip each update to this global norm, after the optimiser as OpenSpiel does (none: no clipping)",
        optional(positive()),
        traced=False,
    )

    iterations_per_chunk = 1  # one iteration is thousands of optimiser steps

    def check(self, game) -> None:
        super().check(game)
        if self.batch_size > self.buffer_capacity:
            raise MFGError(
                f"batch_size={self.batch_size} is more than buffer_capacity={self.buffer_capacity}: "
                "the buffer could never hold a batch; lower batch_size or raise buffer_capacity"
            )
        if self.min_buffer_size > self.buffer_capacity:
            raise MFGError(
                f"min_buffer_size={self.min_buffer_size} is more than buffer_capacity={self.buffer_capacity}: "
                "the network would never learn; lower min_buffer_size or raise buffer_capacity"
            )
        samples = self.episodes * game.horizon
        if samples > MAX_OFFERS:
            raise MFGError(
                f"episodes={self.episodes:,} x horizon {game.horizon:,} = {samples:,} samples per iteration, "
                f"more than the reservoir counts ({MAX_OFFERS:,}, 32 bits); lower episodes"
            )

    # ----- the network ------------------------------------------------------------
    def network(self, game) -> QNetwork:
        return QNetwork(
            game.n_actions,
            tuple(self.hidden),
            game.horizon,
            game.n_states,
            game.grid_shape,
            game.populations,
            time_input="onehot",
        )

    def make_optimizer(self) -> optax.GradientTransformation:
        """SGD or Adam, then (with ``gradient_clipping``) the update clipped to that global norm."""
        rule = optax.adam if self.optimizer == "adam" else optax.sgd
        base = rule(self.learning_rate)
        if self.gradient_clipping is None:
            return base
        return optax.chain(base, optax.clip_by_global_norm(self.gradient_clipping))

    def init(self, game, key):
        start = jnp.zeros((1,), jnp.int32)
        params = self.network(game).init(key, start, start)
        return AverageNetworkState(
            iteration=jnp.zeros((), jnp.int32),
            params=params,
            opt_state=self.make_optimizer().init(params),
            buffer=ReservoirBuffer.empty(self.buffer_capacity),
        )

    def policy(self, game, state):
        """The network's policy ``softmax(logits / tau)`` over the legal actions, ``(T, S, A)``."""
        return kernels.masked_softmax(game, network_table(game, self.network(game), state.params), self.tau)

    # ----- one iteration ----------------------------------------------------------
    def step(self, game, state, key):
        play_key, offer_key, train_key = jax.random.split(key, 3)
        policy = self.policy(game, state)
        flow = kernels.mean_field(game, policy)
        _, v_best, response = kernels.best_response(game, flow)
        _, v_policy = kernels.evaluate_policy(game, policy, flow)
        play = simulate_agents(game, response, play_key, self.episodes, flow=flow)
        times = jnp.broadcast_to(jnp.arange(game.horizon, dtype=jnp.int32)[:, None], play.actions.shape)
        buffer = state.buffer.add(times.ravel(), play.states[:-1].ravel(), play.actions.ravel(), offer_key)
        ready = buffer.size() >= max(self.batch_size, self.min_buffer_size)
        params, opt_state, loss = lax.cond(
            ready,
            lambda: self._learn(game, state.params, state.opt_state, buffer, train_key),
            lambda: (state.params, state.opt_state, jnp.full((), jnp.nan, jnp.float32)),
        )
        metrics = {
            "exploitability": kernels.gap_at_start(game, v_best[0], v_policy[0]),
            "loss": loss.astype(flow.dtype),
            "buffer_size": buffer.size().astype(flow.dtype),
        }
        new = AverageNetworkState(iteration=state.iteration + 1, params=params, opt_state=opt_state, buffer=buffer)
        return new, metrics

    def _learn(self, game, params, opt_state, buffer: ReservoirBuffer, key):
        """``steps`` optimiser steps on the cross-entropy of mini-batches of the buffer:
        ``(params, opt_state, mean loss)``."""
        network, optimizer = self.network(game), self.make_optimizer()

        def loss(params, time, state, action):
            logits = network.apply(params, time, state)
            logits = jnp.where(game.action_mask[state], logits, -jnp.inf)
            log_policy = jax.nn.log_softmax(logits, axis=-1)
            return -jnp.mean(jnp.take_along_axis(log_policy, action[:, None], axis=1))

        def one(carry, step_key):
            params, opt_state = carry
            value, grads = jax.value_and_grad(loss)(params, *buffer.sample(step_key, self.batch_size))
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), value

        (params, opt_state), losses = lax.scan(one, (params, opt_state), jax.random.split(key, self.steps))
        return params, opt_state, jnp.mean(losses)
