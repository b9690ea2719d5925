"""The contagion step of graphex games: one law, used by the mean field and by the agents.

An agent in epidemic state ``x`` taking action ``a`` leaves ``x`` (for
``target[x]``) on its own with probability ``spontaneous[x, a]``, and each of its
neighbours in a contact state of ``x`` transmits independently with probability
``beta = contact_rate[x, a]``. It therefore stays in ``x`` with probability

    stay = (1 - spontaneous) * (1 - beta) ** n

for ``n`` such neighbours. The N-agent simulation on the graph
(:mod:`mfgtools.graphex.simulate`) counts ``n`` on the graph; the mean-field
game (:class:`mfgtools.games.contagion.ContagionGame`) uses the expected count
of its class (graphon classes) or, for the per-degree classes of the hybrid
model, averages over ``n ~ Binomial(k, share)`` with ``k`` the class degree,
which gives ``(1 - beta * share) ** k``. Both call :func:`stay_probability`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def stay_probability(
    spontaneous: jax.Array,
    beta: jax.Array,
    contacts: jax.Array,
    degree: jax.Array | None = None,
    per_degree: jax.Array | None = None,
) -> jax.Array:
    """Probability of staying in the current epidemic state for one step (module docstring).

    Args:
      spontaneous: probability of leaving on one's own (``(X, A)`` table rows or per agent).
      beta: per-contact transmission probability, same shape as ``spontaneous``.
      contacts: number (or expected number) of neighbours in the contact states; broadcasts
        against ``beta``.
      degree: with ``per_degree``, the degree ``k`` of a per-degree class (broadcasts).
      per_degree: bool mask (broadcasts): where True, ``contacts`` is an expected count out
        of ``degree`` neighbours and the transmissions are averaged over a binomial number
        of contacts, ``(1 - beta * min(contacts / k, 1)) ** k``; elsewhere
        ``(1 - beta) ** contacts``.

    Returns the stay probability, the broadcast shape of the arguments.
    """
    escape = jnp.power(1.0 - beta, contacts)  # no contact transmits
    if per_degree is not None:
        share = jnp.clip(contacts / jnp.maximum(degree, 1.0), 0.0, 1.0)
        binomial = jnp.power(jnp.clip(1.0 - beta * share, 0.0, 1.0), degree)
        escape = jnp.where(per_degree, binomial, escape)
    return (1.0 - spontaneous) * escape


__all__ = ["stay_probability"]
