"""Solver results as an object, an xarray Dataset and a netCDF file.

``Result.to_xarray()`` has the variables ``policy`` and ``mean_field`` over the
game's space (``row, col`` on grid games, ``state`` otherwise), one variable per
per-iteration metric (``iteration``), plus ``free`` (row, col) on grid games.
Their time axis depends on the game's mode (attribute ``mode``):

- ``"finite-horizon"``: ``policy`` (t, space..., action) and ``mean_field``
  (t, space...); the coordinate ``t`` runs over ``0..T`` and the policy is NaN
  at ``t = T`` (no decision is taken at the horizon). Attribute ``horizon``: T.
- ``"stationary"`` (discounted, infinite horizon): ``policy`` (space...,
  action), the stationary policy ``pi(a|s)``, and ``mean_field`` (space...),
  the stationary population ``mu(s)``; there is no ``t``.

Attributes: ``mode`` and ``discount`` (both modes), the game and solver and
their parameters (JSON strings for nested values), sizes, seed and timing.
Files saved before modes existed have no ``mode`` attribute: they are
finite-horizon, and :func:`load_result` says so. Files are written to a
temporary name and renamed, so a crash never leaves a partial file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from typing import Any

import numpy as np
import xarray as xr

from mfgtools.errors import MFGError
from mfgtools.games.base import params_to_json
from mfgtools.registry import MODES

FORMAT_VERSION = 1
FINITE_HORIZON, STATIONARY = MODES


@dataclasses.dataclass
class Result:
    """What a solver returns.

    Attributes:
      game: the game solved.
      solver: registry name of the solver.
      solver_params: the solver's parameters.
      policy: the final policy: ``(T, S, A)`` on a finite-horizon game,
        ``(S, A)`` (stationary ``pi(a|s)``) on a game in stationary mode.
      mean_field: what it induces: the flow ``(T+1, S)``, or the stationary
        population ``(S,)``.
      metrics: per-iteration metrics, each ``(iterations + 1,)``; entry 0 is
        the initial policy, entry ``k`` the policy after ``k`` iterations.
      iterations, seed, wall_time: the run's budget, seed and seconds.
      extras: further arrays of the final policy (swarm games: ``order``, the
        mean order parameter ``(T+1,)`` of the episodes behind ``mean_field``).
      swarm_policy: on swarm games, the decentralised policy itself (a pytree
        with ``probabilities(t, observations)``, for
        :func:`mfgtools.simulate.simulate_swarm`); ``policy`` is its table at
        ``game.observation_grid()``, ``(T, G, A)``, and ``mean_field`` the
        histogram flow ``(T+1, *game.histogram_shape)``. Not saved in files.
    """

    game: Any
    solver: str
    solver_params: dict
    policy: np.ndarray
    mean_field: np.ndarray
    metrics: dict
    iterations: int
    seed: int
    wall_time: float
    extras: dict = dataclasses.field(default_factory=dict)
    swarm_policy: Any = None

    @property
    def exploitability(self) -> float:
        """Exploitability of the final policy."""
        if "exploitability" not in self.metrics:
            raise MFGError(f"a {self.game.name!r} result has no exploitability (mean-field control of a swarm): "
                           "read result.metrics['return'] and ['order_parameter']")
        return float(self.metrics["exploitability"][-1])

    def to_xarray(self) -> xr.Dataset:
        """The result as an :class:`xarray.Dataset` (see the module docstring)."""
        game = self.game
        if getattr(game, "kind", None) == "swarm":
            return self._swarm_dataset()
        stationary = game.stationary
        policy = np.asarray(self.policy)
        flow = np.asarray(self.mean_field)
        _check_shapes(game, policy, flow)
        coords = {
            "action": list(game.action_names),
            "iteration": np.arange(len(next(iter(self.metrics.values())))),
        }
        if not stationary:
            policy = np.concatenate([policy, np.full((1,) + policy.shape[1:], np.nan)], axis=0)
            coords["t"] = np.arange(game.horizon + 1)
        time = () if stationary else ("t",)
        if game.grid_shape is not None:
            height, width = game.grid_shape
            space = ("row", "col")
            coords.update(row=np.arange(height), col=np.arange(width))
            policy = game.to_grid(policy)
            flow = game.to_grid(flow)
        else:
            space = ("state",)
            coords.update(state=np.arange(game.n_states))
        data = {
            "policy": (time + space + ("action",), policy),
            "mean_field": (time + space, flow),
        }
        for name, values in self.metrics.items():
            data[name] = (("iteration",), np.asarray(values, dtype=np.float64))
        if hasattr(game, "aggregate"):  # contagion games: the share of each epidemic state, all classes together
            coords["epidemic_state"] = list(game.state_names)
            data["state_share"] = (time + ("epidemic_state",), np.asarray(game.aggregate(flow)))
        free = game.free_cells
        if free is not None and game.grid_shape is not None:
            data["free"] = (space, free.astype(np.int8))
        attrs = {
            "mfgtools_format": FORMAT_VERSION,
            "game": game.name,
            "game_params": params_to_json(game.parameters),
            "mode": game.mode,
            "solver": self.solver,
            "solver_params": params_to_json(self.solver_params),
            "iterations": int(self.iterations),
            "seed": int(self.seed),
            "wall_time_s": float(self.wall_time),
        }
        if not stationary:
            attrs["horizon"] = int(game.horizon)
        attrs.update(discount=float(game.discount), n_states=int(game.n_states), n_actions=int(game.n_actions))
        dataset = xr.Dataset(data, coords=coords, attrs=attrs)
        if stationary:
            dataset["policy"].attrs["description"] = "stationary policy pi(a|s)"
            dataset["mean_field"].attrs["description"] = "stationary population mu(s)"
        else:
            dataset["policy"].attrs["description"] = "pi[t](a|s); NaN at t = T"
            dataset["mean_field"].attrs["description"] = "population distribution mu[t](s)"
        return dataset

    def _swarm_dataset(self) -> xr.Dataset:
        game = self.game
        observation = [_dimension(label) for label in game.observation_labels]
        features = [_dimension(label) for label in game.feature_labels]
        axes = game.observation_axes()
        edges = game.histogram_edges()
        table = np.asarray(self.policy).reshape((game.horizon,) + tuple(len(a) for a in axes) + (game.n_actions,))
        table = np.concatenate([table, np.full((1,) + table.shape[1:], np.nan)], axis=0)
        coords = {"t": np.arange(game.horizon + 1), "action": list(game.action_names),
                  "iteration": np.arange(len(next(iter(self.metrics.values()))))}
        coords.update({name: axis for name, axis in zip(observation, axes)})
        coords.update({name: 0.5 * (edge[1:] + edge[:-1]) for name, edge in zip(features, edges)})
        data = {
            "policy": (("t", *observation, "action"), table),
            "mean_field": (("t", *features), np.asarray(self.mean_field)),
        }
        if "order" in self.extras:
            data["order"] = (("t",), np.asarray(self.extras["order"], dtype=np.float64))
        for name, values in self.metrics.items():
            data[name] = (("iteration",), np.asarray(values, dtype=np.float64))
        attrs = {
            "mfgtools_format": FORMAT_VERSION, "kind": "swarm", "game": game.name,
            "game_params": params_to_json(game.parameters), "mode": FINITE_HORIZON, "solver": self.solver,
            "solver_params": params_to_json(self.solver_params), "iterations": int(self.iterations),
            "seed": int(self.seed), "wall_time_s": float(self.wall_time), "horizon": int(game.horizon),
            "discount": float(game.discount), "n_agents": int(game.n_agents), "n_actions": int(game.n_actions),
            "order_label": game.order_label,
        }
        dataset = xr.Dataset(data, coords=coords, attrs=attrs)
        dataset["policy"].attrs["description"] = "pi[t](u|y) of every agent at observation y; NaN at t = T"
        dataset["mean_field"].attrs["description"] = (f"share of agents per bin of ({', '.join(features)}), "
                                                      "mean over episodes of game.n_agents agents")
        if "order" in dataset:
            dataset["order"].attrs["description"] = f"{game.order_label} over time (mean over episodes)"
        return dataset

    def save(self, path: str) -> str:
        """Write the result as netCDF to ``path`` (atomically); returns the path."""
        return save_dataset(self.to_xarray(), path)


def _dimension(label: str) -> str:
    """A coordinate name from a label: ``"relative phase" -> "relative_phase"``."""
    return label.replace(" ", "_")


def _check_shapes(game, policy: np.ndarray, flow: np.ndarray) -> None:
    """Clear error when the policy or mean field does not match the game's mode."""
    if game.stationary:
        expected = {"policy": game.policy_shape, "mean_field": (game.n_states,)}
        layout = "stationary mode: (S, A) and (S,)"
    else:
        expected = {"policy": game.policy_shape, "mean_field": (game.horizon + 1, game.n_states)}
        layout = "finite-horizon mode: (T, S, A) and (T+1, S)"
    for name, array in (("policy", policy), ("mean_field", flow)):
        if array.shape != expected[name]:
            raise MFGError(
                f"result {name} has shape {array.shape}, but game {game.name!r} in {layout} "
                f"needs {expected[name]}"
            )


