"""Graphs agents live on: lattices (grids, tori, rings) and sparse populations.

- :mod:`~mfgtools.graphs.lattice`: move tables of grid and ring games;
- :mod:`~mfgtools.graphs.graph`: :class:`Graph`, an undirected simple graph as compact arrays;
- :mod:`~mfgtools.graphs.graphex`: graphexes, their sampling and degree theory;
- :mod:`~mfgtools.graphs.networks`: edge-list files of real networks, degree statistics;
- :mod:`~mfgtools.graphs.structure`: core/periphery classes of a graph for the graphex games.
"""

from mfgtools.graphs.graph import Graph
from mfgtools.graphs.lattice import grid_moves, ring_moves

__all__ = ["Graph", "grid_moves", "ring_moves"]
