"""OpenSpiel's mean-field dynamic routing game (``mfg_dynamic_routing`` in C++, ``python_mfg_dynamic_routing``).

Vehicles travel on the links (road sections) of a network from an origin link
to a destination link. A vehicle on a link first waits out the link's travel
time, then picks a successor link (action ``k`` moves to the ``k``-th link in
OpenSpiel's numbering: origins sorted by name, successors in order; action 0
is "no move"). Entering a link at time ``t`` assigns a waiting time
``max(0, floor(tt(v) / dt) - 1)`` steps, where ``tt(v) = free_flow (1 + a (v /
capacity)^b)`` (BPR) and ``v = N * mu_t(link)`` is the number of vehicles on that
link (``N`` the total demand; counted over the vehicles still travelling whose
waiting time is below ``max_num_time_step``, as OpenSpiel's distribution
support does). A vehicle that enters its destination at step ``t`` arrives with
cost ``t * dt``; one that never arrives (or ends on a sink that is not its
destination) costs ``(max_num_time_step + 1) dt``. The reward is minus that
cost, paid on arrival (``-t dt``) or at the end.

States: ``(destination, link, w)`` with ``w = -1`` for a vehicle that has just
entered its link (its waiting time is assigned from ``mu_t`` when it decides,
as OpenSpiel does at its mean-field node) and ``w = 0..W`` afterwards, plus two
absorbing states, *arrived* and *stuck*. A just-entered vehicle whose assigned
waiting time is positive has no choice: every action waits (OpenSpiel offers it
the single action 0; the values are the same).

Networks: ``braess`` (the default; Braess's paradox, demand 5 from O->A to D->E)
and ``line`` (bef_O->O, O->A, A->D, D->aft_D, demand 100, unit travel times).
``implementation``: ``cpp`` (OpenSpiel's C++ game, the default:
``time_step_length`` 1.0; travel times rounded to float32, as its
``GetTravelTime`` returns a float) or ``python`` (its Python game:
``time_step_length`` 0.5; float64 travel times). OpenSpiel's factory settings
are ``braess`` with ``max_num_time_step=100, time_step_length=0.05`` and
``line`` with ``max_num_time_step=5, time_step_length=1``.

Exploitability, policy values and best responses are OpenSpiel's exactly, and so
are ``omd``'s iterates wherever tried but one case: OpenSpiel keys a decision
node by its *assigned* waiting time, so a vehicle that has just entered a link
with no wait and one that has waited there share a policy (mfgtools gives them
one each), and its ``MirrorDescent`` accumulates values only on the nodes its
depth-first search reaches, a set that moves with the population. At
``time_step_length=0.75, max_num_time_step=12`` the two part after the first
iteration (4e-3 relative at the second, below 1e-5 after). OpenSpiel's
``FictitiousPlay`` does not run on this game (a ``KeyError`` in its tabular
policy), so ``fp`` has no reference here (docs/openspiel_games.md).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.finite.game import Annotation, FiniteGame, fan_out_fields, float_array
from mfgtools.games.registry import register_game
from mfgtools.registry import Parameter, choice, horizon, optional, positive
from mfgtools.resources import check_game_size

# network: adjacency (node -> successors), BPR coefficients a, b, capacity and free-flow time per link
# (defaults a = 0, b = 1, capacity = 1, free flow = 1), origin-destination demands (origin, destination,
# departure time, count)
NETWORKS = {
    "braess": dict(
        adjacency={"O": ["A"], "A": ["B", "C"], "B": ["C", "D"], "C": ["D"], "D": ["E"], "E": []},
        a={"O->A": 0, "A->B": 1.0, "A->C": 0, "B->C": 0, "B->D": 0, "C->D": 1.0, "D->E": 0},
        b={link: 1.0 for link in ("O->A", "A->B", "A->C", "B->C", "B->D", "C->D", "D->E")},
        capacity={link: 5.0 for link in ("O->A", "A->B", "A->C", "B->C", "B->D", "C->D", "D->E")},
        free_flow={"O->A": 0, "A->B": 1.0, "A->C": 2.0, "B->C": 0.25, "B->D": 2.0, "C->D": 1.0, "D->E": 0},
        demand=[("O->A", "D->E", 0.0, 5.0)],
    ),
    "line": dict(
        adjacency={"bef_O": ["O"], "O": ["A"], "A": ["D"], "D": ["aft_D"], "aft_D": []},
        a={},
        b={},
        capacity={},
        free_flow={},
        demand=[("bef_O->O", "D->aft_D", 0.0, 100.0)],
    ),
}
IMPLEMENTATIONS = {"cpp": 1.0, "python": 0.5}  # and their default time_step_length


@struct.dataclass(kw_only=True)
class DynamicRoutingGame(FiniteGame):
    """Dynamic routing (see the module docstring).

    Fields (``L`` links, ``D`` destinations, ``W`` the longest waiting time):
    ``state_link`` ``(S,)`` int the link of each state (``L`` for the absorbing
    ones); ``entering`` ``(S,)`` bool the just-entered states (``w = -1``);
    ``counted`` ``(S,)`` bool the states OpenSpiel counts on a link;
    ``arrival_move`` ``(S, A)`` bool the moves onto the state's destination;
    ``bpr`` ``(4, L)`` free-flow time, ``a``, ``b`` and capacity per link;
    ``terminal`` ``(S,)`` the terminal reward.
    """

    state_link: jnp.ndarray
    entering: jnp.ndarray
    counted: jnp.ndarray
    arrival_move: jnp.ndarray
    bpr: jnp.ndarray
    terminal: jnp.ndarray
    total_demand: float = struct.field(pytree_node=False)
    dt: float = struct.field(pytree_node=False)
    max_wait: int = struct.field(pytree_node=False)
    float32_travel_time: bool = struct.field(pytree_node=False)

    def link_volume(self, mu):
        """Vehicles ``N * mu`` counted on each link, ``(L,)``."""
        n_links = self.bpr.shape[1]
        mass = jnp.where(self.counted, mu, 0.0)
        return self.total_demand * jnp.zeros(n_links + 1, mu.dtype).at[self.state_link].add(mass)[:n_links]

    def assigned_wait(self, mu):
        """Waiting time given on entering each link under ``mu``, ``(L,)`` int, within ``0..W``."""
        free_flow, a, b, capacity = self.bpr
        volume = self.link_volume(mu)
        if self.float32_travel_time:  # OpenSpiel's C++ GetTravelTime(float volume) -> float
            ratio = (volume.astype(jnp.float32) / capacity.astype(jnp.float32)).astype(volume.dtype)
            travel = (free_flow * (1.0 + a * ratio**b)).astype(jnp.float32).astype(volume.dtype)
        else:
            travel = free_flow * (1.0 + a * (volume / capacity) ** b)
        wait = floor_quotient(travel, jnp.asarray(self.dt, travel.dtype)) - 1.0
        return jnp.clip(wait, 0, self.max_wait).astype(jnp.int32)

    def _waits(self, mu):
        """Per state: whether a just-entered vehicle moves now ``(S,)`` and its assigned wait ``(S,)``."""
        wait = jnp.concatenate([self.assigned_wait(mu), jnp.zeros(1, jnp.int32)])[self.state_link]
        return (~self.entering) | (wait == 0), wait

    def reward(self, t, mu):
        moves, _ = self._waits(mu)
        arrival = jnp.where(self.arrival_move & moves[:, None], -self.dt * t, 0.0)
        return arrival.astype(mu.dtype)

    dynamic_successors = True

    def successors(self, t, mu):
        """One successor per ``(s, a)`` (``K = 1``): the table's, except for a vehicle that has just entered
        a link and was given a positive wait ``w``: every action takes it to ``(destination, link, w - 1)``,
        state ``s + w``."""
        moves, wait = self._waits(mu)
        waiting = jnp.arange(self.n_states, dtype=jnp.int32) + wait
        return jnp.where((self.entering & ~moves)[:, None, None], waiting[:, None, None], self.next_state)

    def terminal_reward(self, mu):
        return self.terminal.astype(mu.dtype)


def _split(a):
    """Veltkamp's split of ``a`` into a high and a low half (``a = high + low``, each half-width)."""
    bits = jnp.finfo(a.dtype).nmant + 1
    c = (2.0 ** ((bits + 1) // 2) + 1.0) * a
    high = c - (c - a)
    return high, a - high


def floor_quotient(x, y):
    """``floor(x / y)`` of the correctly rounded quotient (``x >= 0``, ``y > 0``), as C++ and Python compute it.

    A division near a rounding tie can come out one unit in the last place off
    on some CPUs' vector units (1.75 / 0.07 gave 25.0 instead of
    24.999999999999996 on the machine this was written on), which moves a
    waiting time by a whole step. Near an integer ``k`` the sign of the exact
    residual ``x - k y`` (Dekker's product, exact without FMA) decides instead.
    """
    r = x / y
    k = jnp.round(r)
    product = k * y
    kh, kl = _split(k)
    yh, yl = _split(y)
    error = ((kh * yh - product) + kh * yl + kl * yh) + kl * yl
    residual = (x - product) - error  # x - k y
    below = k - jnp.nextafter(k, jnp.zeros_like(k))  # spacing just below k
    reaches = residual >= -0.5 * below * y  # the rounded quotient is at least k
    near = jnp.abs(r - k) <= 4.0 * below
    return jnp.where(near, jnp.where(reaches, k, k - 1.0), jnp.floor(r))


def _links(adjacency: dict) -> list[str]:
    """OpenSpiel's link order (action ``k`` is link ``k - 1``): origins sorted, successors in order."""
    return [f"{origin}->{successor}" for origin, successors in sorted(adjacency.items()) for successor in successors]


PARAMETERS = {
    "network": Parameter("braess", "braess or line", choice(*NETWORKS)),
    "max_num_time_step": Parameter(10, "decision steps T", horizon),
    "time_step_length": Parameter(None, "dt (default: 1.0 for cpp, 0.5 for python)", optional(positive())),
    "implementation": Parameter(
        "cpp", "OpenSpiel's cpp (mfg_dynamic_routing) or python game", choice(*IMPLEMENTATIONS)
    ),
}


@register_game("dynamic_routing", "OpenSpiel's mean-field dynamic routing (Braess or line network)", PARAMETERS)
def make_dynamic_routing(network, max_num_time_step, time_step_length, implementation):
    data = NETWORKS[network]
    horizon = max_num_time_step
    dt = IMPLEMENTATIONS[implementation] if time_step_length is None else time_step_length
    adjacency = data["adjacency"]
    links = _links(adjacency)
    index = {link: i for i, link in enumerate(links)}
    n_links, n_actions = len(links), len(links) + 1
    end = [link.split("->")[1] for link in links]
    bpr = np.array(
        [
            [data[key].get(link, default) for link in links]
            for key, default in (("free_flow", 1.0), ("a", 0.0), ("b", 1.0), ("capacity", 1.0))
        ]
    )
    if implementation == "cpp":  # OpenSpiel's C++ network keeps them as floats
        bpr = bpr.astype(np.float32).astype(np.float64)
    demand = data["demand"]
    destinations = sorted({d for _, d, _, _ in demand})
    total = float(sum(count for *_, count in demand))
    departures = [int(departure / dt) for _, _, departure, _ in demand]
    # the longest waiting time any link can give (its volume is at most the total demand)
    volume = total * (1.0 + 1e-4)
    longest = max(math.floor(f * (1.0 + a * (volume / c) ** b) / dt) - 1 for f, a, b, c in bpr.T)
    max_wait = max([longest, 0] + departures)
    check_game_size(
        "dynamic_routing",
        len(destinations) * n_links * (max_wait + 2) + 2,
        n_actions,
        1,
        horizon,
        lower="time_step_length (larger) or max_num_time_step",
    )

    width = max_wait + 2  # w = -1..W
    n_states = len(destinations) * n_links * width + 2
    arrived, stuck = n_states - 2, n_states - 1

    def state(destination, link, wait):
        return (destinations.index(destination) * n_links + index[link]) * width + wait + 1

    fan_out = 1  # the waiting time given on entering a link is read from the population (successors)
    next_state = np.tile(np.arange(n_states)[:, None, None], (1, n_actions, fan_out))
    prob = np.zeros((n_states, n_actions, fan_out))
    prob[:, :, 0] = 1.0
    legal = np.zeros((n_states, n_actions), dtype=bool)
    legal[:, 0] = True
    state_link = np.full(n_states, n_links)
    entering = np.zeros(n_states, dtype=bool)
    counted = np.zeros(n_states, dtype=bool)
    arrival_move = np.zeros((n_states, n_actions), dtype=bool)
    for destination in destinations:
        for link in links:
            successors = [index[f"{end[index[link]]}->{s}"] for s in adjacency[end[index[link]]]]
            for wait in range(-1, max_wait + 1):
                s = state(destination, link, wait)
                state_link[s] = index[link]
                counted[s] = wait < horizon  # OpenSpiel's support lists waits -1..T-1
                if wait >= 1:
                    next_state[s, :, 0] = state(destination, link, wait - 1)
                    continue
                if not successors:
                    continue
                legal[s, 0] = False
                for k in successors:
                    target = links[k]
                    if target == destination:
                        successor = arrived
                        arrival_move[s, k + 1] = True
                    elif not adjacency[end[k]]:
                        successor = stuck
                    else:
                        successor = state(destination, target, -1)
                    legal[s, k + 1] = True
                    next_state[s, k + 1, 0] = successor
                if wait == -1:
                    entering[s] = True
    mu0 = np.zeros(n_states)
    for (origin, destination, _, count), departure in zip(demand, departures):
        mu0[state(destination, origin, departure)] += count / total
    terminal = np.full(n_states, -(horizon + 1) * dt)
    terminal[arrived] = 0.0
    params = dict(network=network, max_num_time_step=horizon, time_step_length=dt, implementation=implementation)
    labels = ("none",) + tuple(f"to {link}" for link in links)
    return DynamicRoutingGame(
        initial_distribution=float_array(mu0),
        **fan_out_fields(next_state, prob),
        action_mask=jnp.asarray(legal),
        horizon=horizon,
        discount=1.0,
        name="dynamic_routing",
        params=Annotation(params),
        grid_shape=None,
        action_labels=labels,
        state_link=jnp.asarray(state_link, dtype=jnp.int32),
        entering=jnp.asarray(entering),
        counted=jnp.asarray(counted),
        arrival_move=jnp.asarray(arrival_move),
        bpr=float_array(bpr),
        terminal=float_array(terminal),
        total_demand=total,
        dt=dt,
        max_wait=max_wait,
        float32_travel_time=implementation == "cpp",
    )
