"""Hybrid online mirror descent (``hybrid-omd``; Fabian, Cui & Koeppl 2024, spec ``graphex.md``).

On a graphex game the population splits into a core, modelled as a
graphon-style mean field over bins, and a periphery, one class per degree
``k`` whose ``k`` neighbours are drawn from the population. The hybrid
algorithm learns the core by online mirror descent and gives every periphery
degree its best response against the flow, computed exactly by backward
induction (all degrees at once: they are classes of one game).

One iteration: the OMD update ``y += eta * Q^{pi_k}``, ``pi = softmax(y)`` on
the core states, then on the periphery states the best response to the flow of
the updated policy (``periphery_temperature > 0``:
the softmax of the best-response values at that temperature instead of the
argmax). In the graphex limit the periphery does not act on the core, so this
is the paper's two-stage scheme run side by side: the core iterates are
exactly OMD's and the periphery is always the best response to them. On a
finite graph whose periphery does feed back into the core, it is the same
iteration on the coupled game.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import struct

from mfgtools.finite import kernels
from mfgtools.registry import number, positive
from mfgtools.solvers.base import setting
from mfgtools.solvers.mirror_descent import OnlineMirrorDescent
from mfgtools.solvers.registry import register_solver


@register_solver(
    "hybrid-omd",
    "hybrid graphex OMD: core bins by mirror descent, periphery degrees by best response to the core's flow",
    requires="graphex",
)
@struct.dataclass
class HybridMirrorDescent(OnlineMirrorDescent):
    learning_rate: float = setting(0.1, "step size eta of the core's y += eta * Q", positive(), traced=True)
    openspiel_order: bool | None = setting(False)  # not a parameter: graphex games are not OpenSpiel's
    periphery_temperature: float = setting(
        0.0, "0: periphery plays the exact best response; > 0: its softmax", number(0.0)
    )

    def periphery_response(self, game, policy):
        """The policy with its periphery rows replaced by the best response to its flow."""
        flow = kernels.mean_field(game, policy)
        _, _, response = kernels.best_response(game, flow, self.periphery_temperature, flow_policy=policy)
        return jnp.where(game.periphery_states[None, :, None], response, policy)

    def init(self, game, key):
        state = super().init(game, key)
        return state.replace(policy=self.periphery_response(game, state.policy))

    def step(self, game, state, key):
        state, metrics = super().step(game, state, key)
        return state.replace(policy=self.periphery_response(game, state.policy)), metrics
