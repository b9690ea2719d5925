"""Contagion games on graphs: closed-form neighbourhoods, invariants, the hybrid solver, simulation, dmu."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.graphs.graph import Graph
from mfgtools.graphs.structure import graphon_classes, hybrid_classes
from mfgtools.simulate import mean_field_gap, simulate_on_graph

GAMES = ("sis-graphex", "sir-graphex", "rumour-graphex")


def core_periphery_graph(n_core=120, n_periphery=1500, max_degree=3, seed=0) -> Graph:
    """A clique core and a periphery whose vertices attach to 1..max_degree random core vertices.

    The hybrid model is exact in the limit here: periphery vertices see only the
    core, and core vertices have so many neighbours that their neighbourhood is
    its mean.
    """
    rng = np.random.default_rng(seed)
    core = np.array([(i, j) for i in range(n_core) for j in range(i + 1, n_core)])
    attached = []
    for vertex in range(n_core, n_core + n_periphery):
        for neighbour in rng.choice(n_core, size=rng.integers(1, max_degree + 1), replace=False):
            attached.append((vertex, neighbour))
    return Graph.from_edges(np.concatenate([core, np.array(attached)]), n_core + n_periphery, name="core-periphery")


@pytest.fixture(scope="module")
def graph():
    return core_periphery_graph()


def test_classes_conserve_vertices_and_edges(graph):
    hybrid = hybrid_classes(graph, k_max=3, core_bins=3, split="degree")
    assert hybrid.mass.sum() == pytest.approx(1.0)
    # the periphery is one class per degree 1..3, the core all degrees above
    periphery = [name for name, m in zip(hybrid.names, hybrid.multinomial) if m]
    assert periphery == ["degree 1", "degree 2", "degree 3"]
    np.testing.assert_allclose(hybrid.degree[hybrid.multinomial], [1, 2, 3])
    # rates: row sums are mean degrees; mass-weighted rates are symmetric (every edge counted both ways)
    np.testing.assert_allclose(hybrid.rates.sum(1), hybrid.degree)
    flows = hybrid.mass[:, None] * hybrid.rates
    np.testing.assert_allclose(flows, flows.T, atol=1e-12)
    assert (flows.sum() * graph.n_vertices) == pytest.approx(2 * graph.n_edges)
    # periphery vertices are never neighbours of each other here
    assert np.all(hybrid.rates[np.ix_(hybrid.multinomial, hybrid.multinomial)] == 0)
    graphon = graphon_classes(graph, bins=6, split="degree")
    assert not graphon.multinomial.any() and graphon.mass.sum() == pytest.approx(1.0)
    with pytest.raises(MFGError, match="no vertex .* above k_max"):
        hybrid_classes(graph, k_max=10_000)
    with pytest.raises(MFGError, match="split='label' needs a sampled graphex"):
        hybrid_classes(graph, split="label")


def test_transition_matches_hand_computation(graph, x64):
    """Core bins: (1 - beta)^lam at the mean count; periphery: the expectation over Binomial(k, m) neighbours."""
    game = mfgtools.make_game(
        "sis-graphex",
        graph=graph,
        k_max=3,
        core_bins=2,
        split="degree",
        infection_rate=0.4,
        recovery_rate=0.1,
        protection=0.5,
    )
    classes = game.population.value
    rng = np.random.default_rng(1)
    infected = rng.uniform(size=game.n_classes)
    mu = np.stack([1 - infected, infected], -1) * classes.mass[:, None]
    probs = np.asarray(game.transition(0, mu.reshape(-1))).reshape(game.n_classes, 2, 2, 2)
    neighbours_infected = classes.rates @ infected  # expected infected neighbours per class
    for c in range(game.n_classes):
        for action, beta in enumerate([0.4, 0.2]):
            if classes.multinomial[c]:
                # k neighbours, each infected with probability m: the binomial expectation of (1 - beta)^n
                k = int(round(classes.degree[c]))
                counts = np.arange(k + 1)
                weights = stats.binom.pmf(counts, k, neighbours_infected[c] / k)
                no_infection = np.sum(weights * (1 - beta) ** counts)
            else:
                no_infection = (1 - beta) ** neighbours_infected[c]
            assert probs[c, 0, action, 1] == pytest.approx(1 - no_infection, rel=1e-10)  # S -> I
            assert probs[c, 1, action, 1] == pytest.approx(0.1)  # I -> S (recovery)
    assert np.allclose(probs.sum(-1), 1.0)


@pytest.mark.parametrize("name", GAMES)
def test_mean_field_keeps_class_masses_and_the_simplex(graph, name):
    game = mfgtools.make_game(name, graph=graph, k_max=3, core_bins=2, split="degree", horizon=8)
    flow = np.asarray(mfgtools.mean_field(game, mfgtools.uniform_policy(game)))
    assert (flow >= -1e-7).all()
    np.testing.assert_allclose(flow.sum(-1), 1.0, atol=1e-5)
    # agents never change class: every class keeps its share of the population at every time
    per_class = np.asarray(game.by_class(flow)).sum(-1)
    np.testing.assert_allclose(per_class, np.broadcast_to(game.population.value.mass, per_class.shape), atol=1e-6)


def test_hybrid_omd_periphery_is_an_exact_best_response(graph):
    game = mfgtools.make_game("sis-graphex", graph=graph, k_max=3, core_bins=2, split="degree", horizon=10)
    result = mfgtools.solve(game, "hybrid-omd", iterations=60, learning_rate=0.3)
    exploitability = result.metrics["exploitability"]
    assert exploitability[-1] < 0.2 * exploitability[0]
    assert (exploitability >= -1e-5).all()
    response = np.asarray(mfgtools.best_response(game, result.policy))
    periphery = np.asarray(game.periphery_states)
    # the periphery plays a best response to the final flow: the same action wherever it is strict
    q = np.asarray(mfgtools.kernels.best_response(game, mfgtools.mean_field(game, result.policy))[0])
    strict = np.abs(q[..., 0] - q[..., 1]) > 1e-4
    chosen = result.policy.argmax(-1)
    assert np.array_equal(
        chosen[:, periphery][strict[:, periphery]], response.argmax(-1)[:, periphery][strict[:, periphery]]
    )


def test_hybrid_omd_without_periphery_is_omd():
    graph = core_periphery_graph(n_core=30, n_periphery=100, seed=2)
    game = mfgtools.make_game("sis-graphex", graph=graph, model="graphon", bins=3, split="degree", horizon=6)
    assert not np.asarray(game.periphery_states).any()
    hybrid = mfgtools.solve(game, "hybrid-omd", iterations=20, learning_rate=0.2)
    omd = mfgtools.solve(game, "omd", iterations=20, learning_rate=0.2)
    np.testing.assert_allclose(hybrid.policy, omd.policy, atol=1e-6)
    np.testing.assert_allclose(hybrid.metrics["exploitability"], omd.metrics["exploitability"], atol=1e-6)


def test_hybrid_omd_needs_a_graphex_game():
    with pytest.raises(MFGError, match="needs a graphex game.*sis-graphex"):
        mfgtools.solve(mfgtools.make_game("sis", mode="finite-horizon", horizon=3), "hybrid-omd", iterations=1)


def test_simulation_without_contacts_matches_the_recovery_law(graph):
    """No transmission: the infected share decays as i0 (1 - gamma)^t, in prediction and on the graph."""
    game = mfgtools.make_game(
        "sis-graphex",
        graph=graph,
        k_max=3,
        core_bins=2,
        split="degree",
        horizon=12,
        infection_rate=0.0,
        recovery_rate=0.25,
        initial_infected=0.6,
    )
    policy = mfgtools.uniform_policy(game)
    predicted = np.asarray(game.aggregate(mfgtools.mean_field(game, policy)))[:, 1]
    np.testing.assert_allclose(predicted, 0.6 * 0.75 ** np.arange(13), rtol=1e-5)
    play = simulate_on_graph(game, policy, n_seeds=40, seed=3)
    simulated = np.asarray(game.aggregate(play.empirical))[..., 1].mean(0)
    # 40 x 1620 independent agents: the standard error of a share is below 0.003
    np.testing.assert_allclose(simulated, predicted, atol=0.012)
    assert np.asarray(play.action_share).sum(-1) == pytest.approx(1.0)


def test_full_protection_stops_every_infection(graph):
    game = mfgtools.make_game(
        "sir-graphex", graph=graph, k_max=3, core_bins=2, split="degree", horizon=10, infection_rate=1.0, protection=1.0
    )
    protect = np.zeros(game.policy_shape, np.float32)
    protect[..., 1] = 1.0
    play = simulate_on_graph(game, protect, n_seeds=5)
    susceptible = np.asarray(game.aggregate(play.empirical))[..., 0]
    assert np.all(susceptible == susceptible[:, :1])  # nobody ever leaves S


def test_hybrid_prediction_beats_the_graphon_one_on_a_core_periphery_graph(graph):
    """On a clique core with a sparse periphery the hybrid model is (nearly) exact and the graphon one is not."""
    params = dict(graph=graph, split="degree", horizon=15, infection_rate=0.9, recovery_rate=0.5)
    gaps = {}
    for model in ("hybrid", "graphon"):
        game = mfgtools.make_game("sis-graphex", model=model, k_max=3, core_bins=2, bins=5, **params)
        policy = mfgtools.uniform_policy(game)
        predicted = np.asarray(game.aggregate(mfgtools.mean_field(game, policy)))
        play = simulate_on_graph(game, policy, n_seeds=30, seed=5)
        # the gap of the seed-averaged simulation: the model's bias, without the finite-N noise
        gaps[model] = mean_field_gap(predicted, np.asarray(game.aggregate(play.empirical)).mean(0))
    # measured: 0.0075 (hybrid) and 0.036 (graphon)
    assert gaps["hybrid"] < 0.015
    assert gaps["graphon"] > 3 * gaps["hybrid"]


def test_mean_field_gap_properties():
    rng = np.random.default_rng(0)
    mu = rng.dirichlet(np.ones(3), size=6)
    assert mean_field_gap(mu, mu) == 0.0
    other = rng.dirichlet(np.ones(3), size=6)
    both = mean_field_gap(mu, np.stack([mu, other]))
    assert both[0] == 0.0 and 0.0 < both[1] <= 1.0
    assert mean_field_gap(other, mu) == pytest.approx(mean_field_gap(mu, other))
    far = np.zeros((6, 3))
    far[:, 0] = 1.0
    near = np.zeros((6, 3))
    near[:, 1] = 1.0
    assert mean_field_gap(far, near) == pytest.approx(1.0)
    with pytest.raises(MFGError, match="disagree"):
        mean_field_gap(mu, mu[:, :2])


def test_simulate_on_graph_refuses_other_games():
    game = mfgtools.make_game("sis", mode="finite-horizon", horizon=3)
    with pytest.raises(MFGError, match="needs a game played on a graph"):
        simulate_on_graph(game, mfgtools.uniform_policy(game))


def test_game_parameters_are_validated(graph, tmp_path):
    with pytest.raises(MFGError, match="model"):
        mfgtools.make_game("sis-graphex", graph=graph, model="dense")
    with pytest.raises(MFGError, match="infection_rate"):
        mfgtools.make_game("sis-graphex", graph=graph, infection_rate=1.5)
    with pytest.raises(MFGError, match="graph must be an edge-list file path"):
        mfgtools.make_game("sis-graphex", graph=42)
    with pytest.raises(MFGError, match="missing.txt"):
        mfgtools.make_game("sis-graphex", graph=str(tmp_path / "missing.txt"))
