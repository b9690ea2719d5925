"""OpenSpiel's mean-field normal-form games (``mean_field_nfg``), with its named reward functions.

One decision: every agent picks one of three actions, then is paid ``f(a,
nu)``, where ``nu`` is the distribution of the population's actions (the
policy itself). OpenSpiel's reward functions (``reward_function``):

- ``coop`` (the default): ``f(0) = 10 nu_0 - 200/9 (nu_0 - nu_2) nu_2 - 20 nu_1``,
  ``f(1) = 20 (nu_0 - nu_1) - 2380 nu_2``, ``f(2) = 2000/9 (nu_0 - nu_2) nu_2``;
- ``dom`` (also ``dominated``): ``f(0) = nu_0 + nu_2``, ``f(1) = nu_1``,
  ``f(2) = nu_0 + nu_2 - 1/4`` (action 2 is dominated by action 0);
- ``biased_indirect_rps``: rock-paper-scissors on ``(0.7 nu_0, 0.5 nu_1,
  0.3 nu_2)``: ``f(0) = b - c``, ``f(1) = c - a``, ``f(2) = a - b``.

As a finite game: horizon 1, state 0 the start and state ``1 + a`` "chose
``a``"; the payoff is the terminal reward on ``mu_1 = (0, nu)``. Exploitability
is ``max_a f(a, nu) - sum_a nu_a f(a, nu)``, OpenSpiel's ``NashConv``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.finite.game import Annotation, FiniteGame, fan_out_fields, float_array
from mfgtools.games.registry import register_game
from mfgtools.registry import Parameter, choice

REWARD_FUNCTIONS = ("coop", "dom", "dominated", "biased_indirect_rps")
N_ACTIONS = 3


def payoffs(name: str, nu):
    """``f(a, nu)`` for the three actions, ``(3,)``, from the action distribution ``nu`` ``(3,)``."""
    a, b, c = nu[0], nu[1], nu[2]
    if name == "coop":
        return jnp.stack([10 * a - 200 / 9 * (a - c) * c - 20 * b, 20 * (a - b) - 2380 * c, 2000 / 9 * (a - c) * c])
    if name == "dom":
        return jnp.stack([a + c, b, a + c - 0.25])
    a, b, c = 0.7 * a, 0.5 * b, 0.3 * c
    return jnp.stack([b - c, c - a, a - b])


@struct.dataclass(kw_only=True)
class NormalFormGame(FiniteGame):
    """A one-shot mean-field game paid on the distribution of actions (see the module docstring)."""

    reward_function: str = struct.field(pytree_node=False)

    def reward(self, t, mu):
        return jnp.zeros((self.n_states, self.n_actions), mu.dtype)

    def terminal_reward(self, mu):
        return jnp.concatenate([jnp.zeros(1, mu.dtype), payoffs(self.reward_function, mu[1:])])


@register_game(
    "mean_field_nfg",
    "OpenSpiel's mean-field normal-form games (coop, dom, biased_indirect_rps)",
    {"reward_function": Parameter("coop", "coop, dom (dominated) or biased_indirect_rps", choice(*REWARD_FUNCTIONS))},
)
def make_mean_field_nfg(reward_function):
    name = reward_function
    name = "dom" if name == "dominated" else name
    n_states = 1 + N_ACTIONS
    next_state = np.tile(np.arange(n_states)[:, None, None], (1, N_ACTIONS, 1))
    next_state[0, :, 0] = 1 + np.arange(N_ACTIONS)
    mu0 = np.zeros(n_states)
    mu0[0] = 1.0
    return NormalFormGame(
        initial_distribution=float_array(mu0),
        **fan_out_fields(next_state, np.ones(next_state.shape)),
        action_mask=jnp.asarray(np.ones((n_states, N_ACTIONS), dtype=bool)),
        horizon=1,
        discount=1.0,
        name="mean_field_nfg",
        params=Annotation(dict(reward_function=name)),
        grid_shape=None,
        reward_function=name,
    )