def atomic_write(path: str, write) -> str:
    """Call ``write(temporary_path)`` then rename onto ``path``; clean up on failure."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise MFGError(f"cannot write {path!r}: directory {directory!r} does not exist")
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=directory)
    os.close(handle)
    try:
        write(temporary)
        # mkstemp creates the file owner-only (0600); give the result the permissions a
        # plain open() would have: those of the file it replaces, else 0666 minus umask.
        os.chmod(temporary, _file_mode(path))
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def _file_mode(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def save_dataset(dataset: xr.Dataset, path: str) -> str:
    """Write an xarray Dataset to netCDF atomically."""
    return atomic_write(path, lambda temporary: dataset.to_netcdf(temporary))


def read_netcdf(path, what: str = "file") -> xr.Dataset:
    """Read a whole netCDF file into memory; one clear error when it is missing or unreadable."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MFGError(f"no such {what}: {path!r}")
    try:
        with xr.open_dataset(path) as handle:
            return handle.load()
    except Exception as error:  # netCDF4/h5 raise many types
        raise MFGError(f"{path!r} is not a readable netCDF file ({error.__class__.__name__}: {error})") from None


def load_result(path: str) -> xr.Dataset:
    """Load a result saved by :meth:`Result.save` (checks that it is one).

    Files written before games had modes have no ``mode`` attribute: they are
    finite-horizon results, and the loaded Dataset gets ``mode = "finite-horizon"``.
    """
    dataset = read_netcdf(path)
    if "mfgtools_format" not in dataset.attrs or "mean_field" not in dataset:
        raise MFGError(f"{path!r} is not an mfgtools result (no mfgtools_format attribute or mean_field)")
    check_format_version(dataset.attrs["mfgtools_format"], FORMAT_VERSION, f"result {path!r}")
    dataset.attrs["mode"] = result_mode(dataset, where=repr(path))
    return dataset


