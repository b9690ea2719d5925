"""Aggregation: agents on the torus learn to gather from what they see nearby.

Agent ``i`` has a position ``p_i`` on the unit torus (state ``(x, y)``). It
observes only the mean offset to its neighbours within ``radius``,
``y_i = mean_{j ~ i} (p_j - p_i) / radius`` (periodic differences; itself
included, so an agent alone sees 0), a point of the unit disc. Each step it
stays or moves in one of four directions at ``speed`` (bounded velocities),
and diffuses:

    p_i' = p_i + speed * dt * e(u_i) + sqrt(dt) * noise * xi   (mod 1).

The shared reward is minus the spread of the swarm, ``sum_d (1 - |mean_i
exp(2 pi i p_id)|)`` (the circular variance of each coordinate: 0 when all
agents are at one point, about 2 when spread uniformly; a measure that is
``O(N)`` to compute and has no seam on the torus), minus ``action_cost``
times the fraction of agents that move. The order parameter is the spread.
"""

from __future__ import annotations

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
    static,
    time_step,
)

ACTIONS = ("stay", "east", "north", "west", "south")
DIRECTIONS = ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))


@struct.dataclass(kw_only=True)
class AggregationGame(SwarmGame):
    """Aggregation (see the module docstring); state ``(x, y)``."""

    speed: float = static()
    noise: float = static()

    def initial_states(self, key, n):
        return jax.random.uniform(key, (n, 2))

    def observe(self, states):
        seen = self.neighbourhood(states, jnp.zeros((states.shape[0], 0), states.dtype))
        return seen.offsets / (seen.counts[:, None] * self.radius)

    def move(self, states, actions, key):
        step = jnp.asarray(DIRECTIONS, states.dtype)[actions]
        noise = self.noise * jnp.sqrt(self.dt) * jax.random.normal(key, states.shape, states.dtype)
        return (states + self.speed * self.dt * step + noise) % 1.0

    def order_parameter(self, states):
        """The spread ``sum_d (1 - |mean exp(2 pi i x_d)|)``: 0 gathered, about 2 uniform."""
        angles = TWO_PI * states
        return 2.0 - coherence(angles[:, 0]) - coherence(angles[:, 1])

    def task_reward(self, states):
        return -self.order_parameter(states)

    def mean_field_coordinates(self, states):
        return states


PARAMETERS = {
    "n_agents": Parameter(100, "swarm size N used for training and evaluation", SWARM_SIZE),
    "horizon": Parameter(100, "decision steps T of an episode", horizon),
    "dt": Parameter(0.1, "time step", time_step),
    "radius": Parameter(0.3, "observation radius on the unit torus (< 0.5)", RADIUS),
    "speed": Parameter(0.3, "speed of the move actions, torus widths per unit time", number(0.0)),
    "noise": Parameter(0.05, "position noise per unit time (standard deviation of sqrt(dt) steps)", number(0.0)),
    "action_cost": Parameter(0.01, "reward cost of moving, times the fraction of agents that move", ACTION_COST),
    "discount": Parameter(0.99, "discount of the shared return", SHARED_DISCOUNT),
}


@register_game(
    "aggregation",
    "Aggregation on the torus: gather from local offsets only (Dec-POMFC, swarm)",
    PARAMETERS,
    kind="swarm",
)
def make_aggregation(n_agents, horizon, dt, radius, speed, noise, action_cost, discount) -> AggregationGame:
    values = common_parameters(n_agents, horizon, discount, dt, radius, action_cost, "aggregation")
    values.update(speed=speed, noise=noise)
    return AggregationGame(
        name="aggregation",
        params=annotation(values),
        action_labels=ACTIONS,
        idle_action=0,
        state_labels=("x", "y"),
        observation_labels=("offset x", "offset y"),
        observation_periods=(None, None),
        observation_bounds=((-1.0, 1.0), (-1.0, 1.0)),
        feature_labels=("x", "y"),
        feature_periods=(1.0, 1.0),
        order_label="spread",
        **values,
    )
