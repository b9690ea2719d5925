"""MF-PSRO driven by Hedge (OpenSpiel's ``regret/hedge.py``): w <- w exp(eta u).

The regret minimiser of OpenSpiel's mean-field module over a population of
policies that grows by one joint best response per iteration, with its
correlated-equilibrium gaps (``cce_gap``, ``ce_gap``) reported per
iteration: :mod:`mfgtools.solvers.mf_psro` with ``regret_minimizer="hedge"``,
where the update rule and the metrics are described.
"""

from __future__ import annotations

from mfgtools.solvers.mf_psro import PARAMETERS, make_psro
from mfgtools.solvers.registry import register_solver


@register_solver(
    "hedge",
    "Hedge over a population of best responses, with CE/CCE gaps (OpenSpiel's MF-PSRO with Hedge)",
    PARAMETERS,
    iterations=10,
)
def make_hedge(**params):
    return make_psro("hedge", **params)