def check_format_version(version, supported: int, where: str, what: str = "format version") -> int:
    """The integer format version of a file, refused when it is not one this mfgtools reads."""
    try:
        number = int(version)
        if number != float(version):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise MFGError(f"{where} has {what} {version!r}, not an integer: the file is damaged or was not "
                       "written by mfgtools") from None
    if not 1 <= number <= supported:
        newer = " (written by a newer mfgtools: upgrade to read it)" if number > supported else ""
        raise MFGError(f"{where} has {what} {number}, but this mfgtools reads versions 1 to {supported}{newer}")
    return number


def result_mode(dataset: xr.Dataset, where: str = "this result") -> str:
    """``"finite-horizon"`` or ``"stationary"``: the mode of a result Dataset.

    From its ``mode`` attribute (absent in files saved before modes existed:
    finite-horizon), checked against the layout (``t`` dimension or not).
    """
    mode = str(dataset.attrs.get("mode", FINITE_HORIZON))
    if mode not in (FINITE_HORIZON, STATIONARY):
        raise MFGError(f"{where} has mode {mode!r}: expected {FINITE_HORIZON!r} or {STATIONARY!r}")
    timed = "mean_field" in dataset and "t" in dataset["mean_field"].dims
    if timed == (mode == STATIONARY):
        raise MFGError(
            f"{where} says mode {mode!r} but its mean_field has dimensions {dataset['mean_field'].dims}: "
            "a finite-horizon result has a t dimension, a stationary one has none"
        )
    return mode


def dataset_params(dataset: xr.Dataset, which: str = "game_params") -> dict:
    """Decode the JSON parameter attribute of a saved result."""
    return json.loads(dataset.attrs.get(which, "{}"))
