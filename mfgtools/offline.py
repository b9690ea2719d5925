"""Offline datasets of mean-field play: collect, mix, measure, save, load, and MIS.

An :class:`OfflineDataset` holds ``E`` episodes of the game's horizon ``T``
played by a population whose agents all follow one behaviour policy ``beta``
(spec: off_mmd.md). Per step it stores the schema's fields as ``(E, T)`` arrays:

============== ======= ==========================================================
field          dtype   meaning
============== ======= ==========================================================
``t``          int     time step (the coordinate of the second axis, 0..T-1)
``state``      int32   state index ``s_t`` (row-major ``row * W + col`` on grids)
``action``     int32   action index ``a_t``
``reward``     float   reward received (under the population's empirical ``mu_N``)
``done``       bool    True at the last step ``t = T - 1``
``next_state`` int32   ``s_{t+1}``
``log_prob``   float   behaviour log-probability ``log beta(a_t | t, s_t)``
============== ======= ==========================================================

plus the game's name, its parameters and a fingerprint of its dynamics (the
successor table, the transition probabilities, ``mu0``, ``T``), so that a
dataset is never used with another game or map. ``behaviour_policy`` (the
``(T, S, A)`` table that generated the data) is optional metadata: learners
never read it; it gives the behaviour's own exploitability.

Files are netCDF (``xarray.open_dataset`` opens them without mfgtools) with
the attribute ``mfgtools_dataset_format`` (docs/datasets.md). Every problem in
a file (another format or version, missing or ill-shaped fields, NaN,
probabilities out of range, states out of range, a broken episode) is one
:class:`~mfgtools.errors.MFGError` that says what to do.

:func:`mis_mean_field` is the marginalised importance-sampling estimate of the
mean field of any target policy from such data: pure, jit-able, fixed shapes.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax import lax

from mfgtools.errors import MFGError, as_float, as_int, as_seed
from mfgtools.games.base import Annotation, params_to_json

DATASET_FORMAT = 1
FIELDS = ("state", "action", "reward", "done", "next_state", "log_prob")
QUALITIES = ("random", "intermediate", "expert")
# where the shipped datasets live: <repo>/data (override with MFGTOOLS_DATA)
DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@struct.dataclass
class OfflineDataset:
    """Episodes of play (see the module docstring); arrays are ``(E, T)``.

    Static metadata (``game``, ``game_params``, ``fingerprint``, ``description``,
    ``seed``) never changes a compiled program.
    """

    state: jax.Array
    action: jax.Array
    reward: jax.Array
    done: jax.Array
    next_state: jax.Array
    log_prob: jax.Array
    behaviour_policy: Any = None  # (T, S, A) or None
    game: str = struct.field(pytree_node=False, default="")
    n_states: int = struct.field(pytree_node=False, default=0)
    n_actions: int = struct.field(pytree_node=False, default=0)
    fingerprint: str = struct.field(pytree_node=False, default="")
    info: Annotation = struct.field(pytree_node=False, default=Annotation({}))

    @property
    def n_episodes(self) -> int:
        return int(self.state.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.state.shape[1])

    @property
    def n_transitions(self) -> int:
        return self.n_episodes * self.horizon

    @property
    def game_params(self) -> dict:
        return dict(self.info.value.get("game_params", {}))

    @property
    def description(self) -> str:
        return str(self.info.value.get("description", ""))

    def state_frequency(self) -> jax.Array:
        """Empirical state distribution ``d_t(s)`` of the data, ``(T+1, S)``."""
        return state_frequency(self.state, self.next_state, self.n_states)

    def returns(self) -> np.ndarray:
        """Undiscounted return of every episode, ``(E,)``."""
        return np.asarray(self.reward, dtype=np.float64).sum(axis=1)

    def to_xarray(self):
        """The dataset as an :class:`xarray.Dataset` (the file schema)."""
        import xarray as xr

        data = {name: (("episode", "t"), np.asarray(getattr(self, name))) for name in FIELDS}
        data["done"] = (("episode", "t"), np.asarray(self.done).astype(np.int8))
        coords = {"episode": np.arange(self.n_episodes), "t": np.arange(self.horizon)}
        if self.behaviour_policy is not None:
            # dimensions s and a (not state and action, the names of the step fields)
            data["behaviour_policy"] = (("t", "s", "a"), np.asarray(self.behaviour_policy))
        info = self.info.value
        attrs = {
            "mfgtools_dataset_format": DATASET_FORMAT,
            "game": self.game,
            "game_params": params_to_json(info.get("game_params", {})),
            "dynamics_fingerprint": self.fingerprint,
            "n_states": self.n_states,
            "n_actions": self.n_actions,
            "horizon": self.horizon,
            "description": self.description,
            "seed": int(info.get("seed", -1)),
            "population": int(info.get("population", 0)),
        }
        if "action_names" in info:
            attrs["action_names"] = json.dumps(list(info["action_names"]))
        if "grid_shape" in info and info["grid_shape"] is not None:
            attrs["grid_shape"] = json.dumps(list(info["grid_shape"]))
        dataset = xr.Dataset(data, coords=coords, attrs=attrs)
        descriptions = {
            "state": "state index s_t (row * W + col on grid games)",
            "action": "action index a_t",
            "reward": "reward r(s_t, a_t, mu_N) received under the population's empirical distribution",
            "done": "1 at the last decision step t = T - 1",
            "next_state": "s_{t+1}",
            "log_prob": "behaviour log-probability log beta(a_t | t, s_t)",
            "behaviour_policy": "behaviour policy beta[t](a|s) that generated the data (metadata)",
        }
        for name, text in descriptions.items():
            if name in dataset:
                dataset[name].attrs["description"] = text
        return dataset

    def save(self, path) -> str:
        """Write the dataset as compressed netCDF (atomically); returns the path."""
        from mfgtools.results import atomic_write

        dataset = self.to_xarray()
        encoding = {name: {"zlib": True, "complevel": 9, "shuffle": True} for name in dataset.data_vars}
        return atomic_write(str(path), lambda temporary: dataset.to_netcdf(temporary, encoding=encoding,
                                                                        engine="netcdf4"))


# ----- game identity ----------------------------------------------------------------
def dynamics_fingerprint(game) -> str:
    """A short hash of what defines the data a game generates.

    Covers ``T``, ``S``, ``A``, the successor table, the transition
    probabilities and ``mu0`` (as float32, so float32 and float64 builds agree).
    Rewards are not covered: learners recompute them from the known reward
    function, so a dataset serves every task on the same map.
    """
    digest = hashlib.sha256()
    digest.update(f"{game.name}|{game.horizon}|{game.n_states}|{game.n_actions}".encode())
    digest.update(np.ascontiguousarray(np.asarray(game.next_state, dtype=np.int32)).tobytes())
    digest.update(np.ascontiguousarray(np.asarray(game.transition_prob, dtype=np.float32)).tobytes())
    digest.update(np.ascontiguousarray(np.asarray(game.initial_distribution, dtype=np.float32)).tobytes())
    digest.update(np.ascontiguousarray(np.asarray(game.action_mask, dtype=np.int8)).tobytes())
    return digest.hexdigest()[:16]


def require_finite_horizon(game) -> None:
    """Clear error for a game in stationary mode: offline datasets are finite-horizon episodes."""
    if not getattr(game, "stationary", False):
        return
    from mfgtools.games import game_spec

    try:
        modes = game_spec(game.name).modes
    except MFGError:  # a game that is not in the registry
        modes = ()
    problem = f"offline datasets are finite-horizon episodes, but game {game.name!r} is in stationary mode"
    if set(modes) == {"stationary"}:
        raise MFGError(f"{problem}, its only mode; collect datasets on a game that has a finite-horizon mode")
    raise MFGError(f"{problem}; pass mode=finite-horizon (`--mode finite-horizon` on the command line) "
                   "for games that have both modes")


def check_matches(dataset: OfflineDataset, game) -> None:
    """Clear error when ``dataset`` was not collected in ``game``'s dynamics."""
    if dataset.game != game.name:
        raise MFGError(f"the dataset was collected in game {dataset.game!r}, not {game.name!r}; "
                       f"collect one with `mfgtools dataset collect --game {game.name} ...`")
    if dataset.fingerprint == dynamics_fingerprint(game):
        return
    theirs, ours = dataset.game_params, dict(game.parameters)
    differ = [k for k in sorted(set(theirs) | set(ours)) if _plain(theirs.get(k)) != _plain(ours.get(k))]
    shown = "; ".join(f"{k}: dataset {theirs.get(k)!r}, game {ours.get(k)!r}" for k in differ[:6])
    raise MFGError(
        f"the dataset comes from other dynamics than this {game.name!r} game "
        f"({shown or 'same parameters, different arrays'}); use a dataset collected on the same "
        "map, horizon, noise and initial distribution (rewards may differ: they are recomputed)"
    )


