"""The figure of a run (``mfgtools plot``, ``--plot``): title, panels by family, description.

:func:`plot_result` picks the layout from the result: finite games (densities,
exploitability, policy; a stationary layout for stationary results), swarms
(:mod:`mfgtools.plotting.swarm`) and graphex games.
"""

from __future__ import annotations

import math
import os

import numpy as np

from mfgtools.errors import MFGError
from mfgtools.plotting.common import (
    ARROWS,
    DEFAULT_PANELS,
    as_dataset,
    check_figure_path,
    check_plottable,
    check_times,
    discount_text,
    free_mask,
    is_grid,
    is_stationary,
    reject_times,
)
from mfgtools.plotting.finite import best_iteration, plot_density, plot_exploitability, plot_policy
from mfgtools.plotting.graphex import plot_state_shares
from mfgtools.plotting.swarm import is_swarm, swarm_figure

# ----- the run's figure ----------------------------------------------------------
_KEY_GAME_PARAMS = ("setting", "map", "task", "size", "horizon")


def run_title(data) -> str:
    """Two lines naming the game, its key parameters, the solver and the outcome.

    Stationary results say ``stationary`` and their discount instead of a horizon.
    """
    from mfgtools.results import dataset_params

    dataset = as_dataset(data)
    attrs = dataset.attrs
    stationary = is_stationary(dataset)
    game_params = dataset_params(dataset, "game_params")
    solver_params = dataset_params(dataset, "solver_params")
    shown = []
    # a stationary game's horizon is only the length of simulated sample paths
    keys = [key for key in _KEY_GAME_PARAMS if not (stationary and key == "horizon")]
    for key in keys:
        if key in game_params and game_params[key] is not None:
            shown.append(f"{key}={_short(key, game_params[key], dataset)}")
    if stationary:
        shown.append("stationary" + discount_text(dataset, ", discount={:g}"))
        quiet_params = (("noise", 0.0),)
    else:
        quiet_params = (("noise", 0.0), ("discount", 1.0))
    for key, quiet in quiet_params:
        if key in game_params and game_params[key] not in (None, quiet):
            shown.append(f"{key}={_short(key, game_params[key], dataset)}")
    game_line = f"{attrs.get('game', '?')}" + (f" ({', '.join(shown)})" if shown else "")
    from mfgtools.solvers.base import shown_settings

    solver_params = {
        **shown_settings(attrs.get("solver", ""), solver_params),
        **{k: v for k, v in solver_params.items() if k in _KEY_SOLVER_PARAMS},
    }
    solver_bits = [
        f"{k}={_short(k, v, dataset)}"
        for k, v in sorted(solver_params.items())
        if v is not None and k not in _QUIET_SOLVER_PARAMS
    ]
    if len(", ".join(solver_bits)) > 80:  # many settings: show those that differ from the defaults
        solver_bits = [
            f"{k}={_short(k, v, dataset)}"
            for k, v in sorted(solver_params.items())
            if v is not None
            and k not in _QUIET_SOLVER_PARAMS
            and (k in _KEY_SOLVER_PARAMS or not _is_default(attrs.get("solver"), k, v))
        ]
    solver_line = f"{attrs.get('solver', '?')}" + (f" ({', '.join(solver_bits)})" if solver_bits else "")
    parts = [solver_line]
    if "iterations" in attrs:
        parts.append(f"{int(attrs['iterations'])} iterations")
    if "exploitability" in dataset and dataset["exploitability"].size:
        final = f"final exploitability {float(dataset['exploitability'].values[-1]):.3g}"
        if "paper_exploitability" in dataset and dataset["paper_exploitability"].size:
            final += f" (paper's score {float(dataset['paper_exploitability'].values[-1]):.3g})"
        parts.append(final)
    elif "return" in dataset and dataset["return"].size:
        parts.append(f"final return {float(dataset['return'].values[-1]):.3g} ({int(attrs.get('n_agents', 0))} agents)")
    return game_line + "\n" + "  |  ".join(parts)


_QUIET_SOLVER_PARAMS = ("dataset_digest",)
_KEY_SOLVER_PARAMS = ("dataset",)


