"""The user-facing evaluation API: validated, jitted wrappers of the kernels.

``mean_field(game, policy)`` returns the flow ``(T+1, S)``,
``exploitability(game, policy)`` a float, ``best_response(game, policy)`` the
greedy best response to the policy's flow. Policies are ``(T, S, A)`` arrays
(NumPy or JAX) with rows on the simplex of legal actions; anything else is
rejected with a message that says how to fix it.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from mfgtools import kernels
from mfgtools.errors import MFGError
from mfgtools.games.base import FiniteGame

_mean_field = jax.jit(kernels.mean_field)
_exploitability = jax.jit(kernels.exploitability, static_argnames=("temperature", "greedy_start"))


@partial(jax.jit, static_argnames=("temperature",))
def _best_response(game, policy, temperature):
    flow = kernels.mean_field(game, policy)
    q, v, br = kernels.best_response(game, flow, temperature)
    return br, q, v


def check_game(game) -> FiniteGame:
    if not isinstance(game, FiniteGame):
        raise MFGError(
            f"expected a finite game from mfgtools.make_game(...), got {type(game).__name__}"
        )
    return game


def as_policy(game: FiniteGame, policy, atol: float = 1e-4, batched: bool = False) -> jax.Array:
    """Validate a ``(T, S, A)`` policy for ``game`` and return it as a JAX array.

    ``batched=True`` accepts one leading axis (e.g. per-agent policies ``(N, T, S, A)``).

    Rows must be non-negative, sum to 1 (within ``atol``) and put no mass on
    illegal actions. The dtype follows JAX's default float precision.
    """
    check_game(game)
    expected = (game.horizon, game.n_states, game.n_actions)
    array = np.asarray(policy)
    if array.shape[int(batched):] != expected or array.ndim != 3 + int(batched):
        raise MFGError(
            f"policy has shape {array.shape}, but game {game.name!r} needs (T, S, A) = {expected}; "
            "grid policies of shape (T, H, W, A) can be converted with game.from_grid(policy)"
        )
    if not np.issubdtype(array.dtype, np.number):
        raise MFGError(f"policy must hold numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise MFGError("policy contains NaN or infinite entries")
    if (array < -atol).any():
        raise MFGError(f"policy has negative probabilities (min {array.min():.3g})")
    sums = array.sum(axis=-1)
    worst = np.abs(sums - 1.0).max()
    if worst > atol:
        where = np.unravel_index(np.abs(sums - 1.0).argmax(), sums.shape)
        raise MFGError(
            f"policy rows must sum to 1 over actions; row {tuple(int(i) for i in where)} sums to "
            f"{sums[where]:.6g}. "
            "Normalise with policy / policy.sum(-1, keepdims=True)"
        )
    illegal = ~np.asarray(game.action_mask)
    if illegal.any() and (array * illegal > atol).any():
        raise MFGError(
            "policy puts mass on illegal actions (moves into walls); use game.action_mask to "
            "zero them and renormalise"
        )
    return jnp.asarray(np.clip(array, 0.0, None), dtype=game.initial_distribution.dtype)


def mean_field(game: FiniteGame, policy) -> np.ndarray:
    """Mean-field flow ``(T+1, S)`` of ``policy`` in ``game``."""
    return np.asarray(_mean_field(check_game(game), as_policy(game, policy)))


def exploitability(game: FiniteGame, policy, temperature: float = 0.0, greedy_start: bool = False) -> float:
    """Exploitability of ``policy`` (>= 0; 0 at a Nash equilibrium).

    ``temperature > 0`` gives the entropy-regularised exploitability;
    ``greedy_start=True`` the Off-MMD paper's scoring (see :func:`kernels.exploitability`).
    """
    value = _exploitability(check_game(game), as_policy(game, policy), temperature=float(temperature),
                            greedy_start=bool(greedy_start))
    return float(value)


def best_response(game: FiniteGame, policy, temperature: float = 0.0) -> np.ndarray:
    """Best response ``(T, S, A)`` to the flow of ``policy`` (greedy, or softmax if ``temperature > 0``)."""
    br, _, _ = _best_response(check_game(game), as_policy(game, policy), temperature=float(temperature))
    return np.asarray(br)


def uniform_policy(game: FiniteGame) -> np.ndarray:
    """The uniform policy over legal actions, ``(T, S, A)``."""
    return np.asarray(kernels.uniform_policy(check_game(game)))
