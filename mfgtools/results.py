"""Solver results as an object, an xarray Dataset and a netCDF file.

``Result.to_xarray()`` has the variables ``policy`` and ``mean_field`` over the
game's space (``row, col`` on grid games, ``state`` otherwise), one variable per
per-iteration metric (``iteration``), plus ``free`` (row, col) on grid games.
On multi-population games (:mod:`mfgtools.finite.populations`) the space starts
with a ``population`` axis: ``policy`` holds each population's policy and
``mean_field`` each population's own distribution (mass 1 each); attributes
``kind`` and ``populations``. Their time axis depends on the game's mode (attribute ``mode``):

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
from typing import Any

import numpy as np
import xarray as xr

from mfgtools.annotations import params_to_json
from mfgtools.errors import MFGError
from mfgtools.files import atomic_write
from mfgtools.registry import MODES, family_of

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
      iterations, seed, wall_time: the iterations run (the budget, unless it stopped early), seed and seconds.
      extras: further arrays of the final policy (swarm games: ``order``, the
        mean order parameter ``(T+1,)`` of the episodes behind ``mean_field``);
        on finite games, ``behaviour_exploitability`` (a float: the exploitability
        of the policy that collected an offline run's data) is saved as an
        attribute, and figures draw it as a reference line.
      swarm_policy: on swarm games, the decentralised policy itself (a pytree
        with ``probabilities(t, observations)``, for
        :func:`mfgtools.swarm.rollouts.simulate_swarm`); ``policy`` is its table at
        ``game.observation_grid()``, ``(T, G, A)``, and ``mean_field`` the
        histogram flow ``(T+1, *game.histogram_shape)``. Not saved in files.
      checkpoint: the :class:`mfgtools.checkpoints.Checkpoint` of a run given
        a checkpoint file, else None; ``result.checkpoint.remove()`` deletes the
        file once the result is saved (only if this run wrote or resumed it).
        Not saved in files.
      best_iteration, best_policy, best_mean_field: the iterate of lowest
        exploitability among ``0..iterations`` (finite games; ``None`` when the
        run did not keep it), with the shapes of ``policy`` and ``mean_field``.
        A solver that diverges or cycles after a good start keeps it here; the
        final policy stays in ``policy``.
      stopped_early: True when the run met its ``atol``/``rtol`` before its
        budget (``iterations`` is then the count it ran; attribute
        ``stopped_early`` of the file).
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
    checkpoint: Any = None
    best_iteration: int | None = None
    best_policy: np.ndarray | None = None
    best_mean_field: np.ndarray | None = None
    stopped_early: bool = False

    @property
    def exploitability(self) -> float:
        """Exploitability of the final policy."""
        if "exploitability" not in self.metrics:
            raise MFGError(
                f"a {self.game.name!r} result has no exploitability (mean-field control of a swarm): "
                "read result.metrics['return'] and ['order_parameter']"
            )
        return float(self.metrics["exploitability"][-1])

    def to_xarray(self) -> xr.Dataset:
        """The result as an :class:`xarray.Dataset` (see the module docstring)."""
        game = self.game
        if family_of(game).particles:
            return self._swarm_dataset()
        stationary = game.stationary
        policy = np.asarray(self.policy)
        flow = np.asarray(self.mean_field)
        _check_shapes(game, policy, flow)
        best = self.best_iteration is not None and self.best_policy is not None and self.best_mean_field is not None
        if best:
            best_policy = np.asarray(self.best_policy)
            best_flow = np.asarray(self.best_mean_field)
            _check_shapes(game, best_policy, best_flow, prefix="best ")
        coords = {
            "action": list(game.action_names),
            "iteration": np.arange(len(next(iter(self.metrics.values())))),
        }
        if not stationary:
            coords["t"] = np.arange(game.horizon + 1)
        time: tuple[str, ...] = () if stationary else ("t",)
        if game.grid_shape is not None:
            height, width = game.grid_shape
            space: tuple[str, ...] = ("row", "col")
            coords.update(row=np.arange(height), col=np.arange(width))
        else:
            space = ("state",)
            coords.update(state=np.arange(game.states_per_population))
        if game.populations > 1:  # multi-population games: one policy and one distribution per population
            space = ("population",) + space
            coords["population"] = list(game.population_names)
        data = {
            "policy": (time + space + ("action",), _policy_layout(game, policy)),
            "mean_field": (time + space, _flow_layout(game, flow)),
        }
        if best:
            data["best_policy"] = (time + space + ("action",), _policy_layout(game, best_policy))
            data["best_mean_field"] = (time + space, _flow_layout(game, best_flow))
        for name, values in self.metrics.items():
            data[name] = (("iteration",), np.asarray(values, dtype=np.float64))
        if hasattr(game, "aggregate"):  # contagion games: the share of each epidemic state, all classes together
            coords["epidemic_state"] = list(game.state_names)
            data["state_share"] = (time + ("epidemic_state",), np.asarray(game.aggregate(flow)))
        free = game.free_cells
        if free is not None and game.grid_shape is not None:
            data["free"] = (("row", "col"), free.astype(np.int8))
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
        if game.populations > 1:
            attrs.update(kind=game.kind, populations=int(game.populations))
        if best:
            attrs["best_iteration"] = int(self.best_iteration)  # type: ignore[arg-type]  # set when best
        if self.stopped_early:
            attrs["stopped_early"] = 1
        if "behaviour_exploitability" in self.extras:  # offline runs whose data name their behaviour policy
            attrs["behaviour_exploitability"] = float(self.extras["behaviour_exploitability"])
        dataset = xr.Dataset(data, coords=coords, attrs=attrs)
        if game.populations > 1:
            dataset["population"].attrs["description"] = (
                "population p: mean_field holds each population's own distribution (mass 1), policy its policy"
            )
        if stationary:
            dataset["policy"].attrs["description"] = "stationary policy pi(a|s)"
            dataset["mean_field"].attrs["description"] = "stationary population mu(s)"
        else:
            dataset["policy"].attrs["description"] = "pi[t](a|s); NaN at t = T"
            dataset["mean_field"].attrs["description"] = "population distribution mu[t](s)"
        if best:
            dataset["best_policy"].attrs["description"] = (
                "the policy of lowest exploitability, at iteration "
                f"{int(self.best_iteration)} "  # type: ignore[arg-type]
                "(attribute best_iteration)"
            )
            dataset["best_mean_field"].attrs["description"] = "the population of best_policy"
        return dataset

    def _swarm_dataset(self) -> xr.Dataset:
        game = self.game
        observation = [_dimension(label) for label in game.observation_labels]
        features = [_dimension(label) for label in game.feature_labels]
        axes = game.observation_axes()
        edges = game.histogram_edges()
        table = np.asarray(self.policy).reshape((game.horizon,) + tuple(len(a) for a in axes) + (game.n_actions,))
        table = np.concatenate([table, np.full((1,) + table.shape[1:], np.nan)], axis=0)
        coords = {
            "t": np.arange(game.horizon + 1),
            "action": list(game.action_names),
            "iteration": np.arange(len(next(iter(self.metrics.values())))),
        }
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
            "mfgtools_format": FORMAT_VERSION,
            "kind": "swarm",
            "game": game.name,
            "game_params": params_to_json(game.parameters),
            "mode": FINITE_HORIZON,
            "solver": self.solver,
            "solver_params": params_to_json(self.solver_params),
            "iterations": int(self.iterations),
            "seed": int(self.seed),
            "wall_time_s": float(self.wall_time),
            "horizon": int(game.horizon),
            "discount": float(game.discount),
            "n_agents": int(game.n_agents),
            "n_actions": int(game.n_actions),
            "order_label": game.order_label,
        }
        dataset = xr.Dataset(data, coords=coords, attrs=attrs)
        dataset["policy"].attrs["description"] = "pi[t](u|y) of every agent at observation y; NaN at t = T"
        dataset["mean_field"].attrs["description"] = (
            f"share of agents per bin of ({', '.join(features)}), mean over episodes of game.n_agents agents"
        )
        if "order" in dataset:
            dataset["order"].attrs["description"] = f"{game.order_label} over time (mean over episodes)"
        return dataset

    def save(self, path: str, overwrite: bool = True) -> str:
        """Write the result as netCDF to ``path`` (atomically); returns the path.

        Like :meth:`xarray.Dataset.to_netcdf`, an existing file is replaced by
        default; ``overwrite=False`` refuses to (the command line refuses unless
        ``--overwrite``). A full disk is one :class:`MFGError` naming the file.
        """
        return save_dataset(self.to_xarray(), path, overwrite=overwrite)


def _policy_layout(game, policy: np.ndarray) -> np.ndarray:
    """A policy as saved: NaN appended at ``t = T`` (finite horizon), on the grid on grid games,
    the state axis split into ``(population, ...)`` on multi-population games."""
    if not game.stationary:
        policy = np.concatenate([policy, np.full((1,) + policy.shape[1:], np.nan)], axis=0)
    if game.grid_shape is not None:
        return game.to_grid(policy)
    return np.moveaxis(game.population_policies(policy), 0, -3) if game.populations > 1 else policy


def _flow_layout(game, flow: np.ndarray) -> np.ndarray:
    """A mean field as saved: on the grid on grid games; on multi-population games, each population's own
    distribution (mass 1, :meth:`~mfgtools.finite.game.FiniteGame.population_flows`) on a population axis."""
    if game.populations > 1:
        per_population = np.moveaxis(game.population_flows(flow), 0, -2)  # (..., P, S/P)
        if game.grid_shape is None:
            return per_population
        flow = per_population.reshape(np.shape(flow))
    return game.to_grid(flow) if game.grid_shape is not None else flow


def _dimension(label: str) -> str:
    """A coordinate name from a label: ``"relative phase" -> "relative_phase"``."""
    return label.replace(" ", "_")


def _check_shapes(game, policy: np.ndarray, flow: np.ndarray, prefix: str = "") -> None:
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
                f"result {prefix}{name} has shape {array.shape}, but game {game.name!r} in {layout} "
                f"needs {expected[name]}"
            )


def save_dataset(dataset: xr.Dataset, path: str, overwrite: bool = True) -> str:
    """Write an xarray Dataset to netCDF atomically (:func:`mfgtools.files.atomic_write`).

    ``overwrite=False`` refuses to replace an existing file. A full disk or a
    refused permission is one :class:`MFGError` naming the file; nothing partial remains.
    """
    return atomic_write(path, lambda temporary: dataset.to_netcdf(temporary), overwrite=overwrite)


# what each kind of netCDF file mfgtools reads should be, for the error when it is not
_EXPECTED = {
    "result file": "a result file is the netCDF written by `mfgtools solve --out`, `mfgtools sweep --out` or "
    "Result.save",
    "dataset file": "a dataset file is the netCDF written by `mfgtools dataset collect` or `mfgtools dataset mix`",
    "sweep file": "a sweep file is the netCDF written by `mfgtools sweep --out` or mfgtools.sweeps.sweep",
    "file": "mfgtools reads the netCDF files it writes (results, sweeps, datasets)",
}
_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _netcdf_kind(path: str):
    """``None`` if ``path`` starts like a netCDF file (classic or HDF5-based), else what it looks like."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
        if not head:
            return "an empty file"
        if head[:4] in _NETCDF_MAGIC or head[:8] == _HDF5_MAGIC:
            return None
        for offset in (512, 1024, 2048):  # an HDF5 user block puts the signature further on
            handle.seek(offset)
            if handle.read(8) == _HDF5_MAGIC:
                return None
    if head[:4] == b"PK\x03\x04":
        return "a zip archive (an mfgtools checkpoint is one; results and datasets are netCDF)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data that is not netCDF"
    if "\x00" in text:
        return "binary data that is not netCDF"
    first = " ".join(text.split())[:40]
    return f"a text file (it starts with {first!r})"


