"""N-agent simulation of every game family (the old home of all three simulators).

The simulators live with their families; this module re-exports their public
names so that ``from mfgtools.simulate import ...`` keeps working:

- finite games: :mod:`mfgtools.finite.simulate` (:func:`simulate`, :func:`simulate_agents`,
  :func:`n_player_exploitability`, ...);
- graphex games on their graph: :mod:`mfgtools.graphex.simulate` (:func:`simulate_on_graph`,
  :func:`mean_field_gap`);
- swarms: :mod:`mfgtools.swarm.rollouts` (:func:`simulate_swarm`, :func:`swarm_rollout`, :func:`swarm_flow`).
"""

from __future__ import annotations

from mfgtools.finite.simulate import (
    NPlayerEstimate,
    Trajectories,
    agents_step,
    check_n_player_game,
    empirical_best_response,
    empirical_distribution,
    mean_field_deviation,
    n_player_exploitability,
    n_player_returns,
    simulate,
    simulate_agents,
    simulate_seeds,
    slots,
)
from mfgtools.graphex.simulate import GraphPlay, mean_field_gap, simulate_on_graph
from mfgtools.swarm.rollouts import SwarmPlay, simulate_swarm, swarm_flow, swarm_rollout

__all__ = [
    "Trajectories",
    "agents_step",
    "empirical_distribution",
    "simulate",
    "simulate_agents",
    "simulate_seeds",
    "NPlayerEstimate",
    "slots",
    "check_n_player_game",
    "n_player_returns",
    "empirical_best_response",
    "mean_field_deviation",
    "n_player_exploitability",
    "GraphPlay",
    "mean_field_gap",
    "simulate_on_graph",
    "SwarmPlay",
    "simulate_swarm",
    "swarm_flow",
    "swarm_rollout",
]
