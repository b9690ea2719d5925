"""Offline datasets of mean-field play: the dataset type, its file schema, and loading.

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

Collection and mixing live in :mod:`mfgtools.offline.collection`, the quality
metrics in :mod:`mfgtools.offline.metrics`, the marginalised importance-sampling
estimate in :mod:`mfgtools.offline.mis` and the datasets shipped with the
package in :mod:`mfgtools.offline.shipped`.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.annotations import Annotation, params_to_json
from mfgtools.errors import MFGError

DATASET_FORMAT = 1
FIELDS = ("state", "action", "reward", "done", "next_state", "log_prob")


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
        return atomic_write(
            str(path), lambda temporary: dataset.to_netcdf(temporary, encoding=encoding, engine="netcdf4")
        )


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
    raise MFGError(
        f"{problem}; pass mode=finite-horizon (`--mode finite-horizon` on the command line) "
        "for games that have both modes"
    )


def check_matches(dataset: OfflineDataset, game) -> None:
    """Clear error when ``dataset`` was not collected in ``game``'s dynamics."""
    if dataset.game != game.name:
        raise MFGError(
            f"the dataset was collected in game {dataset.game!r}, not {game.name!r}; "
            f"collect one with `mfgtools dataset collect --game {game.name} ...`"
        )
    if dataset.fingerprint == dynamics_fingerprint(game):
        return
    theirs, ours = dataset.game_params, dict(game.parameters)
    differ = [k for k in sorted(set(theirs) | set(ours)) if plain_json(theirs.get(k)) != plain_json(ours.get(k))]
    shown = "; ".join(f"{k}: dataset {theirs.get(k)!r}, game {ours.get(k)!r}" for k in differ[:6])
    raise MFGError(
        f"the dataset comes from other dynamics than this {game.name!r} game "
        f"({shown or 'same parameters, different arrays'}); use a dataset collected on the same "
        "map, horizon, noise and initial distribution (rewards may differ: they are recomputed)"
    )


def plain_json(value):
    """``value`` as it reads back from JSON (tuples become lists, arrays nested lists)."""
    return json.loads(json.dumps(value, default=lambda v: np.asarray(v).tolist()))


# ----- empirical distribution ---------------------------------------------------------
def state_frequency(state: jax.Array, next_state: jax.Array, n_states: int) -> jax.Array:
    """``d_t(s)``: fraction of episodes in ``s`` at ``t``, ``(T+1, S)`` from ``(E, T)`` arrays."""
    from mfgtools.finite.simulate import empirical_distribution

    states = jnp.concatenate([state, next_state[:, -1:]], axis=1).T  # (T+1, E)
    return jax.vmap(lambda row: empirical_distribution(row, n_states))(states)


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
        hint = (
            " (it is a solver result: datasets come from `mfgtools dataset collect`)"
            if "mfgtools_format" in attrs
            else ""
        )
        raise MFGError(f"{where} is not an mfgtools offline dataset: no mfgtools_dataset_format attribute{hint}")
    from mfgtools.results import check_format_version

    raw = np.asarray(attrs["mfgtools_dataset_format"])
    check_format_version(raw.item() if raw.size == 1 else raw.tolist(), DATASET_FORMAT, where, "dataset format")
    missing = [name for name in FIELDS if name not in data]
    missing_attrs = [
        name for name in ("game", "game_params", "dynamics_fingerprint", "n_states", "n_actions") if name not in attrs
    ]
    if missing or missing_attrs:
        raise MFGError(
            f"{where} lacks the field(s) {', '.join(missing + missing_attrs)} of the dataset schema (docs/datasets.md)"
        )
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
            raise MFGError(
                f"{where}: behaviour_policy has shape {behaviour.shape}, expected {(shape[1], n_states, n_actions)}"
            )
        if (
            not np.isfinite(behaviour).all()
            or (behaviour < -1e-6).any()
            or (behaviour > 1 + 1e-6).any()
            or np.abs(behaviour.sum(-1) - 1).max() > 1e-4
        ):
            raise MFGError(f"{where}: behaviour_policy must hold probabilities summing to 1 over actions")
        behaviour = jnp.asarray(behaviour, dtype=jnp.result_type(float))
    try:
        game_params = json.loads(str(attrs["game_params"]))
    except json.JSONDecodeError:
        raise MFGError(f"{where}: attribute game_params is not valid JSON") from None
    info = {
        "game_params": game_params,
        "description": str(attrs.get("description", "")),
        "seed": int(attrs.get("seed", -1)),
        "population": int(attrs.get("population", 0)),
        "source": where,
    }
    for key in ("action_names", "grid_shape"):
        if key in attrs:
            info[key] = tuple(json.loads(str(attrs[key])))
    real = jnp.result_type(float)
    return OfflineDataset(
        state=jnp.asarray(arrays["state"], jnp.int32),
        action=jnp.asarray(arrays["action"], jnp.int32),
        reward=jnp.asarray(arrays["reward"], real),
        done=jnp.asarray(done.astype(bool)),
        next_state=jnp.asarray(arrays["next_state"], jnp.int32),
        log_prob=jnp.asarray(arrays["log_prob"], real),
        behaviour_policy=behaviour,
        game=str(attrs["game"]),
        n_states=n_states,
        n_actions=n_actions,
        fingerprint=str(attrs["dynamics_fingerprint"]),
        info=Annotation(info),
    )


__all__ = [
    "OfflineDataset",
    "DATASET_FORMAT",
    "FIELDS",
    "dynamics_fingerprint",
    "require_finite_horizon",
    "check_matches",
    "plain_json",
    "state_frequency",
    "load_dataset",
    "from_xarray",
]
