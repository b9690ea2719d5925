"""Real networks from edge-list files, their degree statistics, and core/periphery splits.

A graphex mean-field game runs on a large sparse graph: either one sampled
from a graphex (:mod:`mfgtools.graphs.graphex`) or a real network read from
disk. This module reads the second kind. :func:`load_edge_list` accepts any
whitespace-separated edge-list text file of the shape SNAP, KONECT and most
network repositories publish:

* plain text or compressed (gzip, bzip2 or xz, recognised by the file's magic
  bytes, so a ``.txt`` that is really gzip, or a ``.gz`` that is really plain,
  both load);
* ``#`` and ``%`` comment lines and blank lines anywhere;
* two integer node ids per line; further columns (weights, timestamps, a
  trailing comment) are ignored and the lines carrying them counted;
* optionally a first line holding the counts ``N E`` instead of an edge
  (detected, see :func:`load_edge_list`).

The result is a simple undirected :class:`~mfgtools.graphs.graph.Graph` with
vertices ``0..N-1`` (``graph.node_ids`` keeps the file's ids) plus a
:class:`LoadReport` saying exactly what was dropped or merged on the way:
self-loops, duplicate lines, pairs listed in one or both directions. Parsing is
one pass of ``str.split`` per line and vectorised numpy afterwards; the Enron
email network (367,662 lines) loads in well under a second.

:func:`degree_statistics` summarises the degree sequence (mean, max, histogram,
a power-law tail exponent) and :func:`split_by_degree` / :func:`split_by_label`
split the vertices into a *core* of high-degree vertices, treated as a dense
graphon-style mean field, and a *periphery* of finite-degree vertices, whose
neighbourhoods stay local as the graph grows.
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import lzma
import math
import os
from pathlib import Path

import numpy as np

from mfgtools.errors import MFGError, as_choice, as_float, as_int
from mfgtools.graphs.graph import Graph
from mfgtools.graphs.graph import sorted_unique as _unique

__all__ = [
    "DegreeStatistics",
    "LoadReport",
    "degree_statistics",
    "load_edge_list",
    "load_network",
    "split_by_degree",
    "split_by_label",
]

_MAGIC = (
    (b"\x1f\x8b", "gzip", gzip.decompress),
    (b"BZh", "bzip2", bz2.decompress),
    (b"\xfd7zXZ\x00", "xz", lzma.decompress),
)
_DIRECTED_AS = ("undirected", "mutual")


@dataclasses.dataclass(frozen=True)
class LoadReport:
    """What :func:`load_edge_list` read from a file and what it did with it.

    Every edge line is exactly one of: a self-loop, a duplicate of an earlier
    line (same ordered pair), or the first listing of an ordered pair ``u v``.
    The distinct ordered pairs form the undirected pairs ``{u, v}``, each
    *reciprocal* (listed both as ``u v`` and ``v u``) or *one-way*, so
    ``edge_lines == self_loops + duplicate_lines + 2 * reciprocal_pairs + one_way_pairs``.

    Attributes:
      path: the file read.
      compression: ``"gzip"``, ``"bzip2"``, ``"xz"`` or None for plain text.
      data_lines: non-comment, non-blank lines, the header line included.
      edge_lines: data lines read as edges (``data_lines`` minus the header).
      comment_lines: lines starting with ``#`` or ``%``.
      blank_lines: empty or whitespace-only lines.
      header: ``(first, second)`` of a counts line taken as a header (for
        example ``(5242, 28980)``: nodes and edge lines), or None.
      self_loops: edge lines ``u u`` (dropped).
      duplicate_lines: edge lines repeating an earlier line's ordered pair (merged).
      reciprocal_pairs: unordered pairs listed in both directions.
      one_way_pairs: unordered pairs listed in one direction only.
      extra_column_lines: edge lines with more than two columns (extra columns ignored).
      directed_as: how one-way pairs were read: ``"undirected"`` (kept as
        edges) or ``"mutual"`` (dropped: an edge needs both directions).
      vertices: vertices of the returned graph.
      edges: undirected edges of the returned graph.
      isolated_vertices: vertices of degree 0 (ids seen only in self-loops, or
        only in one-way pairs under ``"mutual"``); kept in the graph unless
        ``keep_isolated=False``, in which case this counts those dropped.
      isolated_kept: whether the isolated vertices are in the graph.
      renumbered: whether the file's ids are not already ``0..N-1`` (large or
        64-bit ids, gaps): the graph's vertices are their ranks (``graph.node_ids``).
    """

    path: str
    compression: str | None
    data_lines: int
    edge_lines: int
    comment_lines: int
    blank_lines: int
    header: tuple[int, int] | None
    self_loops: int
    duplicate_lines: int
    reciprocal_pairs: int
    one_way_pairs: int
    extra_column_lines: int
    directed_as: str
    vertices: int
    edges: int
    isolated_vertices: int
    isolated_kept: bool = True
    renumbered: bool = False

    def changes(self) -> list[str]:
        """What reading changed of the file's lines, in words (empty when nothing was):
        self-loops dropped, duplicate lines merged, extra columns ignored, a
        header skipped, one-way pairs dropped, ids renumbered."""
        said = []
        if self.header is not None:
            said.append(f"counts line {self.header[0]} {self.header[1]} skipped")
        if self.self_loops:
            said.append(f"{self.self_loops:,} self-loop{'s' if self.self_loops != 1 else ''} dropped")
        if self.duplicate_lines:
            said.append(f"{self.duplicate_lines:,} duplicate line{'s' if self.duplicate_lines != 1 else ''} merged")
        if self.extra_column_lines:
            said.append(
                f"columns after the second ignored on {self.extra_column_lines:,} line"
                f"{'s' if self.extra_column_lines != 1 else ''}"
            )
        if self.one_way_pairs and self.directed_as == "mutual":
            said.append(f"{self.one_way_pairs:,} one-way pair{'s' if self.one_way_pairs != 1 else ''} dropped")
        if self.isolated_vertices and not self.isolated_kept:
            said.append(f"{self.isolated_vertices:,} isolated vertices dropped")
        if self.renumbered:
            said.append(f"node ids renumbered 0..{self.vertices - 1}")
        return said

    def __str__(self) -> str:
        header = "none" if self.header is None else f"{self.header[0]} {self.header[1]} (counts line, skipped)"
        isolated = f"{self.isolated_vertices:,} ({'kept' if self.isolated_kept else 'dropped'})"
        one_way = f"{self.one_way_pairs:,} ({'kept' if self.directed_as == 'undirected' else 'dropped'})"
        rows = [
            ("file", f"{self.path}" + (f" ({self.compression})" if self.compression else "")),
            ("lines", f"{self.data_lines:,} data, {self.comment_lines:,} comment, {self.blank_lines:,} blank"),
            ("header", header),
            ("edge lines", f"{self.edge_lines:,}"),
            ("self-loops", f"{self.self_loops:,} (dropped)"),
            ("duplicate lines", f"{self.duplicate_lines:,} (merged)"),
            ("reciprocal pairs", f"{self.reciprocal_pairs:,} (listed both ways, one edge each)"),
            ("one-way pairs", one_way),
            ("extra columns", f"{self.extra_column_lines:,} lines (ignored)"),
            ("vertices", f"{self.vertices:,}"),
            ("edges", f"{self.edges:,} undirected ({self.directed_as})"),
            ("isolated vertices", isolated),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _read_text(path: Path) -> tuple[str, str | None]:
    """The file's text, decompressed according to its magic bytes."""
    if not path.exists():
        raise MFGError(f"network file {str(path)!r} does not exist: check the path")
    if path.is_dir():
        raise MFGError(f"network file {str(path)!r} is a directory: give the edge-list file inside it")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise MFGError(f"cannot read network file {str(path)!r}: {error.strerror or error}") from None
    compression = None
    for magic, name, decompress in _MAGIC:
        if raw.startswith(magic):
            try:
                raw = decompress(raw)
            except (OSError, EOFError, ValueError, lzma.LZMAError) as error:
                raise MFGError(
                    f"network file {str(path)!r} looks {name}-compressed but cannot be "
                    f"decompressed ({error}): the file is truncated or corrupt"
                ) from None
            compression = name
            break
    if b"\x00" in raw:
        raise MFGError(
            f"network file {str(path)!r} is binary, not an edge-list text file (two integer node ids per line)"
        )
    try:
        return raw.decode("utf-8"), compression
    except UnicodeDecodeError as error:
        raise MFGError(
            f"network file {str(path)!r} is not UTF-8 text (byte {error.start}): an edge list must be plain text"
        ) from None


