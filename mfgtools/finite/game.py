"""The finite mean-field game every kernel and solver works on.

A :class:`FiniteGame` is a frozen dataclass registered as a JAX pytree: its
arrays are leaves, its sizes and scalar parameters are static. Transitions are
stored as a fixed fan-out table (kernels.md): ``next_state[S, A, K]`` (int) with
``transition_prob[S, A, K]``, so memory and time grow as ``S * A * K``. A dense
``P[S, A, S]`` is the special case ``K = S``. The forward kernel pulls mass
through ``incoming[S, J]``, the inverse table (flat indices into ``S*A*K``),
which turns the scatter-add of the forward equation into a gather.

Concrete games subclass it and implement :meth:`FiniteGame.reward`; games whose
dynamics depend on the population override :meth:`FiniteGame.transition`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.annotations import Annotation, params_to_json  # noqa: F401 - re-exported (their old home)
from mfgtools.errors import MFGError, as_choice, as_float
from mfgtools.registry import MODES

STATIONARY_DISCOUNT = 0.9  # default discount of games played in stationary mode


def resolve_mode(
    mode, discount, finite_discount: float = 1.0, stationary_discount: float = STATIONARY_DISCOUNT
) -> tuple[str, float]:
    """Validate a game's ``mode`` and ``discount``; ``discount=None`` takes the mode's default.

    Returns ``(mode, discount)`` with ``mode`` one of :data:`~mfgtools.registry.MODES`
    and ``discount`` in ``(0, 1]``, below 1 in stationary mode (the discounted
    values of an infinite horizon are finite only then).
    """
    mode = as_choice(mode, "mode", MODES)
    if discount is None:
        discount = stationary_discount if mode == "stationary" else finite_discount
    discount = as_float(discount, "discount", 0.0, 1.0, low_open=True)
    if mode == "stationary" and discount >= 1.0:
        raise MFGError(
            f"discount must be below 1 in stationary mode (infinite-horizon values diverge at 1), got {discount}; "
            f"pass e.g. discount={STATIONARY_DISCOUNT}, or mode='finite-horizon'"
        )
    return mode, discount


def incoming_table(next_state: np.ndarray, n_states: int) -> np.ndarray:
    """Inverse of a fan-out table, padded to the largest in-degree.

    Args:
      next_state: ``(S, A, K)`` int successor table.
      n_states: ``S``.

    Returns:
      ``(S, J)`` int32: row ``s'`` lists the flat indices ``(s*A + a)*K + k`` of
      every entry whose successor is ``s'``; padding points at ``S*A*K``, a
      slot the kernels fill with zero mass.
    """
    flat = np.asarray(next_state, dtype=np.int64).reshape(-1)
    order = np.argsort(flat, kind="stable")
    counts = np.bincount(flat, minlength=n_states)
    width = max(int(counts.max(initial=0)), 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(flat.size) - np.repeat(starts, counts)
    table = np.full((n_states, width), flat.size, dtype=np.int32)
    table[flat[order], position] = order
    return table


@struct.dataclass(kw_only=True)
class FiniteGame:
    """A finite-horizon mean-field game on ``S`` states and ``A`` actions.

    Attributes:
      initial_distribution: ``(S,)`` probability vector ``mu0``.
      next_state: ``(S, A, K)`` int32 successor table.
      transition_prob: ``(S, A, K)`` probabilities of those successors (the
        population-independent part; see :meth:`transition`).
      incoming: ``(S, J)`` int32 inverse of ``next_state`` (:func:`incoming_table`).
      action_mask: ``(S, A)`` bool, ``True`` where the action is legal. Policies
        put no mass on illegal actions; best responses never pick them.
      horizon: number of decision steps ``T`` (stationary games: only the default
        length of simulated sample paths).
      discount: ``gamma`` (1 for the finite-horizon games of the papers; ``< 1``
        in stationary mode).
      name: registry name of the game.
      params: the parameters the game was built with (an :class:`Annotation` of a
        dict: shown and saved, never part of a compiled program's identity).
      grid_shape: ``(H, W)`` for grid games (states are row-major cells, walls
        included), ``None`` otherwise.
      free_mask: ``(H, W)`` bool, ``True`` on cells an agent can occupy (grid games).
      action_labels: human-readable action names, in the game's action order.
      stages: the transition as a move then a noise step (:class:`Stages`), when the game's table is one
        (``next_state[s, a, k] = noise_next[move[s, a], k]``); the kernels then read the two small tables
        instead of the ``(S, A, K)`` one. None: only the table.
      stationary: the mode this game is played in. ``False``: finite horizon,
        policies ``(T, S, A)``, flows ``(T+1, S)``. ``True``: discounted infinite
        horizon with time-homogeneous rewards and transitions (``t`` is always
        0), stationary policies ``(S, A)`` and populations ``(S,)`` (the kernels
        dispatch on it; see :mod:`mfgtools.finite.kernels`).
    """

    initial_distribution: jax.Array
    next_state: jax.Array
    transition_prob: jax.Array
    incoming: jax.Array
    action_mask: jax.Array
    horizon: int = struct.field(pytree_node=False)
    discount: float = struct.field(pytree_node=False)
    name: str = struct.field(pytree_node=False)
    params: Annotation = struct.field(pytree_node=False)
    grid_shape: tuple | None = struct.field(pytree_node=False)
    free_mask: jax.Array | None = None
    action_labels: tuple | None = struct.field(pytree_node=False, default=None)
    stationary: bool = struct.field(pytree_node=False, default=False)
    stages: Stages | None = None

    kind = "finite"  # the game family solvers are matched on (:data:`mfgtools.registry.KINDS`)
    # Games whose reward or transition read the joint state-action distribution
    # L_t(s, a) = mu_t(s) pi_t(a|s) set this to True and take it as a third argument:
    # reward(t, mu, joint) and transition(t, mu, joint), joint (S, A). The kernels then
    # pass the policy that made the flow wherever they read the model (finite horizon
    # only); every other game keeps the two-argument calls and their programs.
    joint = False
    # Games whose successors themselves depend on the population (not only their probabilities) set this to
    # True and override :meth:`successors`: the kernels then read the successor table at every step and add
    # masses into successors instead of gathering through the static inverse table ``incoming``.
    dynamic_successors = False
    # Number of populations: 1 here; multi-population games (:mod:`mfgtools.finite.populations`) play P
    # populations on the product space (population, state), a static field there.
    populations = 1

    def __post_init__(self):
        if self.stationary and not 0.0 < self.discount < 1.0:
            raise MFGError(
                f"game {self.name!r} in stationary mode needs a discount in (0, 1), got {self.discount}; "
                "pass e.g. discount=0.9"
            )

    # ----- sizes -------------------------------------------------------------
    @property
    def n_states(self) -> int:
        return int(self.next_state.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.next_state.shape[1])

    @property
    def fan_out(self) -> int:
        return int(self.next_state.shape[2])

    @property
    def mode(self) -> str:
        """``"stationary"`` or ``"finite-horizon"`` (see :data:`mfgtools.registry.MODES`)."""
        return "stationary" if self.stationary else "finite-horizon"

    @property
    def policy_shape(self) -> tuple:
        """``(T, S, A)``, or ``(S, A)`` in stationary mode."""
        table = (self.n_states, self.n_actions)
        return table if self.stationary else (self.horizon,) + table

    @property
    def action_names(self) -> tuple[str, ...]:
        """Human-readable action labels, in the game's action order."""
        return self.action_labels or tuple(str(a) for a in range(self.n_actions))

    @property
    def free_cells(self) -> np.ndarray | None:
        """``(H, W)`` bool, ``True`` on cells an agent can occupy (grid games)."""
        return None if self.free_mask is None else np.asarray(self.free_mask)

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.params.value)

    # ----- populations -----------------------------------------------------------
    @property
    def population_names(self) -> tuple[str, ...]:
        """One label per population (``("0",)`` for a single-population game)."""
        return tuple(str(p) for p in range(self.populations))

    @property
    def states_per_population(self) -> int:
        """``S / P``: the states of one population (``S`` for a single-population game)."""
        return self.n_states // self.populations

    def population_policies(self, policy):
        """A policy ``(..., S, A)`` split per population: ``(P, ..., S/P, A)`` (``P = 1``: a leading axis of 1)."""
        array = np.asarray(policy)
        shape = array.shape
        per = array.reshape(shape[:-2] + (self.populations, self.states_per_population, shape[-1]))
        return np.moveaxis(per, -3, 0)

    def population_flows(self, flow):
        """A flow ``(..., S)`` split per population: ``(P, ..., S/P)``, each population's own distribution
        (mass 1; a multi-population game stores mass ``1/P`` per population, see its docstring)."""
        array = np.asarray(flow)
        shape = array.shape
        per = array.reshape(shape[:-1] + (self.populations, self.states_per_population)) * self.populations
        return np.moveaxis(per, -2, 0)

    # ----- model -------------------------------------------------------------
    def reward(self, t: jax.Array, mu: jax.Array) -> jax.Array:
        """Rewards ``r_t(s, a, mu_t)``, shape ``(S, A)``. ``t`` may be traced.

        Games with ``joint = True`` take ``reward(t, mu, joint)``, ``joint`` the
        ``(S, A)`` state-action distribution ``mu_t(s) pi_t(a|s)``.
        """
        raise NotImplementedError

    def transition(self, t: jax.Array, mu: jax.Array) -> jax.Array:
        """Successor probabilities ``(S, A, K)`` at time ``t`` under ``mu_t``
        (``transition(t, mu, joint)`` in games with ``joint = True``)."""
        del t, mu
        return self.transition_prob

    def successors(self, t: jax.Array, mu: jax.Array) -> jax.Array:
        """Successor table ``(S, A, K)`` int at time ``t`` under ``mu_t``: ``next_state``, unless the game
        sets ``dynamic_successors`` (OpenSpiel's dynamic routing: the waiting time given on entering a link
        depends on the link's volume)."""
        del t, mu
        return self.next_state

    def terminal_reward(self, mu: jax.Array) -> jax.Array:
        """Terminal reward ``(S,)`` on ``mu_T`` (zero unless a game says otherwise)."""
        return jnp.zeros(self.n_states, dtype=self.initial_distribution.dtype)

    # ----- grid views --------------------------------------------------------
    def to_grid(self, x):
        """Reshape the state axis of ``x`` into ``(H, W)``.

        The state axis is the last one whose length is ``S`` (``(..., S)`` or
        ``(..., S, A)``): ``(T+1, S) -> (T+1, H, W)``, ``(T, S, A) -> (T, H, W, A)``.
        """
        if self.grid_shape is None:
            raise MFGError(f"game {self.name!r} is not a grid game: it has no grid view")
        axis = _state_axis(np.shape(x), self.n_states)
        shape = np.shape(x)
        return x.reshape(shape[:axis] + tuple(self.grid_shape) + shape[axis + 1 :])

    def from_grid(self, x):
        """Inverse of :meth:`to_grid`: merge the ``(H, W)`` axes into ``S``."""
        if self.grid_shape is None:
            raise MFGError(f"game {self.name!r} is not a grid game: it has no grid view")
        h, w = self.grid_shape
        shape = np.shape(x)
        for axis in range(len(shape) - 1, 0, -1):
            if shape[axis - 1] == h and shape[axis] == w:
                return x.reshape(shape[: axis - 1] + (h * w,) + shape[axis + 1 :])
        raise MFGError(f"no (H, W) = {self.grid_shape} axes found in an array of shape {shape}")

    def describe(self) -> str:
        """One line: name, sizes and parameters."""
        shape = f", grid {self.grid_shape[0]}x{self.grid_shape[1]}" if self.grid_shape else ""
        length = "stationary" if self.stationary else f"T={self.horizon}"
        return (
            f"{self.name}: S={self.n_states}, A={self.n_actions}, K={self.fan_out}, "
            f"{length}{shape}, discount={self.discount}"
        )