def _is_default(solver, key, value) -> bool:
    """Whether ``value`` is the registry default of the solver's parameter ``key``."""
    from mfgtools.solvers import list_solvers

    spec = list_solvers().get(solver)
    if spec is None or key not in spec.parameters:
        return False

    def plain(v):
        if isinstance(v, (list, tuple)):
            return ",".join(plain(x) for x in v)
        if isinstance(v, str) and "," in v:
            return ",".join(plain(x) for x in v.split(","))
        try:
            return repr(float(v))
        except (TypeError, ValueError):
            return str(v)

    return plain(spec.parameters[key].default) == plain(value)


def _short(key, value, dataset) -> str:
    if key == "map" and isinstance(value, str) and "\n" in value:
        if is_grid(dataset):
            return f"custom {dataset.sizes['row']}x{dataset.sizes['col']}"
        return "custom"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_short(key, v, dataset) for v in value) + ")"
    return str(value)


def plot_result(data, path, *, times=None, scale: str = "log", dpi: int = 150) -> str:
    """Write one figure of a run to ``path``: densities, exploitability and a title.

    ``times``: the time steps of the density panels (see :func:`plot_density`).
    Stationary results have no ``times``: the figure shows the stationary
    population, the stationary policy's most likely action (arrows on grid games
    whose actions are moves) and the exploitability curve.
    The format follows the extension (``.png``, ``.pdf``, ``.svg``, ...; PNG
    without one). The file is written to a temporary name and renamed
    (:func:`~mfgtools.results.atomic_write`), so an interrupted or failed plot
    never leaves a partial image. Draws on a bare Figure: no display and no
    pyplot state are needed.

    Returns:
      ``path``.
    """
    from matplotlib.figure import Figure

    from mfgtools.results import atomic_write

    path = os.fspath(path)
    fmt = check_figure_path(path)
    dataset = as_dataset(data)
    check_plottable(dataset, data if isinstance(data, (str, os.PathLike)) else "this result")
    if is_swarm(dataset) and times is not None:
        raise MFGError(
            "times do not apply to a swarm result's figure (it shows the whole episode); leave them "
            "out, or draw plot_swarm_snapshots of simulated states"
        )
    if is_stationary(dataset):
        reject_times(times)  # before anything is drawn
    if is_swarm(dataset):  # return, order parameter over time, mean field, decentralised policy
        fig = swarm_figure(dataset)
    elif is_grid(dataset) and is_stationary(dataset):
        fig = _stationary_grid_figure(dataset, scale)
    elif is_grid(dataset):
        times = check_times(dataset, times)
        height, width = dataset.sizes["row"], dataset.sizes["col"]
        ncols = min(len(times), DEFAULT_PANELS)
        nrows = math.ceil(len(times) / ncols)
        if "population" in dataset["mean_field"].dims:  # one row of time steps per population
            ncols, nrows = len(times), dataset.sizes["population"]
        panel = 2.2
        panel_width = panel * min(max(width / height, 0.5), 2.0)
        fig_width = max(ncols * panel_width + 1.4, 9.0)
        top = nrows * (panel + 0.35) + 0.3
        fig = Figure(figsize=(fig_width, top + 3.2 + 0.7), layout="constrained")
        upper, lower = fig.subfigures(2, 1, height_ratios=[top, 3.2])
        plot_density(dataset, times, fig=upper, scale=scale)
        # the curve on the left ~60% of the width: a full-width curve is hard to read
        curve, info = lower.subplots(1, 2, width_ratios=[3, 2])
        plot_exploitability(dataset, ax=curve)
        _describe_run(info, dataset)
    elif is_stationary(dataset) and "policy" in dataset:  # population, policy, exploitability
        fig = Figure(figsize=(13.0, 4.6), layout="constrained")
        left, middle, right = fig.subfigures(1, 3, width_ratios=[1.0, 0.6, 1.0])
        plot_density(dataset, fig=left, scale=scale)
        plot_policy(dataset, ax=middle.subplots())
        plot_exploitability(dataset, ax=right.subplots())
    elif "state_share" in dataset:  # contagion games: the epidemic states over time, exploitability
        fig = Figure(figsize=(11.0, 4.6), layout="constrained")
        left, right = fig.subplots(1, 2)
        plot_state_shares(dataset, ax=left)
        plot_exploitability(dataset, ax=right)
    else:
        fig = Figure(figsize=(11.0, 4.6), layout="constrained")
        left, right = fig.subfigures(1, 2, width_ratios=[1.15, 1.0])
        plot_density(dataset, times, fig=left, scale=scale)
        plot_exploitability(dataset, ax=right.subplots())
    fig.suptitle(run_title(dataset), fontsize=11)
    atomic_write(path, lambda temporary: fig.savefig(temporary, format=fmt, dpi=dpi))
    return path


