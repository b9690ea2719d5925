"""Population classes of a graph: what a graphex mean-field model sees of it.

A mean-field model of agents on a graph replaces the graph by *classes* of
vertices and the expected number of neighbours each class has in every other
class. Two kinds of class (spec ``graphex.md``):

- **graphon-style** (``multinomial=False``): a bin of vertices with similar
  graphex labels (sampled graphs) or degrees (real networks). Its members see
  their neighbourhood as a deterministic mean field: ``rates[c] @ mu_class``
  expected neighbours per state, as in a graphon mean-field game. This is how
  the high-degree *core* is modelled, and how a plain graphon model treats
  everybody.
- **per degree** (``multinomial=True``): the periphery vertices of one exact
  degree ``k``. A member's ``k`` neighbours are random, their states
  ``Multinomial(k, mbar)`` with ``mbar = rates[c] @ mu_class / k``; the games
  take expectations over it in closed form.

:func:`hybrid_classes` builds the hybrid model of the paper (core bins plus
periphery degrees) and :func:`graphon_classes` the plain graphon model (bins
only), both from the graph's own edges: ``rates[c, c']`` is the number of
edges from class ``c`` to class ``c'`` divided by the size of ``c``, so the
predictions use exactly the connectivity of the graph they are compared with.
The core/periphery split is by degree (real networks) or by graphex label
(sampled graphs: low labels are the core).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mfgtools.errors import MFGError, as_choice, as_int
from mfgtools.graphs.graph import Graph
from mfgtools.graphs.networks import split_by_degree, split_by_label

SPLITS = ("degree", "label")


@dataclasses.dataclass(frozen=True, eq=False)
class PopulationClasses:
    """Classes of a graph's vertices and their neighbourhoods (module docstring).

    Attributes:
      mass: ``(C,)`` share of the vertices in each class (sums to 1).
      rates: ``(C, C)`` expected number of neighbours in class ``c'`` of a vertex in
        class ``c``; row sums are the classes' mean degrees.
      degree: ``(C,)`` mean degree of each class (exact for per-degree classes).
      multinomial: ``(C,)`` bool, True for per-degree (periphery) classes.
      names: ``C`` human-readable class names.
      vertex_class: ``(N,)`` int class of every vertex of :attr:`graph`.
      graph: the graph the classes were built from.
      model: ``"hybrid"`` or ``"graphon"``.
    """

    mass: np.ndarray
    rates: np.ndarray
    degree: np.ndarray
    multinomial: np.ndarray
    names: tuple
    vertex_class: np.ndarray
    graph: Graph
    model: str

    @property
    def n_classes(self) -> int:
        return int(self.mass.shape[0])

    @property
    def core_share(self) -> float:
        """Share of the vertices in graphon-style (core) classes."""
        return float(self.mass[~self.multinomial].sum())

    def describe(self) -> str:
        core = int((~self.multinomial).sum())
        return (
            f"{self.model} model of {self.graph.name}: {core} core bins ({self.core_share:.1%} of vertices), "
            f"{self.n_classes - core} periphery degrees"
        )


def _classes_from_assignment(graph: Graph, vertex_class: np.ndarray, multinomial: np.ndarray, names, model: str):
    """Masses and neighbour rates of a given assignment of vertices to classes (empty classes dropped)."""
    n_classes = len(names)
    counts = np.bincount(vertex_class, minlength=n_classes)
    used = counts > 0
    renumber = np.cumsum(used) - 1
    vertex_class = renumber[vertex_class]
    counts = counts[used]
    multinomial = np.asarray(multinomial, dtype=bool)[used]
    names = tuple(name for name, keep in zip(names, used) if keep)
    n_classes = len(names)
    source, target = graph.directed_pairs()
    pair = vertex_class[source].astype(np.int64) * n_classes + vertex_class[target]
    edges = np.bincount(pair, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    rates = edges / counts[:, None]
    degree = np.bincount(vertex_class, weights=graph.degree, minlength=n_classes) / counts
    return PopulationClasses(
        mass=counts / counts.sum(),
        rates=rates,
        degree=degree,
        multinomial=multinomial,
        names=names,
        vertex_class=vertex_class.astype(np.int32),
        graph=graph,
        model=model,
    )


def _log_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index of each value on ``n_bins`` log-spaced bins of ``1 + value`` over its range."""
    logs = np.log1p(values)
    low, high = float(logs.min()), float(logs.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.int64)
    edges = np.linspace(low, high, n_bins + 1)
    return np.clip(np.searchsorted(edges, logs, side="right") - 1, 0, n_bins - 1)