def _state_axis(shape: tuple, n_states: int) -> int:
    for axis in range(len(shape) - 1, -1, -1):
        if shape[axis] == n_states and (axis == len(shape) - 1 or axis == len(shape) - 2):
            return axis
    raise MFGError(f"no state axis of length {n_states} in an array of shape {shape}")


@struct.dataclass
class Stages:
    """A transition that is a deterministic move then a noise step: ``next_state[s, a, k] =
    noise_next[move[s, a], k]`` with probability ``noise_prob[move[s, a], k]`` (OpenSpiel's crowd games;
    MFGLib's ``crowd_motion``, whose moves land on ``M > S`` intermediate cells: a grid with a border, the
    noise clipped after the move).

    ``move`` ``(S, A)`` into ``M`` intermediate points (``M = S`` when the move lands on a state),
    ``noise_next`` and ``noise_prob`` ``(M, N)``, and the inverse tables of both stages, ``move_incoming``
    ``(M, J1)`` over the ``S * A`` moves and ``noise_incoming`` ``(S, J2)`` over the ``M * N`` noise steps
    (:func:`incoming_table`). A backward step then gathers ``M * N + S * A`` values instead of ``S * A * N``,
    a forward step ``M * J1 + S * J2`` instead of ``S * J`` (on small games it adds the ``S * A + M * N``
    masses into their cells and successors instead: ``kernels._STAGED_SCATTER_ENTRIES``).
    """

    move: jax.Array
    move_incoming: jax.Array
    noise_next: jax.Array
    noise_prob: jax.Array
    noise_incoming: jax.Array


