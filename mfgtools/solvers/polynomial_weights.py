"""MF-PSRO driven by PolynomialWeightAlgorithm (OpenSpiel's ``regret/polynomial_weights.py``): w <- w (1 + eta u).

The regret minimiser of OpenSpiel's mean-field module over a population of
policies that grows by one joint best response per iteration, with its
correlated-equilibrium gaps (``cce_gap``, ``ce_gap``) reported per
iteration: :mod:`mfgtools.solvers.mf_psro` with ``regret_minimizer="polynomial-weights"``,
where the update rule and the metrics are described.
"""

from __future__ import annotations

from mfgtools.solvers.mf_psro import PARAMETERS, make_psro
from mfgtools.solvers.registry import register_solver


@register_solver(
    "polynomial-weights",
    "polynomial weights over a population of best responses, with CE/CCE gaps (OpenSpiel's MF-PSRO with them)",
    PARAMETERS,
    iterations=10,
)
def make_polynomial_weights(**params):
    return make_psro("polynomial-weights", **params)
