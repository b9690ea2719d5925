"""MFGLib's environments as mfgtools games, with MFGLib's conventions and defaults.

Registered as ``mfglib/<name>``. Each game is written here from MFGLib's
documented definitions (``mfglib.env.Environment`` and its examples, MFGLib
0.3.0); nothing of MFGLib or torch is needed to build or run them. Conventions
(docs/mfglib_games.md):

- MFGLib's ``T`` counts time steps ``0..T``: ``T + 1`` decisions, our
  ``horizon = T + 1``; the reward of the last decision is read at ``t = T``
  (``linear_quadratic`` has its terminal cost there). No discount, no terminal
  reward after the last decision.
- Multi-dimensional state spaces are flattened row-major (as ``torch.flatten``
  does); the shape is kept in ``state_shape`` / ``action_shape`` (and as
  ``grid_shape`` for two-dimensional ones, for the grid views and plots).
- ``mfgtools.exploitability`` is MFGLib's ``exploitability_score``
  (``sum_s mu0(s) (max_a Q*_0(s, a) - sum_a pi_0(a|s) Q^pi_0(s, a))``, both
  against the policy's own mean field).
- ``mu0``: ``"uniform"`` or a probability vector (any shape with ``S``
  entries, flattened row-major), as MFGLib's ``mu0`` argument.

Seven games read only the state distribution ``mu_t``. Three
(``conservative_treasure_hunting``, ``equilibrium_price``, ``random_linear``)
read the joint state-action distribution ``L_t(s, a)``: they set ``joint =
True`` and take ``reward(t, mu, joint)`` / ``transition(t, mu, joint)``, and are
registered with kind ``"joint"`` (the solvers that pass the flow's policy to
the model run on them: docs/mfglib_games.md).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.errors import MFGError, as_int
from mfgtools.finite import kernels
from mfgtools.finite.game import Annotation, FiniteGame, fan_out_fields, float_array
from mfgtools.games.registry import register_game
from mfgtools.registry import Parameter, integer, number, positive
from mfgtools.resources import check_game_size

PREFIX = "mfglib/"
CROWD_RULES = ("shift", "clamp")  # -eta log(mu + eps) (beach bar, crowd motion) or -eta log(max(mu, eps))


@struct.dataclass(kw_only=True)
class MFGLibGame(FiniteGame):
    """An MFGLib environment whose reward reads ``mu_t`` (see the module docstring).

    ``r_t(s, a, mu) = base_reward[t, s, a] + (interaction @ mu)[s]
    - crowd_weight * log(mu(s) + eps)`` (``crowd_rule = "shift"``) or
    ``... - crowd_weight * log(max(mu(s), eps))`` (``"clamp"``).

    Attributes (besides :class:`~mfgtools.games.base.FiniteGame`'s):
      base_reward: ``(T, S, A)`` the part of the reward that does not read ``mu``.
      interaction: ``(S, S)`` the part linear in ``mu`` (zeros when there is none).
      crowd_weight: ``eta`` of the crowd-aversion term (0: none).
      log_eps: ``eps`` of the crowd-aversion term.
      crowd_rule: ``"shift"`` or ``"clamp"`` (how ``eps`` floors ``mu``).
      state_shape, action_shape: MFGLib's ``S`` and ``A`` (flattened row-major here).
      r_max: MFGLib's ``r_max``, the bound on ``|r|`` it declares for the environment (read by
        ``mf-omo``, MFGLib's MFOMO, for the radii of its constraints).
    """

    base_reward: jax.Array
    interaction: jax.Array
    crowd_weight: float = struct.field(pytree_node=False, default=0.0)
    log_eps: float = struct.field(pytree_node=False, default=0.0)
    crowd_rule: str = struct.field(pytree_node=False, default="shift")
    linear: bool = struct.field(pytree_node=False, default=False)
    state_shape: tuple = struct.field(pytree_node=False, default=())
    action_shape: tuple = struct.field(pytree_node=False, default=())
    r_max: float | None = struct.field(pytree_node=False, default=None)

    def reward(self, t, mu):
        reward = self.base_reward[t]
        if self.linear:
            reward = reward + kernels.small_matmul(self.interaction, mu)[:, None]
        if self.crowd_weight:
            floored = mu + self.log_eps if self.crowd_rule == "shift" else jnp.maximum(mu, self.log_eps)
            reward = reward - self.crowd_weight * jnp.log(floored)[:, None]
        return reward


@struct.dataclass(kw_only=True)
class MFGLibAffineTransitionGame(MFGLibGame):
    """An :class:`MFGLibGame` whose successor probabilities are affine in one
    coordinate of ``mu``: ``P_t = transition_prob + mu(source) * transition_slope``
    (``(S, A, K)``; MFGLib's susceptible-infected infection risk)."""

    transition_slope: jax.Array
    source: int = struct.field(pytree_node=False, default=0)

    def transition(self, t, mu):
        del t
        return self.transition_prob + mu[self.source] * self.transition_slope


@struct.dataclass(kw_only=True)
class MFGLibLinearQuadratic(MFGLibGame):
    """MFGLib's ``linear_quadratic``: positions ``x = -el..el``, moves ``u = -m..m``,
    mean position ``m_t = sum_x x mu_t(x)``.

    Reward (times ``delta``) ``-u^2/2 + q u (m_t - x) - kappa/2 (m_t - x)^2`` at
    ``t < T``; ``-c_term/2 (m_t - x)^2`` at the last decision ``t = T``. The next
    position is ``x + (k (m_t - x) + u) delta + sigma eps sqrt(delta)`` rounded to
    the nearest integer (ties to even) and clipped to ``[-el, el]``, with noise
    ``eps`` on ``sigma * {-3..3}`` weighted by the normal density. The successors
    move with ``m_t``, so the table is dense (``K = S``).
    """

    positions: jax.Array  # (S,) x
    moves: jax.Array  # (A,) u
    noise: jax.Array  # (N,) sigma * eps_j * sqrt(delta) as MFGLib forms it
    noise_prob: jax.Array  # (N,)
    el: int = struct.field(pytree_node=False, default=0)
    delta: float = struct.field(pytree_node=False, default=0.1)
    k: float = struct.field(pytree_node=False, default=1.0)
    q: float = struct.field(pytree_node=False, default=0.01)
    kappa: float = struct.field(pytree_node=False, default=0.5)
    c_term: float = struct.field(pytree_node=False, default=1.0)

    def _mean(self, mu):
        return kernels.small_matmul(self.positions.astype(mu.dtype), mu)

    def reward(self, t, mu):
        gap = self._mean(mu) - self.positions.astype(mu.dtype)[:, None]  # (S, 1)
        u = self.moves.astype(mu.dtype)[None, :]
        running = (-0.5 * u**2 + self.q * u * gap - 0.5 * self.kappa * gap**2) * self.delta
        terminal = jnp.broadcast_to(-0.5 * self.c_term * gap**2, running.shape)
        return jnp.where(t == self.horizon - 1, terminal, running)

    def transition(self, t, mu):
        del t
        index = jnp.arange(self.n_states, dtype=mu.dtype)[:, None, None]  # s = x + el
        action = jnp.arange(self.n_actions, dtype=mu.dtype)[None, :, None]  # a = u + m
        m = (self.n_actions - 1) // 2
        # MFGLib's expression and order of operations, so that the rounding agrees to the last bit
        drift = (self.k * (self._mean(mu) - index + self.el) + action - m) * self.delta
        target = jnp.round((index - self.el) + drift + self.noise.astype(mu.dtype)[None, None, :])
        successor = (jnp.clip(target, -self.el, self.el) + self.el).astype(jnp.int32)  # (S, A, N)
        onehot = jax.nn.one_hot(successor, self.n_states, dtype=mu.dtype)  # (S, A, N, S)
        return jnp.einsum("sank,n->sak", onehot, self.noise_prob.astype(mu.dtype))


# ----- validation helpers -----------------------------------------------------------
def _mu0(value, shape: tuple, game: str) -> np.ndarray:
    """MFGLib's ``mu0``: ``"uniform"`` or a probability vector of ``prod(shape)`` entries."""
    size = int(np.prod(shape))
    if isinstance(value, str):
        if value != "uniform":
            raise MFGError(f"{game}: mu0 must be 'uniform' or {size} probabilities, got {value!r}")
        return np.full(size, 1.0 / size)
    try:
        mu0 = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise MFGError(f"{game}: mu0 must be 'uniform' or {size} probabilities, got {value!r}") from None
    if mu0.size != size or not np.isfinite(mu0).all() or (mu0 < 0).any() or abs(mu0.sum() - 1.0) > 1e-6:
        raise MFGError(
            f"{game}: mu0 must be {size} non-negative numbers summing to 1 (state shape {shape}), "
            f"got {np.asarray(value).tolist()}"
        )
    return mu0


def _last_step(game: str):
    """The check of MFGLib's ``T`` (last time index; the horizon is ``T + 1``) of ``game``."""
    return integer(0, 100_000, label=f"{game}: T (last time step; T + 1 decisions)")


EPS = number(0.0, 1.0, low_open=True)  # the check of log_eps


def _table_from_moves(moves: np.ndarray, probs: np.ndarray, n_states: int):
    """``next_state`` / ``transition_prob`` ``(S, A, K)`` from successor lists,
    merging repeated successors (as MFGLib's ``+=`` does) so the rows stay short.

    Each row lists its possible successors in increasing order; a row with fewer than ``K`` repeats its first
    successor with probability 0 in the spare slots (not some impossible state, which would give that state
    a long, padded column in the inverse table)."""
    n_s, n_a, n_k = moves.shape
    dense = np.zeros((n_s, n_a, n_states))
    np.add.at(dense, (np.arange(n_s)[:, None, None], np.arange(n_a)[None, :, None], moves), probs)
    possible = dense > 0
    fan_out = max(1, int(possible.sum(axis=-1).max()))
    next_state = np.argsort(~possible, axis=-1, kind="stable")[..., :fan_out]
    prob = np.take_along_axis(dense, next_state, axis=-1)
    next_state = np.where(prob > 0, next_state, next_state[..., :1])
    return next_state, prob


def _game(
    cls,
    *,
    name,
    params,
    mu0,
    next_state,
    prob,
    horizon,
    base_reward,
    state_shape,
    action_shape,
    action_labels=None,
    interaction=None,
    stages=None,
    **fields,
):
    n_states, n_actions, fan_out = next_state.shape
    check_game_size(PREFIX + name, n_states, n_actions, fan_out, horizon, lower="the sizes or T")
    grid = tuple(state_shape) if len(state_shape) == 2 else None
    base = np.broadcast_to(np.asarray(base_reward, np.float64), (horizon, n_states, n_actions))
    linear = interaction is not None
    return cls(
        initial_distribution=float_array(mu0),
        **fan_out_fields(next_state, prob, stages),
        action_mask=jnp.ones((n_states, n_actions), bool),
        horizon=horizon,
        discount=1.0,
        name=PREFIX + name,
        params=Annotation(params),
        grid_shape=grid,
        free_mask=None if grid is None else jnp.ones(grid, bool),
        action_labels=action_labels,
        base_reward=float_array(base),
        interaction=float_array(np.zeros((n_states, n_states)) if interaction is None else interaction),
        linear=linear,
        state_shape=tuple(state_shape),
        action_shape=tuple(action_shape),
        **fields,
    )


def _mu0_param(default="uniform"):
    return Parameter(default, "initial distribution: 'uniform' or S probabilities (row-major)")


# ----- beach bar ----------------------------------------------------------------------
@register_game(
    PREFIX + "beach_bar",
    "MFGLib's beach bar: a 1D torus-distance bar, crowd aversion (T+1 decisions)",
    {
        "T": Parameter(2, "last time step (T + 1 decisions)", _last_step("beach_bar")),
        "n": Parameter(4, "number of beach positions", integer(1, 10_000_000, label="n (beach positions)")),
        "bar_loc": Parameter(2, "position of the bar, in [0, n)"),
        "log_eps": Parameter(1e-20, "eps of -log(mu + eps)", EPS),
        "p_still": Parameter(0.5, "probability that the move's noise is zero (else +-1, equally)", number(0.0, 1.0)),
        "mu0": _mu0_param(),
    },
)
def make_beach_bar(T, n, bar_loc, log_eps, p_still, mu0) -> MFGLibGame:
    """Reward ``-dist(s, bar) - |a - 1| / n - log(mu(s) + eps)`` (``dist`` on the circle of
    ``n`` positions); move ``a - 1`` plus noise ``{-1, 0, 1}`` w.p. ``((1-p)/2, p, (1-p)/2)``,
    clipped at the ends ``0`` and ``n - 1`` (the moves do not wrap)."""
    name = "beach_bar"
    horizon = T + 1
    bar_loc = as_int(bar_loc, "bar_loc", 0, n - 1)
    mu = _mu0(mu0, (n,), name)
    s = np.arange(n)
    shift = (s - bar_loc) % n
    distance = np.minimum(shift, (n - shift) % n)
    base = -distance[:, None] - np.array([1.0, 0.0, 1.0])[None, :] / n
    noise = np.array([-1, 0, 1])
    moves = np.clip(s[:, None, None] + (np.arange(3) - 1)[None, :, None] + noise[None, None, :], 0, n - 1)
    probs = np.broadcast_to([(1 - p_still) / 2, p_still, (1 - p_still) / 2], moves.shape)
    next_state, prob = _table_from_moves(moves, probs, n)
    params = dict(T=horizon - 1, n=n, bar_loc=bar_loc, log_eps=log_eps, p_still=p_still, mu0=_mu0_record(mu0, mu))
    return _game(
        MFGLibGame,
        name=name,
        params=params,
        mu0=mu,
        next_state=next_state,
        prob=prob,
        horizon=horizon,
        base_reward=base,
        state_shape=(n,),
        action_shape=(3,),
        action_labels=("left", "stay", "right"),
        r_max=float(n),
        crowd_weight=1.0,
        log_eps=log_eps,
        crowd_rule="shift",
    )


def _mu0_record(value, mu):
    return value if isinstance(value, str) else mu.tolist()


# ----- crowd motion ---------------------------------------------------------------------
CROWD_MOTION_ACTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1), (0, 0))