def fan_out_fields(next_state, transition_prob, stages: tuple | None = None) -> dict:
    """The transition fields of a :class:`FiniteGame` from host tables ``(S, A, K)``: ``next_state`` (int32),
    ``transition_prob`` (float) and their inverse ``incoming`` (:func:`incoming_table`), for ``cls(**fields, ...)``.

    ``stages``: ``(move (S, A), noise_next (M, N), noise_prob (M, N))`` when the table is a move then a noise
    step; they must compose to the table (checked), and the game then carries them (:class:`Stages`).
    """
    next_state = np.asarray(next_state)
    n_states = next_state.shape[0]
    fields = dict(
        next_state=jnp.asarray(next_state, dtype=jnp.int32),
        transition_prob=float_array(transition_prob),
        incoming=jnp.asarray(incoming_table(next_state, n_states)),
    )
    if stages is not None:
        move, noise_next, noise_prob = (np.asarray(x) for x in stages)
        if not (np.array_equal(noise_next[move], next_state) and np.array_equal(noise_prob[move], transition_prob)):
            raise ValueError("stages do not compose to the transition table")
        fields["stages"] = Stages(
            move=jnp.asarray(move, dtype=jnp.int32),
            move_incoming=jnp.asarray(incoming_table(move[:, :, None], noise_next.shape[0])),
            noise_next=jnp.asarray(noise_next, dtype=jnp.int32),
            noise_prob=float_array(noise_prob),
            noise_incoming=jnp.asarray(incoming_table(noise_next[:, None, :], n_states)),
        )
    return fields


def float_array(x) -> jax.Array:
    """``x`` as a JAX float array of the default precision (float32, or float64 under x64)."""
    return jnp.asarray(np.asarray(x, dtype=np.float64), dtype=jnp.result_type(float))