def _bad_line(path: Path, number: int, line: str, why: str) -> MFGError:
    shown = line.strip()
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return MFGError(
        f"{path.name} line {number}: {why}, got {shown!r}; each data line must hold two "
        "integer node ids (comment lines start with # or %)"
    )


def _header_matches(first: tuple[int, int], pairs: np.ndarray) -> bool:
    """Whether ``first`` reads as ``N E`` counts for the edge lines ``pairs`` (both must match).

    Node count: the distinct ids, or ``max id + 1`` (0-based ids with unlisted
    isolated vertices). Edge count: the lines, or the distinct unordered pairs
    with or without self-loops.
    """
    if pairs.shape[0] == 0:
        return False
    nodes, edge_count = first
    ids = _unique(pairs.ravel())
    if nodes not in (ids.size, int(ids[-1]) + 1):
        return False
    if edge_count == pairs.shape[0]:
        return True
    low, high = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    index_low, index_high = np.searchsorted(ids, low), np.searchsorted(ids, high)
    keys = _unique(index_low * np.int64(ids.size) + index_high)
    loops = int(np.count_nonzero(keys // ids.size == keys % ids.size))
    return edge_count in (keys.size, keys.size - loops)


def load_edge_list(
    path, *, header="auto", directed_as: str = "undirected", keep_isolated: bool = True, name: str | None = None
) -> tuple[Graph, LoadReport]:
    """Read an edge-list file into a simple undirected :class:`Graph` and a :class:`LoadReport`.

    Args:
      path: a text file (plain, gzip, bzip2 or xz; recognised by content, not
        suffix) with two whitespace-separated integer node ids per line. Lines
        starting with ``#`` or ``%`` and blank lines are skipped; columns after
        the second are ignored (and counted in the report).
      header: ``"auto"`` (default) takes the first data line as a counts line
        ``N E`` only when it matches the rest of the file on *both* counts:
        ``N`` equals the number of distinct node ids (or the largest id + 1)
        and ``E`` the number of remaining edge lines (or of distinct undirected
        pairs, with or without self-loops). A first line that is a real edge
        almost never matches both, so it is kept. ``True`` always skips the
        first data line (it must still be two integers), ``False`` never does.
      directed_as: how to read a file whose lines are directed pairs.
        ``"undirected"`` (default): ``u v`` and ``v u`` are the same edge, and a
        pair listed in either direction is an edge. ``"mutual"``: an edge only
        where both directions are listed (reciprocated contact).
      keep_isolated: ids that end up with no edge (seen only in self-loops, or
        only in one-way pairs under ``"mutual"``) are kept as isolated
        vertices by default, so the vertex set is every id in the file (as in
        networkx's ``read_edgelist``); ``False`` drops them.
      name: the graph's name; defaults to the file name.

    Returns:
      ``(graph, report)``. ``graph`` has vertices ``0..N-1`` in increasing
      order of the file's ids, ``graph.node_ids`` the ``(N,)`` original ids,
      ``graph.edges`` the ``(E, 2)`` undirected edges, no labels.

    Raises:
      MFGError: the file is missing, unreadable, binary or corrupt; it holds no
        edge lines; a data line has fewer than two columns, a non-integer or
        negative id (the message gives the line number and its content).
    """
    path = Path(os.fspath(path)).expanduser()
    if header != "auto" and not isinstance(header, bool):
        raise MFGError(f"header must be 'auto', True or False, got {header!r}")
    directed_as = as_choice(directed_as, "directed_as", _DIRECTED_AS)
    text, compression = _read_text(path)

    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the empty string after a final newline (or of an empty file) is not a line
    first_tokens, second_tokens, numbers = [], [], []
    comment_lines = blank_lines = extra_column_lines = 0
    for number, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            blank_lines += 1
            continue
        head = parts[0][0]
        if head == "#" or head == "%":
            comment_lines += 1
            continue
        if len(parts) < 2:
            raise _bad_line(path, number, line, "only one column")
        if len(parts) > 2:
            extra_column_lines += 1
        first_tokens.append(parts[0])
        second_tokens.append(parts[1])
        numbers.append(number)
    if not numbers:
        raise MFGError(
            f"network file {str(path)!r} has no edges: it is empty or holds only comments and "
            "blank lines; an edge list needs lines of two integer node ids"
        )

    try:
        pairs = np.stack([np.array(first_tokens, dtype=np.int64), np.array(second_tokens, dtype=np.int64)], axis=1)
    except (ValueError, OverflowError):
        for index, (a, b) in enumerate(zip(first_tokens, second_tokens)):
            for token in (a, b):
                try:
                    value = int(token)
                except ValueError:
                    raise _bad_line(
                        path, numbers[index], lines[numbers[index] - 1], f"node id {token!r} is not an integer"
                    ) from None
                if not -(2**63) <= value < 2**63:
                    raise _bad_line(
                        path,
                        numbers[index],
                        lines[numbers[index] - 1],
                        f"node id {token} is too large (ids must fit in 64 bits)",
                    ) from None
        raise  # pragma: no cover - every token parsed one by one
    del first_tokens, second_tokens
    negative = np.flatnonzero((pairs < 0).any(axis=1))
    if negative.size:
        number = numbers[int(negative[0])]
        raise _bad_line(path, number, lines[number - 1], "node ids must be non-negative integers")
    del lines

    found_header = None
    data_lines = pairs.shape[0]
    first = (int(pairs[0, 0]), int(pairs[0, 1]))
    if header is True or (header == "auto" and _header_matches(first, pairs[1:])):
        found_header = first
        pairs = pairs[1:]
        if pairs.shape[0] == 0:
            raise MFGError(f"network file {str(path)!r} has no edges after its header line {first[0]} {first[1]}")

    node_ids = _unique(pairs.ravel())
    inverse = np.searchsorted(node_ids, pairs)
    n = np.int64(node_ids.size)
    loop = inverse[:, 0] == inverse[:, 1]
    self_loops = int(np.count_nonzero(loop))
    ordered = _unique(inverse[~loop, 0] * n + inverse[~loop, 1])
    duplicate_lines = int(pairs.shape[0] - self_loops - ordered.size)
    source, target = ordered // n, ordered % n
    undirected, listed = _unique(np.minimum(source, target) * n + np.maximum(source, target), return_counts=True)
    reciprocal = listed == 2
    keys = undirected if directed_as == "undirected" else undirected[reciprocal]
    edges = np.stack([keys // n, keys % n], axis=1)
    graph = Graph.from_edges(edges, int(n), node_ids=node_ids, name=name or path.name)
    isolated = int(np.count_nonzero(graph.degree == 0))
    if isolated and not keep_isolated:
        graph = graph.subgraph(graph.degree > 0)
    report = LoadReport(
        path=str(path),
        compression=compression,
        data_lines=data_lines,
        edge_lines=int(pairs.shape[0]),
        comment_lines=comment_lines,
        blank_lines=blank_lines,
        header=found_header,
        self_loops=self_loops,
        duplicate_lines=duplicate_lines,
        reciprocal_pairs=int(np.count_nonzero(reciprocal)),
        one_way_pairs=int(np.count_nonzero(~reciprocal)),
        extra_column_lines=extra_column_lines,
        directed_as=directed_as,
        vertices=graph.n_vertices,
        edges=graph.n_edges,
        isolated_vertices=isolated,
        isolated_kept=keep_isolated,
        renumbered=bool(node_ids.size and (node_ids[0] != 0 or node_ids[-1] != node_ids.size - 1)),
    )
    return graph, report


def load_network(path, **options) -> Graph:
    """The :class:`Graph` of an edge-list file; ``options`` as for :func:`load_edge_list`."""
    return load_edge_list(path, **options)[0]


def _check_graph(graph) -> Graph:
    if not isinstance(graph, Graph):
        raise MFGError(
            f"expected an mfgtools Graph (from load_network or a graphex sampler), got {type(graph).__name__}"
        )
    return graph


def _fit_tail_exponent(degree, k_min: int = 5) -> tuple[float, int]:
    """``(alpha, n)``: :func:`~mfgtools.graphs.graphex.fit_tail_exponent` over the ``n`` degrees
    ``>= k_min``, or NaN when fewer than 10 reach ``k_min`` (too few for a fit)."""
    from mfgtools.graphs.graphex import fit_tail_exponent

    degree = np.asarray(degree)
    tail = int((degree >= k_min).sum())
    return (fit_tail_exponent(degree, k_min) if tail >= 10 else float("nan")), tail


@dataclasses.dataclass(frozen=True)
class DegreeStatistics:
    """Summary of a graph's degree sequence (see :func:`degree_statistics`).

    Attributes:
      vertices: ``N``.
      edges: undirected edges ``E``.
      mean_degree: ``2E / N``.
      max_degree: largest degree.
      histogram: ``(max_degree + 1,)`` int64, ``histogram[k]`` = vertices of degree ``k``.
      tail_exponent: fitted power-law exponent ``alpha`` of ``P(degree = k) ~ k^-alpha``
        for ``k >= k_min`` (NaN when fewer than two vertices reach ``k_min``).
      k_min: where the tail fit starts.
      tail_vertices: vertices with degree ``>= k_min`` (the fit's sample size).
    """

    vertices: int
    edges: int
    mean_degree: float
    max_degree: int
    histogram: np.ndarray
    tail_exponent: float
    k_min: int
    tail_vertices: int

    def __str__(self) -> str:
        alpha = "n/a" if math.isnan(self.tail_exponent) else f"{self.tail_exponent:.2f}"
        return (
            f"{self.vertices:,} vertices, {self.edges:,} edges, mean degree {self.mean_degree:.2f}, "
            f"max degree {self.max_degree:,}, tail exponent {alpha} "
            f"(k >= {self.k_min}, {self.tail_vertices:,} vertices)"
        )


def degree_statistics(graph: Graph, k_min: int = 5) -> DegreeStatistics:
    """Degree summary of ``graph``: counts, mean and max degree, histogram, power-law tail exponent.

    A sparse graphex graph has a heavy-tailed degree distribution; the tail
    exponent (discrete MLE approximation over degrees ``>= k_min``) is the
    number to compare between a real network and a sampled one. ``k_min`` must
    be at least 1.
    """
    graph = _check_graph(graph)
    k_min = as_int(k_min, "k_min", minimum=1)
    degree = graph.degree
    alpha, tail = _fit_tail_exponent(degree, k_min)
    return DegreeStatistics(
        vertices=graph.n_vertices,
        edges=graph.n_edges,
        mean_degree=2.0 * graph.n_edges / graph.n_vertices if graph.n_vertices else 0.0,
        max_degree=int(degree.max(initial=0)),
        histogram=np.bincount(degree, minlength=1).astype(np.int64),
        tail_exponent=alpha,
        k_min=k_min,
        tail_vertices=tail,
    )


def split_by_degree(graph: Graph, k_max: int) -> np.ndarray:
    """``(N,)`` boolean mask of the *core*: vertices with degree ``> k_max``.

    A graphex graph has two kinds of vertices. The few high-degree hubs (the
    *core*) see a vanishing fraction of everyone, which in aggregate behaves
    like a dense graphon: a core agent is coupled to a mean field. The many
    finite-degree vertices (the *periphery*, ``~mask``) keep a bounded
    neighbourhood however large the graph grows, so their interaction stays
    local. ``k_max`` (a non-negative integer) is the largest periphery degree.
    """
    graph = _check_graph(graph)
    k_max = as_int(k_max, "k_max", minimum=0)
    return graph.degree > k_max


def split_by_label(graph: Graph, alpha: float) -> np.ndarray:
    """``(N,)`` boolean mask of the *core* of a sampled graphex graph: vertices with label ``<= alpha``.

    In a graphex, a vertex's label (its position on ``[0, inf)``) sets its
    expected degree, which decreases with the label: low labels are the
    high-degree core treated as a graphon-style mean field, high labels the
    finite-degree periphery (see :func:`split_by_degree`). ``alpha`` is the
    (finite, non-negative) label cut-off. Only sampled graphs carry labels; for
    a loaded network use :func:`split_by_degree`.
    """
    graph = _check_graph(graph)
    if graph.labels is None:
        raise MFGError(
            f"graph {graph.name!r} has no graphex labels (only sampled graphs do): "
            "split a loaded network with split_by_degree(graph, k_max) instead"
        )
    alpha = as_float(alpha, "alpha", low=0.0)
    return graph.labels <= alpha
