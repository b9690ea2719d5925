"""Graph structures agents move on: lattices (grids, tori, rings) for now.

The graphex tools for sparse populations live here too once they exist.
"""

from mfgtools.graphs.lattice import grid_moves, ring_moves

__all__ = ["grid_moves", "ring_moves"]
