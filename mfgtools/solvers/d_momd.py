"""Online D-MOMD: the Munchausen learner of Off-MMD fed by simulation (the paper's baseline).

Each iteration computes the true mean field of ``pi_k``, samples ``episodes``
independent agents following ``pi_k`` in it (:func:`mfgtools.finite.simulate.simulate_agents`
with that flow) and fits the next Q-function to the Munchausen targets of these
fresh transitions, with rewards under the true mean field and no CQL penalty by
default (:mod:`mfgtools.solvers.munchausen`; the same code as Off-MMD).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from mfgtools.errors import MFGError
from mfgtools.finite import kernels
from mfgtools.finite.simulate import simulate_agents
from mfgtools.registry import integer, parameters_of
from mfgtools.solvers.base import setting
from mfgtools.solvers.munchausen import (
    MunchausenLearner,
    MunchausenSolver,
    MunchausenState,
    Transitions,
    learner_parameters,
)
from mfgtools.solvers.registry import register_solver

MAX_TRANSITIONS = 2**31 - 1  # the learner draws transition indices as int32


@struct.dataclass
class OnlineMunchausenMirrorDescent(MunchausenSolver):
    learner: MunchausenLearner = setting()
    episodes: int = setting(1000, "simulated episodes per iteration", integer(1))

    def settings(self) -> dict:
        return {"episodes": self.episodes, **self.learner_settings()}

    def check(self, game) -> None:
        super().check(game)
        transitions = self.episodes * game.horizon
        if transitions > MAX_TRANSITIONS:
            raise MFGError(
                f"episodes={self.episodes:,} x horizon {game.horizon:,} = {transitions:,} transitions "
                f"per iteration, more than the learner can index ({MAX_TRANSITIONS:,}, 32 bits); "
                "lower episodes"
            )

    def step(self, game, state, key):
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


@register_solver(
    "d-momd",
    "online deep Munchausen OMD: the Off-MMD learner trained on simulated play in the true mean field",
    {**parameters_of(OnlineMunchausenMirrorDescent), **learner_parameters(cql=0.0, td_weight=0.5)},
)
def make_d_momd(episodes, **learner):
    return OnlineMunchausenMirrorDescent(learner=MunchausenLearner(**learner), episodes=episodes)
