"""Graphex sampling: exactness of both samplers, agreement with the theory, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfgtools.errors import MFGError
from mfgtools.graphs import graphex as gx
from mfgtools.graphs.graph import Graph
from mfgtools.graphs.graphex import (
    Graphex,
    degree_distribution,
    expected_degree,
    expected_edge_count,
    expected_vertex_count,
    fit_tail_exponent,
    graphex_from_function,
    power_law_graphex,
    sample_graphex,
    tail_exponent,
)


def non_monotone(x, y):
    """A symmetric graphex that is not non-increasing: vertices link to labels nearby."""
    return 0.8 * np.exp(-((x - y) ** 2))


def edge_count_sd(graphex, nu, L):
    """Standard deviation of the edge count: Var = E[E] + nu * int_0^L expected_degree(x)^2 dx."""
    x, weight = gx._quadrature(L, 512)
    return math.sqrt(
        expected_edge_count(graphex, nu, L) + nu * np.sum(weight * expected_degree(graphex, nu, L, x) ** 2)
    )


def pair_frequency_statistic(draw_edges, labels, W, repeats):
    """Chi-square statistic and degrees of freedom of how often each pair is joined vs ``W``."""
    n = labels.size
    counts = np.zeros((n, n))
    for _ in range(repeats):
        low, high = draw_edges()
        assert np.all(low < high)
        assert np.unique(low * n + high).size == low.size  # every pair at most once
        np.add.at(counts, (low, high), 1)
    i, j = np.triu_indices(n, 1)
    p = W(labels[i], labels[j])
    expected = repeats * p
    assert np.all(counts[i, j][p == 0] == 0)
    # all pairs together: the number of edges drawn
    assert abs(counts.sum() - expected.sum()) < 5 * math.sqrt(np.sum(expected * (1 - p)))
    fit = (expected >= 5) & (repeats - expected >= 5)
    stat = np.sum((counts[i, j][fit] - expected[fit]) ** 2 / (expected[fit] * (1 - p[fit])))
    return stat, int(fit.sum())


# ----- exactness of the samplers on fixed labels --------------------------------------------


@pytest.mark.parametrize("layout", ["fine", "coarse", "small steps"])
def test_block_sampler_joins_each_pair_with_probability_w(layout, monkeypatch):
    graphex = power_law_graphex(0.8)
    rng = np.random.default_rng(1)
    labels = np.sort(rng.uniform(0, 5, 50))
    lower = gx._bin_edges(graphex, 5.0)[:-1] if layout != "coarse" else np.array([0.0, 0.7, 2.5])
    if layout == "small steps":  # split bin pairs into many index ranges and many vectorised steps
        monkeypatch.setattr(gx, "_CHUNK", 256)
    offsets = np.searchsorted(labels, lower, side="left")
    offsets = np.concatenate([offsets, [labels.size]]).astype(np.int64)
    label_of = lambda vertices, bins=None: labels[vertices]
    stat, df = pair_frequency_statistic(
        lambda: gx._block_edges(graphex, lower, offsets, label_of, rng), labels, graphex, 800
    )
    assert df > 1000
    assert abs(stat - df) < 5 * math.sqrt(2 * df), (stat, df)


def test_dense_sampler_joins_each_pair_with_probability_w():
    graphex = graphex_from_function(non_monotone, "bump")
    rng = np.random.default_rng(2)
    labels = np.sort(rng.uniform(0, 3, 40))
    stat, df = pair_frequency_statistic(lambda: gx._dense_edges(graphex, labels, rng, block=64), labels, graphex, 800)
    assert df > 400
    assert abs(stat - df) < 5 * math.sqrt(2 * df), (stat, df)


@pytest.mark.parametrize(
    "count, p",
    [([1, 5, 40], [1.0, 1.0, 1.0]), ([10**15, 10**12, 7], [1e-14, 3e-12, 0.5]), ([2000, 1, 300], [0.01, 0.3, 0.9])],
)
@pytest.mark.parametrize("overdraw", [(6.0, 8.0), (0.0, 1.0)])
def test_bernoulli_positions(count, p, overdraw, monkeypatch):
    """Distinct in-range positions with Binomial(count, p) successes, also when tasks need more draws."""
    monkeypatch.setattr(gx, "_OVERDRAW_SD", overdraw[0])
    monkeypatch.setattr(gx, "_OVERDRAW", overdraw[1])
    count, p = np.array(count, np.int64), np.array(p)
    rng = np.random.default_rng(3)
    totals = np.zeros(count.size)
    repeats = 200
    for _ in range(repeats):
        task, position = gx._bernoulli_positions(count, p, rng)
        assert np.all((position >= 0) & (position < count[task]))
        key = task * 2**52 + position
        assert np.unique(key).size == key.size
        totals += np.bincount(task, minlength=count.size)
    mean = count * p
    sd = np.sqrt(count * p * (1 - p) / repeats)
    assert np.all(np.abs(totals / repeats - mean) <= 5 * sd + 1e-9), (totals / repeats, mean)


def test_bernoulli_positions_are_uniform():
    rng = np.random.default_rng(4)
    task, position = gx._bernoulli_positions(np.array([1000] * 200), np.full(200, 0.05), rng)
    histogram = np.bincount(position // 100, minlength=10)
    expected = task.size / 10
    assert np.sum((histogram - expected) ** 2 / expected) < 35  # chi-square, 9 dof


def test_hashed_labels_are_uniform_and_independent():
    """The counter-based labels: uniform in their bin, consecutive vertices independent, keyed."""
    offsets = np.array([0, 10**6, 2 * 10**6, 10**10], np.int64)
    lower, widths = np.array([0.0, 1.0, 3.0]), np.array([1.0, 2.0, 97.0])
    labels = gx._HashedLabels(lower, widths, offsets, 12345)
    vertex = np.arange(10**6, dtype=np.int64)
    u = labels.uniform(vertex)
    assert u.min() >= 0 and u.max() < 1
    pairs = np.bincount((u[:-1] * 10).astype(int) * 10 + (u[1:] * 10).astype(int), minlength=100)
    assert np.sum((pairs - pairs.mean()) ** 2 / pairs.mean()) < 99 + 5 * math.sqrt(2 * 99)  # chi-square
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5e-3
    other = gx._HashedLabels(lower, widths, offsets, 54321).uniform(vertex)
    assert abs(np.corrcoef(u, other)[0, 1]) < 5e-3
    x = labels(np.array([0, 10**6 - 1, 10**6, 2 * 10**6, 10**10 - 1]))
    assert np.all(x >= [0, 0, 1, 3, 3]) and np.all(x < [1, 1, 3, 100, 100])
    assert np.array_equal(labels(vertex[:5]), labels(vertex[:5], np.zeros(5, int)))
    far = labels(np.arange(5 * 10**9, 5 * 10**9 + 10**6))  # bin 2: uniform on [3, 100)
    histogram = np.bincount(((far - 3) / 97 * 20).astype(int), minlength=20)
    assert np.sum((histogram - 5e4) ** 2 / 5e4) < 19 + 5 * math.sqrt(2 * 19)


def test_far_periphery_renumbering_gives_the_same_graph(monkeypatch):
    graphex = power_law_graphex(0.6)
    reference = sample_graphex(graphex, 50, 5000, seed=12)
    monkeypatch.setattr(gx, "_DENSE_IDS", 1000)  # most vertex indices now go through the sorted path
    graph = sample_graphex(graphex, 50, 5000, seed=12)
    for field in ("edges", "indptr", "indices", "degree", "labels"):
        assert np.array_equal(getattr(graph, field), getattr(reference, field)), field


def test_huge_truncation_samples_only_what_it_needs():
    """nu * L = 2e9 labels (almost all isolated) costs no more than the edges."""
    graphex, nu, L = power_law_graphex(0.5), 200.0, 1e7
    graphs = [sample_graphex(graphex, nu, L, seed=seed) for seed in range(4)]
    vertices = np.mean([graph.n_vertices for graph in graphs])
    assert vertices == pytest.approx(expected_vertex_count(graphex, nu, L), rel=0.06)
    assert all(graph.labels.max() <= L for graph in graphs) and max(g.labels.max() for g in graphs) > 1e4


def test_triangular_row_is_exact_for_large_indices():
    rows = np.array([1, 2, 3, 10, 4_000_000, 49_999_999, 2**31 - 1], np.int64)
    starts = rows * (rows - 1) // 2
    for index in (starts, starts + rows - 1):
        assert np.array_equal(gx._triangular_row(index), rows)


# ----- sampled graphs against the theory ----------------------------------------------------


@pytest.mark.parametrize(
    "sigma, nu, L, tolerance", [(0.5, 500, 1000, 0.025), (0.8, 100, 2000, 0.02), (0.3, 1500, 300, 0.03)]
)
def test_degree_distribution_matches_samples(sigma, nu, L, tolerance):
    graphex = power_law_graphex(sigma)
    graph = sample_graphex(graphex, nu, L, seed=5)
    theory = degree_distribution(graphex, nu, L, 30)
    empirical = np.bincount(graph.degree, minlength=31)[1:31] / graph.n_vertices
    assert 0.5 * np.abs(empirical - theory).sum() < tolerance
    assert theory.sum() <= 1 + 1e-9


def test_vertex_and_edge_counts_match_expectations():
    graphex, nu, L = power_law_graphex(0.5), 500.0, 1000.0
    graphs = [sample_graphex(graphex, nu, L, seed=seed) for seed in range(8)]
    vertices = np.array([g.n_vertices for g in graphs])
    edges = np.array([g.n_edges for g in graphs])
    expected_v = expected_vertex_count(graphex, nu, L)
    expected_e = expected_edge_count(graphex, nu, L)
    assert expected_e == pytest.approx(nu**2 / 2 * (1 - 1 / (1 + L)) ** 2, rel=1e-12)
    assert abs(vertices.mean() - expected_v) < 0.015 * expected_v
    sd = edge_count_sd(graphex, nu, L)
    assert np.all(np.abs(edges - expected_e) < 4 * sd)
    assert abs(edges.mean() - expected_e) < 4 * sd / math.sqrt(len(graphs))


def test_fitted_tail_exponent_is_one_plus_sigma():
    graphex, nu, L = power_law_graphex(0.5), 2000.0, 3000.0
    graph = sample_graphex(graphex, nu, L, seed=6)
    cutoff = float(expected_degree(graphex, nu, L, 0.0))
    assert cutoff == pytest.approx(nu * (1 - 1 / (1 + L)))
    assert tail_exponent(graphex) == 1.5
    assert fit_tail_exponent(graph.degree, 10, int(cutoff / 4)) == pytest.approx(1.5, abs=0.04)
    # the untruncated fit feels the cutoff; the theory predicts by how much
    pmf = degree_distribution(graphex, nu, L, int(3 * cutoff))
    k = np.arange(1, pmf.size + 1)
    tail = k >= 10
    expected_fit = 1 + pmf[tail].sum() / np.sum(pmf[tail] * np.log(k[tail] / 9.5))
    assert fit_tail_exponent(graph.degree, 10) == pytest.approx(expected_fit, abs=0.02)


def test_fit_tail_exponent_on_a_discrete_power_law():
    degrees = np.random.default_rng(7).zipf(2.5, 200_000)
    assert fit_tail_exponent(degrees, 5) == pytest.approx(2.5, abs=0.05)
    assert fit_tail_exponent(degrees, 5, 200) == pytest.approx(2.5, abs=0.03)
    with pytest.raises(MFGError, match="k_min"):
        fit_tail_exponent(degrees, 0)
    with pytest.raises(MFGError, match="at least 10"):
        fit_tail_exponent([1, 2, 3], 1)


def test_blocks_and_dense_agree_in_distribution():
    """Same graphex, both samplers: vertices per label range and edges agree with each other and theory."""
    graphex, nu, L = power_law_graphex(0.5), 20.0, 100.0
    ranges = np.array([0, 0.5, 2, 8, 30, 100])
    results = {}
    for method in ("blocks", "dense"):
        per_range, edges = [], []
        for seed in range(30):
            graph = sample_graphex(graphex, nu, L, seed=seed, method=method)
            per_range.append(np.histogram(graph.labels, ranges)[0])
            edges.append(graph.n_edges)
        results[method] = np.array(per_range), np.array(edges)
    x = np.linspace(0, L, 200_001)
    present = nu * -np.expm1(-expected_degree(graphex, nu, L, x))
    cumulative = np.concatenate([[0], np.cumsum((present[1:] + present[:-1]) / 2 * np.diff(x))])
    theory = np.diff(np.interp(ranges, x, cumulative))
    for per_range, edges in results.values():
        # vertex counts per range are close to Poisson: 5 standard errors
        assert np.all(np.abs(per_range.mean(0) - theory) < 5 * np.sqrt(theory / 30) + 0.5)
        assert abs(edges.mean() - expected_edge_count(graphex, nu, L)) < 5 * edge_count_sd(graphex, nu, L) / math.sqrt(
            30
        )
    blocks, dense = results["blocks"], results["dense"]
    spread = np.sqrt((blocks[0].var(0) + dense[0].var(0)) / 30) + 0.5
    assert np.all(np.abs(blocks[0].mean(0) - dense[0].mean(0)) < 5 * spread)


def test_user_monotone_graphex_uses_blocks_and_matches_theory():
    graphex = graphex_from_function(lambda x, y: 1.0 / (1.0 + x + y) ** 2, "inverse square")
    assert graphex.non_increasing and graphex.factor is None
    nu, L = 300.0, 500.0
    graph = sample_graphex(graphex, nu, L, seed=8)
    expected_e = expected_edge_count(graphex, nu, L)
    assert abs(graph.n_edges - expected_e) < 4 * edge_count_sd(graphex, nu, L)
    assert graph.n_vertices == pytest.approx(expected_vertex_count(graphex, nu, L), rel=0.05)
    theory = degree_distribution(graphex, nu, L, 30)
    empirical = np.bincount(graph.degree, minlength=31)[1:31] / graph.n_vertices
    assert 0.5 * np.abs(empirical - theory).sum() < 0.03


def test_non_monotone_graphex_goes_dense_and_refuses_big_requests():
    graphex = graphex_from_function(non_monotone, "bump")
    assert not graphex.non_increasing
    nu, L = 4.0, 300.0
    graph = sample_graphex(graphex, nu, L, seed=9)
    assert abs(graph.n_edges - expected_edge_count(graphex, nu, L)) < 4 * edge_count_sd(graphex, nu, L)
    with pytest.raises(MFGError, match="non-increasing"):
        sample_graphex(graphex, 50, 1000)
    with pytest.raises(MFGError, match="non-increasing"):
        sample_graphex(graphex, 1, 10, method="blocks")
    lying = Graphex(W=non_monotone, name="bump", non_increasing=True)  # bypasses the detection
    with pytest.raises(MFGError, match="not non-increasing"):
        sample_graphex(lying, 50, 100)


def test_theory_quadrature_matches_closed_forms():
    sigma, nu, L = 0.4, 50.0, 700.0
    closed = power_law_graphex(sigma)
    f = closed.factor
    general = graphex_from_function(closed.W, "no factor")
    separable = graphex_from_function(closed.W, "factor", separable_factor=f)
    assert general.non_increasing and separable.factor is f
    x = np.array([[0.0, 1.0], [10.0, 650.0]])
    for other in (general, separable):
        assert np.allclose(expected_degree(other, nu, L, x), expected_degree(closed, nu, L, x), rtol=1e-8)
        assert expected_edge_count(other, nu, L) == pytest.approx(expected_edge_count(closed, nu, L), rel=1e-8)
    assert expected_degree(closed, nu, L, x).shape == (2, 2)
    assert expected_degree(closed, nu, L, 0.0) == pytest.approx(
        nu * sigma / (1 - sigma) * (1 - (1 + L) ** (1 - 1 / sigma))
    )
    full = degree_distribution(closed, nu, L, 2000)
    assert full.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(degree_distribution(general, nu, L, 50), full[:50], rtol=1e-6, atol=1e-12)
    # a fine label grid (large k_max) for a general W interpolates the expected degree
    assert np.allclose(
        degree_distribution(general, 2000, L, 5000)[:2000],
        degree_distribution(closed, 2000, L, 5000)[:2000],
        rtol=1e-4,
        atol=1e-12,
    )


# ----- structure ----------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    sigma=st.floats(0.1, 0.9),
    nu=st.floats(0.5, 20.0),
    L=st.floats(0.5, 200.0),
    seed=st.integers(0, 2**32 - 1),
    method=st.sampled_from(["blocks", "dense"]),
)
def test_sampled_graphs_are_simple_and_labelled(sigma, nu, L, seed, method):
    graph = sample_graphex(power_law_graphex(sigma), nu, L, seed=seed, method=method)
    n = graph.n_vertices
    assert np.all(graph.edges[:, 0] < graph.edges[:, 1])
    assert np.all(np.diff(graph.edges[:, 0] * max(n, 1) + graph.edges[:, 1]) > 0)  # sorted, no duplicates
    assert np.all(graph.degree >= 1)
    assert graph.labels.shape == (n,)
    assert np.all(np.diff(graph.labels) >= 0) and np.all((graph.labels >= 0) & (graph.labels <= L))
    reference = Graph.from_edges(graph.edges, n)
    for field in ("edges", "indptr", "indices", "degree", "node_ids"):
        assert np.array_equal(getattr(graph, field), getattr(reference, field)), field
    assert f"sigma={sigma:g}" in graph.name and f"nu={nu:g}" in graph.name


def test_same_seed_same_graph_and_empty_graphs():
    graphex = power_law_graphex(0.5)
    one, two = sample_graphex(graphex, 30, 50, seed=11), sample_graphex(graphex, 30, 50, seed=11)
    assert np.array_equal(one.edges, two.edges) and np.array_equal(one.labels, two.labels)
    tiny = sample_graphex(graphex, 1e-3, 1.0, seed=0)
    assert tiny.n_vertices == 0 and tiny.n_edges == 0 and tiny.indptr.tolist() == [0]
    zero = graphex_from_function(lambda x, y: 0.0 * x * y, "empty")
    assert sample_graphex(zero, 10, 10).n_edges == 0
    cut = graphex_from_function(lambda x, y: np.where((x < 2) & (y < 2), 0.5, 0.0), "cut")
    assert cut.non_increasing
    graph = sample_graphex(cut, 30, 100, seed=1)
    assert graph.n_vertices > 0 and graph.labels.max() < 2


# ----- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0, 1, -0.5, 1.5, "half", float("nan")])
def test_power_law_rejects_bad_sigma(sigma):
    with pytest.raises(MFGError, match="sigma"):
        power_law_graphex(sigma)


@pytest.mark.parametrize(
    "W, message",
    [
        (lambda x, y: np.exp(-x - 2 * y), "symmetric"),
        (lambda x, y: 2 * np.exp(-x - y), r"\[0, 1\]"),
        (lambda x, y: -np.exp(-x - y), r"\[0, 1\]"),
        (lambda x, y: np.exp(x + y - 5) / np.exp(x + y), "finite"),
        (lambda x, y: math.exp(-x - y), "vectorised"),
        ("not a function", "function"),
    ],
)
def test_graphex_from_function_rejects_bad_w(W, message):
    with pytest.raises(MFGError, match=message):
        graphex_from_function(W)


def test_separable_factor_must_match():
    with pytest.raises(MFGError, match="does not match"):
        graphex_from_function(lambda x, y: np.exp(-x - y), separable_factor=lambda x: np.exp(-2 * x))


@pytest.mark.parametrize(
    "nu, L, message",
    [(-1, 10, "nu"), (0, 10, "nu"), (1, -2, "L"), ("x", 1, "nu"), (1e7, 1e6, "cap"), (1e5, 400, "edges")],
)
def test_sample_rejects_bad_sizes(nu, L, message):
    with pytest.raises(MFGError, match=message):
        sample_graphex(power_law_graphex(0.5), nu, L)


def test_other_bad_arguments():
    graphex = power_law_graphex(0.5)
    with pytest.raises(MFGError, match="method"):
        sample_graphex(graphex, 1, 1, method="fast")
    with pytest.raises(MFGError, match="Graphex"):
        sample_graphex(lambda x, y: x * y, 1, 1)
    with pytest.raises(MFGError, match="k_max"):
        degree_distribution(graphex, 1, 1, 0)
    with pytest.raises(MFGError, match=">= 0"):
        expected_degree(graphex, 1, 1, [-1.0])
    with pytest.raises(MFGError, match="fit_tail_exponent"):
        tail_exponent(graphex_from_function(non_monotone))
