"""Particle maths shared by the swarm games: periodic distances and neighbour sums.

Agents live on the unit torus ``[0, period)^2``. What an agent observes is a
sum over its neighbours, the agents within ``radius`` (periodic distance), of
some per-agent values (headings as unit vectors, displacements, ...).
:func:`neighbour_sums` computes these sums exactly for every agent, with
fixed shapes so that it jits, vmaps over seeds and runs on CPU and GPU alike.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


def periodic_difference(a: jax.Array, b: jax.Array, period: float = 1.0) -> jax.Array:
    """``a - b`` wrapped to the nearest image, in ``[-period/2, period/2)``."""
    d = a - b
    return d - period * jnp.round(d / period)


@struct.dataclass
class Neighbourhood:
    """What every agent sees of its neighbours (agents within the radius).

    Attributes:
      sums: ``(N, V)``: ``sums[i] = sum_{j ~ i} values[j]``.
      counts: ``(N,)`` number of neighbours of ``i``.
      offsets: ``(N, 2)``: ``sum_{j ~ i} (x_j - x_i)``, periodic differences.
    """

    sums: jax.Array
    counts: jax.Array
    offsets: jax.Array


def _dense_neighbour_sums(positions, values, radius, period, include_self):
    """All pairs at once: ``O(N^2)`` work and memory (small swarms)."""
    delta = periodic_difference(positions[None, :, :], positions[:, None, :], period)  # (N, N, 2): j - i
    close = jnp.sum(delta * delta, axis=-1) < radius * radius
    if not include_self:
        close = close & ~jnp.eye(positions.shape[0], dtype=bool)
    weights = close.astype(values.dtype)
    return Neighbourhood(weights @ values, jnp.sum(weights, axis=1), jnp.einsum("ij,ijd->id", weights, delta))


def neighbour_sums(positions: jax.Array, values: jax.Array, radius: float, period: float = 1.0,
                   include_self: bool = True, method: str = "auto"):
    """Sum of ``values`` over every agent's neighbours.

    Args:
      positions: ``(N, 2)`` points on the torus ``[0, period)^2``.
      values: ``(N, V)`` per-agent values.
      radius: neighbours are the agents at periodic distance below ``radius``
        (a Python float, ``< period / 2``).
      include_self: whether an agent is its own neighbour.
      method: ``"dense"`` (all pairs), or ``"auto"``.

    Returns:
      a :class:`Neighbourhood`: the sums, the neighbour counts and the summed
      periodic offsets to the neighbours.
    """
    del method
    return _dense_neighbour_sums(positions, values, radius, period, include_self)