def _plain(value):
    return json.loads(json.dumps(value, default=lambda v: np.asarray(v).tolist()))


# ----- collection -------------------------------------------------------------------
def state_frequency(state: jax.Array, next_state: jax.Array, n_states: int) -> jax.Array:
    """``d_t(s)``: fraction of episodes in ``s`` at ``t``, ``(T+1, S)`` from ``(E, T)`` arrays."""
    from mfgtools.simulate import empirical_distribution

    states = jnp.concatenate([state, next_state[:, -1:]], axis=1).T  # (T+1, E)
    return jax.vmap(lambda row: empirical_distribution(row, n_states))(states)


def mixed_policy(game, policy, epsilon: float) -> np.ndarray:
    """``(1 - epsilon) * policy + epsilon * uniform`` (over legal actions)."""
    from mfgtools.evaluation import as_policy, uniform_policy

    epsilon = as_float(epsilon, "epsilon", 0.0, 1.0)
    checked = np.asarray(as_policy(game, policy), dtype=np.float64)
    return (1.0 - epsilon) * checked + epsilon * np.asarray(uniform_policy(game), dtype=np.float64)


def check_collection(game, n_episodes: int, population: int, force: bool | None = None) -> int:
    """Refuse a collection whose episodes cannot fit in memory; returns the number of populations.

    Per agent and step: state, action, reward and log-probability on the device,
    then their host copies and ``(E, T)`` reshapes; plus each population's
    ``(T+1, S)`` empirical flow.
    """
    from mfgtools.resources import check_bytes

    n_populations = -(-n_episodes // population)
    check_bytes(f"collecting {n_episodes:,} episodes of T={game.horizon:,} steps in game {game.name!r}",
                n_populations * population * (game.horizon + 1) * 4 * 4 * 3
                + n_populations * (game.horizon + 1) * game.n_states * 4,
                "--episodes (collect in parts and join them with `mfgtools dataset mix`) or --population", force)
    return n_populations


def collect_dataset(game, policy, n_episodes: int, seed: int = 0, population: int | None = None,
                    epsilon: float = 0.0, description: str = "") -> OfflineDataset:
    """Play ``policy`` with the N-agent simulator and record ``n_episodes`` episodes.

    Agents are simulated in populations of ``population`` agents (default: all
    ``n_episodes`` in one population); all agents of a population follow the
    behaviour policy ``(1 - epsilon) * policy + epsilon * uniform`` and the
    population's empirical distribution drives rewards and transitions. Each
    agent contributes one episode. The behaviour table is kept as metadata.
    """
    from mfgtools.evaluation import as_policy, check_game
    from mfgtools.simulate import simulate_seeds

    check_game(game)
    require_finite_horizon(game)
    n_episodes = as_int(n_episodes, "episodes", 1)
    seed = as_seed(seed)
    population = n_episodes if population is None else as_int(population, "population", 1)
    n_populations = check_collection(game, n_episodes, population)
    behaviour = as_policy(game, mixed_policy(game, policy, epsilon))
    keys = jax.random.split(jax.random.PRNGKey(seed), n_populations)
    runs = simulate_seeds(game, behaviour, keys, population)

    def episodes(x):  # (P, T, N) -> (P * N, T)[:E]
        x = np.asarray(x)
        return np.moveaxis(x, 1, 2).reshape(-1, x.shape[1])[:n_episodes]

    states = episodes(runs.states)  # (E, T+1)
    done = np.zeros((n_episodes, game.horizon), dtype=bool)
    done[:, -1] = True
    text = description or f"{n_episodes} episodes" + (f", epsilon {epsilon:g}" if epsilon else "")
    return OfflineDataset(
        state=jnp.asarray(states[:, :-1], jnp.int32), action=jnp.asarray(episodes(runs.actions), jnp.int32),
        reward=jnp.asarray(episodes(runs.rewards)), done=jnp.asarray(done),
        next_state=jnp.asarray(states[:, 1:], jnp.int32), log_prob=jnp.asarray(episodes(runs.log_prob)),
        behaviour_policy=behaviour, **_game_metadata(game),
        info=Annotation(_info(game, description=text, seed=seed, population=population)),
    )


def _game_metadata(game) -> dict:
    return dict(game=game.name, n_states=game.n_states, n_actions=game.n_actions,
                fingerprint=dynamics_fingerprint(game))


def _info(game, **extra) -> dict:
    info = {"game_params": dict(game.parameters), "action_names": tuple(game.action_names),
            "grid_shape": game.grid_shape}
    info.update(extra)
    return info


def mix_datasets(datasets, counts=None, seed: int = 0, description: str = "") -> OfflineDataset:
    """Concatenate episodes of several datasets of the same game.

    ``counts`` (one per dataset) draws that many episodes from each without
    replacement (default: all of them). Each step keeps its own behaviour
    log-probability: the importance weight of a step is then unbiased for the
    component that generated it, which is all the MIS estimate needs.
    """
    datasets = list(datasets)
    if not datasets:
        raise MFGError("mix needs at least one dataset")
    first = datasets[0]
    for index, other in enumerate(datasets[1:], start=1):
        if (other.game, other.fingerprint) != (first.game, first.fingerprint):
            raise MFGError(f"dataset {index + 1} comes from another game or map than dataset 1 "
                           f"({other.game} {other.fingerprint} vs {first.game} {first.fingerprint}); "
                           "only datasets of the same dynamics can be mixed")
        theirs, ours = _plain(other.game_params), _plain(first.game_params)
        differ = [key for key in sorted(set(theirs) | set(ours)) if theirs.get(key) != ours.get(key)]
        if differ:  # same dynamics, other rewards (exploration vs navigation, weights, target)
            shown = "; ".join(f"{key}: {ours.get(key)!r} vs {theirs.get(key)!r}" for key in differ[:4])
            raise MFGError(f"dataset {index + 1} was collected with other game parameters than dataset 1 ({shown}): "
                           "its rewards come from another reward function; mix only datasets of one game setting")
    if counts is None:
        counts = [d.n_episodes for d in datasets]
    counts = [as_int(c, "episode count", 0) for c in counts]
    if len(counts) != len(datasets):
        raise MFGError(f"give one episode count per dataset: {len(datasets)} datasets, {len(counts)} counts")
    rng = np.random.default_rng(as_seed(seed))
    parts = {name: [] for name in FIELDS}
    for dataset, count in zip(datasets, counts):
        if count > dataset.n_episodes:
            raise MFGError(f"cannot draw {count} episodes from a dataset of {dataset.n_episodes}")
        chosen = np.sort(rng.choice(dataset.n_episodes, size=count, replace=False))
        for name in FIELDS:
            parts[name].append(np.asarray(getattr(dataset, name))[chosen])
    if sum(counts) == 0:
        raise MFGError("the mixture would have no episode; give positive counts")
    arrays = {name: jnp.asarray(np.concatenate(parts[name])) for name in FIELDS}
    text = description or " + ".join(f"{c} x [{d.description}]" for d, c in zip(datasets, counts) if c)
    info = dict(first.info.value, description=text, seed=int(seed), population=0)
    return OfflineDataset(**arrays, behaviour_policy=None, game=first.game, n_states=first.n_states,
                          n_actions=first.n_actions, fingerprint=first.fingerprint, info=Annotation(info))


# ----- quality metrics --------------------------------------------------------------
def coverage(dataset: OfflineDataset) -> dict:
    """State and state-action coverage: ``#unique(t, s[, a]) / (T * S [* A])``."""
    horizon, n_states, n_actions = dataset.horizon, dataset.n_states, dataset.n_actions
    t = np.broadcast_to(np.arange(horizon), dataset.state.shape)
    states = np.asarray(dataset.state).astype(np.int64)
    flat_state = t * n_states + states
    flat_action = flat_state * n_actions + np.asarray(dataset.action)
    return {
        "state_coverage": np.unique(flat_state).size / (horizon * n_states),
        "state_action_coverage": np.unique(flat_action).size / (horizon * n_states * n_actions),
    }


def reference_values(game, expert_policy=None, expert_iterations: int = 1000) -> dict:
    """Expected returns (from ``mu0``, in their own mean fields) of the uniform and expert policies.

    The expert defaults to online mirror descent run for ``expert_iterations``.
    """
    from mfgtools import kernels
    from mfgtools.evaluation import as_policy, uniform_policy
    from mfgtools.solvers import solve

    if expert_policy is None:
        expert_policy = solve(game, "omd", iterations=expert_iterations).policy

    def value(policy):
        policy = as_policy(game, policy)
        flow = kernels.mean_field(game, policy)
        _, v = kernels.evaluate_policy(game, policy, flow)
        return float(jnp.dot(game.initial_distribution, v[0]))

    return {"random_return": value(uniform_policy(game)), "expert_return": value(expert_policy)}


def dataset_metrics(dataset: OfflineDataset, game=None, references: dict | None = None) -> dict:
    """The spec's quality metrics: coverages, mean return and (with ``game``) trajectory quality.

    ``quality = clip((R_D - V_random) / (V_expert - V_random), 0, 1)`` with
    ``R_D`` the mean return of the episodes and ``V_*`` from :func:`reference_values`.
    """
    metrics = {"episodes": dataset.n_episodes, "transitions": dataset.n_transitions, **coverage(dataset),
               "mean_return": float(dataset.returns().mean())}
    if game is not None or references is not None:
        references = references or reference_values(game)
        spread = references["expert_return"] - references["random_return"]
        quality = (metrics["mean_return"] - references["random_return"]) / spread if spread else float("nan")
        metrics.update(references, trajectory_quality=float(np.clip(quality, 0.0, 1.0)))
    return metrics


# ----- marginalised importance sampling ---------------------------------------------
@partial(jax.jit, static_argnames=("n_states", "normalise"))
def mis_mean_field(state, action, next_state, log_prob, policy, n_states: int, normalise: bool = True,
                   clip: float | jax.Array = jnp.inf) -> jax.Array:
    """Marginalised importance-sampling estimate of the flow of ``policy`` from data.

    ``muhat_0 = d_0``; ``muhat_{t+1}(s') = (1/E) sum_i w_t^i [s_{t+1}^i = s']`` with
    ``w_t^i = muhat_t(s_t^i) / d_t(s_t^i) * policy_t(a_t^i | s_t^i) / beta(a_t^i | s_t^i)``
    and ``d_t`` the data's empirical state distribution. Weights above ``clip``
    are clipped; ``normalise`` rescales each ``muhat_t`` to sum to 1 (the official
    code's convention: since ``muhat_{t+1}`` is linear in ``muhat_t``, normalising
    each step or once at the end is the same). NaNs (no mass at all) become 0.

    Args:
      state, action, next_state, log_prob: ``(E, T)`` dataset arrays.
      policy: ``(T, S, A)`` target policy.

    Returns:
      ``(T+1, S)`` estimated mean field; equal to ``d`` when ``policy`` is the
      behaviour policy.
    """
    frequency = state_frequency(state, next_state, n_states)
    n_episodes = state.shape[0]
    dtype = frequency.dtype

    def advance(mu_t, xs):
        t, s, a, s_next, log_beta, d_t = xs
        ratio = jnp.exp(jnp.log(policy[t, s, a]) - log_beta.astype(dtype))
        weight = jnp.minimum(mu_t[s] / d_t[s] * ratio, clip)
        mu_next = jax.ops.segment_sum(weight, s_next, n_states) / n_episodes
        if normalise:
            mu_next = mu_next / jnp.sum(mu_next)
        mu_next = jnp.nan_to_num(mu_next, nan=0.0, posinf=0.0)
        return mu_next, mu_next

    xs = (jnp.arange(state.shape[1]), state.T, action.T, next_state.T, log_prob.T, frequency[:-1])
    _, later = lax.scan(advance, frequency[0], xs)
    return jnp.concatenate([frequency[:1], later], axis=0)


# ----- files --------------------------------------------------------------------------
def load_dataset(path, game=None) -> OfflineDataset:
    """Load and check a dataset file; with ``game``, also check that it belongs to it."""
    from mfgtools.results import read_netcdf

    path = os.fspath(path)
    if game is not None:
        require_finite_horizon(game)
    dataset = from_xarray(read_netcdf(path, "dataset file"), where=path)
    if game is not None:
        check_matches(dataset, game)
    return dataset


def from_xarray(data, where: str = "the dataset") -> OfflineDataset:
    """Check an :class:`xarray.Dataset` against the schema and build an :class:`OfflineDataset`."""
    attrs = data.attrs
    if "mfgtools_dataset_format" not in attrs:
        hint = " (it is a solver result: datasets come from `mfgtools dataset collect`)" \
            if "mfgtools_format" in attrs else ""
        raise MFGError(f"{where} is not an mfgtools offline dataset: no mfgtools_dataset_format attribute{hint}")
    from mfgtools.results import check_format_version

    raw = np.asarray(attrs["mfgtools_dataset_format"])
    check_format_version(raw.item() if raw.size == 1 else raw.tolist(), DATASET_FORMAT, where, "dataset format")
    missing = [name for name in FIELDS if name not in data]
    missing_attrs = [name for name in ("game", "game_params", "dynamics_fingerprint", "n_states", "n_actions")
                     if name not in attrs]
    if missing or missing_attrs:
        raise MFGError(f"{where} lacks the field(s) {', '.join(missing + missing_attrs)} of the dataset schema "
                       "(docs/datasets.md)")
    n_states, n_actions = int(attrs["n_states"]), int(attrs["n_actions"])
    arrays = {}
    for name in FIELDS:
        variable = data[name]
        if variable.dims != ("episode", "t"):
            raise MFGError(f"{where}: field {name!r} has dimensions {variable.dims}, expected ('episode', 't')")
        arrays[name] = np.asarray(variable.values)
    shape = arrays["state"].shape
    if shape[0] == 0 or shape[1] == 0:
        raise MFGError(f"{where} holds no transitions (shape {shape})")
    for name in ("state", "action", "next_state", "done"):
        values = arrays[name]
        if not np.issubdtype(values.dtype, np.integer) and not np.issubdtype(values.dtype, np.bool_):
            if not np.isfinite(values).all():
                raise MFGError(f"{where}: field {name!r} contains NaN or infinite values")
            if not np.equal(np.mod(values, 1), 0).all():
                raise MFGError(f"{where}: field {name!r} must hold integers")
        arrays[name] = values.astype(np.int64)
    for name, bound in (("state", n_states), ("next_state", n_states), ("action", n_actions)):
        values = arrays[name]
        if values.min() < 0 or values.max() >= bound:
            raise MFGError(f"{where}: field {name!r} has values outside 0..{bound - 1}")
    for name in ("reward", "log_prob"):
        if not np.isfinite(arrays[name]).all():
            bad = int((~np.isfinite(arrays[name])).sum())
            raise MFGError(f"{where}: field {name!r} has {bad} NaN or infinite value(s)")
    if (arrays["log_prob"] > 1e-6).any():
        raise MFGError(f"{where}: log_prob must be <= 0 (a log-probability); max is {arrays['log_prob'].max():.3g}")
    done = arrays["done"]
    if not np.isin(done, (0, 1)).all():
        raise MFGError(f"{where}: field 'done' must be 0 or 1")
    expected_done = np.zeros(shape, dtype=np.int64)
    expected_done[:, -1] = 1
    if not np.array_equal(done, expected_done):
        raise MFGError(f"{where}: 'done' must be 1 exactly at the last step of every episode (fixed horizon)")
    if not np.array_equal(arrays["next_state"][:, :-1], arrays["state"][:, 1:]):
        episode = int(np.argwhere(arrays["next_state"][:, :-1] != arrays["state"][:, 1:])[0, 0])
        raise MFGError(f"{where}: episode {episode} is broken: next_state at t does not equal state at t + 1")
    horizon = int(attrs.get("horizon", shape[1]))
    if horizon != shape[1]:
        raise MFGError(f"{where}: attribute horizon = {horizon} but the episodes have {shape[1]} steps")
    behaviour = None
    if "behaviour_policy" in data:
        behaviour = np.asarray(data["behaviour_policy"].values)
        if behaviour.shape != (shape[1], n_states, n_actions):
            raise MFGError(f"{where}: behaviour_policy has shape {behaviour.shape}, expected "
                           f"{(shape[1], n_states, n_actions)}")
        if not np.isfinite(behaviour).all() or (behaviour < -1e-6).any() or (behaviour > 1 + 1e-6).any() \
                or np.abs(behaviour.sum(-1) - 1).max() > 1e-4:
            raise MFGError(f"{where}: behaviour_policy must hold probabilities summing to 1 over actions")
        behaviour = jnp.asarray(behaviour, dtype=jnp.result_type(float))
    try:
        game_params = json.loads(str(attrs["game_params"]))
    except json.JSONDecodeError:
        raise MFGError(f"{where}: attribute game_params is not valid JSON") from None
    info = {"game_params": game_params, "description": str(attrs.get("description", "")),
            "seed": int(attrs.get("seed", -1)), "population": int(attrs.get("population", 0)), "source": where}
    for key in ("action_names", "grid_shape"):
        if key in attrs:
            info[key] = tuple(json.loads(str(attrs[key])))
    real = jnp.result_type(float)
    return OfflineDataset(
        state=jnp.asarray(arrays["state"], jnp.int32), action=jnp.asarray(arrays["action"], jnp.int32),
        reward=jnp.asarray(arrays["reward"], real), done=jnp.asarray(done.astype(bool)),
        next_state=jnp.asarray(arrays["next_state"], jnp.int32), log_prob=jnp.asarray(arrays["log_prob"], real),
        behaviour_policy=behaviour, game=str(attrs["game"]), n_states=n_states, n_actions=n_actions,
        fingerprint=str(attrs["dynamics_fingerprint"]), info=Annotation(info),
    )


# ----- shipped datasets ---------------------------------------------------------------
def data_dir() -> Path:
    return Path(os.environ.get("MFGTOOLS_DATA", DATA_DIR))


def shipped_name(game, quality: str) -> str:
    """File name of the shipped dataset of ``quality`` for ``game`` (crowd, four rooms)."""
    params = game.parameters
    return f"{game.name}-{params.get('map', 'map')}-{params.get('task', 'task')}-{quality}.nc"


def shipped_dataset(game, quality: str = "expert") -> OfflineDataset:
    """The dataset shipped in ``data/`` for ``game`` at ``quality`` (random, intermediate, expert)."""
    if quality not in QUALITIES:
        raise MFGError(f"unknown dataset quality {quality!r}: choose one of {', '.join(QUALITIES)} or give a file")
    path = data_dir() / shipped_name(game, quality)
    if not path.is_file():
        available = sorted(p.name for p in data_dir().glob("*.nc")) if data_dir().is_dir() else []
        raise MFGError(
            f"no shipped {quality} dataset for this game ({path.name} not in {data_dir()}; shipped: "
            f"{', '.join(available) or 'none'}); collect one with `mfgtools dataset collect` and pass "
            "its path as --dataset"
        )
    return load_dataset(path, game)


def resolve_dataset(game, dataset) -> OfflineDataset:
    """An :class:`OfflineDataset`, a shipped quality name or a file path, checked against ``game``."""
    if isinstance(dataset, OfflineDataset):
        check_matches(dataset, game)
        return dataset
    text = str(dataset)
    if text in QUALITIES:
        return shipped_dataset(game, text)
    return load_dataset(text, game)


__all__ = [
    "OfflineDataset", "collect_dataset", "mix_datasets", "load_dataset", "dataset_metrics", "coverage",
    "reference_values", "mis_mean_field", "shipped_dataset", "resolve_dataset", "dynamics_fingerprint",
    "mixed_policy", "state_frequency", "QUALITIES", "DATASET_FORMAT",
]
