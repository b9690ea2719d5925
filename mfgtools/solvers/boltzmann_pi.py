"""Boltzmann policy iteration (OpenSpiel's ``BoltzmannPolicyIteration``).

``pi_{k+1}(a|s) = softmax_a(lr * Q^{pi_k, mu_k}_t(s, a))`` per ``(t, s)`` over
the legal actions, ``pi_0`` uniform, ``mu_k`` the flow of ``pi_k``: policy
iteration with a softmax instead of the greedy step, at temperature ``1 / lr``.
OpenSpiel builds it on its ``MirrorDescent`` by projecting the last
iteration's Q-function instead of the cumulative one (its ``lr``, 0.01 by
default, multiplies the values); as there, no cumulative table is read, so the
in-place reads of ``MirrorDescent`` do not occur.

It differs from ``boltzmann`` (:mod:`mfgtools.solvers.fictitious_play`), which
softmaxes the best response's ``Q*`` rather than the current policy's ``Q^pi``.
It is :class:`~mfgtools.solvers.munchausen_omd.SoftPolicyIteration` without the
memory ``log pi_k``.
"""

from __future__ import annotations

from mfgtools.registry import Parameter, positive
from mfgtools.solvers.munchausen_omd import SoftPolicyIteration
from mfgtools.solvers.registry import register_solver


@register_solver(
    "boltzmann-pi",
    "Boltzmann policy iteration: pi <- softmax(lr * Q^pi) (OpenSpiel's BoltzmannPolicyIteration)",
    {
        "learning_rate": Parameter(
            0.01, "coefficient lr of softmax(lr * Q^pi), the inverse temperature (OpenSpiel's lr)", positive()
        )
    },
    requires="joint",
)
def make_boltzmann_pi(learning_rate):
    return SoftPolicyIteration(learning_rate, memory=False)