def _stationary_grid_figure(dataset, scale):
    """A stationary result on a grid: the population and the policy's arrows side by side,
    the exploitability curve and the run's facts below."""
    from matplotlib.figure import Figure

    height, width = dataset.sizes["row"], dataset.sizes["col"]
    aspect = min(max(width / height, 0.5), 2.0)
    top = 3.6
    actions = [str(a) for a in np.asarray(dataset["action"].values)] if "action" in dataset.coords else []
    arrows = "policy" in dataset and bool(actions) and all(a in ARROWS for a in actions)
    fig_width = max((2 if arrows else 1) * (top - 0.6) * aspect + 2.5, 9.0)
    fig = Figure(figsize=(fig_width, top + 3.2 + 0.7), layout="constrained")
    upper, lower = fig.subfigures(2, 1, height_ratios=[top, 3.2])
    if arrows:
        left, right = upper.subfigures(1, 2)
        plot_density(dataset, fig=left, scale=scale)
        plot_policy(dataset, ax=right.subplots(), background=False, scale=scale)
    else:  # actions that are not moves (no arrows to draw): the population alone
        plot_density(dataset, fig=upper, scale=scale)
    curve, info = lower.subplots(1, 2, width_ratios=[3, 2])
    plot_exploitability(dataset, ax=curve)
    _describe_run(info, dataset)
    return fig


def _describe_run(ax, dataset) -> None:
    """Key facts of the run as text on ``ax`` (next to the exploitability curve)."""
    from mfgtools.results import dataset_params

    attrs = dataset.attrs
    lines = []
    free = free_mask(dataset)
    lines.append(f"grid {free.shape[0]} x {free.shape[1]}, {int(free.sum())} free cells")
    stationary = is_stationary(dataset)
    if stationary:
        lines.append("stationary" + discount_text(dataset, ", discount gamma = {:g}"))
    elif "horizon" in attrs:
        lines.append(f"horizon T = {int(attrs['horizon'])}")
    if "n_states" in attrs and "n_actions" in attrs:
        lines.append(f"S = {int(attrs['n_states'])} states, A = {int(attrs['n_actions'])} actions")
    values = np.asarray(dataset["exploitability"].values, dtype=np.float64) if "exploitability" in dataset else None
    if values is not None and values.size:
        lines.append(f"exploitability {values[0]:.3g} -> {values[-1]:.3g}")
        best = best_iteration(dataset)
        if best is not None:
            lines.append(f"lowest {values[best]:.3g} at iteration {best}")
    if "paper_exploitability" in dataset and dataset["paper_exploitability"].size:
        paper = np.asarray(dataset["paper_exploitability"].values, dtype=np.float64)
        lines.append(f"paper's score {paper[0]:.3g} -> {paper[-1]:.3g}")
    if "wall_time_s" in attrs:
        lines.append(f"solve time {float(attrs['wall_time_s']):.1f} s, seed {attrs.get('seed', '?')}")
    params = dataset_params(dataset, "game_params")
    hidden = set(_KEY_GAME_PARAMS) | {"positional_reward", "positional_reward_value"}
    if stationary:  # said above; the horizon is only the length of sample paths
        hidden |= {"mode", "discount"}
    from mfgtools.games.crowd import relevant_parameters

    extra = {k: v for k, v in relevant_parameters(params).items() if k not in hidden and v is not None}
    if extra:
        lines.append("")
        lines.extend(f"{k} = {_short(k, v, dataset)}" for k, v in sorted(extra.items()))
    ax.axis("off")
    ax.text(0.02, 0.95, "\n".join(lines), transform=ax.transAxes, ha="left", va="top", fontsize=9, family="monospace")


__all__ = ["run_title", "plot_result"]