def torch_coin_flips(seed: int, count: int) -> np.ndarray:
    """``count`` draws of ``torch.randint(0, 2, (1,))`` after ``torch.manual_seed(seed)``.

    torch's CPU generator is the 32-bit Mersenne twister seeded as
    ``init_genrand(seed)``, and a draw below ``2**32`` takes one 32-bit output
    modulo the range; numpy's legacy ``RandomState(seed)`` is the same twister
    with the same seeding (checked against torch in tests/games/test_mfglib_live.py).
    """
    words = np.random.RandomState(seed).randint(0, 2**32, size=count, dtype=np.uint64)
    return (words % 2).astype(np.int64)


def crowd_motion_bar_locations(T: int, torus_l: int, torus_w: int, loc_change_freq: int, seed: int) -> np.ndarray:
    """The bar's cell at ``t = 0..T`` (``(T + 1, 2)``), drawn as MFGLib draws it:
    starting at the centre, every ``loc_change_freq``-th step it tries a diagonal
    step ``(+-1, +-1)`` (two coin flips), kept only if it stays on the grid."""
    changes = sum(1 for i in range(T + 1) if (i + 1) % loc_change_freq == 0)
    flips = iter(torch_coin_flips(seed, 2 * changes))
    location = (torus_l // 2, torus_w // 2)
    locations = [location]
    for i in range(T + 1):
        if (i + 1) % loc_change_freq == 0:
            step = (2 * next(flips) - 1, 2 * next(flips) - 1)
            candidate = (location[0] + step[0], location[1] + step[1])
            if 0 <= candidate[0] < torus_l and 0 <= candidate[1] < torus_w:
                location = candidate
        locations.append(location)
    return np.array(locations[: T + 1])


@register_game(
    PREFIX + "crowd_motion",
    "MFGLib's crowd motion: 2D grid, a moving bar, crowd aversion (T+1 decisions)",
    {
        "T": Parameter(3, "last time step (T + 1 decisions)", _last_step("crowd_motion")),
        "torus_l": Parameter(20, "grid rows", integer(1, 100_000, label="torus_l (grid rows)")),
        "torus_w": Parameter(20, "grid columns", integer(1, 100_000, label="torus_w (grid columns)")),
        "loc_change_freq": Parameter(2, "the bar tries to move every this many steps", integer(1)),
        "c": Parameter(10.0, "weight of the closeness-to-the-bar reward", number()),
        "log_eps": Parameter(1e-10, "eps of -log(mu + eps)", EPS),
        "p_still": Parameter(0.5, "probability that the move's noise is zero", number(0.0, 1.0)),
        "seed": Parameter(
            0,
            "torch seed of the bar's moves (MFGLib's; reproduced without torch)",
            integer(0, 2**32 - 1, label="seed (torch.manual_seed's, here below 2**32)"),
        ),
        "mu0": _mu0_param(),
    },
)
def make_crowd_motion(T, torus_l, torus_w, loc_change_freq, c, log_eps, p_still, seed, mu0) -> MFGLibGame:
    """Reward ``c (1 - |s - bar_t|_1 / (L + W)) - log(mu(s) + eps)``; move by the action
    (rows +-1, columns +-1, stay) plus the same kind of noise w.p. ``(1-p)/4`` each or
    none w.p. ``p``, clipped to the grid (despite the name, it does not wrap)."""
    name = "crowd_motion"
    horizon = T + 1
    rows = torus_l
    cols = torus_w
    freq = loc_change_freq
    mu = _mu0(mu0, (rows, cols), name)
    bars = crowd_motion_bar_locations(T, rows, cols, freq, seed)
    r, w = np.divmod(np.arange(rows * cols), cols)
    distance = np.abs(r[None, :] - bars[:, :1]) + np.abs(w[None, :] - bars[:, 1:])  # (T+1, S)
    base = c * (1.0 - distance / (rows + cols))
    base = np.broadcast_to(base[:, :, None], (horizon, rows * cols, 5))
    step = np.array(CROWD_MOTION_ACTIONS)
    row_next = np.clip(r[:, None, None] + step[None, :, None, 0] + step[None, None, :, 0], 0, rows - 1)
    col_next = np.clip(w[:, None, None] + step[None, :, None, 1] + step[None, None, :, 1], 0, cols - 1)
    x = (1 - p_still) / 4
    probs = np.broadcast_to([x, x, x, x, p_still], row_next.shape)
    next_state, prob = _table_from_moves(row_next * cols + col_next, probs, rows * cols)
    # the same table as a move onto the grid with a border of one cell (no clipping yet), then the noise,
    # clipped: the kernels then gather S x A + M x N values per step instead of S x A x N (kernels._staged)
    landing = (r[:, None] + step[None, :, 0] + 1) * (cols + 2) + (w[:, None] + step[None, :, 1] + 1)  # (S, A)
    cells, move = np.unique(landing, return_inverse=True)  # the M cells a move lands on
    cell_r, cell_w = np.divmod(cells, cols + 2)
    noise_row = np.clip(cell_r[:, None] - 1 + step[None, :, 0], 0, rows - 1)
    noise_col = np.clip(cell_w[:, None] - 1 + step[None, :, 1], 0, cols - 1)
    noise_probs = np.broadcast_to([x, x, x, x, p_still], noise_row.shape)[:, None, :]
    noise_next, noise_prob = _table_from_moves((noise_row * cols + noise_col)[:, None, :], noise_probs, rows * cols)
    params = dict(
        T=T,
        torus_l=rows,
        torus_w=cols,
        loc_change_freq=freq,
        c=c,
        log_eps=log_eps,
        p_still=p_still,
        seed=seed,
        mu0=_mu0_record(mu0, mu),
    )
    return _game(
        MFGLibGame,
        name=name,
        params=params,
        mu0=mu,
        next_state=next_state,
        prob=prob,
        horizon=horizon,
        base_reward=base,
        state_shape=(rows, cols),
        action_shape=(5,),
        action_labels=("row+1", "row-1", "col+1", "col-1", "stay"),
        r_max=c - math.log(log_eps),
        crowd_weight=1.0,
        log_eps=log_eps,
        crowd_rule="shift",
        stages=(move.reshape(landing.shape), noise_next[:, 0], noise_prob[:, 0]),
    )


# ----- building evacuation -------------------------------------------------------------
@register_game(
    PREFIX + "building_evacuation",
    "MFGLib's building evacuation: floors of a grid, stairs at opposite corners (T+1 decisions)",
    {
        "T": Parameter(3, "last time step (T + 1 decisions)", _last_step("building_evacuation")),
        "n_floor": Parameter(5, "number of floors", integer(1, 100_000)),
        "floor_l": Parameter(10, "floor length (first grid axis)", integer(1, 100_000)),
        "floor_w": Parameter(10, "floor width (second grid axis)", integer(1, 100_000)),
        "log_eps": Parameter(1e-20, "floor of mu in -eta log(max(mu, eps))", EPS),
        "eta": Parameter(1.0, "crowd-aversion weight", number()),
        "evac_r": Parameter(10.0, "reward per step on floor 0 (evacuated)", number()),
        "mu0": _mu0_param(),
    },
)
def make_building_evacuation(T, n_floor, floor_l, floor_w, log_eps, eta, evac_r, mu0) -> MFGLibGame:
    """States ``(floor, l, w)``; reward ``-eta log(max(mu(s), eps)) + evac_r [floor = 0]``;
    deterministic moves ``l+1, l-1, w-1, w+1`` (clipped), downstairs (only at
    ``(l, w) = (0, 0)``) and upstairs (only at ``(L-1, W-1)``), else stay."""
    name = "building_evacuation"
    horizon = T + 1
    floors = n_floor
    length = floor_l
    width = floor_w
    shape = (floors, length, width)
    mu = _mu0(mu0, shape, name)
    f, along, w = np.unravel_index(np.arange(floors * length * width), shape)
    stair_down = (along == 0) & (w == 0)
    stair_up = (along == length - 1) & (w == width - 1)
    moves = [  # the successor's (floor, along, w) under each action
        (f, np.minimum(along + 1, length - 1), w),
        (f, np.maximum(along - 1, 0), w),
        (f, along, np.maximum(w - 1, 0)),
        (f, along, np.minimum(w + 1, width - 1)),
        (np.where(stair_down, np.maximum(f - 1, 0), f), along, w),
        (np.where(stair_up, np.minimum(f + 1, floors - 1), f), along, w),
    ]
    next_state = np.stack([np.ravel_multi_index(move, shape) for move in moves], axis=1)[..., None]  # (S, 6, 1)
    base = np.broadcast_to(np.where(f == 0, evac_r, 0.0)[:, None], (f.size, 6))
    params = dict(
        T=T,
        n_floor=floors,
        floor_l=length,
        floor_w=width,
        log_eps=log_eps,
        eta=eta,
        evac_r=evac_r,
        mu0=_mu0_record(mu0, mu),
    )
    return _game(
        MFGLibGame,
        name=name,
        params=params,
        mu0=mu,
        next_state=next_state,
        prob=np.ones(next_state.shape),
        horizon=horizon,
        base_reward=base,
        state_shape=shape,
        action_shape=(6,),
        action_labels=("right", "left", "up", "down", "downstairs", "upstairs"),
        r_max=-eta * math.log(log_eps) + evac_r,
        crowd_weight=eta,
        log_eps=log_eps,
        crowd_rule="clamp",
    )


# ----- left-right, rock-paper-scissors ---------------------------------------------------
def _pick_state(n_states: int, n_actions: int) -> np.ndarray:
    """Action ``a`` leads to state ``1 + a`` from anywhere (``(S, A, 1)``)."""
    return np.broadcast_to(1 + np.arange(n_actions), (n_states, n_actions))[..., None].copy()


@register_game(
    PREFIX + "left_right",
    "MFGLib's left-right: pay for the crowd on your side, right twice (T = 1)",
    {
        "mu0": Parameter((1.0, 0.0, 0.0), "initial distribution over (start, left, right)"),
    },
)
def make_left_right(mu0) -> MFGLibGame:
    """States ``(start, left, right)``, actions ``(left, right)`` lead there; reward
    ``-mu(left)`` in ``left``, ``-2 mu(right)`` in ``right``, 0 at the start; ``T = 1``."""
    name = "left_right"
    mu = _mu0(mu0, (3,), name)
    interaction = -np.diag([0.0, 1.0, 2.0])
    params = dict(mu0=mu.tolist())
    return _game(
        MFGLibGame,
        name=name,
        params=params,
        mu0=mu,
        next_state=_pick_state(3, 2),
        prob=np.ones((3, 2, 1)),
        horizon=2,
        base_reward=np.zeros((3, 2)),
        state_shape=(3,),
        action_shape=(2,),
        action_labels=("left", "right"),
        interaction=interaction,
        r_max=2.0,
    )


@register_game(
    PREFIX + "rock_paper_scissors",
    "MFGLib's generalised (Shapley) rock-paper-scissors against the population (T+1 decisions)",
    {
        "T": Parameter(1, "last time step (T + 1 decisions)", _last_step("rock_paper_scissors")),
        "mu0": Parameter((1.0, 0.0, 0.0, 0.0), "initial distribution over (start, rock, paper, scissors)"),
    },
)
def make_rock_paper_scissors(T, mu0) -> MFGLibGame:
    """States ``(start, rock, paper, scissors)``, action ``a`` leads to state ``1 + a``;
    reward of rock ``2 mu(S) - mu(P)``, of paper ``4 mu(R) - 2 mu(S)``, of scissors
    ``6 mu(P) - 3 mu(R)``, 0 at the start."""
    name = "rock_paper_scissors"
    mu = _mu0(mu0, (4,), name)
    interaction = np.array([[0, 0, 0, 0], [0, 0, -1, 2], [0, 4, 0, -2], [0, -3, 6, 0]], dtype=np.float64)
    params = dict(T=T, mu0=mu.tolist())
    return _game(
        MFGLibGame,
        name=name,
        params=params,
        mu0=mu,
        next_state=_pick_state(4, 3),
        prob=np.ones((4, 3, 1)),
        horizon=T + 1,
        base_reward=np.zeros((4, 3)),
        state_shape=(4,),
        action_shape=(3,),
        action_labels=("rock", "paper", "scissors"),
        interaction=interaction,
        r_max=6.0,
    )


# ----- susceptible-infected ----------------------------------------------------------------
SI_INFECTION = 0.9**2  # infection probability of going out, per unit of mu(infected)
SI_RECOVERY = 0.3


@register_game(
    PREFIX + "susceptible_infected",
    "MFGLib's susceptible-infected: go out or distance, infection grows with mu(I) (T+1 decisions)",
    {
        "T": Parameter(50, "last time step (T + 1 decisions)", _last_step("susceptible_infected")),
        "mu0": Parameter((0.4, 0.6), "initial distribution over (susceptible, infected)"),
    },
)
def make_susceptible_infected(T, mu0) -> MFGLibAffineTransitionGame:
    """States ``(susceptible, infected)``, actions ``(go out, distance)``. A susceptible
    agent going out is infected w.p. ``0.81 mu(I)``, distancing w.p. 0; an infected one
    recovers w.p. 0.3 whatever it does. Reward ``-0.5 [distance] - [infected]``."""
    name = "susceptible_infected"
    mu = _mu0(mu0, (2,), name)
    next_state = np.broadcast_to(np.array([0, 1]), (2, 2, 2)).copy()
    prob = np.array([[[1.0, 0.0], [1.0, 0.0]], [[SI_RECOVERY, 1 - SI_RECOVERY]] * 2])
    slope = np.zeros((2, 2, 2))
    slope[0, 0] = [-SI_INFECTION, SI_INFECTION]
    base = np.array([[0.0, -0.5], [-1.0, -1.5]])
    params = dict(T=T, mu0=mu.tolist())
    return _game(
        MFGLibAffineTransitionGame,
        name=name,
        params=params,
        mu0=mu,
        next_state=next_state,
        prob=prob,
        horizon=T + 1,
        base_reward=base,
        state_shape=(2,),
        action_shape=(2,),
        action_labels=("go out", "distance"),
        r_max=1.5,
        transition_slope=float_array(slope),
        source=1,
    )


# ----- linear-quadratic --------------------------------------------------------------------
@register_game(
    PREFIX + "linear_quadratic",
    "MFGLib's discretised linear-quadratic game: mean reversion to the crowd (T+1 decisions)",
    {
        "T": Parameter(
            3, "last time step (T + 1 decisions; the last pays the terminal cost)", _last_step("linear_quadratic")
        ),
        "el": Parameter(5, "positions -el..el", integer(0, 100_000, label="el (positions -el..el)")),
        "m": Parameter(2, "moves -m..m", integer(0, 100_000, label="m (moves -m..m)")),
        "sigma": Parameter(3.0, "noise scale", number(0.0)),
        "delta": Parameter(0.1, "time step", positive()),
        "k": Parameter(1.0, "mean-reversion rate of the dynamics", number()),
        "q": Parameter(0.01, "cross term weight", number()),
        "kappa": Parameter(0.5, "running cost of the distance to the mean", number()),
        "c_term": Parameter(1.0, "terminal cost of the distance to the mean", number()),
        "mu0": _mu0_param(),
    },
)
def make_linear_quadratic(T, el, m, sigma, delta, k, q, kappa, c_term, mu0) -> MFGLibLinearQuadratic:
    """See :class:`MFGLibLinearQuadratic`."""
    name = "linear_quadratic"
    n_s, n_a = 2 * el + 1, 2 * m + 1
    mu = _mu0(mu0, (n_s,), name)
    eps = np.arange(-3, 4) * sigma
    eps_prob = np.exp(-0.5 * eps**2) / math.sqrt(2 * math.pi)
    eps_prob = eps_prob / eps_prob.sum()
    noise = sigma * eps * math.sqrt(delta)
    next_state = np.broadcast_to(np.arange(n_s), (n_s, n_a, n_s)).copy()
    params = dict(
        T=T, el=el, m=m, sigma=sigma, delta=delta, k=k, q=q, kappa=kappa, c_term=c_term, mu0=_mu0_record(mu0, mu)
    )
    game = _game(
        MFGLibLinearQuadratic,
        name=name,
        params=params,
        mu0=mu,
        next_state=next_state,
        prob=np.full(next_state.shape, 1.0 / n_s),
        horizon=T + 1,
        base_reward=np.zeros((n_s, n_a)),
        state_shape=(n_s,),
        action_shape=(n_a,),
        positions=jnp.asarray(np.arange(-el, el + 1), jnp.int32),
        moves=jnp.asarray(np.arange(-m, m + 1), jnp.int32),
        noise=float_array(noise),
        noise_prob=float_array(eps_prob),
        el=el,
        delta=delta,
        k=k,
        q=q,
        kappa=kappa,
        c_term=c_term,
        r_max=(0.5 * m**2 + 2 * q * m * el + 2 * kappa * el**2) * delta,
    )
    # the static table holds the transition at mu0 (what the tables show; the kernels call transition())
    return game.replace(transition_prob=game.transition(0, game.initial_distribution))


# ----- games of the joint state-action distribution (joint = True) --------------------------
def torch_uniform(seed_or_words, count: int) -> np.ndarray:
    """``count`` draws of torch's float64 ``torch.rand`` after ``torch.manual_seed(seed)``.

    Each draw takes two 32-bit outputs of the twister (first one high), keeps the
    low 53 bits and scales by ``2**-53`` (torch's ``uniform_real``). Pass a seed,
    or a :class:`numpy.random.RandomState` to continue a stream.
    """
    rs = seed_or_words if isinstance(seed_or_words, np.random.RandomState) else np.random.RandomState(seed_or_words)
    words = rs.randint(0, 2**32, size=(count, 2), dtype=np.uint64)
    bits = ((words[:, 0] << np.uint64(32)) | words[:, 1]) & np.uint64((1 << 53) - 1)
    return bits.astype(np.float64) * 2.0**-53


@struct.dataclass(kw_only=True)
class MFGLibTreasureHunting(MFGLibGame):
    """MFGLib's ``conservative_treasure_hunting`` (see :func:`make_conservative_treasure_hunting`)."""

    treasure: jax.Array  # (n,) r
    cost: jax.Array  # (T + 1,) c[t - 1] at t >= 1 (entry 0 unused)
    joint = True
    kind = "joint"

    def _distance(self, joint):
        """``||L - e_s e_s^T||^2`` (Frobenius) for every ``s``, ``(S,)``."""
        n = self.n_states
        corners = jnp.eye(n * n, dtype=joint.dtype)[:: n + 1].reshape(n, n, n)  # corners[s] = e_s e_s^T
        return jnp.sum((joint[None] - corners) ** 2, axis=(1, 2))

    def reward(self, t, mu, joint):
        del mu
        value = self.treasure.astype(joint.dtype) * (1 - self._distance(joint) / 2.0)
        return jnp.where(t == 0, 0.0, jnp.diag(value))

    def transition(self, t, mu, joint):
        del mu
        n = self.n_states
        c = self.cost.astype(joint.dtype)[t]
        spread = c * self._distance(joint)  # (S,)
        stay = 1.0 / (1.0 + n * spread)
        move = spread / (1.0 + n * spread)
        later = move[:, None, None] + stay[:, None, None] * jnp.eye(n, dtype=joint.dtype)[None, :, :]  # (s, a, s')
        first = jnp.broadcast_to(jnp.eye(n, dtype=joint.dtype)[None], (n, n, n))  # t = 0: s' = a
        return jnp.where(t == 0, first, later)


@register_game(
    PREFIX + "conservative_treasure_hunting",
    "MFGLib's conservative treasure hunting: reward and moves read the joint distribution L_t(s, a)",
    {
        "T": Parameter(
            5, "last time step (T + 1 decisions); len(c) must be T", _last_step("conservative_treasure_hunting")
        ),
        "n": Parameter(3, "number of sites (states and actions)", integer(1, 10_000, label="n (sites)")),
        "r": Parameter((1.0, 1.0, 1.0), "treasure of each site (n values)"),
        "c": Parameter((1.0, 1.0, 1.0, 1.0, 1.0), "congestion cost of each step t = 1..T (T values)"),
        "mu0": _mu0_param(),
    },
    kind="joint",
)
def make_conservative_treasure_hunting(T, n, r, c, mu0) -> MFGLibTreasureHunting:
    """Sites ``0..n-1``, the action picks a site. With ``d_s = ||L_t - e_s e_s^T||^2``
    (Frobenius, ``L_t`` the joint distribution): reward ``r_s (1 - d_s / 2)`` for
    action ``s`` in state ``s`` at ``t >= 1``, 0 otherwise and at ``t = 0``. At ``t = 0``
    the agent moves to the chosen site; later ``P(s'|s, a) = (c_t d_s + [s' = a]) /
    (1 + n c_t d_s)`` with ``c_t = c[t - 1]`` (MFGLib requires ``len(c) = T``)."""
    name = "conservative_treasure_hunting"
    r = _floats(r, "r", n, f"n = {n}")
    c = _floats(c, "c", T, f"T = {T}")
    mu = _mu0(mu0, (n,), name)
    next_state = np.broadcast_to(np.arange(n), (n, n, n)).copy()
    params = dict(T=T, n=n, r=r.tolist(), c=c.tolist(), mu0=_mu0_record(mu0, mu))
    game = _game(
        MFGLibTreasureHunting,
        name=name,
        params=params,
        mu0=mu,
        next_state=next_state,
        prob=np.broadcast_to(np.eye(n)[None], (n, n, n)),
        horizon=T + 1,
        base_reward=np.zeros((n, n)),
        state_shape=(n,),
        action_shape=(n,),
        treasure=float_array(r),
        cost=float_array(np.concatenate([[0.0], c])),
        r_max=float(r.max()),
    )
    return game


def _floats(value, name: str, size: int, why: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise MFGError(f"{name} must be {size} numbers ({why}), got {value!r}") from None
    if array.size != size or not np.isfinite(array).all():
        raise MFGError(f"{name} must be {size} finite numbers ({why}), got {np.asarray(value).tolist()}")
    return array


@struct.dataclass(kw_only=True)
class MFGLibEquilibriumPrice(MFGLibGame):
    """MFGLib's ``equilibrium_price`` (see :func:`make_equilibrium_price`); actions ``(q, h)``
    flattened row-major, ``a = q * (H + 1) + h``."""

    inventory: jax.Array  # (S,) s
    consume: jax.Array  # (A,) q
    order: jax.Array  # (A,) h
    d: float = struct.field(pytree_node=False, default=1.0)
    e0: float = struct.field(pytree_node=False, default=1.0)
    sigma: float = struct.field(pytree_node=False, default=1.0)
    costs: tuple = struct.field(pytree_node=False, default=(1.0, 1.0, 1.0, 1.0, 1.0))
    joint = True
    kind = "joint"

    def reward(self, t, mu, joint):
        del t, mu
        c0, c1, c2, c3, c4 = self.costs
        s = self.inventory.astype(joint.dtype)[:, None]
        q = self.consume.astype(joint.dtype)[None, :]
        h = self.order.astype(joint.dtype)[None, :]
        price = (self.d / (jnp.sum(joint * q) + self.e0)) ** (1 / self.sigma)
        return ((price - c0) * q - c1 * q**2 - c2 * h - (c2 + c3) * jnp.maximum(q - s, 0.0)) - c4 * s

    def transition(self, t, mu, joint):
        del t, mu
        return self.transition_prob


@register_game(
    PREFIX + "equilibrium_price",
    "MFGLib's equilibrium price: firms consume and replenish stock; the price reads L_t(s, a)",
    {
        "T": Parameter(4, "last time step (T + 1 decisions)", _last_step("equilibrium_price")),
        "s_inv": Parameter(3, "largest inventory (states 0..s_inv)", integer(0, 100_000)),
        "Q": Parameter(2, "largest quantity consumed (actions q = 0..Q)", integer(0, 10_000)),
        "H": Parameter(2, "largest quantity ordered (actions h = 0..H)", integer(0, 10_000)),
        "d": Parameter(1.0, "demand scale", number(0.0)),
        "e0": Parameter(1.0, "demand offset", positive()),
        "sigma": Parameter(1.0, "price elasticity exponent", positive()),
        "c": Parameter((1.0, 1.0, 1.0, 1.0, 1.0), "costs c0..c4"),
        "mu0": _mu0_param(),
    },
    kind="joint",
)
def make_equilibrium_price(T, s_inv, Q, H, d, e0, sigma, c, mu0) -> MFGLibEquilibriumPrice:
    """Inventory ``s``, action ``(q, h)``: next inventory ``min(s - min(q, s) + h, s_inv)``;
    price ``p_t = (d / (sum_{s,q,h} L_t(s, q, h) q + e0))^(1/sigma)``; reward
    ``(p_t - c0) q - c1 q^2 - c2 h - (c2 + c3) max(q - s, 0) - c4 s``."""
    name = "equilibrium_price"
    costs = tuple(float(x) for x in _floats(c, "c", 5, "c0..c4"))
    mu = _mu0(mu0, (s_inv + 1,), name)
    q, h = np.divmod(np.arange((Q + 1) * (H + 1)), H + 1)
    s = np.arange(s_inv + 1)
    next_state = np.minimum(s[:, None] - np.minimum(q[None, :], s[:, None]) + h[None, :], s_inv)[..., None]
    params = dict(T=T, s_inv=s_inv, Q=Q, H=H, d=d, e0=e0, sigma=sigma, c=list(costs), mu0=_mu0_record(mu0, mu))
    return _game(
        MFGLibEquilibriumPrice,
        name=name,
        params=params,
        mu0=mu,
        next_state=next_state,
        prob=np.ones(next_state.shape),
        horizon=T + 1,
        base_reward=np.zeros(next_state.shape[:2]),
        state_shape=(s_inv + 1,),
        action_shape=(Q + 1, H + 1),
        action_labels=tuple(f"q={i},h={j}" for i, j in zip(q, h)),
        inventory=jnp.asarray(s, jnp.int32),
        consume=jnp.asarray(q, jnp.int32),
        order=jnp.asarray(h, jnp.int32),
        d=d,
        e0=e0,
        sigma=sigma,
        costs=costs,
        r_max=(d / e0) ** (1 / sigma) * Q
        + costs[0] * Q
        + costs[1] * Q**2
        + costs[2] * H
        + (costs[2] + costs[3]) * Q
        + costs[4] * s_inv,
    )


@struct.dataclass(kw_only=True)
class MFGLibRandomLinear(MFGLibGame):
    """MFGLib's ``random_linear`` (see :func:`make_random_linear`)."""

    r1: jax.Array  # (n, n)
    r2: jax.Array  # (n, n)
    p1: jax.Array  # (n, n, n) indexed [s', s, l]
    p2: jax.Array  # (n, n, n) indexed [s', s, a]
    joint = True
    kind = "joint"

    def reward(self, t, mu, joint):
        del t, mu
        return kernels.small_matmul(self.r1, joint) + self.r2

    def transition(self, t, mu, joint):
        del t, mu
        logits = jnp.moveaxis(kernels.small_matmul(self.p1, joint) + self.p2, 0, -1)  # (s, a, s')
        if logits.shape[-1] > 16:
            return jax.nn.softmax(logits, axis=-1)
        # over a short last axis: unrolled maximum and sum, which fuse (a reduction is a call of its own on CPU)
        e = jnp.exp(logits - kernels.max_last(logits)[..., None])
        return e / kernels.sum_last(e)[..., None]


@register_game(
    PREFIX + "random_linear",
    "MFGLib's random linear game: rewards and softmax transitions affine in L_t(s, a), seeded",
    {
        "T": Parameter(3, "last time step (T + 1 decisions)", _last_step("random_linear")),
        "n": Parameter(5, "number of states and of actions", integer(1, 1000)),
        "m": Parameter(10.0, "coefficients are uniform on [-m, m]", number(0.0)),
        "seed": Parameter(
            0,
            "torch seed of the coefficients (MFGLib's; reproduced without torch)",
            integer(0, 2**32 - 1, label="seed (torch.manual_seed's, here below 2**32)"),
        ),
        "mu0": _mu0_param(),
    },
    kind="joint",
)
def make_random_linear(T, n, m, seed, mu0) -> MFGLibRandomLinear:
    """``r_t = r1 @ L_t + r2``; ``P_t(.|s, a) = softmax_{s'}((p1 @ L_t)[s', s, a] + p2[s', s, a])``,
    with ``r1, r2`` ``(n, n)`` and ``p1, p2`` ``(n, n, n)`` uniform on ``[-m, m]``, drawn
    in that order from ``torch.manual_seed(seed)`` (reproduced by :func:`torch_uniform`)."""
    name = "random_linear"
    mu = _mu0(mu0, (n,), name)
    stream = np.random.RandomState(seed)
    draw = [
        2 * m * torch_uniform(stream, size).reshape(shape) - m
        for size, shape in ((n * n, (n, n)), (n * n, (n, n)), (n**3, (n, n, n)), (n**3, (n, n, n)))
    ]
    next_state = np.broadcast_to(np.arange(n), (n, n, n)).copy()
    params = dict(T=T, n=n, m=m, seed=seed, mu0=_mu0_record(mu0, mu))
    return _game(
        MFGLibRandomLinear,
        name=name,
        params=params,
        mu0=mu,
        next_state=next_state,
        prob=np.full((n, n, n), 1.0 / n),
        horizon=T + 1,
        base_reward=np.zeros((n, n)),
        state_shape=(n,),
        action_shape=(n,),
        r1=float_array(draw[0]),
        r2=float_array(draw[1]),
        p1=float_array(draw[2]),
        p2=float_array(draw[3]),
        r_max=2 * m,
    )
