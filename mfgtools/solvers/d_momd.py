"""Online D-MOMD: the Munchausen learner of Off-MMD fed by online play (the paper's baseline).

Two ways of collecting the data of iteration ``k`` (parameter ``collection``):

- ``episodes`` (default): compute the true mean field of ``pi_k = softmax(Q_k / tau)``,
  sample ``episodes`` independent agents following ``pi_k`` in it
  (:func:`mfgtools.finite.simulate.simulate_agents` with that flow) and fit ``Q_{k+1}``
  to the Munchausen targets of these fresh transitions, ``steps`` Adam steps of
  ``batch_size`` (defaults 2000 and 512), with the frozen network as both the
  previous and the target network.
- ``official``: the official online learner (``online_mirror_descent.py`` of
  axelbr/offline-mmd, driven as its ``train.py`` drives it). At the start of
  the iteration the previous network and the target network are set to ``Q_k``,
  the replay buffer (``buffer_size`` transitions) is emptied and ``n_envs``
  environments are reset. Then ``num_updates * update_interval / n_envs`` rounds of
  play: each environment takes an epsilon-greedy action of the network being
  trained (``epsilon`` decays linearly from ``epsilon_start`` to ``epsilon_end``
  over ``epsilon_steps`` environment steps, counted across iterations, ties of
  the greedy action split evenly), the transitions go to the buffer, and when
  the count of environment steps so far is a multiple of ``update_interval``,
  at least ``training_starts`` and the buffer holds ``batch_size`` transitions,
  one Adam step on a uniform batch (``num_updates`` of ``buffer_batch_size``, defaults 4000 updates of 256); the target
  network is copied from the trained one whenever the step count is a multiple
  of ``target_interval``. The environment's rewards and moves read the exact
  mean field of ``pi_k`` (the official ``train.py`` sets the environment's mean
  field to the ground truth of the softmax policy before each online
  iteration), not that of the epsilon-greedy players. The targets read
  ``log pi_k`` from the previous network and the soft value of the target
  network's ``Q`` under ``pi_k`` (:func:`mfgtools.solvers.munchausen.soft_value_under`).

Rewards are those of the true mean field, with no CQL penalty by default
(:mod:`mfgtools.solvers.munchausen`; the same targets and loss as Off-MMD).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax import lax

from mfgtools.errors import MFGError
from mfgtools.finite import kernels
from mfgtools.finite.simulate import agents_step, simulate_agents
from mfgtools.registry import choice, integer, number, parameters_of
from mfgtools.solvers.base import setting
from mfgtools.solvers.munchausen import (
    MunchausenLearner,
    MunchausenSolver,
    MunchausenState,
    Transitions,
    learner_parameters,
    munchausen_loss,
    soft_value_under,
)
from mfgtools.solvers.registry import register_solver

MAX_TRANSITIONS = 2**31 - 1  # the learner draws transition indices as int32
COLLECTIONS = ("episodes", "official")
# the official learner's updates per iteration and batch (its omd.yaml: num_updates, buffer_batch_size): declared
# apart from the episodes mode's steps and batch_size (2000 x 512) so that every parameter has one default
OFFICIAL_UPDATES, OFFICIAL_BATCH = 4000, 256


@struct.dataclass
class ReplayBuffer:
    """A circular buffer of transitions: ``data`` ``(buffer_size,)`` each field, the next row to write
    ``position`` and the number of rows written ``count`` (at most ``buffer_size``), int32 scalars."""

    data: Transitions
    position: jax.Array
    count: jax.Array

    @classmethod
    def empty(cls, size: int) -> ReplayBuffer:
        zeros = jnp.zeros((size,), jnp.int32)
        data = Transitions(zeros, zeros, zeros, zeros, jnp.zeros((size,), jnp.result_type(float)))
        return cls(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

    def add(self, rows: Transitions) -> ReplayBuffer:
        """Write the ``n`` rows of ``rows`` after the last ones (overwriting the oldest when full)."""
        size = self.data.time.shape[0]
        n = rows.time.shape[0]
        where = (self.position + jnp.arange(n, dtype=jnp.int32)) % size
        data = jax.tree.map(lambda stored, new: stored.at[where].set(new.astype(stored.dtype)), self.data, rows)
        return ReplayBuffer(data, (self.position + n) % size, jnp.minimum(self.count + n, size))

    def sample(self, key, batch_size: int) -> Transitions:
        """``batch_size`` rows drawn uniformly (with replacement) among those written."""
        index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(self.count, 1))
        return jax.tree.map(lambda x: x[index], self.data)


@struct.dataclass
class OfficialPlay:
    """The carry of one official iteration: the trained network and its Adam state, the target network,
    the buffer, the environments' states ``(n_envs,)``, the sums of the losses over the updates made and the
    counts of updates and target refreshes."""

    params: dict
    opt_state: tuple
    target_params: dict
    buffer: ReplayBuffer
    env_states: jax.Array
    td_sum: jax.Array
    cql_sum: jax.Array
    updates: jax.Array
    refreshes: jax.Array


def linear_epsilon(env_steps, start: float, end: float, anneal_steps: int):
    """``epsilon`` after ``env_steps`` environment steps: from ``start`` to ``end`` linearly over
    ``anneal_steps``, then ``end`` (optax's ``linear_schedule``)."""
    fraction = jnp.clip(env_steps / anneal_steps, 0.0, 1.0)
    return start + (end - start) * fraction


def epsilon_greedy(q_rows, legal, epsilon):
    """Epsilon-greedy probabilities ``(n, A)`` of ``Q`` rows ``(n, A)``: ``epsilon`` spread over the legal
    actions, ``1 - epsilon`` over the greedy ones (ties split evenly, as distrax's ``EpsilonGreedy``)."""
    q_legal = jnp.where(legal, q_rows, -jnp.inf)
    greedy = (q_legal == jnp.max(q_legal, axis=-1, keepdims=True)) & legal
    greedy = greedy / jnp.sum(greedy, axis=-1, keepdims=True)
    uniform = legal / jnp.sum(legal, axis=-1, keepdims=True)
    return (1.0 - epsilon) * greedy + epsilon * uniform


@struct.dataclass
class OnlineMunchausenMirrorDescent(MunchausenSolver):
    learner: MunchausenLearner = setting()
    episodes: int = setting(1000, "collection=episodes: simulated episodes per iteration", integer(1))
    collection: str = setting(
        "episodes",
        "episodes (fresh agents of pi_k each iteration) or official (the official replay-buffer learner)",
        choice(*COLLECTIONS),
    )
    buffer_size: int = setting(
        100_000, "collection=official: replay buffer capacity (emptied each iteration)", integer(1)
    )
    n_envs: int = setting(5, "collection=official: parallel environments", integer(1))
    epsilon_start: float = setting(1.0, "collection=official: initial epsilon of the epsilon-greedy play", number(0, 1))
    epsilon_end: float = setting(0.1, "collection=official: final epsilon", number(0, 1))
    epsilon_steps: int = setting(
        1_000_000, "collection=official: environment steps (across iterations) of epsilon's linear decay", integer(1)
    )
    target_interval: int = setting(
        200, "collection=official: the target network is refreshed every this many environment steps", integer(1)
    )
    training_starts: int = setting(
        1000, "collection=official: no update before this many environment steps (across iterations)", integer(0)
    )
    update_interval: int = setting(10, "collection=official: one update every this many environment steps", integer(1))

    def settings(self) -> dict:
        official = {
            name: getattr(self, name)
            for name in (
                "buffer_size",
                "n_envs",
                "epsilon_start",
                "epsilon_end",
                "epsilon_steps",
                "target_interval",
                "training_starts",
                "update_interval",
            )
        }
        mode = {"episodes": self.episodes} if self.collection == "episodes" else official
        return {"collection": self.collection, **mode, **self.learner_settings()}

    def schedule(self, env_steps, buffered):
        """What the round of play starting after ``env_steps`` environment steps (counted across iterations)
        does, with ``buffered`` transitions in the buffer once it has played: ``(epsilon, update, refresh)``
        (as ``online_mirror_descent.update``: the update and the refresh test the count before the round)."""
        epsilon = linear_epsilon(env_steps, self.epsilon_start, self.epsilon_end, self.epsilon_steps)
        update = (
            (buffered >= self.learner.batch_size)
            & (env_steps >= self.training_starts)
            & (env_steps % self.update_interval == 0)
        )
        return epsilon, update, env_steps % self.target_interval == 0

    @property
    def rounds(self) -> int:
        """Rounds of play of one official iteration (each one step of every environment)."""
        return self.learner.steps * self.update_interval // self.n_envs

    def check(self, game) -> None:
        super().check(game)
        if self.collection == "episodes":
            transitions = self.episodes * game.horizon
            if transitions > MAX_TRANSITIONS:
                raise MFGError(
                    f"episodes={self.episodes:,} x horizon {game.horizon:,} = {transitions:,} transitions "
                    f"per iteration, more than the learner can index ({MAX_TRANSITIONS:,}, 32 bits); "
                    "lower episodes"
                )
            return
        if game.stationary:
            raise MFGError("collection=official plays episodes of a finite horizon; use collection=episodes")
        if self.learner.model != "mlp":
            raise MFGError("collection=official trains the network (model=mlp); use collection=episodes for tabular")
        if self.rounds < 1:
            raise MFGError(
                f"collection=official: num_updates={self.learner.steps} x update_interval={self.update_interval} "
                f"< n_envs={self.n_envs} gives no round of play; raise num_updates or lower n_envs"
            )
        if self.buffer_size < self.learner.batch_size:
            raise MFGError(
                f"collection=official: buffer_size={self.buffer_size:,} is below buffer_batch_size="
                f"{self.learner.batch_size:,}, no batch could ever be drawn; raise buffer_size"
            )
        if (self.buffer_size + self.rounds * self.n_envs) > MAX_TRANSITIONS:
            raise MFGError("collection=official: buffer_size or num_updates too large for 32-bit counters; lower them")

    def step(self, game, state, key):
        if self.collection == "official":
            return self._official_step(game, state, key)
        sample_key, fit_key = jax.random.split(key)
        q = self.learner.q_table(game, state.learner)
        policy = self.learner.policy(game, q)
        flow = kernels.mean_field(game, policy)
        play = simulate_agents(game, policy, sample_key, self.episodes, flow=flow)
        done = jnp.zeros((self.episodes, game.horizon)).at[:, -1].set(1.0)
        data = Transitions.from_episodes(play.states[:-1].T, play.actions.T, play.states[1:].T, done)
        targets = self.learner.targets(game, q, flow, data)
        fitted, losses = self.learner.fit(game, state.learner, data, targets, fit_key)
        metrics = {"exploitability": kernels.exploitability(game, policy, flow=flow), **losses}
        return MunchausenState(iteration=state.iteration + 1, learner=fitted), metrics

    # ----- the official online learner ---------------------------------------------
    def _official_step(self, game, state, key):
        learner = self.learner
        network, optimizer = learner.network(game), learner.optimizer()
        q = learner.q_table(game, state.learner)  # Q_k: the previous network, frozen for the iteration
        policy = learner.policy(game, q)
        flow = kernels.mean_field(game, policy)  # the environment's mean field: that of pi_k
        immediate, terminal, log_pi = learner.target_tables(game, q, flow)
        legal = game.action_mask
        horizon, n_envs, batch_size = game.horizon, self.n_envs, learner.batch_size
        steps_before = state.iteration * (self.rounds * n_envs)  # environment steps of earlier iterations

        def masked_q(params, t, s):
            return jnp.where(legal[s], network.apply(params, t, s), -jnp.inf)

        def update(play: OfficialPlay, sample_key):
            batch = play.buffer.sample(sample_key, batch_size)
            t_next = jnp.minimum(batch.time + 1, horizon - 1)  # done rows: masked by combine_targets
            q_next = masked_q(play.target_params, t_next, batch.next_state)
            next_value = soft_value_under(log_pi[t_next, batch.next_state], q_next, learner.tau)
            y = learner.combine_targets(immediate, terminal, batch, next_value).astype(jnp.float32)

            def loss(params):
                q_all = masked_q(params, batch.time, batch.state)
                return munchausen_loss(q_all, batch.action, y, learner.td_weight, learner.cql)

            (_, (td, penalty)), grads = jax.value_and_grad(loss, has_aux=True)(play.params)
            changes, opt_state = optimizer.update(grads, play.opt_state, play.params)
            return play.replace(
                params=optax.apply_updates(play.params, changes),
                opt_state=opt_state,
                td_sum=play.td_sum + td,
                cql_sum=play.cql_sum + penalty,
                updates=play.updates + 1,
            )

        def round_of_play(play: OfficialPlay, xs):
            index, round_key = xs
            act_key, sample_key, reset_key = jax.random.split(round_key, 3)
            env_steps = steps_before + index * n_envs
            t = index % horizon  # the environments are reset together and episodes all last T steps
            epsilon, _, _ = self.schedule(env_steps, 0)
            times = jnp.full((n_envs,), t, jnp.int32)
            probs = epsilon_greedy(network.apply(play.params, times, play.env_states), legal[play.env_states], epsilon)
            actions, _, successors, _ = agents_step(game, t, play.env_states, probs, flow[t], act_key)
            done = (t == horizon - 1).astype(jnp.result_type(float))
            rows = Transitions(times, play.env_states, actions, successors, jnp.full((n_envs,), done))
            play = play.replace(buffer=play.buffer.add(rows))
            _, ready, refresh = self.schedule(env_steps, play.buffer.count)
            play = lax.cond(ready, update, lambda p, _: p, play, sample_key)
            target = jax.tree.map(lambda new, old: jnp.where(refresh, new, old), play.params, play.target_params)
            restart = reset(reset_key)
            env_states = jnp.where(t == horizon - 1, restart, successors)
            play = play.replace(target_params=target, env_states=env_states, refreshes=play.refreshes + refresh)
            return play, epsilon

        def reset(reset_key):
            return jax.random.categorical(reset_key, jnp.log(game.initial_distribution), shape=(n_envs,)).astype(
                jnp.int32
            )

        start_key, play_key = jax.random.split(key)
        params = state.learner["params"]
        zero = jnp.zeros((), jnp.float32)
        play = OfficialPlay(
            params=params,
            opt_state=state.learner["opt_state"],
            target_params=params,
            buffer=ReplayBuffer.empty(self.buffer_size),
            env_states=reset(start_key),
            td_sum=zero,
            cql_sum=zero,
            updates=jnp.zeros((), jnp.int32),
            refreshes=jnp.zeros((), jnp.int32),
        )
        indices = jnp.arange(self.rounds, dtype=jnp.int32)
        play, epsilons = lax.scan(round_of_play, play, (indices, jax.random.split(play_key, self.rounds)))
        made = jnp.maximum(play.updates, 1)
        metrics = {
            "exploitability": kernels.exploitability(game, policy, flow=flow),
            "td_loss": play.td_sum / made,
            "cql_loss": play.cql_sum / made,
            # counts as floats: the metrics' rows are floats (NaN where undefined)
            "updates": play.updates.astype(jnp.float32),
            "target_refreshes": play.refreshes.astype(jnp.float32),
            "epsilon": epsilons[-1],
            "buffered": play.buffer.count.astype(jnp.float32),
        }
        fitted = {"params": play.params, "opt_state": play.opt_state}
        return MunchausenState(iteration=state.iteration + 1, learner=fitted), metrics


def _d_momd_parameters() -> dict:
    """D-MOMD's parameters: its own, the learner's (online loss ``td_weight=0.5``, no CQL), and the official
    mode's updates and batch under the official names (the learner's ``steps`` and ``batch_size`` then)."""
    learner = learner_parameters(cql=0.0, td_weight=0.5)
    official = {
        "num_updates": dataclasses.replace(
            learner["steps"],
            default=OFFICIAL_UPDATES,
            help="collection=official: Adam updates per iteration (official num_updates; episodes: steps)",
        ),
        "buffer_batch_size": dataclasses.replace(
            learner["batch_size"],
            default=OFFICIAL_BATCH,
            help="collection=official: transitions per update, drawn from the buffer (episodes: batch_size)",
        ),
    }
    return {**parameters_of(OnlineMunchausenMirrorDescent), **learner, **official}


D_MOMD_PARAMETERS = _d_momd_parameters()


@register_solver(
    "d-momd",
    "online deep Munchausen OMD: the Off-MMD learner trained on simulated play in the true mean field",
    D_MOMD_PARAMETERS,
)
def make_d_momd(
    episodes,
    collection,
    buffer_size,
    n_envs,
    epsilon_start,
    epsilon_end,
    epsilon_steps,
    target_interval,
    training_starts,
    update_interval,
    num_updates,
    buffer_batch_size,
    **learner,
):
    other = ("steps", "batch_size") if collection == "official" else ("num_updates", "buffer_batch_size")
    given = {"num_updates": num_updates, "buffer_batch_size": buffer_batch_size, **learner}
    ignored = [name for name in other if given[name] != D_MOMD_PARAMETERS[name].default]
    if ignored:
        use = "num_updates and buffer_batch_size" if collection == "official" else "steps and batch_size"
        raise MFGError(
            f"{', '.join(ignored)} do not act with collection={collection}: give {use} instead "
            "(official: updates from the replay buffer; episodes: Adam steps on the fresh episodes)"
        )
    if collection == "official":
        learner.update(steps=num_updates, batch_size=buffer_batch_size)
    learner = MunchausenLearner(**learner)
    return OnlineMunchausenMirrorDescent(
        learner=learner,
        episodes=episodes,
        collection=collection,
        buffer_size=buffer_size,
        n_envs=n_envs,
        epsilon_start=epsilon_start,
        epsilon_end=epsilon_end,
        epsilon_steps=epsilon_steps,
        target_interval=target_interval,
        training_starts=training_starts,
        update_interval=update_interval,
    )
