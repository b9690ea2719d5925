"""SIS epidemic: a small classic mean-field game with population-dependent dynamics.

After the SIS example of Cui & Koeppl (2021), "Approximately solving mean field
games via entropy-regularized deep reinforcement learning" (AISTATS). Two
states, ``susceptible`` (0) and ``infected`` (1); two actions, ``go out`` (0)
and ``protect`` (1). With ``mu(I)`` the infected fraction of the population:

- a susceptible agent that goes out is infected with probability
  ``infection_rate * mu(I)``; protecting multiplies that risk by
  ``1 - protection`` (``protection = 1``: no risk at all);
- an infected agent recovers with probability ``recovery_rate``, whatever it does;
- reward ``r(s, a) = -infection_cost * [s = infected] - protection_cost * [a = protect]``.

Going out is free but raises one's own risk in proportion to how many are
infected; everybody protecting removes the epidemic but costs everybody. The
equilibrium balances the two: the more agents go out, the more infected there
are, the more protecting pays.

Defaults: ``infection_rate = 0.8``, ``recovery_rate = 0.3``, ``protection = 1``,
``infection_cost = 1``, ``protection_cost = 0.5``, ``discount = 0.9``,
``horizon = 50``, half the population infected at the start (``mu0 = 0.5``).
The transition structure follows the paper; the constants are ours where the
paper's are not known exactly (its infection and recovery rates, costs and
initial distribution may differ).

The dynamics depend on ``mu``: :meth:`SISGame.transition` returns the ``(S, A,
K)`` probabilities for the fixed successor table ``next_state[s, a] = (S, I)``
(``K = 2``); ``transition_prob`` holds them at ``mu0``. Nothing depends on
``t``. Mode: ``"stationary"`` (default; discounted, infinite horizon, ``horizon``
is the default sample-path length) or ``"finite-horizon"`` (``horizon`` steps).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.finite.game import Annotation, FiniteGame, fan_out_fields, float_array, resolve_mode
from mfgtools.games.registry import register_game
from mfgtools.registry import MODES, Parameter, horizon, number
from mfgtools.resources import check_game_size

STATE_NAMES = ("susceptible", "infected")
ACTION_NAMES = ("go out", "protect")
SUSCEPTIBLE, INFECTED = 0, 1
GO_OUT, PROTECT = 0, 1


@struct.dataclass(kw_only=True)
class SISGame(FiniteGame):
    """SIS epidemic (see the module docstring); ``next_state[s, a] = (susceptible, infected)``."""

    infection_risk: jax.Array  # (A,) infection probability of a susceptible agent per unit of mu(I)
    state_cost: jax.Array  # (S,) infection_cost * [s = infected]
    action_cost: jax.Array  # (A,) protection_cost * [a = protect]
    recovery_rate: float = struct.field(pytree_node=False)

    def reward(self, t, mu):
        del t, mu  # r(s, a) depends on neither
        return -self.state_cost[:, None] - self.action_cost[None, :]

    def transition(self, t, mu):
        del t  # time-homogeneous
        infected = jnp.clip(self.infection_risk.astype(mu.dtype) * mu[INFECTED], 0.0, 1.0)  # (A,)
        from_susceptible = jnp.stack([1.0 - infected, infected], axis=-1)  # (A, 2)
        recover = jnp.asarray([self.recovery_rate, 1.0 - self.recovery_rate], dtype=mu.dtype)
        from_infected = jnp.broadcast_to(recover, from_susceptible.shape)
        return jnp.stack([from_susceptible, from_infected])  # (S, A, K) with K = 2


PARAMETERS = {
    "infection_rate": Parameter(
        0.8, "infection probability of going out, per unit infected fraction mu(I)", number(0.0, 1.0)
    ),
    "recovery_rate": Parameter(0.3, "probability that an infected agent recovers in a step", number(0.0, 1.0)),
    "protection": Parameter(1.0, "fraction of the infection risk that protecting removes (1: all)", number(0.0, 1.0)),
    "infection_cost": Parameter(1.0, "cost per step of being infected", number(0.0)),
    "protection_cost": Parameter(0.5, "cost per step of protecting", number(0.0)),
    "discount": Parameter(0.9, "discount gamma (below 1 in stationary mode)"),
    "horizon": Parameter(50, "decision steps T (stationary mode: default sample-path length)", horizon),
    "mu0": Parameter(
        0.5,
        "initial infected fraction mu0(infected), in [0, 1]",
        number(0.0, 1.0, label="mu0 (the initial infected fraction)"),
    ),
    "mode": Parameter("stationary", "stationary (discounted, infinite horizon) or finite-horizon"),
}


@register_game("sis", "SIS epidemic after Cui & Koeppl (2021): go out or protect (stationary)", PARAMETERS, modes=MODES)
def make_sis(
    infection_rate,
    recovery_rate,
    protection,
    infection_cost,
    protection_cost,
    discount,
    horizon,
    mu0,
    mode,
) -> SISGame:
    mode, discount = resolve_mode(mode, discount)
    infected0 = mu0
    check_game_size("sis", 2, 2, 2, horizon, stationary=mode == "stationary", lower="the horizon")

    mu0_vector = np.array([1.0 - infected0, infected0])
    risk = infection_rate * np.array([1.0, 1.0 - protection])
    next_state = np.broadcast_to(np.array([SUSCEPTIBLE, INFECTED]), (2, 2, 2)).copy()
    at_mu0 = np.stack(
        [
            np.stack([1.0 - risk * infected0, risk * infected0], axis=-1),
            np.broadcast_to([recovery_rate, 1.0 - recovery_rate], (2, 2)),
        ]
    )
    params = dict(
        infection_rate=infection_rate,
        recovery_rate=recovery_rate,
        protection=protection,
        infection_cost=infection_cost,
        protection_cost=protection_cost,
        discount=discount,
        horizon=horizon,
        mu0=infected0,
        mode=mode,
    )
    return SISGame(
        initial_distribution=float_array(mu0_vector),
        **fan_out_fields(next_state, at_mu0),
        action_mask=jnp.ones((2, 2), dtype=bool),
        horizon=horizon,
        discount=discount,
        name="sis",
        params=Annotation(params),
        grid_shape=None,
        action_labels=ACTION_NAMES,
        stationary=mode == "stationary",
        infection_risk=float_array(risk),
        state_cost=float_array([0.0, infection_cost]),
        action_cost=float_array([0.0, protection_cost]),
        recovery_rate=recovery_rate,
    )
