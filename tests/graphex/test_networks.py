"""Edge-list loading, degree statistics and core/periphery splits (mfgtools.graphs.networks)."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import math
import time

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfgtools.errors import MFGError
from mfgtools.graphs.graph import Graph
from mfgtools.graphs.networks import (
    DegreeStatistics,
    LoadReport,
    _fit_tail_exponent,
    degree_statistics,
    load_edge_list,
    load_network,
    split_by_degree,
    split_by_label,
)


def write(path, text: str, compress=None):
    data = text.encode()
    if compress == "gzip":
        data = gzip.compress(data)
    elif compress == "bzip2":
        data = bz2.compress(data)
    path.write_bytes(data)
    return path


def edge_set(graph: Graph) -> set[frozenset]:
    return {frozenset(pair) for pair in graph.node_ids[graph.edges].tolist()}


SMALL = """# a comment
% another comment style

10 20
20 30 1.5 1999-01-01
30 10

20 10
40 40
50 40
50 40
"""


# ---------------------------------------------------------------- file formats


@pytest.mark.parametrize(
    "compress, suffix", [(None, ".txt"), ("gzip", ".txt.gz"), ("gzip", ".txt"), ("bzip2", ".edges"), (None, ".gz")]
)
def test_plain_and_compressed_files_load_the_same(tmp_path, compress, suffix):
    graph, report = load_edge_list(write(tmp_path / f"net{suffix}", SMALL, compress))
    assert report.compression == compress
    assert edge_set(graph) == {frozenset(p) for p in [(10, 20), (20, 30), (10, 30), (40, 50)]}
    assert graph.node_ids.tolist() == [10, 20, 30, 40, 50]
    assert graph.n_vertices == 5 and graph.name == f"net{suffix}"
    assert graph.edges.dtype == np.int64 and graph.edges.shape == (4, 2)


def test_report_counts_every_kind_of_line(tmp_path):
    graph, report = load_edge_list(write(tmp_path / "net.txt", SMALL))
    assert isinstance(report, LoadReport)
    assert report.comment_lines == 2
    assert report.blank_lines == 2
    assert report.data_lines == report.edge_lines == 7
    assert report.header is None
    assert report.self_loops == 1
    assert report.duplicate_lines == 1  # the second "50 40"
    assert report.reciprocal_pairs == 1  # 10 20 and 20 10
    assert report.one_way_pairs == 3  # 20-30, 30-10, 50-40
    assert report.extra_column_lines == 1
    assert report.vertices == 5 and report.edges == 4
    assert report.isolated_vertices == 0  # 40 is in a self-loop but also has an edge
    assert (
        report.edge_lines
        == report.self_loops + report.duplicate_lines + 2 * report.reciprocal_pairs + report.one_way_pairs
    )
    text = str(report)
    for word in (
        "net.txt",
        "self-loops",
        "duplicate lines",
        "reciprocal pairs",
        "one-way pairs",
        "extra columns",
        "vertices",
        "isolated vertices",
    ):
        assert word in text
    assert len(text.splitlines()) >= 10
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.edges = 0


def test_windows_line_endings_and_tabs(tmp_path):
    graph, report = load_edge_list(write(tmp_path / "net.txt", "1\t2\r\n2\t3\r\n# c\r\n\r\n"))
    assert edge_set(graph) == {frozenset((1, 2)), frozenset((2, 3))}
    assert report.comment_lines == 1 and report.blank_lines == 1 and report.extra_column_lines == 0


def test_vertex_only_in_a_self_loop_is_kept_isolated_or_dropped(tmp_path):
    path = write(tmp_path / "net.txt", "1 2\n2 3\n7 7\n")
    graph, report = load_edge_list(path)
    assert graph.node_ids.tolist() == [1, 2, 3, 7]
    assert report.isolated_vertices == 1 and report.isolated_kept
    assert graph.degree[graph.node_ids.tolist().index(7)] == 0
    graph, report = load_edge_list(path, keep_isolated=False)
    assert graph.node_ids.tolist() == [1, 2, 3] and report.vertices == 3
    assert report.isolated_vertices == 1 and not report.isolated_kept
    assert "dropped" in str(report).splitlines()[-1]


def test_mutual_keeps_only_pairs_listed_both_ways(tmp_path):
    path = write(tmp_path / "net.txt", "1 2\n2 1\n2 3\n3 4\n4 3\n")
    graph, report = load_edge_list(path, directed_as="mutual")
    assert edge_set(graph) == {frozenset((1, 2)), frozenset((3, 4))}
    assert report.reciprocal_pairs == 2 and report.one_way_pairs == 1 and report.isolated_vertices == 0
    assert edge_set(load_network(path)) == {frozenset((1, 2)), frozenset((2, 3)), frozenset((3, 4))}
    graph, report = load_edge_list(write(tmp_path / "one_way.txt", "1 2\n2 3\n3 2\n"), directed_as="mutual")
    assert report.isolated_vertices == 1 and graph.n_vertices == 3


def test_huge_ids_relabelled_and_kept(tmp_path):
    big = 2**62
    graph = load_network(write(tmp_path / "net.txt", f"{big} 5\n5 {big + 1}\n"))
    assert graph.node_ids.tolist() == [5, big, big + 1]
    assert graph.edges.tolist() == [[0, 1], [0, 2]]


# ---------------------------------------------------------------- header detection


def test_counts_header_detected(tmp_path):
    # nodes 1..4 (4 distinct), 6 edge lines: "4 6" is a counts line
    text = "4 6\n1 2\n2 1\n2 3\n3 2\n3 4\n4 3\n"
    graph, report = load_edge_list(write(tmp_path / "net.txt", text))
    assert report.header == (4, 6) and report.data_lines == 7 and report.edge_lines == 6
    assert edge_set(graph) == {frozenset((1, 2)), frozenset((2, 3)), frozenset((3, 4))}
    assert "4 6" in str(report)


@pytest.mark.parametrize(
    "text, edges",
    [
        ("# c\n3 3\n0 1\n1 2\n2 0\n", 3),  # after a comment: the first *data* line
        ("4 3\n1 2\n2 3\n3 4\n", 3),  # 4 distinct nodes, 3 lines
        ("6 3\n0 1\n3 4\n4 5\n", 3),  # 0-based: max id + 1 = 6 nodes (2 unlisted)
        ("3 3\n0 1\n1 0\n1 2\n2 1\n2 0\n0 2\n", 3),  # 3 undirected pairs, 6 lines
        ("3 2\n0 1\n1 0\n1 2\n2 1\n2 2\n", 2),  # 2 pairs once self-loops are left out
    ],
)
def test_other_counts_headers_detected(tmp_path, text, edges):
    graph, report = load_edge_list(write(tmp_path / "net.txt", text))
    first = tuple(int(token) for token in text.replace("# c", "").split()[:2])
    assert report.header == first
    assert report.edge_lines == report.data_lines - 1 and graph.n_edges == edges


@pytest.mark.parametrize(
    "text",
    [
        "1 2\n2 3\n3 1\n",  # first line is a real edge: 3 nodes, 2 lines after it
        "5 9\n1 2\n2 3\n",  # counts do not match the rest
        "3 7\n1 2\n2 3\n3 1\n",  # nodes match but edges do not
        "9 3\n1 2\n2 3\n3 1\n",  # edges match but nodes do not
        "1 2\n",  # a single edge is an edge
    ],
)
def test_real_first_edge_not_taken_as_header(tmp_path, text):
    graph, report = load_edge_list(write(tmp_path / "net.txt", text))
    assert report.header is None
    first = tuple(int(token) for token in text.split()[:2])
    assert frozenset(first) in edge_set(graph)


def test_header_forced_on_and_off(tmp_path):
    path = write(tmp_path / "net.txt", "4 6\n1 2\n2 1\n2 3\n3 2\n3 4\n4 3\n")
    graph, report = load_edge_list(path, header=False)
    assert report.header is None and frozenset((4, 6)) in edge_set(graph)
    path = write(tmp_path / "net2.txt", "1 2\n2 3\n3 1\n")
    graph, report = load_edge_list(path, header=True)
    assert report.header == (1, 2) and frozenset((1, 2)) not in edge_set(graph)
    with pytest.raises(MFGError, match="header"):
        load_edge_list(path, header="yes")
    with pytest.raises(MFGError, match="no edges after its header"):
        load_edge_list(write(tmp_path / "only.txt", "1 2\n"), header=True)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "text, line, why",
    [
        ("1 2\n# c\n3 x\n", 3, "not an integer"),
        ("1 2\n3.5 4\n", 2, "not an integer"),
        ("1 2\n\n7\n", 3, "one column"),
        ("1 2\n2 -3\n", 2, "non-negative"),
        ("1 2\n2 99999999999999999999999\n", 2, "too large"),
    ],
)
def test_bad_lines_name_the_line_and_its_content(tmp_path, text, line, why):
    with pytest.raises(MFGError, match=f"line {line}: .*{why}") as error:
        load_edge_list(write(tmp_path / "bad.txt", text))
    assert repr(text.split("\n")[line - 1].strip()) in str(error.value)


@pytest.mark.parametrize("text", ["", "\n\n", "# only\n% comments\n"])
def test_empty_file_is_an_error(tmp_path, text):
    with pytest.raises(MFGError, match="no edges"):
        load_edge_list(write(tmp_path / "empty.txt", text))


def test_missing_directory_binary_and_corrupt_files(tmp_path):
    with pytest.raises(MFGError, match="does not exist"):
        load_edge_list(tmp_path / "nope.txt")
    with pytest.raises(MFGError, match="directory"):
        load_edge_list(tmp_path)
    (tmp_path / "bin.dat").write_bytes(b"\x00\x01\x02\x03")
    with pytest.raises(MFGError, match="binary"):
        load_edge_list(tmp_path / "bin.dat")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(b"1 2\n" * 100)[:20])
    with pytest.raises(MFGError, match="gzip"):
        load_edge_list(tmp_path / "cut.gz")
    (tmp_path / "latin.txt").write_bytes(b"1 2\n\xe9 3\n")
    with pytest.raises(MFGError, match="UTF-8"):
        load_edge_list(tmp_path / "latin.txt")
    with pytest.raises(MFGError, match="directed_as"):
        load_edge_list(write(tmp_path / "ok.txt", "1 2\n"), directed_as="both")


# ---------------------------------------------------------------- agreement with networkx


def test_agrees_with_networkx_read_edgelist(tmp_path):
    rng = np.random.default_rng(3)
    pairs = rng.integers(0, 60, size=(400, 2))
    lines = [f"{a} {b}" for a, b in pairs]
    path = write(tmp_path / "net.txt", "# header comment\n" + "\n".join(lines) + "\n")
    graph, report = load_edge_list(path, header=False)
    reference = nx.read_edgelist(path, nodetype=int, data=False)
    reference.remove_edges_from(list(nx.selfloop_edges(reference)))
    assert set(graph.node_ids.tolist()) == set(reference.nodes)
    assert edge_set(graph) == {frozenset(edge) for edge in reference.edges}
    exported = graph.to_networkx()
    assert set(exported.nodes) == set(reference.nodes)
    assert {frozenset(edge) for edge in exported.edges} == {frozenset(edge) for edge in reference.edges}
    assert report.self_loops == int(np.sum(pairs[:, 0] == pairs[:, 1]))


edge_lists = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(pairs=edge_lists, gz=st.booleans(), comments=st.booleans())
def test_random_edge_lists_round_trip(tmp_path_factory, pairs, gz, comments):
    lines = []
    for index, (a, b) in enumerate(pairs):
        if comments and index % 3 == 0:
            lines.append("# comment")
        lines.append(f"{a}\t{b}" if index % 2 else f"{a} {b} 1.0")
    path = write(tmp_path_factory.mktemp("h") / "net.txt", "\n".join(lines) + "\n", "gzip" if gz else None)
    expected_edges = {frozenset(p) for p in pairs if p[0] != p[1]}
    expected_nodes = {v for p in pairs for v in p}

    graph, report = load_edge_list(path, header=False)
    assert edge_set(graph) == expected_edges
    assert set(graph.node_ids.tolist()) == expected_nodes
    assert report.edges == len(expected_edges) == report.reciprocal_pairs + report.one_way_pairs
    assert report.self_loops == sum(a == b for a, b in pairs)
    assert report.duplicate_lines == len(pairs) - report.self_loops - len({p for p in pairs if p[0] != p[1]})
    assert np.all(graph.edges[:, 0] < graph.edges[:, 1])
    assert graph.degree.sum() == 2 * graph.n_edges

    # with header detection on, either nothing changes or the first line really is a counts line
    auto_graph, auto_report = load_edge_list(path)
    if auto_report.header is None:
        assert edge_set(auto_graph) == expected_edges
    else:
        rest = pairs[1:]
        nodes = {v for p in rest for v in p}
        assert auto_report.header[0] in (len(nodes), max(nodes) + 1)
        assert edge_set(auto_graph) == {frozenset(p) for p in rest if p[0] != p[1]}


# ---------------------------------------------------------------- degree statistics and splits


def star_and_path() -> Graph:
    # vertex 0 is a hub with 6 leaves; 7-8-9 is a path
    edges = [(0, i) for i in range(1, 7)] + [(7, 8), (8, 9)]
    return Graph.from_edges(edges, 10)


def test_degree_statistics():
    stats = degree_statistics(star_and_path(), k_min=2)
    assert isinstance(stats, DegreeStatistics)
    assert stats.vertices == 10 and stats.edges == 8 and stats.max_degree == 6
    assert stats.mean_degree == pytest.approx(1.6)
    assert stats.histogram.tolist() == [0, 8, 1, 0, 0, 0, 1]
    assert stats.histogram.sum() == stats.vertices
    assert stats.tail_vertices == 2
    assert math.isnan(stats.tail_exponent)  # two degrees >= 2: too few for a fit (10 needed)
    assert "max degree 6" in str(stats)
    # twelve stars of degrees 2..13: the fit over degrees >= 2 is Clauset et al.'s closed form
    stars = [(100 * s, 100 * s + leaf) for s in range(12) for leaf in range(1, s + 3)]
    many = degree_statistics(Graph.from_edges(stars), k_min=2)
    assert many.tail_vertices == 12
    expected = 1 + 12 / sum(math.log(k / 1.5) for k in range(2, 14))
    assert many.tail_exponent == pytest.approx(expected)
    with pytest.raises(MFGError, match="k_min"):
        degree_statistics(star_and_path(), k_min=0)
    with pytest.raises(MFGError, match="Graph"):
        degree_statistics(nx.path_graph(3))


def test_tail_exponent_recovers_a_power_law():
    rng = np.random.default_rng(0)
    alpha, k_min = 2.5, 5
    # continuous Pareto rounded to integers approximates a discrete power law with exponent alpha
    degrees = np.floor((k_min - 0.5) * (1 - rng.random(200_000)) ** (-1 / (alpha - 1)) + 0.5)
    estimate, n = _fit_tail_exponent(degrees, k_min)
    assert n == np.count_nonzero(degrees >= k_min)
    assert estimate == pytest.approx(alpha, abs=0.1)


def test_split_by_degree():
    graph = star_and_path()
    core = split_by_degree(graph, 2)
    assert core.dtype == bool and core.shape == (10,)
    assert np.flatnonzero(core).tolist() == [0]
    assert split_by_degree(graph, 0).sum() == 10
    assert not split_by_degree(graph, 6).any()
    for bad in (-1, 1.5, "x"):
        with pytest.raises(MFGError, match="k_max"):
            split_by_degree(graph, bad)


def test_split_by_label():
    labels = np.array([0.1, 2.0, 0.5, 3.0, 0.7, 1.0, 9.0, 0.2, 4.0, 5.0])
    graph = Graph.from_edges(star_and_path().edges, 10, labels=labels)
    core = split_by_label(graph, 0.7)
    assert core.tolist() == (labels <= 0.7).tolist()
    with pytest.raises(MFGError, match="no graphex labels"):
        split_by_label(star_and_path(), 1.0)
    with pytest.raises(MFGError, match="alpha"):
        split_by_label(graph, float("nan"))
    with pytest.raises(MFGError, match="alpha"):
        split_by_label(graph, -1.0)


# ---------------------------------------------------------------- the shared real networks


def test_ca_grqc(shared_data):
    path = shared_data / "networks" / "ca-grqc.txt.gz"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    graph, report = load_edge_list(path)
    # The file: a counts line "5242 28980", then 28,980 lines = 14,484 pairs listed both ways
    # + 12 self-loops listed once. The README's 14,496 edges count those self-loops; the simple
    # graph has 14,484. One author appears only in a self-loop and is kept as an isolated vertex,
    # so all 5,242 authors of the header are vertices.
    assert report.header == (5242, 28980)
    assert report.edge_lines == 28980 and report.compression == "gzip"
    assert report.self_loops == 12 and report.duplicate_lines == 0
    assert report.reciprocal_pairs == 14484 and report.one_way_pairs == 0
    assert graph.n_vertices == report.vertices == 5242
    assert graph.n_edges == report.edges == 14484
    assert report.isolated_vertices == 1
    assert int(graph.degree.max()) == 81
    stats = degree_statistics(graph)
    assert stats.max_degree == 81 and 1.5 < stats.tail_exponent < 3.5


def test_email_enron(shared_data):
    path = shared_data / "networks" / "email-enron.txt.gz"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    start = time.perf_counter()
    graph, report = load_edge_list(path)
    elapsed = time.perf_counter() - start
    # SNAP's header comment says 36,692 nodes; 36,691 ids occur in the edge lines.
    assert report.header is None and report.comment_lines == 4
    assert report.edge_lines == 367660 and report.self_loops == 0 and report.duplicate_lines == 0
    assert report.reciprocal_pairs == 183830 and report.one_way_pairs == 0
    assert graph.n_vertices == 36691 and graph.n_edges == 183830
    assert report.isolated_vertices == 0
    assert int(graph.degree.max()) == 1383
    assert elapsed < 10.0  # about 0.5 s on an idle machine; generous for a loaded CI box
