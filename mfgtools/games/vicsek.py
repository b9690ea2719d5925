"""Vicsek flocking: agents at constant speed learn to align their headings.

Agent ``i`` has a position ``p_i`` on the unit torus and a heading ``phi_i``
(state ``(x, y, phi)``). It observes only the direction of its neighbours'
mean heading relative to its own, ``y_i = arg(sum_{j ~ i} exp(i phi_j)) - phi_i``
over the agents within ``radius`` (0 when alone). Each step it turns by
``u_i`` in ``{-turn, 0, +turn}``, its heading diffuses, and it moves on:

    phi_i' = phi_i + u_i + sqrt(dt) * noise * xi,
    p_i'   = p_i + speed * dt * (cos phi_i', sin phi_i')   (mod 1).

Unlike the classic Vicsek model nothing aligns the agents by itself: the
uncontrolled swarm (``u = 0``) keeps its random headings, with polarisation
``|mean exp(i phi)|`` of order ``1 / sqrt(N)``. The shared reward is the
polarisation minus ``action_cost`` times the fraction of agents that turn.
Our constants: an agent covers 3 torus widths per 100-step episode and
turns by at most 0.3 rad a step against a heading noise of 0.3 rad per unit time.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

from mfgtools.games.registry import register_game
from mfgtools.registry import Parameter, horizon, number
from mfgtools.swarm.game import (
    ACTION_COST,
    RADIUS,
    SHARED_DISCOUNT,
    SWARM_SIZE,
    TWO_PI,
    SwarmGame,
    annotation,
    coherence,
    common_parameters,
    relative_angle,
    static,
    time_step,
    unit_vectors,
)

ACTIONS = ("turn right", "straight", "turn left")


@struct.dataclass(kw_only=True)
class VicsekGame(SwarmGame):
    """Vicsek flocking (see the module docstring); state ``(x, y, phi)``."""

    speed: float = static()
    turn: float = static()
    noise: float = static()

    def initial_states(self, key, n):
        where, heading = jax.random.split(key)
        positions = jax.random.uniform(where, (n, 2))
        phi = jax.random.uniform(heading, (n, 1), maxval=TWO_PI)
        return jnp.concatenate([positions, phi], axis=1)

    def observe(self, states):
        phi = states[:, 2]
        seen = self.neighbourhood(states, unit_vectors(phi))
        return relative_angle(seen.sums, phi)[:, None]

    def move(self, states, actions, key):
        phi = states[:, 2]
        turn = self.turn * (actions.astype(phi.dtype) - 1.0)
        noise = self.noise * jnp.sqrt(self.dt) * jax.random.normal(key, phi.shape, phi.dtype)
        new_phi = (phi + turn + noise) % TWO_PI
        positions = (states[:, :2] + self.speed * self.dt * unit_vectors(new_phi)) % 1.0
        return jnp.concatenate([positions, new_phi[:, None]], axis=1)

    def order_parameter(self, states):
        return coherence(states[:, 2])

    def task_reward(self, states):
        return self.order_parameter(states)

    def mean_field_coordinates(self, states):
        return states[:, 2:3]


PARAMETERS = {
    "n_agents": Parameter(100, "swarm size N used for training and evaluation", SWARM_SIZE),
    "horizon": Parameter(100, "decision steps T of an episode", horizon),
    "dt": Parameter(0.1, "time step", time_step),
    "radius": Parameter(0.2, "observation radius on the unit torus (< 0.5)", RADIUS),
    "speed": Parameter(0.3, "constant speed, torus widths per unit time", number(0.0)),
    "turn": Parameter(
        0.3,
        "heading change of the actions turn right / turn left, radians",
        number(0.0, math.pi, low_open=True, label="turn (radians)"),
    ),
    "noise": Parameter(0.3, "heading noise per unit time (standard deviation of sqrt(dt) steps)", number(0.0)),
    "action_cost": Parameter(0.01, "reward cost of turning, times the fraction of agents that turn", ACTION_COST),
    "discount": Parameter(0.99, "discount of the shared return", SHARED_DISCOUNT),
}


@register_game(
    "vicsek",
    "Vicsek flocking on the torus: align headings from neighbours only (Dec-POMFC, swarm)",
    PARAMETERS,
    kind="swarm",
)
def make_vicsek(n_agents, horizon, dt, radius, speed, turn, noise, action_cost, discount) -> VicsekGame:
    values = common_parameters(n_agents, horizon, discount, dt, radius, action_cost, "vicsek")
    values.update(
        speed=speed,
        turn=turn,
        noise=noise,
    )
    return VicsekGame(
        name="vicsek",
        params=annotation(values),
        action_labels=ACTIONS,
        idle_action=1,
        state_labels=("x", "y", "phi"),
        observation_labels=("relative heading",),
        observation_periods=(TWO_PI,),
        observation_bounds=((-math.pi, math.pi),),
        feature_labels=("phi",),
        feature_periods=(TWO_PI,),
        order_label="polarisation",
        **values,
    )
