"""Kuramoto synchronisation: oscillators on a random geometric graph learn to agree.

Agent ``i`` sits at a fixed position ``p_i`` on the unit torus and carries a
phase ``theta_i`` and a natural frequency ``omega_i ~ N(0, frequency_spread^2)``
(state ``(x, y, theta, omega)``). Its neighbours are the oscillators within
``radius``; it observes only the direction of their mean phase relative to its
own, ``y_i = arg(sum_{j ~ i} exp(i theta_j)) - theta_i`` (0 when alone). Each
step it shifts its frequency by ``u_i`` in ``{-control, 0, +control}``:

    theta_i' = theta_i + dt * (omega_i + u_i + coupling * mean_{j ~ i} sin(theta_j - theta_i))
               + sqrt(dt) * noise * xi,

The shared reward is the order parameter ``R = |mean_i exp(i theta_i)|`` minus
``action_cost`` times the fraction of agents that act. Our constants: the
uncontrolled coupling 0.3 is well below the critical coupling of the
all-to-all model with this frequency spread (``2 / (pi g(0))``, about 0.8), so the
uncontrolled swarm stays incoherent (``R`` of order ``1 / sqrt(N)``), while a
control of 1 exceeds most natural frequencies and can synchronise it.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

from mfgtools.games.registry import register_game
from mfgtools.registry import Parameter, horizon, number, positive
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

ACTIONS = ("slow down", "keep", "speed up")


@struct.dataclass(kw_only=True)
class KuramotoGame(SwarmGame):
    """Kuramoto oscillators (see the module docstring); state ``(x, y, theta, omega)``."""

    coupling: float = static()
    frequency_spread: float = static()
    control: float = static()
    noise: float = static()

    def initial_states(self, key, n):
        where, phase, frequency = jax.random.split(key, 3)
        positions = jax.random.uniform(where, (n, 2))
        theta = jax.random.uniform(phase, (n, 1), maxval=TWO_PI)
        omega = self.frequency_spread * jax.random.normal(frequency, (n, 1))
        return jnp.concatenate([positions, theta, omega], axis=1)

    def observe(self, states):
        theta = states[:, 2]
        seen = self.neighbourhood(states, unit_vectors(theta))
        return relative_angle(seen.sums, theta)[:, None]

    def move(self, states, actions, key):
        theta, omega = states[:, 2], states[:, 3]
        seen = self.neighbourhood(states, unit_vectors(theta))
        # mean over neighbours of sin(theta_j - theta_i) = Im(sum_j e^{i theta_j} e^{-i theta_i}) / count
        pull = (seen.sums[:, 1] * jnp.cos(theta) - seen.sums[:, 0] * jnp.sin(theta)) / seen.counts
        shift = self.control * (actions.astype(theta.dtype) - 1.0)
        drift = omega + shift + self.coupling * pull
        noise = self.noise * jnp.sqrt(self.dt) * jax.random.normal(key, theta.shape, theta.dtype)
        new_theta = (theta + self.dt * drift + noise) % TWO_PI
        return states.at[:, 2].set(new_theta)

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
    "radius": Parameter(0.25, "coupling and observation radius on the unit torus (< 0.5)", RADIUS),
    "coupling": Parameter(0.3, "Kuramoto coupling strength K among neighbours", number(0.0)),
    "frequency_spread": Parameter(0.5, "standard deviation of the natural frequencies", number(0.0)),
    "control": Parameter(1.0, "frequency shift of the actions slow down / speed up", positive()),
    "noise": Parameter(0.1, "phase noise per unit time (standard deviation of sqrt(dt) steps)", number(0.0)),
    "action_cost": Parameter(0.01, "reward cost of acting, times the fraction of agents that act", ACTION_COST),
    "discount": Parameter(0.99, "discount of the shared return", SHARED_DISCOUNT),
}


@register_game(
    "kuramoto",
    "Kuramoto synchronisation of oscillators on a geometric graph (Dec-POMFC, swarm)",
    PARAMETERS,
    kind="swarm",
)
def make_kuramoto(
    n_agents,
    horizon,
    dt,
    radius,
    coupling,
    frequency_spread,
    control,
    noise,
    action_cost,
    discount,
) -> KuramotoGame:
    values = common_parameters(n_agents, horizon, discount, dt, radius, action_cost, "kuramoto")
    values.update(
        coupling=coupling,
        frequency_spread=frequency_spread,
        control=control,
        noise=noise,
    )
    return KuramotoGame(
        name="kuramoto",
        params=annotation(values),
        action_labels=ACTIONS,
        idle_action=1,
        state_labels=("x", "y", "theta", "omega"),
        observation_labels=("relative phase",),
        observation_periods=(TWO_PI,),
        observation_bounds=((-math.pi, math.pi),),
        feature_labels=("theta",),
        feature_periods=(TWO_PI,),
        order_label="order parameter R",
        **values,
    )
