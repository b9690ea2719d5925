"""Swarm games: N agents with continuous states, local observations, one shared reward.

The second family of games next to the finite ones (kind ``"swarm"``): a
cooperative mean-field control problem (spec ``dec_pomfc.md``). Agent ``i`` has a
continuous state ``x_i`` (``(D,)``: a position on the unit torus plus a phase or
a heading), observes only ``y_i`` (``(O,)``, computed from its neighbours within
``radius``), takes one of ``A`` discrete actions, and every agent receives the
same reward ``r(mu_N, u)`` of the empirical distribution. The particle
simulator is the game itself: :meth:`SwarmGame.initial_states`,
:meth:`SwarmGame.observe`, :meth:`SwarmGame.move`, :meth:`SwarmGame.reward`, pure
functions of explicit arrays and keys, jitted and vmapped by the callers
(:func:`mfgtools.swarm.rollouts.simulate_swarm`, the ``dec-pomfc`` and ``ippo``
solvers).

Every game is a frozen ``flax.struct`` dataclass whose fields are all static
(constants of the compiled program): two games with the same constants share
their compiled programs.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.annotations import Annotation
from mfgtools.errors import MFGError, as_float
from mfgtools.registry import integer, number
from mfgtools.swarm.particles import neighbour_sums

TWO_PI = 2.0 * math.pi


def static(default=None):
    """A static (non-leaf) field of a swarm game."""
    return struct.field(pytree_node=False, default=default)


@struct.dataclass(kw_only=True)
class SwarmGame:
    """A swarm task (see the module docstring).

    Attributes:
      name, params: registry name and parameters (display and result files).
      n_agents: swarm size N that ``solve`` trains and evaluates with.
      horizon: decision steps T of an episode.
      discount: discount of the shared return.
      dt: time step of the dynamics.
      radius: observation (and interaction) radius on the unit torus.
      action_cost: weight of the mean action effort subtracted from the reward.
      action_labels: names of the ``A`` actions.
      idle_action: the action of the uncontrolled swarm.
      state_labels: names of the ``D`` state coordinates.
      observation_labels: names of the ``O`` observation coordinates.
      observation_periods: per observation coordinate, its period (angles) or
        ``None`` (bounded coordinates, within ``observation_bounds``).
      observation_bounds: per observation coordinate, ``(low, high)``.
      feature_labels, feature_periods: the coordinates of the state on which
        mean-field representations live (all periodic), and their periods.
      order_label: what :meth:`order_parameter` measures.
    """

    kind: ClassVar[str] = "swarm"
    stationary: ClassVar[bool] = False
    mode: ClassVar[str] = "finite-horizon"

    name: str = static()
    params: Any = static()
    n_agents: int = static()
    horizon: int = static()
    discount: float = static()
    dt: float = static()
    radius: float = static()
    action_cost: float = static()
    action_labels: tuple = static()
    idle_action: int = static()
    state_labels: tuple = static()
    observation_labels: tuple = static()
    observation_periods: tuple = static()
    observation_bounds: tuple = static()
    feature_labels: tuple = static()
    feature_periods: tuple = static()
    order_label: str = static()

    # ----- sizes and description -------------------------------------------------
    @property
    def n_actions(self) -> int:
        return len(self.action_labels)

    @property
    def action_names(self) -> tuple:
        return tuple(self.action_labels)

    @property
    def state_dim(self) -> int:
        return len(self.state_labels)

    @property
    def observation_dim(self) -> int:
        return len(self.observation_labels)

    @property
    def parameters(self) -> dict:
        return dict(self.params.value)

    def describe(self) -> str:
        """One line: name, sizes and the main constants."""
        return (
            f"{self.name}: N={self.n_agents} agents, A={self.n_actions}, T={self.horizon}, dt={self.dt}, "
            f"radius={self.radius}, discount={self.discount}"
        )

    # ----- the model (subclasses) -----------------------------------------------
    def initial_states(self, key: jax.Array, n: int) -> jax.Array:
        """``(n, D)`` states of ``n`` agents drawn from the initial distribution."""
        raise NotImplementedError

    def positions(self, states: jax.Array) -> jax.Array:
        """``(N, 2)`` positions on the unit torus (first two state coordinates)."""
        return states[:, :2]

    def observe(self, states: jax.Array) -> jax.Array:
        """``(N, O)`` observations: what each agent sees of its neighbours."""
        raise NotImplementedError

    def move(self, states: jax.Array, actions: jax.Array, key: jax.Array) -> jax.Array:
        """``(N, D)`` next states given ``(N,)`` int actions."""
        raise NotImplementedError

    def order_parameter(self, states: jax.Array) -> jax.Array:
        """Scalar task measure of the empirical distribution (``order_label``)."""
        raise NotImplementedError

    def task_reward(self, states: jax.Array) -> jax.Array:
        """The reward of the empirical distribution before action costs."""
        raise NotImplementedError

    def effort(self, actions: jax.Array) -> jax.Array:
        """``(N,)`` effort of each action in ``[0, 1]`` (0 for the idle action)."""
        return (actions != self.idle_action).astype(jnp.result_type(float))

    def reward(self, states: jax.Array, actions: jax.Array) -> jax.Array:
        """The shared reward ``r(mu_N, u)``: task reward minus ``action_cost`` times the mean effort."""
        return self.task_reward(states) - self.action_cost * jnp.mean(self.effort(actions))

    def mean_field_coordinates(self, states: jax.Array) -> jax.Array:
        """``(N, F)`` coordinates of the states for mean-field representations."""
        raise NotImplementedError

    # ----- what results show -------------------------------------------------------
    @property
    def histogram_shape(self) -> tuple:
        """Bins of the mean-field histogram of results: 32 on a circle, 16 x 16 on the torus."""
        return (32,) if len(self.feature_periods) == 1 else (16,) * len(self.feature_periods)

    def histogram_edges(self) -> list:
        """Per mean-field coordinate, the ``bins + 1`` bin edges over ``[0, period]``."""
        return [np.linspace(0.0, period, bins + 1) for bins, period in zip(self.histogram_shape, self.feature_periods)]

    def histogram(self, states: jax.Array) -> jax.Array:
        """Share of the agents in every bin of the mean-field coordinates, ``histogram_shape``."""
        coords = self.mean_field_coordinates(states)
        shape = self.histogram_shape
        index = jnp.zeros(coords.shape[0], jnp.int32)
        for d, (bins, period) in enumerate(zip(shape, self.feature_periods)):
            cell = jnp.clip(jnp.floor(coords[:, d] / period * bins).astype(jnp.int32), 0, bins - 1)
            index = index * bins + cell
        counts = jax.ops.segment_sum(jnp.ones(coords.shape[0], coords.dtype), index, math.prod(shape))
        return (counts / coords.shape[0]).reshape(shape)

    def observation_axes(self) -> list:
        """Per observation coordinate, the points at which results tabulate the policy:
        32 over a period, 11 over a bounded interval."""
        axes = []
        for period, (low, high) in zip(self.observation_periods, self.observation_bounds):
            axes.append(
                np.linspace(low, high, 32, endpoint=False) if period is not None else np.linspace(low, high, 11)
            )
        return axes

    def observation_grid(self) -> np.ndarray:
        """``(G, O)``: every combination of :meth:`observation_axes` (row-major)."""
        mesh = np.meshgrid(*self.observation_axes(), indexing="ij")
        return np.stack([m.reshape(-1) for m in mesh], axis=-1)

    # ----- helpers shared by the tasks -------------------------------------------
    def neighbourhood(self, states: jax.Array, values: jax.Array):
        """Neighbour sums of ``values`` ``(N, V)`` over the agents within ``radius`` (self included)."""
        return neighbour_sums(self.positions(states), values, self.radius, 1.0, include_self=True)


def unit_vectors(angles: jax.Array) -> jax.Array:
    """``(N,) -> (N, 2)``: ``(cos, sin)``."""
    return jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1)


def relative_angle(sums: jax.Array, angles: jax.Array) -> jax.Array:
    """Angle of the summed unit vectors ``sums`` ``(N, 2)`` relative to ``angles``, in ``[-pi, pi)``.

    With the agent itself among the summands, an agent alone sees 0.
    """
    mean_angle = jnp.arctan2(sums[:, 1], sums[:, 0])
    return wrap_angle(mean_angle - angles)


def wrap_angle(angles: jax.Array) -> jax.Array:
    """Angles wrapped to ``[-pi, pi)``."""
    return (angles + math.pi) % TWO_PI - math.pi


def coherence(angles: jax.Array) -> jax.Array:
    """``|mean exp(i angle)|`` in ``[0, 1]``: 1 when all angles agree."""
    return jnp.hypot(jnp.mean(jnp.cos(angles)), jnp.mean(jnp.sin(angles)))


# ----- parameters shared by the swarm tasks: their checks (each game declares its defaults) ----------
SWARM_SIZE = integer(1, 10_000_000, label="n_agents (the swarm size)")
SHARED_DISCOUNT = number(0.0, 1.0, low_open=True)
RADIUS = number(0.0, 0.5, low_open=True, high_open=True, label="radius (the observation radius on the unit torus)")
ACTION_COST = number(0.0)


def time_step(value, name: str) -> float:
    """A time step in ``(0, 1]`` (a fraction of the unit time)."""
    dt = as_float(value, f"{name} (the time step)", 0.0, low_open=True)
    if dt > 1.0:
        raise MFGError(f"{name} must be at most 1 (a fraction of the unit time), got {dt}")
    return dt


def common_parameters(n_agents, horizon, discount, dt, radius, action_cost, name: str = "swarm") -> dict:
    """``n_agents, horizon, discount, dt, radius, action_cost`` of game ``name`` (validated by their declared
    checks), refused when one episode of the swarm cannot fit in memory."""
    from mfgtools.resources import check_swarm_size

    check_swarm_size(name, n_agents, horizon, SWARM_STATE_DIM)
    return dict(n_agents=n_agents, horizon=horizon, discount=discount, dt=dt, radius=radius, action_cost=action_cost)


SWARM_STATE_DIM = 4  # the largest state dimension of the swarm tasks (resource estimates)


def annotation(values: dict) -> Annotation:
    return Annotation(dict(values))
