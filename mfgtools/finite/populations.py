"""Multi-population finite games: ``P`` populations as one finite game on the product space.

A game of ``P`` populations on ``S_p`` states each is a :class:`~mfgtools.finite.game.FiniteGame`
on the states ``(p, s)``, numbered ``p * S_p + s`` (``S = P * S_p`` in all):

- transitions never change population (the fan-out table is block diagonal);
- the initial distribution puts mass ``1/P`` on each population's block, each
  block ``mu0_p / P`` with ``mu0_p`` that population's own initial distribution,
  so flows stay probability vectors over ``(population, state)`` (mass is
  conserved: ``1/P`` per block at every step; simulators, datasets and every
  check of a distribution work unchanged);
- the reward of block ``p`` reads every population's own distribution,
  ``P * mu.reshape(P, S_p)`` (:meth:`MultiPopulationGame.densities`);
- a policy ``(T, S, A)`` is one policy per population (rows of block ``p``).

Exploitability is OpenSpiel's NashConv: the sum over populations of each
population's best-response gain from its own initial distribution,
``sum_p sum_s mu0_p(s) (V*_p(s) - V^pi_p(s))``, that is ``P`` times the
``mu0``-weighted gap of the product game (:func:`mfgtools.finite.kernels.gap_at_start`
applies the factor ``game.populations``). So every finite-horizon solver runs
on these games unchanged: one backward pass evaluates and best-responds for
all populations at once, since no value crosses a block.

:meth:`FiniteGame.population_policies` and :meth:`FiniteGame.population_flows`
split arrays into ``(P, ...)``; results carry a ``population`` coordinate.
"""

from __future__ import annotations

import numpy as np
from flax import struct

from mfgtools.errors import MFGError
from mfgtools.finite.game import FiniteGame


@struct.dataclass(kw_only=True)
class MultiPopulationGame(FiniteGame):
    """A finite game of ``populations`` populations on the product space (see the module docstring).

    Attributes (besides :class:`FiniteGame`'s):
      populations: ``P``.
      population_labels: a name per population (default ``"0" .. "P-1"``).

    ``grid_shape`` is one population's ``(H, W)`` (``S = P H W``); :meth:`to_grid`
    turns the state axis into ``(P, H, W)``.
    """

    populations: int = struct.field(pytree_node=False)
    population_labels: tuple | None = struct.field(pytree_node=False, default=None)

    kind = "multi-population"

    def __post_init__(self):
        super().__post_init__()
        if self.n_states % self.populations:
            raise MFGError(
                f"game {self.name!r}: {self.n_states} states do not split into {self.populations} populations"
            )

    @property
    def population_names(self) -> tuple[str, ...]:
        return self.population_labels or tuple(str(p) for p in range(self.populations))

    def densities(self, mu):
        """Every population's own distribution ``(P, S_p)`` from the product flow ``mu_t`` ``(S,)``."""
        return self.populations * mu.reshape(self.populations, self.states_per_population)

    def to_grid(self, x):
        """Reshape the state axis of ``x`` into ``(P, H, W)``: ``(T+1, S) -> (T+1, P, H, W)``."""
        if self.grid_shape is None:
            raise MFGError(f"game {self.name!r} is not a grid game: it has no grid view")
        shape = np.shape(x)
        axes = [axis for axis in (len(shape) - 1, len(shape) - 2) if axis >= 0 and shape[axis] == self.n_states]
        if not axes:
            raise MFGError(f"no state axis of length {self.n_states} in an array of shape {shape}")
        axis = axes[0]
        return x.reshape(shape[:axis] + (self.populations,) + tuple(self.grid_shape) + shape[axis + 1 :])

    def from_grid(self, x):
        """Inverse of :meth:`to_grid`: merge the ``(P, H, W)`` axes into ``S``."""
        if self.grid_shape is None:
            raise MFGError(f"game {self.name!r} is not a grid game: it has no grid view")
        block = (self.populations,) + tuple(self.grid_shape)
        shape = np.shape(x)
        for axis in range(len(shape) - 3, -1, -1):
            if shape[axis : axis + 3] == block:
                return x.reshape(shape[:axis] + (self.n_states,) + shape[axis + 3 :])
        raise MFGError(f"no (P, H, W) = {block} axes found in an array of shape {shape}")

    def describe(self) -> str:
        return super().describe() + f", {self.populations} populations of {self.states_per_population} states"


def block_tables(next_cell, prob, populations: int):
    """Block-diagonal fan-out tables of ``P`` populations that move alike.

    Args:
      next_cell: ``(S_p, A, K)`` int successors within one population.
      prob: ``(S_p, A, K)`` their probabilities.
      populations: ``P``.

    Returns:
      ``(next_state, prob)`` ``(P S_p, A, K)``: state ``p S_p + s`` moves to ``p S_p + next_cell[s]``.
    """
    next_cell = np.asarray(next_cell, dtype=np.int64)
    cells = next_cell.shape[0]
    offset = (np.arange(populations) * cells)[:, None, None, None]
    next_state = (next_cell[None] + offset).reshape((populations * cells,) + next_cell.shape[1:])
    return next_state, np.tile(np.asarray(prob, dtype=np.float64), (populations, 1, 1))