def read_netcdf(path, what: str = "file", kind: str | None = None) -> xr.Dataset:
    """Read a whole netCDF file into memory; one clear line when it is missing, not netCDF or damaged.

    ``what`` names the file in messages (``"dataset file"``, ...); ``kind``
    (default: ``what``), one of ``"result file"``, ``"dataset file"``, ``"sweep file"``,
    says what such a file should be when it is not one.
    """
    path = os.fspath(path)
    expected = _EXPECTED.get(kind or what, _EXPECTED["file"])
    if os.path.isdir(path):
        raise MFGError(f"{path!r} is a directory, not a {what}; {expected}")
    if not os.path.isfile(path):
        raise MFGError(f"no such {what}: {path!r}")
    try:
        kind = _netcdf_kind(path)
    except OSError as error:
        raise MFGError(f"cannot read {what} {path!r}: {error.strerror or error}") from None
    if kind is not None:
        raise MFGError(f"{path!r} is not a readable netCDF file: it is {kind}; {expected}")
    try:
        with xr.open_dataset(path) as handle:
            return handle.load()
    except Exception as error:  # netCDF4/h5 raise many types  # noqa: BLE001
        reason = " ".join(str(error).split()).split(". ")[0][:160] or error.__class__.__name__
        raise MFGError(
            f"{path!r} is not a readable netCDF file: it is damaged or truncated ({reason}); {expected}"
        ) from None


def load_result(path: str) -> xr.Dataset:
    """Load a result saved by :meth:`Result.save` (checks that it is one).

    Files written before games had modes have no ``mode`` attribute: they are
    finite-horizon results, and the loaded Dataset gets ``mode = "finite-horizon"``.
    """
    dataset = read_netcdf(path, "file", kind="result file")
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
        raise MFGError(
            f"{where} has {what} {version!r}, not an integer: the file is damaged or was not written by mfgtools"
        ) from None
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