def _bin_names(values: np.ndarray, bins: np.ndarray, n_bins: int, what: str, prefix: str) -> list:
    names = []
    for b in range(n_bins):
        inside = values[bins == b]
        if inside.size == 0:
            names.append(f"{prefix} {b} (empty)")
        elif what == "degree":
            names.append(f"{prefix} {b}: degree {int(inside.min())}-{int(inside.max())}")
        else:
            names.append(f"{prefix} {b}: label {inside.min():.3g}-{inside.max():.3g}")
    return names


def _resolve_split(graph: Graph, split: str | None) -> str:
    """``"degree"`` or ``"label"`` (the default when the graph has labels), validated."""
    split = as_choice(split or ("label" if graph.labels is not None else "degree"), "split", SPLITS)
    if split == "label" and graph.labels is None:
        raise MFGError(
            f"split='label' needs a sampled graphex graph with labels; {graph.name!r} has none "
            "(use split='degree' for a real network)"
        )
    return split


def hybrid_classes(graph: Graph, k_max: int = 8, core_bins: int = 8, split: str | None = None) -> PopulationClasses:
    """The hybrid graphex model of ``graph``: core bins plus one class per periphery degree.

    Args:
      graph: the population's graph.
      k_max: periphery degree bound. With ``split="degree"`` the periphery is every
        vertex of degree ``<= k_max``. With ``split="label"`` (sampled graphs) the
        core is the lowest-label vertices, as many as have degree ``> k_max``, and
        every other vertex is periphery, in the class of its own exact degree.
      core_bins: number of core bins, log-spaced in degree (split by degree) or in
        ``1 + label`` (split by label).
      split: ``"degree"`` or ``"label"``; default: by label when the graph has labels.
    """
    k_max = as_int(k_max, "k_max", 0)
    core_bins = as_int(core_bins, "core_bins", 1)
    split = _resolve_split(graph, split)
    core = split_by_degree(graph, k_max)
    n_core = int(core.sum())
    if n_core == 0:
        raise MFGError(
            f"no vertex of {graph.name!r} has degree above k_max={k_max} (max degree "
            f"{int(graph.degree.max(initial=0))}): lower k_max so that the graph has a core"
        )
    if split == "label":  # the same number of vertices, the lowest labels
        core = split_by_label(graph, np.partition(graph.labels, n_core - 1)[n_core - 1])
    binned = graph.degree[core] if split == "degree" else graph.labels[core]
    bins = np.zeros(graph.n_vertices, dtype=np.int64)
    bins[core] = _log_bins(binned.astype(np.float64), core_bins)
    if split == "degree":
        bins[core] = core_bins - 1 - bins[core]  # bin 0 holds the highest degrees
    names = _bin_names(
        graph.degree[core] if split == "degree" else graph.labels[core], bins[core], core_bins, split, "core bin"
    )
    periphery_degrees = np.unique(graph.degree[~core])
    vertex_class = bins.copy()
    vertex_class[~core] = core_bins + np.searchsorted(periphery_degrees, graph.degree[~core])
    names += [f"degree {int(k)}" for k in periphery_degrees]
    multinomial = np.concatenate([np.zeros(core_bins, bool), np.ones(periphery_degrees.size, bool)])
    return _classes_from_assignment(graph, vertex_class, multinomial, names, "hybrid")


def graphon_classes(graph: Graph, bins: int = 16, split: str | None = None) -> PopulationClasses:
    """The plain graphon model of ``graph``: every vertex in one of ``bins`` graphon-style bins.

    Bins are log-spaced in degree (``split="degree"``) or in ``1 + label``
    (``split="label"``, the default for sampled graphs), over all vertices.
    """
    bins = as_int(bins, "bins", 1)
    split = _resolve_split(graph, split)
    values = graph.degree.astype(np.float64) if split == "degree" else graph.labels
    vertex_bin = _log_bins(values, bins)
    if split == "degree":
        vertex_bin = bins - 1 - vertex_bin
    names = _bin_names(values, vertex_bin, bins, split, "bin")
    return _classes_from_assignment(graph, vertex_bin, np.zeros(bins, bool), names, "graphon")
