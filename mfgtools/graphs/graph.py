"""A simple undirected graph as compact numpy arrays.

:class:`Graph` is what the graphex sampler and the edge-list loader return and
what the finite-graph simulation runs on: vertices ``0..N-1``, each undirected
edge stored once as ``edges[e] = (i, j)`` with ``i < j`` (no self-loops, no
duplicates), and the symmetric adjacency in CSR form (``indptr``, ``indices``)
so neighbour sums are one ``segment_sum`` over ``2E`` directed entries. Networkx
is an export (:meth:`Graph.to_networkx`), never the working representation:
it costs about a kilobyte per edge.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mfgtools.errors import MFGError


def sorted_unique(values: np.ndarray, return_counts: bool = False):
    """Sorted distinct values of a 1-D int array (and their counts), by sort and compare.

    Faster than ``np.unique`` on numpy 2.x, whose hash-based path takes about
    0.1 s per call on a few hundred thousand int64 keys.
    """
    values = np.sort(values)
    first = np.ones(values.size, dtype=bool)
    np.not_equal(values[1:], values[:-1], out=first[1:])
    distinct = values[first]
    if not return_counts:
        return distinct
    return distinct, np.diff(np.append(np.flatnonzero(first), values.size))


@dataclasses.dataclass(frozen=True, eq=False)
class Graph:
    """An undirected simple graph on vertices ``0..N-1``.

    Attributes:
      n_vertices: ``N``.
      edges: ``(E, 2)`` int64, each edge once with ``edges[:, 0] < edges[:, 1]``,
        sorted lexicographically.
      indptr: ``(N + 1,)`` int64 CSR row pointers: the neighbours of ``v`` are
        ``indices[indptr[v]:indptr[v + 1]]`` (sorted).
      indices: ``(2E,)`` int64 CSR column indices.
      degree: ``(N,)`` int64.
      node_ids: ``(N,)`` int64 original ids of the vertices (file ids for a
        loaded network, ``0..N-1`` for a sampled one).
      labels: ``(N,)`` float64 graphex labels for a sampled graph, else None.
      name: a short description (file name, or the graphex and its size).
    """

    n_vertices: int
    edges: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    degree: np.ndarray
    node_ids: np.ndarray
    labels: np.ndarray | None = None
    name: str = "graph"

    @classmethod
    def from_edges(
        cls, edges, n_vertices: int | None = None, *, node_ids=None, labels=None, name: str = "graph"
    ) -> Graph:
        """Build from any ``(E, 2)`` integer array of vertex pairs in ``0..N-1``.

        Self-loops are dropped and both orientations of a pair are merged, so
        the result is simple and undirected (the loader reports what it dropped
        before calling this).
        """
        edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        if n_vertices is None:
            n_vertices = int(edges.max()) + 1 if edges.size else 0
        if edges.size and (edges.min() < 0 or edges.max() >= n_vertices):
            raise MFGError(f"edge endpoints must lie in 0..{n_vertices - 1}, got {edges.min()}..{edges.max()}")
        low = np.minimum(edges[:, 0], edges[:, 1])
        high = np.maximum(edges[:, 0], edges[:, 1])
        keep = low != high
        key = sorted_unique(low[keep] * np.int64(n_vertices) + high[keep])
        low, high = key // n_vertices, key % n_vertices
        unique = np.stack([low, high], axis=1)
        # both orientations, sorted by (source, target) through one int64 key (faster than lexsort)
        directed = np.sort(np.concatenate([key, high * np.int64(n_vertices) + low]))
        source, target = directed // n_vertices, directed % n_vertices
        degree = np.bincount(source, minlength=n_vertices).astype(np.int64)
        indptr = np.concatenate([[0], np.cumsum(degree)]).astype(np.int64)
        if node_ids is None:
            node_ids = np.arange(n_vertices, dtype=np.int64)
        node_ids = np.asarray(node_ids, dtype=np.int64)
        if node_ids.shape != (n_vertices,):
            raise MFGError(f"node_ids must have one id per vertex ({n_vertices}), got shape {node_ids.shape}")
        if labels is not None:
            labels = np.asarray(labels, dtype=np.float64)
            if labels.shape != (n_vertices,):
                raise MFGError(f"labels must have one value per vertex ({n_vertices}), got shape {labels.shape}")
        return cls(
            n_vertices=int(n_vertices),
            edges=unique,
            indptr=indptr,
            indices=target,
            degree=degree,
            node_ids=node_ids,
            labels=labels,
            name=name,
        )

    @property
    def n_edges(self) -> int:
        """Number of undirected edges ``E``."""
        return int(self.edges.shape[0])

    def directed_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(source, target)``, each ``(2E,)`` int32, sorted by source: every edge both ways.

        ``segment_sum(values[target], source, N)`` sums a per-vertex quantity
        over each vertex's neighbours.
        """
        source = np.repeat(np.arange(self.n_vertices, dtype=np.int32), np.diff(self.indptr))
        return source, self.indices.astype(np.int32)

    def neighbours(self, vertex: int) -> np.ndarray:
        """The sorted neighbours of ``vertex``."""
        return self.indices[self.indptr[vertex] : self.indptr[vertex + 1]]

    def subgraph(self, keep) -> Graph:
        """The graph induced on the vertices where the boolean mask ``keep`` holds, renumbered."""
        keep = np.asarray(keep, dtype=bool)
        new_index = np.full(self.n_vertices, -1, dtype=np.int64)
        new_index[keep] = np.arange(int(keep.sum()))
        both = keep[self.edges[:, 0]] & keep[self.edges[:, 1]]
        return Graph.from_edges(
            new_index[self.edges[both]],
            int(keep.sum()),
            node_ids=self.node_ids[keep],
            labels=None if self.labels is None else self.labels[keep],
            name=self.name,
        )

    def to_networkx(self):
        """The graph as a ``networkx.Graph`` whose nodes are the original ids (with ``label`` if sampled)."""
        import networkx as nx

        graph = nx.Graph(name=self.name)
        if self.labels is None:
            graph.add_nodes_from(self.node_ids.tolist())
        else:
            graph.add_nodes_from(
                (int(node), {"label": float(label)}) for node, label in zip(self.node_ids, self.labels)
            )
        graph.add_edges_from(self.node_ids[self.edges].tolist())
        return graph

    def __repr__(self) -> str:
        return (
            f"Graph({self.name!r}, {self.n_vertices} vertices, {self.n_edges} edges, max degree "
            f"{int(self.degree.max(initial=0))})"
        )
