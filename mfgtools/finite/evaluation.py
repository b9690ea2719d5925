"""The user-facing evaluation API: validated, jitted wrappers of the kernels.

``mean_field(game, policy)`` returns the flow ``(T+1, S)``,
``exploitability(game, policy)`` a float, ``best_response(game, policy)`` the
greedy best response to the policy's flow. Policies are ``(T, S, A)`` arrays
(NumPy or JAX) with rows on the simplex of legal actions; anything else is
rejected with a message that says how to fix it.

Stationary games (``game.stationary``): policies ``(S, A)``, and
``mean_field`` returns the stationary population ``(S,)``; when its fixed-point
iteration does not converge, these functions raise an error instead of
returning a number computed on an unconverged population.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from mfgtools.errors import MFGError, as_float
from mfgtools.finite import kernels
from mfgtools.finite.game import FiniteGame


@jax.jit
def _mean_field(game, policy):
    """The flow, and the residual of the stationary population (0 in finite-horizon mode)."""
    if game.stationary:
        mu, residual, _ = kernels.stationary_population(game, policy)
        return mu, residual
    return kernels.mean_field(game, policy), jnp.zeros((), policy.dtype)


# Beyond this the entropy term (temperature x log A per step) swamps any reward and overflows float32 values:
# the regularised exploitability would be float rounding, not a number about the policy.
MAX_TEMPERATURE = 1e6


@partial(jax.jit, static_argnames=("temperature", "greedy_start"))
def _exploitability(game, policy, temperature, greedy_start):
    flow, residual = _mean_field(game, policy)
    return kernels.exploitability(game, policy, temperature, greedy_start, flow=flow), residual


@partial(jax.jit, static_argnames=("temperature",))
def _best_response(game, policy, temperature):
    flow, residual = _mean_field(game, policy)
    q, v, br = kernels.best_response(game, flow, temperature, flow_policy=policy)
    return br, q, v, residual


def check_population(game, residual) -> None:
    """Clear error when a stationary population did not converge."""
    residual = float(residual)
    tolerance = kernels.default_tolerance(game.initial_distribution.dtype)
    if not residual <= tolerance:
        raise MFGError(
            f"the stationary population of this policy in {game.name!r} did not converge "
            f"(residual |Gamma(mu) - mu|_1 = {residual:.3g} > {tolerance:g} after "
            f"{kernels.MAX_POPULATION_STEPS} damped steps): the population operator has no attracting "
            "fixed point for it; try a more exploratory policy, noise in the game, or the game's "
            "finite-horizon mode (mode='finite-horizon') where it has one"
        )


def check_game(game) -> FiniteGame:
    if not isinstance(game, FiniteGame):
        raise MFGError(f"expected a finite game from mfgtools.make_game(...), got {type(game).__name__}")
    return game


def as_policy(game: FiniteGame, policy, atol: float = 1e-4, batched: bool = False) -> jax.Array:
    """Validate a ``(T, S, A)`` (stationary: ``(S, A)``) policy for ``game``; return it as a JAX array.

    ``batched=True`` accepts one leading axis (e.g. per-agent policies ``(N, T, S, A)``).

    Rows must be non-negative, sum to 1 (within ``atol``) and put no mass on
    illegal actions. The dtype follows JAX's default float precision.
    """
    check_game(game)
    expected = game.policy_shape
    array = np.asarray(policy)
    if array.shape[int(batched) :] != expected or array.ndim != len(expected) + int(batched):
        names = "(S, A)" if game.stationary else "(T, S, A)"
        grid = "(H, W, A)" if game.stationary else "(T, H, W, A)"
        raise MFGError(
            f"policy has shape {array.shape}, but game {game.name!r} ({game.mode}) needs {names} = {expected}; "
            f"grid policies of shape {grid} can be converted with game.from_grid(policy)"
        )
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise MFGError(f"policy must hold real numbers (probabilities), got dtype {array.dtype}")
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
            "policy puts mass on illegal actions (moves into walls); use game.action_mask to zero them and renormalise"
        )
    return jnp.asarray(np.clip(array, 0.0, None), dtype=game.initial_distribution.dtype)


def mean_field(game: FiniteGame, policy) -> np.ndarray:
    """Mean-field flow ``(T+1, S)`` of ``policy`` in ``game`` (stationary: the population ``(S,)``)."""
    flow, residual = _mean_field(check_game(game), as_policy(game, policy))
    check_population(game, residual)
    return np.asarray(flow)


def exploitability(game: FiniteGame, policy, temperature: float = 0.0, greedy_start: bool = False) -> float:
    """Exploitability of ``policy`` (>= 0; 0 at a Nash equilibrium).

    ``temperature > 0`` gives the entropy-regularised exploitability;
    ``greedy_start=True`` the Off-MMD paper's scoring (see :func:`kernels.exploitability`).
    """
    temperature = as_float(temperature, "temperature", 0.0, MAX_TEMPERATURE)
    value, residual = _exploitability(
        check_game(game), as_policy(game, policy), temperature=temperature, greedy_start=bool(greedy_start)
    )
    check_population(game, residual)
    return float(value)


def best_response(game: FiniteGame, policy, temperature: float = 0.0) -> np.ndarray:
    """Best response ``(T, S, A)`` to the flow of ``policy`` (greedy, or softmax if ``temperature > 0``)."""
    temperature = as_float(temperature, "temperature", 0.0, MAX_TEMPERATURE)
    br, _, _, residual = _best_response(check_game(game), as_policy(game, policy), temperature=temperature)
    check_population(game, residual)
    return np.asarray(br)


def uniform_policy(game: FiniteGame) -> np.ndarray:
    """The uniform policy over legal actions, ``(T, S, A)`` (stationary: ``(S, A)``)."""
    return np.asarray(kernels.uniform_policy(check_game(game)))
