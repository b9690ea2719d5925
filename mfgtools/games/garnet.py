"""OpenSpiel's mean-field Garnet game (``mfg_garnet``): random dynamics and rewards from a seed.

``size`` states, ``num_action`` actions, ``num_chance_action`` random successors
per ``(x, a)``; ``mu0`` uniform. The reward at a decision node is ``R(x, a) + eta
* -log(mu(x) + 1e-25)``. OpenSpiel's tables come from ``std::mt19937(seed)``
and Abseil's uniform distributions, drawn per state ``i`` and action ``j`` (in
that order): a sparsity draw ``u`` and, if ``u < sparsity_factor``, a reward
``U[0, 1)`` (else 0); ``num_chance_action - 1`` cut points of ``[0, 1]`` whose
sorted gaps are the successor probabilities (normalised by their sum); and, per
outcome, a successor uniform on ``0..size-1``. :func:`openspiel_tables` draws the
same numbers bit for bit (Mersenne Twister words from NumPy's legacy seeding,
which is ``std::mt19937``'s; Abseil's conversions written out below), so the
same seed gives OpenSpiel's game.

OpenSpiel fills those tables in the order ``i * num_action + j`` but reads entry
``x + size * a`` for state ``x`` and action ``a``; mfgtools keeps that reading,
so its ``garnet`` is OpenSpiel's game, not the table a reader would expect.

With ``openspiel_quirks=True`` (the default), as OpenSpiel computes it: the
reward ``R`` is that of the *previous* action at the *new* state (action 0
before the first move), its decision nodes ``(x, t)`` omit that action, so each
keeps the ``R`` of its first depth-first arrival
(:mod:`mfgtools.games.openspiel_traversal`), and the last action's ``R`` is never
paid. Its chance nodes name the action, so ``MirrorDescent`` reads no stale
values here. ``openspiel_quirks=False``: ``R(x, a)`` is paid for the action taken.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.finite.game import Annotation, FiniteGame, fan_out_fields, float_array
from mfgtools.games.openspiel_traversal import openspiel_traversal
from mfgtools.games.registry import register_game
from mfgtools.registry import Parameter, boolean, horizon, integer, number, seed
from mfgtools.resources import check_game_size

FLOOR = float(np.float32(1e-25))  # OpenSpiel's kEpsilon is a C++ float
NEUTRAL_ACTION = 0  # OpenSpiel's last action before the first move


class _MersenneWords:
    """32-bit outputs of ``std::mt19937(seed)``, one at a time (NumPy's legacy seeding is the same)."""

    def __init__(self, seed: int, block: int = 4096):
        state = np.random.RandomState(seed).get_state()
        self._generator = np.random.MT19937()
        self._generator.state = {"bit_generator": "MT19937", "state": {"key": state[1], "pos": state[2]}}
        self._block = block
        self._words: list[int] = []
        self._next = 0

    def __call__(self) -> int:
        if self._next == len(self._words):
            self._words = [int(w) for w in self._generator.random_raw(self._block)]
            self._next = 0
        self._next += 1
        return self._words[self._next - 1]


def _uniform_real(words: _MersenneWords) -> float:
    """Abseil's ``Uniform<double>(rng, 0, 1)``: 64 bits (first word high), truncated to 53 significant bits."""
    bits = (words() << 32) | words()
    if bits == 0:
        return 0.0
    length = bits.bit_length()
    mantissa = bits >> max(length - 53, 0)
    return math.ldexp(mantissa, length - min(length, 53) - 64)


def _uniform_int(words: _MersenneWords, limit: int) -> int:
    """Abseil's ``Uniform<int>(rng, 0, limit)``: Lemire's multiply-shift with its rejection step."""
    bits = words()
    if limit & (limit - 1) == 0:
        return bits & (limit - 1)
    product = bits * limit
    if product & 0xFFFFFFFF < limit:
        threshold = (2**32 - limit) % limit
        while product & 0xFFFFFFFF < threshold:
            product = words() * limit
    return product >> 32


def openspiel_tables(size: int, num_action: int, num_chance_action: int, sparsity_factor: float, seed: int):
    """OpenSpiel's Garnet tables for ``seed``, in OpenSpiel's fill order.

    Returns ``(reward, successor, probability)``: ``(size * num_action,)``,
    ``(size * num_action, num_chance_action)`` int and the same float, row ``n =
    i * num_action + j`` from state ``i`` and action ``j`` (probabilities already
    divided by their row sum, as OpenSpiel's ``GetTransitionProba`` does).
    """
    words = _MersenneWords(seed)
    rows = size * num_action
    reward = np.zeros(rows)
    successor = np.zeros((rows, num_chance_action), dtype=np.int64)
    probability = np.zeros((rows, num_chance_action))
    for row in range(rows):
        if _uniform_real(words) < sparsity_factor:
            reward[row] = _uniform_real(words)
        cuts = sorted([0.0, 1.0] + [_uniform_real(words) for _ in range(num_chance_action - 1)])
        total = 0.0
        for k in range(num_chance_action):
            probability[row, k] = cuts[k + 1] - cuts[k]
            total += probability[row, k]
            successor[row, k] = _uniform_int(words, size)
        probability[row] /= total
    return reward, successor, probability


@struct.dataclass(kw_only=True)
class GarnetGame(FiniteGame):
    """Garnet rewards ``R + eta * -log(mu + floor)``.

    ``action_reward`` ``(S, A)`` is ``R(x, a)``; with the quirks the reward at
    ``(x, t)`` is ``first_arrival_reward[t, x]`` ``(T, S)`` for every action.
    ``mirror_descent_stale`` ``(T, S, A)`` is all False (no shared chance nodes).
    """

    action_reward: jax.Array
    first_arrival_reward: jax.Array
    mirror_descent_stale: jax.Array
    eta: float = struct.field(pytree_node=False)
    floor: float = struct.field(pytree_node=False)
    openspiel_quirks: bool = struct.field(pytree_node=False)

    def reward(self, t, mu):
        crowd = (-self.eta * jnp.log(mu + self.floor))[:, None]
        if self.openspiel_quirks:
            return crowd + self.first_arrival_reward[t][:, None] + jnp.zeros_like(self.action_reward)
        return crowd + self.action_reward


PARAMETERS = {
    "size": Parameter(10, "number of states", integer(1)),
    "horizon": Parameter(10, "decision steps T", horizon),
    "seed": Parameter(0, "seed of OpenSpiel's generator (same seed, same game as OpenSpiel's)", seed),
    "num_action": Parameter(3, "number of actions", integer(1)),
    "num_chance_action": Parameter(3, "random successors per (state, action)", integer(1)),
    "sparsity_factor": Parameter(1.0, "probability that a (state, action) has a nonzero reward", number(0.0, 1.0)),
    "eta": Parameter(1.0, "weight of the crowd aversion -log(mu + 1e-25)", number()),
    "discount": Parameter(1.0, "discount gamma", number(0.0, 1.0, low_open=True)),
    "openspiel_quirks": Parameter(True, "reproduce OpenSpiel's numbers exactly (see docs)", boolean),
}


@register_game("garnet", "OpenSpiel's mean-field Garnet game (random dynamics and rewards from a seed)", PARAMETERS)
def make_garnet(
    size,
    horizon,
    seed,
    num_action,
    num_chance_action,
    sparsity_factor,
    eta,
    discount,
    openspiel_quirks,
):
    n_actions = num_action
    n_outcomes = num_chance_action
    sparsity = sparsity_factor
    quirks = openspiel_quirks
    check_game_size(
        "garnet", size, n_actions, n_outcomes, horizon, lower="size, num_action, num_chance_action or the horizon"
    )

    reward, successor, probability = openspiel_tables(size, n_actions, n_outcomes, sparsity, seed)
    # OpenSpiel reads entry x + size * a for state x and action a
    read = np.arange(size)[:, None] + size * np.arange(n_actions)[None, :]
    action_reward = reward[read]  # (S, A)
    next_state = successor[read]  # (S, A, K)
    prob = probability[read]
    legal = np.ones((size, n_actions), dtype=bool)
    if quirks:
        chance = np.arange(size * n_actions).reshape(size, n_actions)  # chance nodes are (x, a) pairs
        first_action, stale = openspiel_traversal(
            chance,
            legal,
            next_state.reshape(size * n_actions, n_outcomes),
            np.ones((size * n_actions, n_outcomes), dtype=bool),
            np.arange(size),
            horizon,
        )
        previous = np.where(first_action >= 0, first_action, NEUTRAL_ACTION)
        first_reward = action_reward[np.arange(size)[None, :], previous]
    else:
        first_reward = np.zeros((horizon, size))
        stale = np.zeros((horizon, size, n_actions), dtype=bool)
    params = dict(
        size=size,
        horizon=horizon,
        seed=seed,
        num_action=n_actions,
        num_chance_action=n_outcomes,
        sparsity_factor=sparsity,
        eta=eta,
        discount=discount,
        openspiel_quirks=quirks,
    )
    return GarnetGame(
        initial_distribution=float_array(np.full(size, 1.0 / size)),
        **fan_out_fields(next_state, prob),
        action_mask=jnp.asarray(legal),
        horizon=horizon,
        discount=discount,
        name="garnet",
        params=Annotation(params),
        grid_shape=None,
        action_reward=float_array(action_reward),
        first_arrival_reward=float_array(first_reward),
        mirror_descent_stale=jnp.asarray(stale),
        eta=eta,
        floor=FLOOR,
        openspiel_quirks=quirks,
    )
