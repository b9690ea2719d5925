"""Contagion games on graphex populations: SIS, SIR and rumour spreading (spec ``graphex.md``).

Agents live on the vertices of a sparse graph (a sampled graphex or a real
network). Each has an epidemic state ``x`` and picks one of two actions. A
state has at most one successor ``target[x]`` and leaves for it with

    P(x -> target[x] | a, n) = 1 - (1 - spontaneous[x, a]) * (1 - contact_rate[x, a]) ** n_x

where ``n_x`` counts the agent's neighbours in the *contact states* of ``x``
(infected neighbours for infection): every such neighbour transmits
independently. This is the exact dynamics of the N-agent game on a graph
(:func:`mfgtools.graphex.simulate.simulate_on_graph`). The mean-field game replaces the
graph by population classes (:mod:`mfgtools.graphs.structure`) and takes the
expectation over the neighbourhood in closed form:

- core bin (graphon-style, deterministic neighbourhood): ``n_x`` is its mean
  ``lam = rates[c] @ mu_class``, so ``(1 - beta) ** lam``;
- periphery degree ``k``: the ``k`` neighbours' states are ``Multinomial(k, mbar)``
  with ``mbar = lam / k``, and ``E[(1 - beta) ** n_x] = (1 - beta * mbar_x) ** k``.

Games (our constants; the paper's are not published):

- ``sis-graphex``: susceptible/infected, go out or protect; infection by infected
  neighbours, recovery with ``recovery_rate``; cost of infection and of protecting.
- ``sir-graphex``: susceptible/infected/recovered (immune for good), same actions.
- ``rumour-graphex``: ignorant/spreader/stifler (Maki-Thompson style); ignorants
  hear the rumour from spreaders, spreaders turn stiflers on meeting anyone who
  knows it (spreaders or stiflers) or by forgetting. Actions: ignore or engage;
  engaging costs, an engaged ignorant hears more easily (``ignore_filter`` of the
  contact rate is filtered out when ignoring) and an engaged spreader earns
  ``spread_reward``.

The game is a :class:`~mfgtools.finite.game.FiniteGame` on the extended states
``(class, x)`` (state index ``c * X + x``), so every finite-horizon solver runs
on it; ``hybrid-omd`` uses the core/periphery split. The population is a graph
given by ``graph`` (an edge-list file, or a :class:`~mfgtools.graphs.Graph`), or
else a power-law graphex sampled with ``sigma``, ``nu``, ``L``, ``graph_seed``.
``model="hybrid"`` (core bins + periphery degrees) or ``"graphon"`` (bins only,
the plain graphon baseline).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.errors import MFGError
from mfgtools.finite.game import Annotation, FiniteGame, fan_out_fields, float_array
from mfgtools.games.registry import register_game
from mfgtools.graphex.contagion import stay_probability
from mfgtools.graphs.structure import SPLITS
from mfgtools.registry import Parameter, choice, horizon, integer, number, optional, positive, seed, validate

MODELS = ("hybrid", "graphon")
# default power-law graphex population (about 5,000 non-isolated vertices)
DEFAULT_SIGMA, DEFAULT_NU, DEFAULT_L = 0.5, 200.0, 1000.0


@struct.dataclass(kw_only=True)
class ContagionGame(FiniteGame):
    """A contagion game on population classes (module docstring); states ``c * X + x``.

    Attributes (beyond :class:`FiniteGame`):
      class_mass: ``(C,)`` share of the population in each class.
      rates: ``(C, C)`` expected neighbours in class ``c'`` of a member of class ``c``.
      class_degree: ``(C,)`` degree ``k`` of periphery classes (mean degree of core bins).
      multinomial: ``(C,)`` bool, True for periphery (per-degree) classes.
      contact: ``(X, X)`` 0/1, ``contact[x, y] = 1`` if neighbours in ``y`` drive ``x -> target[x]``.
      contact_rate: ``(X, A)`` per-contact transmission probability ``beta``.
      spontaneous: ``(X, A)`` probability of leaving ``x`` on one's own.
      target: ``(X,)`` int successor state of each state (itself if none).
      state_reward: ``(X, A)`` reward of state and action.
      state_names: names of the ``X`` epidemic states.
      population: an :class:`Annotation` of the
        :class:`~mfgtools.graphs.structure.PopulationClasses` (graph, classes, names).
    """

    class_mass: jax.Array
    rates: jax.Array
    class_degree: jax.Array
    multinomial: jax.Array
    contact: jax.Array
    contact_rate: jax.Array
    spontaneous: jax.Array
    target: jax.Array
    state_reward: jax.Array
    state_names: tuple = struct.field(pytree_node=False)
    population: Annotation = struct.field(pytree_node=False)

    kind = "graphex"

    @property
    def n_classes(self) -> int:
        return int(self.class_mass.shape[0])

    @property
    def n_epidemic_states(self) -> int:
        return len(self.state_names)

    @property
    def periphery_states(self) -> jax.Array:
        """``(S,)`` bool: the extended states of periphery (per-degree) classes."""
        return jnp.repeat(self.multinomial, self.n_epidemic_states)

    def by_class(self, x, actions: bool = False):
        """Split the state axis: ``(..., S) -> (..., C, X)``, or with ``actions=True`` (policies,
        Q-values) ``(..., S, A) -> (..., C, X, A)``."""
        x = jnp.asarray(x)
        split = (self.n_classes, self.n_epidemic_states)
        if actions:
            return x.reshape(x.shape[:-2] + split + x.shape[-1:])
        return x.reshape(x.shape[:-1] + split)

    def aggregate(self, mu):
        """Population share of each epidemic state: ``(..., S) -> (..., X)``."""
        return self.by_class(mu).sum(-2)

    def class_shares(self, mu):
        """Distribution of the epidemic state within each class: ``(..., S) -> (..., C, X)``."""
        return self.by_class(mu) / jnp.maximum(self.class_mass, 1e-30)[:, None]

    def contact_counts(self, mu):
        """``(C, X)``: expected neighbours in the contact states of ``x`` for a member of class ``c``."""
        neighbours = self.rates.astype(mu.dtype) @ self.class_shares(mu)  # (C, X) expected neighbours per state
        return neighbours @ self.contact.astype(mu.dtype).T

    def reward(self, t, mu):
        del t, mu
        return jnp.tile(self.state_reward, (self.n_classes, 1))

    def transition(self, t, mu):
        del t
        counts = self.contact_counts(mu)[:, :, None]  # (C, X, 1)
        beta = self.contact_rate.astype(mu.dtype)[None]  # (1, X, A)
        degree = self.class_degree.astype(mu.dtype)[:, None, None]
        stay = stay_probability(
            self.spontaneous.astype(mu.dtype)[None], beta, counts, degree, per_degree=self.multinomial[:, None, None]
        )  # (C, X, A)
        probs = jnp.stack([stay, 1.0 - stay], axis=-1)  # (C, X, A, 2): stay, go to target
        return probs.reshape(self.n_states, self.n_actions, 2)


def _tables(n_classes: int, target: np.ndarray, n_actions: int):
    """Successor table ``(S, A, 2)`` of the extended states: stay, or move to ``target`` in the same class."""
    n_epidemic = target.size
    base = np.arange(n_classes)[:, None] * n_epidemic
    stay = base + np.arange(n_epidemic)[None]
    move = base + target[None]
    next_state = np.stack([stay, move], axis=-1)[:, :, None, :]
    next_state = np.broadcast_to(next_state, (n_classes, n_epidemic, n_actions, 2)).reshape(-1, n_actions, 2)
    return np.ascontiguousarray(next_state)


def load_population(graph=None, **params):
    """The population classes a contagion game is played on, from the :data:`POPULATION_PARAMETERS` given
    (validated; their declared defaults for the others).

    ``graph``: an edge-list path, a :class:`~mfgtools.graphs.Graph`, or None to
    sample a power-law graphex (``sigma``, ``nu``, ``L``, ``graph_seed``).
    """
    declared = {key: value for key, value in POPULATION_PARAMETERS.items() if key != "horizon"}
    return population_classes(**validate(declared, {"graph": graph, **params}, "population"))


def population_classes(graph, model, k_max, core_bins, bins, split, sigma, nu, L, graph_seed):
    """:func:`load_population` of validated parameters, all given."""
    from mfgtools.graphs.graph import Graph
    from mfgtools.graphs.structure import graphon_classes, hybrid_classes

    if graph is None:
        from mfgtools.graphs.graphex import power_law_graphex, sample_graphex

        graphex = power_law_graphex(sigma)
        graph = sample_graphex(
            graphex,
            nu,
            L,
            graph_seed,
        )
    elif isinstance(graph, (str, os.PathLike)):
        from mfgtools.errors import note
        from mfgtools.graphs.networks import load_edge_list

        graph, report = load_edge_list(graph)
        if report.changes():  # accepted, but the user should know what was dropped or merged
            note(
                f"network file {os.fspath(report.path)!r}: {'; '.join(report.changes())} "
                f"({report.vertices:,} vertices, {report.edges:,} undirected edges)"
            )
    elif not isinstance(graph, Graph):
        raise MFGError(f"graph must be an edge-list file path or a mfgtools.graphs.Graph, got {type(graph).__name__}")
    if graph.n_vertices == 0:
        raise MFGError(f"graph {graph.name!r} has no vertices")
    if model == "hybrid":
        return hybrid_classes(graph, k_max=k_max, core_bins=core_bins, split=split)
    return graphon_classes(graph, bins=bins, split=split)


def contagion_game(
    name: str,
    population,
    state_names,
    action_names,
    target,
    contact,
    contact_rate,
    spontaneous,
    state_reward,
    initial,
    horizon,
    params: dict,
) -> ContagionGame:
    """Assemble a :class:`ContagionGame` from per-state tables (shapes in the class docstring)."""
    n_classes = population.n_classes
    target = np.asarray(target, dtype=np.int64)
    n_actions = len(action_names)
    initial = np.asarray(initial, dtype=np.float64)
    mu0 = (population.mass[:, None] * initial[None]).reshape(-1)
    next_state = _tables(n_classes, target, n_actions)
    game = ContagionGame(
        initial_distribution=float_array(mu0),
        **fan_out_fields(next_state, np.zeros(next_state.shape)),
        action_mask=jnp.ones((next_state.shape[0], n_actions), dtype=bool),
        horizon=horizon,
        discount=1.0,
        name=name,
        params=Annotation(params),
        grid_shape=None,
        action_labels=tuple(action_names),
        class_mass=float_array(population.mass),
        rates=float_array(population.rates),
        class_degree=float_array(population.degree),
        multinomial=jnp.asarray(population.multinomial),
        contact=float_array(contact),
        contact_rate=float_array(contact_rate),
        spontaneous=float_array(spontaneous),
        target=jnp.asarray(target, dtype=jnp.int32),
        state_reward=float_array(state_reward),
        state_names=tuple(state_names),
        population=Annotation(population),
    )
    return game.replace(transition_prob=game.transition(0, game.initial_distribution))


POPULATION_PARAMETERS = {
    "graph": Parameter(None, "edge-list file of a real network (plain or .gz); default: sample a power-law graphex"),
    "model": Parameter(
        "hybrid", "hybrid (core bins + periphery per degree) or graphon (bins only, the baseline)", choice(*MODELS)
    ),
    "k_max": Parameter(
        8, "hybrid model: periphery = degree <= k_max (real networks) or as many high labels", integer(0)
    ),
    "core_bins": Parameter(8, "hybrid model: number of core bins (log-spaced in degree or label)", integer(1)),
    "bins": Parameter(16, "graphon model: number of bins over all vertices", integer(1)),
    "split": Parameter(
        None,
        "core/periphery split: degree or label (default: label for sampled graphs)",
        optional(choice(*SPLITS)),
    ),
    "sigma": Parameter(
        DEFAULT_SIGMA,
        "sampled graphex: power-law exponent sigma in (0, 1)",
        number(0.0, 1.0, low_open=True, high_open=True),
    ),
    "nu": Parameter(DEFAULT_NU, "sampled graphex: size parameter nu (vertices ~ nu^(1 + sigma))", positive()),
    "L": Parameter(DEFAULT_L, "sampled graphex: label truncation L", positive()),
    "graph_seed": Parameter(0, "sampled graphex: seed of the sampled graph", seed),
    "horizon": Parameter(50, "decision steps T", horizon),
}


def _population(params):
    keys = ("graph", "model", "k_max", "core_bins", "bins", "split", "sigma", "nu", "L", "graph_seed")
    return population_classes(**{key: params[key] for key in keys})


def _shown(params, population):
    shown = dict(params)
    graph = shown["graph"]
    shown["graph"] = population.graph.name if graph is None or not isinstance(graph, (str, os.PathLike)) else str(graph)
    return shown


EPIDEMIC_PARAMETERS = {
    "infection_rate": Parameter(
        0.5, "probability that one infected neighbour infects a susceptible agent in a step", number(0.0, 1.0)
    ),
    "recovery_rate": Parameter(0.2, "probability that an infected agent recovers in a step", number(0.0, 1.0)),
    "protection": Parameter(0.8, "fraction of the infection risk that protecting removes", number(0.0, 1.0)),
    "infection_cost": Parameter(1.0, "cost per step of being infected", number(0.0)),
    "protection_cost": Parameter(0.3, "cost per step of protecting", number(0.0)),
    "initial_infected": Parameter(0.2, "infected share of every class at the start", number(0.0, 1.0)),
}


def _epidemic(name, params, recovered: bool) -> ContagionGame:
    population = _population(params)
    beta = params["infection_rate"]
    gamma = params["recovery_rate"]
    protection = params["protection"]
    infection_cost = params["infection_cost"]
    protection_cost = params["protection_cost"]
    infected = params["initial_infected"]
    horizon = params["horizon"]
    n = 3 if recovered else 2
    susceptible, infected_state = 0, 1
    target = np.array([1, 2, 2] if recovered else [1, 0])
    contact = np.zeros((n, n))
    contact[susceptible, infected_state] = 1.0
    contact_rate = np.zeros((n, 2))
    contact_rate[susceptible] = beta * np.array([1.0, 1.0 - protection])
    spontaneous = np.zeros((n, 2))
    spontaneous[infected_state] = gamma
    state_reward = -np.array([[0.0, protection_cost]] * n)
    state_reward[infected_state] -= infection_cost
    initial = np.zeros(n)
    initial[:2] = [1.0 - infected, infected]
    states = ("susceptible", "infected", "recovered")[:n]
    shown = _shown(params, population)
    return contagion_game(
        name,
        population,
        states,
        ("go out", "protect"),
        target,
        contact,
        contact_rate,
        spontaneous,
        state_reward,
        initial,
        horizon,
        shown,
    )


@register_game(
    "sis-graphex",
    "SIS epidemic on a sparse graph (graphex or real network): go out or protect",
    {**EPIDEMIC_PARAMETERS, **POPULATION_PARAMETERS},
    kind="graphex",
)
def make_sis_graphex(**params) -> ContagionGame:
    return _epidemic("sis-graphex", params, recovered=False)


@register_game(
    "sir-graphex",
    "SIR epidemic on a sparse graph (graphex or real network): go out or protect",
    {**EPIDEMIC_PARAMETERS, **POPULATION_PARAMETERS},
    kind="graphex",
)
def make_sir_graphex(**params) -> ContagionGame:
    return _epidemic("sir-graphex", params, recovered=True)


RUMOUR_PARAMETERS = {
    "hearing_rate": Parameter(
        0.5, "probability that one spreader neighbour tells an engaged ignorant the rumour", number(0.0, 1.0)
    ),
    "ignore_filter": Parameter(0.8, "fraction of that chance an ignorant filters out by ignoring", number(0.0, 1.0)),
    "stifling_rate": Parameter(
        0.3, "probability that one neighbour who knows the rumour makes a spreader stop", number(0.0, 1.0)
    ),
    "forgetting_rate": Parameter(0.05, "probability that a spreader stops on its own in a step", number(0.0, 1.0)),
    "spread_reward": Parameter(1.0, "reward per step of an engaged spreader", number(0.0)),
    "engage_cost": Parameter(0.3, "cost per step of engaging", number(0.0)),
    "initial_spreaders": Parameter(0.05, "spreader share of every class at the start", number(0.0, 1.0)),
}


@register_game(
    "rumour-graphex",
    "rumour spreading (ignorant/spreader/stifler) on a sparse graph: ignore or engage",
    {**RUMOUR_PARAMETERS, **POPULATION_PARAMETERS},
    kind="graphex",
)
def make_rumour_graphex(**params) -> ContagionGame:
    population = _population(params)
    hearing = params["hearing_rate"]
    filtered = params["ignore_filter"]
    stifling = params["stifling_rate"]
    forgetting = params["forgetting_rate"]
    spread_reward = params["spread_reward"]
    engage_cost = params["engage_cost"]
    spreaders = params["initial_spreaders"]
    horizon = params["horizon"]
    ignorant, spreader, stifler = 0, 1, 2
    target = np.array([spreader, stifler, stifler])
    contact = np.zeros((3, 3))
    contact[ignorant, spreader] = 1.0
    contact[spreader, [spreader, stifler]] = 1.0
    contact_rate = np.zeros((3, 2))
    contact_rate[ignorant] = hearing * np.array([1.0 - filtered, 1.0])
    contact_rate[spreader] = stifling
    spontaneous = np.zeros((3, 2))
    spontaneous[spreader] = forgetting
    state_reward = np.array([[0.0, -engage_cost]] * 3)
    state_reward[spreader, 1] += spread_reward
    initial = np.array([1.0 - spreaders, spreaders, 0.0])
    return contagion_game(
        "rumour-graphex",
        population,
        ("ignorant", "spreader", "stifler"),
        ("ignore", "engage"),
        target,
        contact,
        contact_rate,
        spontaneous,
        state_reward,
        initial,
        horizon,
        _shown(params, population),
    )
