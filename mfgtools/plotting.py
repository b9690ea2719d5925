"""Figures of solver results: densities, exploitability curves and policies.

Every function takes ``data``: a :class:`~mfgtools.results.Result`, an
:class:`xarray.Dataset` from ``Result.to_xarray()`` / :func:`~mfgtools.results.load_result`,
or the path of a saved result. The Dataset layout is the one of
:mod:`mfgtools.results`: ``mean_field`` is ``(t, row, col)`` on grid games
(with ``free`` ``(row, col)``, 1 on cells an agent can occupy) and ``(t, state)``
otherwise; ``policy`` adds an ``action`` axis; ``exploitability`` is
``(iteration,)``. Results of games in stationary mode (attribute ``mode``) have
no ``t``: one stationary population ``mu(s)`` and one stationary policy
``pi(a|s)``; the functions then draw one density panel (a heat map on grid
games, a bar per state otherwise) and one policy map, and reject time steps.

Nothing here needs JAX, and nothing here needs a display: :func:`plot_result`
draws on a bare :class:`matplotlib.figure.Figure` (Agg), the other functions use
``pyplot`` only when they create a new figure, so that it shows in notebooks and
with ``plt.show()``.

Densities of crowd games span many orders of magnitude (a point mass at
``t = 0``, ``~1/S`` once spread, ``1e-10`` in far corners), so the default
colour scale is logarithmic over ``decades`` decades below the largest value
shown (or from the smallest positive value, when that is higher); lower values,
cells nobody reaches included, are drawn white. Walls are masked and drawn in
``wall_color``, a dark grey outside the colour map.
"""

from __future__ import annotations

import math
import os

import numpy as np

from mfgtools.errors import MFGError

DEFAULT_PANELS = 6
DENSITY_CMAP = "viridis"
WALL_COLOR = "#3d3d3d"  # charcoal: a neutral dark grey, outside viridis (purple -> yellow)
EMPTY_COLOR = "white"  # cells below the colour scale: (almost) nobody there
# (drow, dcol) of the actions the grid games name (crowd and crowd_modelling_2d)
ARROWS = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0), "stay": (0, 0)}

__all__ = ["plot_density", "plot_exploitability", "best_iteration", "plot_policy", "plot_result", "run_title",
           "plot_return", "plot_order_parameter", "plot_swarm_mean_field", "plot_swarm_policy", "plot_swarm", "plot_swarm_snapshots",
           "animate_swarm", "plot_sweep", "write_sweep_plot"]


# ----- inputs --------------------------------------------------------------------
def as_dataset(data):
    """``data`` (Result, Dataset or path of a saved result) as an xarray Dataset."""
    import xarray as xr

    if isinstance(data, xr.Dataset):
        dataset = data
    elif isinstance(data, (str, os.PathLike)):
        from mfgtools.results import load_result

        dataset = load_result(os.fspath(data))
    elif hasattr(data, "to_xarray") and hasattr(data, "mean_field"):
        dataset = data.to_xarray()
    else:
        raise MFGError(
            f"cannot plot a {type(data).__name__}: pass a Result from mfgtools.solve, "
            "a Dataset from Result.to_xarray() / mfgtools.load_result, or a result file path"
        )
    if "mean_field" not in dataset:
        raise MFGError("this Dataset is not an mfgtools result: it has no mean_field")
    if "t" not in dataset["mean_field"].dims and "mode" not in dataset.attrs:
        raise MFGError("this Dataset is not an mfgtools result: its mean_field has no t dimension and "
                       "no mode attribute says that it is stationary")
    from mfgtools.results import result_mode

    result_mode(dataset)  # a known mode that matches the layout
    return dataset


def is_stationary(dataset) -> bool:
    """Whether the result is of a game in stationary mode (no ``t`` dimension)."""
    return "t" not in dataset["mean_field"].dims


def _discount(dataset):
    """The discount of a result (attribute, else game parameter), or None."""
    from mfgtools.results import dataset_params

    if "discount" in dataset.attrs:
        return float(dataset.attrs["discount"])
    value = dataset_params(dataset, "game_params").get("discount")
    return None if value is None else float(value)


def _discount_text(dataset, template: str) -> str:
    """``template.format(discount)``, or ``""`` when the discount is unknown."""
    discount = _discount(dataset)
    return "" if discount is None else template.format(discount)


def _stationary_label(dataset) -> str:
    """``"stationary population (discount 0.9)"`` (the discount when known)."""
    return "stationary population" + _discount_text(dataset, " (discount {:g})")


def _no_times(times, what: str = "times") -> None:
    """A stationary result has no time steps: ``times`` must be None."""
    if times is not None:
        raise MFGError(f"{what} does not apply to a stationary result: it has one stationary population "
                       f"and no time steps; leave {what} out")


def is_grid(dataset) -> bool:
    """Whether the result is on a grid game (``row``/``col`` dimensions)."""
    return "row" in dataset.dims and "col" in dataset.dims


def free_mask(dataset) -> np.ndarray:
    """``(H, W)`` bool, ``True`` on free cells (all cells when ``free`` is absent)."""
    if "free" in dataset:
        return np.asarray(dataset["free"].transpose("row", "col").values).astype(bool)
    return np.ones((dataset.sizes["row"], dataset.sizes["col"]), dtype=bool)


def default_times(horizon: int, panels: int = DEFAULT_PANELS) -> list[int]:
    """About ``panels`` evenly spaced time steps of ``0..horizon``, both ends included."""
    count = max(1, min(panels, horizon + 1))
    return sorted({int(round(x)) for x in np.linspace(0, horizon, count)})


def _time_values(dataset) -> np.ndarray:
    return np.asarray(dataset["t"].values).astype(int)


def _check_times(dataset, times) -> list[int]:
    available = _time_values(dataset)
    horizon = int(available.max())
    if times is None:
        return default_times(horizon)
    chosen = [times] if np.isscalar(times) else list(times)
    if not chosen:
        raise MFGError("times is empty: give at least one time step")
    result = []
    for value in chosen:
        try:
            step = int(value)
        except (TypeError, ValueError):
            raise MFGError(f"times must be integers in 0..{horizon}, got {value!r}") from None
        if step != value or step not in available:
            raise MFGError(f"time step {value!r} is not in 0..{horizon}")
        result.append(step)
    return result


def _flat_axes(axes) -> list:
    if axes is None:
        return []
    if hasattr(axes, "plot"):  # a single Axes
        return [axes]
    return list(np.ravel(np.asarray(axes, dtype=object)))


# ----- colour scale --------------------------------------------------------------
def density_norm(values: np.ndarray, scale: str = "log", decades: float = 4.0):
    """Colour normalisation shared by all panels.

    ``scale="log"``: ``LogNorm`` from ``max(vmax * 10**-decades, smallest positive)``
    to ``vmax``; ``"linear"``: ``Normalize(0, vmax)``. ``values`` are the densities
    shown (walls excluded).
    """
    from matplotlib import colors

    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    vmax = float(finite.max()) if finite.size else 1.0
    if not vmax > 0:
        vmax = 1.0
    if scale == "linear":
        return colors.Normalize(vmin=0.0, vmax=vmax)
    if scale != "log":
        raise MFGError(f"unknown scale {scale!r}: choose log or linear")
    if not decades > 0:
        raise MFGError(f"decades must be positive, got {decades!r}")
    positive = finite[finite > 0]
    vmin = vmax * 10.0 ** -float(decades)
    if positive.size and positive.min() > vmin:
        vmin = float(positive.min())
    if vmin >= vmax * 0.999:  # a single value (e.g. only t = 0): one decade below
        vmin = vmax / 10.0
    return colors.LogNorm(vmin=vmin, vmax=vmax)


def _colormap(cmap, wall_color, empty_color=EMPTY_COLOR):
    import matplotlib

    colormap = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    # bad (masked) cells are walls; under the scale are cells (almost) nobody reaches
    return colormap.with_extremes(bad=wall_color, under=empty_color)


def _label_density_bar(bar, scale: str, stationary: bool = False) -> None:
    """Label a density colour bar; on a log scale shorter than two decades, label
    intermediate ticks too (the default labels only powers of ten)."""
    from matplotlib import colors
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    symbol = r"$\mu(s)$" if stationary else r"$\mu_t(s)$"
    bar.set_label(f"density {symbol}" + (" (log)" if scale == "log" else ""))
    norm = bar.norm
    if isinstance(norm, colors.LogNorm) and norm.vmin > 0:
        span = math.log10(norm.vmax / norm.vmin)
        if span < 2:
            subs = tuple(range(1, 10)) if span < 1 else (1.0, 2.0, 5.0)
            bar.ax.yaxis.set_major_locator(LogLocator(subs=subs))
            bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.2g}"))
            bar.ax.yaxis.set_minor_formatter(NullFormatter())


def _displayed(values: np.ndarray, norm) -> np.ndarray:
    """Non-positive densities just under ``vmin`` so that LogNorm shows them as 'under', not 'bad'."""
    from matplotlib import colors

    values = np.asarray(values, dtype=np.float64)
    if isinstance(norm, colors.LogNorm):
        values = np.where(values > 0, values, norm.vmin * 1e-3)
    return values


# ----- densities -----------------------------------------------------------------
def plot_density(data, times=None, *, fig=None, axes=None, scale: str = "log", decades: float = 4.0,
                 cmap=DENSITY_CMAP, wall_color=WALL_COLOR, max_cols: int = DEFAULT_PANELS,
                 colorbar: bool = True):
    """Population density ``mu_t``: heatmaps on grid games, a (t, state) image otherwise.

    Grid games: one ``(H, W)`` heatmap per time step in ``times`` (default: about
    6 evenly spaced steps including 0 and T), titled ``t = ...``, on one colour
    scale shared by all panels, walls masked and drawn in ``wall_color``.
    Other games (e.g. the ring of ``crowd_modelling``): one image of
    ``mu[t, state]`` with ``t`` horizontal; ``times`` selects its columns
    (default: all).

    Stationary results (no ``t``): the stationary population ``mu(s)``, one
    heatmap on grid games, one bar per state (coloured on the same scale)
    otherwise; ``times`` must be left out.

    Args:
      data: Result, Dataset or path (see the module docstring).
      times: time steps to show, integers in ``0..T`` (None for stationary results).
      fig: Figure or SubFigure to draw into (default: a new pyplot figure).
      axes: existing axes instead: one per time step on grid games (one for a
        stationary result), one Axes otherwise.
      scale: ``"log"`` (default) or ``"linear"`` colour scale; ``decades``: depth of the log scale.
      cmap, wall_color: colour map of densities and colour of walls.
      max_cols: panels per row on grid games.
      colorbar: draw the shared colour bar.

    Returns:
      The figure (or subfigure) drawn into.
    """
    dataset = as_dataset(data)
    if is_stationary(dataset):
        _no_times(times)
        if is_grid(dataset):
            return _plot_grid_density(dataset, None, fig, axes, scale, decades, cmap, wall_color,
                                      max_cols, colorbar)
        return _plot_stationary_state_density(dataset, fig, axes, scale, decades, cmap)
    if is_grid(dataset):
        return _plot_grid_density(dataset, times, fig, axes, scale, decades, cmap, wall_color,
                                  max_cols, colorbar)
    return _plot_state_density(dataset, times, fig, axes, scale, decades, cmap, colorbar)


def _new_figure(figsize):
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize, layout="constrained")


def _grid_frames(dataset, times):
    """``(labels, (P, H, W) densities)``: the panels of a grid density figure."""
    if is_stationary(dataset):
        frame = np.asarray(dataset["mean_field"].transpose("row", "col").values, dtype=np.float64)
        return [_stationary_label(dataset)], frame[None]
    times = _check_times(dataset, times)
    flow = np.asarray(dataset["mean_field"].sel(t=times).transpose("t", "row", "col").values, dtype=np.float64)
    return [f"t = {step}" for step in times], flow


def _plot_grid_density(dataset, times, fig, axes, scale, decades, cmap, wall_color, max_cols, colorbar):
    titles, flow = _grid_frames(dataset, times)
    free = free_mask(dataset)
    height, width = free.shape
    flow = np.where(np.isfinite(flow), flow, 0.0)
    norm = density_norm(flow[:, free], scale, decades)
    colormap = _colormap(cmap, wall_color)

    panels = _flat_axes(axes)
    if axes is not None:
        if len(panels) != len(titles):
            if is_stationary(dataset):
                raise MFGError(f"axes: a stationary result is drawn on one Axes, got {len(panels)}")
            raise MFGError(f"axes: got {len(panels)} axes for {len(titles)} time steps; give one per time step")
        fig = panels[0].figure
    else:
        max_cols = int(max_cols)
        if max_cols < 1:
            raise MFGError(f"max_cols must be at least 1, got {max_cols}")
        ncols = min(len(titles), max_cols)
        nrows = math.ceil(len(titles) / ncols)
        panel = 2.3
        aspect = width / height
        if fig is None:
            fig = _new_figure((ncols * panel * min(max(aspect, 0.5), 2.0) + 1.2, nrows * panel + 0.4))
        grid = fig.subplots(nrows, ncols, squeeze=False)
        panels = list(grid.ravel())
        for extra in panels[len(titles):]:
            extra.remove()
        panels = panels[: len(titles)]

    image = None
    for ax, title, frame in zip(panels, titles, flow):
        shown = np.ma.masked_array(_displayed(frame, norm), mask=~free)
        image = ax.imshow(shown, cmap=colormap, norm=norm, interpolation="nearest", origin="upper")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if colorbar and image is not None:
        below = bool(np.any(flow[:, free] < norm.vmin))
        bar = fig.colorbar(image, ax=panels, extend="min" if below else "neither",
                           shrink=0.9 if len(panels) > 1 else 1.0, pad=0.02)
        _label_density_bar(bar, scale, is_stationary(dataset))
    return fig


def _plot_state_density(dataset, times, fig, axes, scale, decades, cmap, colorbar):
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    if times is None:
        times = [int(t) for t in _time_values(dataset)]
    else:
        times = _check_times(dataset, times)
    space = [d for d in dataset["mean_field"].dims if d != "t"]
    if len(space) != 1:
        raise MFGError(f"mean_field has dimensions {dataset['mean_field'].dims}: expected (t, state) or (t, row, col)")
    flow = np.asarray(dataset["mean_field"].sel(t=times).transpose("t", space[0]).values, dtype=np.float64)
    flow = np.where(np.isfinite(flow), flow, 0.0)
    norm = density_norm(flow, scale, decades)
    colormap = _colormap(cmap, WALL_COLOR)

    fig, ax = _single_axes(fig, axes, 0.25 * len(times))
    image = ax.imshow(_displayed(flow.T, norm), cmap=colormap, norm=norm, origin="lower", aspect="auto",
                      interpolation="nearest")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda x, _: str(times[int(round(x))]) if 0 <= round(x) < len(times) and abs(x - round(x)) < 1e-6 else ""))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.set_xlabel("time step t")
    ax.set_ylabel(space[0])
    ax.set_title(r"density $\mu_t$ over states", fontsize=10)
    if colorbar:
        below = bool(np.any(flow < norm.vmin))
        bar = fig.colorbar(image, ax=ax, extend="min" if below else "neither", pad=0.02)
        _label_density_bar(bar, scale)
    return fig


def _single_axes(fig, axes, extra_width: float):
    """The one Axes a non-grid panel is drawn on: the given one, or a new one
    ``extra_width`` inches wider than the minimum."""
    panels = _flat_axes(axes)
    if axes is not None:
        if len(panels) != 1:
            raise MFGError(f"axes: a non-grid game is drawn on one Axes, got {len(panels)}")
        return panels[0].figure, panels[0]
    if fig is None:
        fig = _new_figure((min(max(2.0 + extra_width, 5.0), 11.0), 4.0))
    return fig, fig.subplots()


def _state_dimension(dataset, variable: str = "mean_field") -> str:
    space = [d for d in dataset[variable].dims if d not in ("t", "action")]
    if len(space) != 1:
        raise MFGError(f"{variable} has dimensions {dataset[variable].dims}: expected one state dimension")
    return space[0]


def _plot_stationary_state_density(dataset, fig, axes, scale, decades, cmap):
    """The stationary population of a non-grid game: one bar per state, coloured on the density scale."""
    from matplotlib.ticker import MaxNLocator

    space = _state_dimension(dataset)
    mu = np.asarray(dataset["mean_field"].values, dtype=np.float64)
    mu = np.where(np.isfinite(mu), mu, 0.0)
    states = np.asarray(dataset[space].values) if space in dataset.coords else np.arange(mu.size)
    norm = density_norm(mu, scale, decades)
    colormap = _colormap(cmap, WALL_COLOR)

    fig, ax = _single_axes(fig, axes, 0.3 * mu.size)
    ax.bar(states, mu, width=0.8, color=colormap(norm(_displayed(mu, norm))), edgecolor="0.3", linewidth=0.5)
    if scale == "log":
        ax.set_yscale("log")
        # the smallest value on the scale still shows a bar; values under the scale hardly any
        ax.set_ylim(norm.vmin / 2.0, norm.vmax * 1.5)
    else:
        ax.set_ylim(0.0, norm.vmax * 1.05)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True))
    ax.set_xlabel(space)
    ax.set_ylabel(r"density $\mu(s)$" + (" (log)" if scale == "log" else ""))
    ax.set_title(_stationary_label(dataset), fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    return fig


# ----- exploitability ------------------------------------------------------------
# Solvers whose entry 0 is the uniform policy (the Munchausen learners when tabular: Q = 0).
UNIFORM_START = ("omd", "fp", "fixed-point", "boltzmann", "pma", "pma-sampled", "pma-independent")
REFERENCE = "reference"  # gid of reference lines: not curves (ignored by the log-scale rule)


def plot_exploitability(data, ax=None, *, label: str | None = None, annotate: bool | None = None,
                        references: bool = True, mark_best: bool = True, **line_kwargs):
    """Exploitability of the policy after each iteration (entry 0: the initial policy).

    The y axis is logarithmic when every value of every curve on ``ax`` is
    positive (convergence spans decades), linear otherwise. Call it several times on one ``ax`` with
    ``label=...`` to compare runs.

    Reference lines (``references``), each drawn once per Axes: the uniform
    policy's exploitability (entry 0, when the solver starts from it), the
    behaviour policy's (attribute ``behaviour_exploitability``, offline runs that
    know it), and the equilibrium's 0 (on a linear axis; a log axis cannot show
    it). ``mark_best``: a star on the iterate of lowest exploitability (attribute
    ``best_iteration`` when the run kept it, else the curve's minimum), when it
    is not the last one.

    Args:
      data: Result, Dataset or path; needs the ``exploitability`` ``(iteration,)`` variable.
      ax: Axes to draw on (default: a new pyplot figure).
      label: legend entry of this curve (adds a legend).
      annotate: put the final value in the legend (default: when ``label`` is None).
      references, mark_best: see above.
      line_kwargs: passed to ``Axes.plot``.

    Returns:
      The Axes.
    """
    dataset = as_dataset(data)
    if "exploitability" not in dataset:
        raise MFGError("this result has no exploitability variable to plot")
    values = np.asarray(dataset["exploitability"].values, dtype=np.float64)
    iterations = np.asarray(dataset["iteration"].values) if "iteration" in dataset.coords else np.arange(values.size)
    if ax is None:
        ax = _new_figure((6.0, 3.5)).subplots()
    finite = values[np.isfinite(values)]
    if len(values) <= 60:
        line_kwargs.setdefault("marker", "o")
        line_kwargs.setdefault("markersize", 3)
    line_kwargs.setdefault("linewidth", 1.5)
    if annotate is None:
        annotate = label is None
    if annotate and finite.size:
        final = f"final {values[-1]:.3g}" if np.isfinite(values[-1]) else "final: not finite"
        label = final if label is None else f"{label} ({final})"
    (curve,) = ax.plot(iterations, values, label=label, **line_kwargs)
    best = best_iteration(dataset)
    if mark_best and best is not None and best != len(values) - 1:
        ax.plot(iterations[best], values[best], "*", color=curve.get_color(), markersize=11,
                markeredgecolor="black", markeredgewidth=0.6, zorder=5, gid=REFERENCE,
                label=f"lowest {values[best]:.3g} (iteration {int(iterations[best])})")
        label = label or "exploitability"
    ax.set_yscale("log" if _all_positive(ax) else "linear")  # over every curve on ax
    if references and _reference_lines(ax, dataset, values):
        label = label or "exploitability"
    ax.set_xlabel("iteration")
    ax.set_ylabel("exploitability")
    ax.grid(True, which="major", alpha=0.35)
    if ax.get_yscale() == "log":
        ax.grid(True, which="minor", alpha=0.12)
    if label is not None:
        ax.legend(loc="best", fontsize=8)
    return ax


def best_iteration(dataset) -> int | None:
    """Index of the iterate of lowest exploitability: attribute ``best_iteration``, else
    the curve's minimum (None without a finite value)."""
    if "best_iteration" in dataset.attrs:
        return int(dataset.attrs["best_iteration"])
    values = np.asarray(dataset["exploitability"].values, dtype=np.float64)
    return int(np.nanargmin(values)) if np.isfinite(values).any() else None


def starts_uniform(dataset) -> bool:
    """Whether entry 0 of the run is the uniform policy (known for the solvers that start there)."""
    from mfgtools.results import dataset_params

    solver = dataset.attrs.get("solver")
    if solver in UNIFORM_START:
        return True
    return solver in ("off-mmd", "d-momd") and dataset_params(dataset, "solver_params").get("model") == "tabular"


def _reference_lines(ax, dataset, values) -> bool:
    """Draw the uniform, behaviour and equilibrium references missing from ``ax``; whether any was drawn."""
    drawn = {line.get_label() for line in ax.get_lines() if line.get_gid() == REFERENCE}
    wanted = []
    if starts_uniform(dataset) and np.isfinite(values[0]):
        wanted.append((f"uniform policy ({values[0]:.3g})", values[0], ":", "0.45"))
    if "behaviour_exploitability" in dataset.attrs:
        behaviour = float(dataset.attrs["behaviour_exploitability"])
        wanted.append((f"behaviour policy ({behaviour:.3g})", behaviour, "-.", "tab:brown"))
    if ax.get_yscale() == "linear":
        wanted.append(("equilibrium (0)", 0.0, "--", "black"))
    any_drawn = False
    for text, level, style, color in wanted:
        if text in drawn or (ax.get_yscale() == "log" and not level > 0):
            continue
        ax.axhline(level, linestyle=style, color=color, linewidth=1.0, label=text, gid=REFERENCE, zorder=1)
        any_drawn = True
    return any_drawn


def _all_positive(ax) -> bool:
    """Whether every finite y value of the curves on ``ax`` is positive (and one exists);
    reference lines and markers do not count."""
    values = [np.asarray(line.get_ydata(), dtype=np.float64) for line in ax.get_lines()
              if line.get_gid() != REFERENCE]
    values = np.concatenate(values) if values else np.zeros(0)
    values = values[np.isfinite(values)]
    return bool(values.size) and bool((values > 0).all())


# ----- policy --------------------------------------------------------------------
def plot_policy(data, t: int | None = None, *, ax=None, background: bool = True, scale: str = "log",
                decades: float = 4.0, cmap=DENSITY_CMAP, wall_color=WALL_COLOR, mass_threshold: float = 1e-4):
    """Most likely action of the policy at time ``t``.

    Grid games: an arrow per free cell pointing along ``argmax_a pi_t(a|s)``
    (a dot for ``stay``), over the density ``mu_t`` (``background=True``);
    arrows are black where ``mu_t(s) >= mass_threshold * max mu_t`` and pale
    grey where almost nobody is (the policy there hardly matters). Other games:
    a map of the most likely action over ``(t, state)`` (``t`` is then ignored).

    Stationary results: the stationary policy ``argmax_a pi(a|s)``, as arrows
    over the stationary population on grid games, as one column of states
    coloured by action otherwise; ``t`` must be None (or 0).

    Args:
      data: Result, Dataset or path; needs ``policy`` ``(t, ..., action)``
        (``(..., action)`` for stationary results).
      t: decision step in ``0..T-1`` (no decision is taken at ``T``; default 0).
      ax: Axes to draw on (default: a new pyplot figure).

    Returns:
      The Axes.
    """
    from matplotlib import colors

    dataset = as_dataset(data)
    if "policy" not in dataset:
        raise MFGError("this result has no policy variable to plot")
    actions = [str(a) for a in np.asarray(dataset["action"].values)] if "action" in dataset.coords else []
    stationary = is_stationary(dataset)
    if stationary and t is not None and not (_is_integer(t) and int(t) == 0):
        raise MFGError(f"t = {t!r} does not apply to a stationary result: its policy pi(a|s) does not "
                       "depend on time; leave t out")
    if not is_grid(dataset):
        if stationary:
            return _plot_stationary_state_policy(dataset, actions, ax)
        return _plot_state_policy(dataset, actions, ax)
    if stationary:
        step = None
        now = {}
    else:
        horizon = int(_time_values(dataset).max())
        step = 0 if t is None else t
        if not _is_integer(step):
            raise MFGError(f"t must be an integer in 0..{horizon - 1}, got {t!r}")
        if not 0 <= int(step) < horizon:
            raise MFGError(f"t must be a decision step in 0..{horizon - 1} (no decision at t = T = {horizon}), "
                           f"got {t!r}")
        step = int(step)
        now = {"t": step}
    unknown = [a for a in actions if a not in ARROWS]
    if unknown:
        raise MFGError(f"cannot draw arrows for actions {unknown}; known: {', '.join(ARROWS)}")
    free = free_mask(dataset)
    policy = np.asarray(dataset["policy"].sel(now).transpose("row", "col", "action").values, dtype=np.float64)
    mu = np.asarray(dataset["mean_field"].sel(now).transpose("row", "col").values, dtype=np.float64)
    best = np.argmax(np.where(np.isfinite(policy), policy, -np.inf), axis=-1)
    move = np.array([ARROWS[a] for a in actions], dtype=np.float64)  # (A, 2) as (drow, dcol)
    drow, dcol = move[best, 0], move[best, 1]

    if ax is None:
        height, width = free.shape
        ax = _new_figure((min(max(4.5 * width / height, 3.5), 10.0) + 1.0, 4.5)).subplots()
    if background:  # faded, so that the arrows stay readable on dark colours
        norm = density_norm(mu[free], scale, decades)
        colormap = _colormap(cmap, "none")
        shown = np.ma.masked_array(_displayed(mu, norm), mask=~free)
        image = ax.imshow(shown, cmap=colormap, norm=norm, interpolation="nearest", origin="upper", alpha=0.55)
        bar = ax.figure.colorbar(image, ax=ax, pad=0.02, shrink=0.9)
        _label_density_bar(bar, scale, stationary)
    walls = np.ma.masked_array(np.zeros(free.shape), mask=free)
    ax.imshow(walls, cmap=colors.ListedColormap([wall_color]), origin="upper", interpolation="nearest")
    ax.set_xlim(-0.5, free.shape[1] - 0.5)
    ax.set_ylim(free.shape[0] - 0.5, -0.5)
    rows, cols = np.nonzero(free)
    occupied = mu[rows, cols] >= mass_threshold * max(float(np.nanmax(mu)), 1e-300)
    moving = (drow[rows, cols] != 0) | (dcol[rows, cols] != 0)
    for strong, color in ((False, "0.6"), (True, "black")):
        pick = moving & (occupied == strong)
        if pick.any():
            # angles="xy": arrows follow data coordinates, so +drow points down the image
            ax.quiver(cols[pick], rows[pick], dcol[rows[pick], cols[pick]], drow[rows[pick], cols[pick]],
                      angles="xy", scale_units="xy", scale=1.0 / 0.7, pivot="middle", color=color,
                      width=0.006, headwidth=4, headlength=4, headaxislength=3.5)
        still = ~moving & (occupied == strong)
        if still.any():
            ax.scatter(cols[still], rows[still], s=10, color=color, zorder=3)
    ax.set_xticks([])
    ax.set_yticks([])
    if stationary:
        ax.set_title("most likely action of the stationary policy (dot: stay)", fontsize=10)
    else:
        ax.set_title(f"most likely action at t = {step} (dot: stay)", fontsize=10)
    return ax


def _is_integer(value) -> bool:
    """Whether ``value`` is an integer (an int, an integral numpy scalar or float; not a bool)."""
    if isinstance(value, (bool, np.bool_)):
        return False
    try:
        return int(value) == value
    except (TypeError, ValueError, OverflowError):
        return False


def _plot_state_policy(dataset, actions, ax):
    from matplotlib import colors
    from matplotlib.ticker import MaxNLocator

    space = [d for d in dataset["policy"].dims if d not in ("t", "action")]
    policy = np.asarray(dataset["policy"].transpose("t", space[0], "action").values, dtype=np.float64)[:-1]
    best = np.argmax(np.where(np.isfinite(policy), policy, -np.inf), axis=-1)  # (T, S)
    if ax is None:
        ax = _new_figure((min(max(2.0 + 0.25 * best.shape[0], 5.0), 11.0), 4.0)).subplots()
    count = max(len(actions), int(best.max()) + 1)
    palette = colors.ListedColormap([f"C{i}" for i in range(count)])
    image = ax.imshow(best.T, cmap=palette, vmin=-0.5, vmax=count - 0.5, origin="lower", aspect="auto",
                      interpolation="nearest")
    _action_colorbar(ax, image, actions, count)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.set_xlabel("time step t")
    ax.set_ylabel(space[0])
    ax.set_title("most likely action", fontsize=10)
    return ax


def _action_colorbar(ax, image, actions, count):
    bar = ax.figure.colorbar(image, ax=ax, ticks=range(count), pad=0.02)
    bar.ax.set_yticklabels(actions if len(actions) == count else [str(i) for i in range(count)])
    return bar


def _plot_stationary_state_policy(dataset, actions, ax):
    """Most likely action of a stationary policy on a non-grid game: one column of states."""
    from matplotlib import colors
    from matplotlib.ticker import MaxNLocator

    space = _state_dimension(dataset, "policy")
    policy = np.asarray(dataset["policy"].transpose(space, "action").values, dtype=np.float64)
    best = np.argmax(np.where(np.isfinite(policy), policy, -np.inf), axis=-1)  # (S,)
    if ax is None:
        ax = _new_figure((4.5, min(max(1.5 + 0.3 * best.size, 3.0), 8.0))).subplots()
    count = max(len(actions), int(best.max()) + 1)
    palette = colors.ListedColormap([f"C{i}" for i in range(count)])
    image = ax.imshow(best[:, None], cmap=palette, vmin=-0.5, vmax=count - 0.5, origin="lower", aspect="auto",
                      interpolation="nearest")
    _action_colorbar(ax, image, actions, count)
    if best.size <= 16 and len(actions) == count:  # few states: name the action in each cell
        for state, action in enumerate(best):
            ax.text(0, state, actions[action], ha="center", va="center", fontsize=9, color="white")
    ax.yaxis.set_major_locator(MaxNLocator(nbins=12, integer=True))
    ax.set_xticks([])
    ax.set_xlabel("stationary policy" + _discount_text(dataset, " (discount {:g})"))
    ax.set_ylabel(space)
    ax.set_title("most likely action", fontsize=10)
    return ax


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
        shown.append("stationary" + _discount_text(dataset, ", discount={:g}"))
        quiet_params = (("noise", 0.0),)
    else:
        quiet_params = (("noise", 0.0), ("discount", 1.0))
    for key, quiet in quiet_params:
        if key in game_params and game_params[key] not in (None, quiet):
            shown.append(f"{key}={_short(key, game_params[key], dataset)}")
    game_line = f"{attrs.get('game', '?')}" + (f" ({', '.join(shown)})" if shown else "")
    from mfgtools.solvers.base import shown_settings

    solver_params = {**shown_settings(attrs.get("solver", ""), solver_params),
                     **{k: v for k, v in solver_params.items() if k in _KEY_SOLVER_PARAMS}}
    solver_bits = [f"{k}={_short(k, v, dataset)}" for k, v in sorted(solver_params.items())
                   if v is not None and k not in _QUIET_SOLVER_PARAMS]
    if len(", ".join(solver_bits)) > 80:  # many settings: show those that differ from the defaults
        solver_bits = [f"{k}={_short(k, v, dataset)}" for k, v in sorted(solver_params.items())
                       if v is not None and k not in _QUIET_SOLVER_PARAMS
                       and (k in _KEY_SOLVER_PARAMS or not _is_default(attrs.get("solver"), k, v))]
    solver_line = f"{attrs.get('solver', '?')}" + (f" ({', '.join(solver_bits)})" if solver_bits else "")
    parts = [solver_line]
    if "iterations" in attrs:
        parts.append(f"{int(attrs['iterations'])} iterations")
    if "exploitability" in dataset and dataset["exploitability"].size:
        parts.append(f"final exploitability {float(dataset['exploitability'].values[-1]):.3g}")
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
        raise MFGError("times do not apply to a swarm result's figure (it shows the whole episode); leave them "
                       "out, or draw plot_swarm_snapshots of simulated states")
    if is_stationary(dataset):
        _no_times(times)  # before anything is drawn
    if is_swarm(dataset):  # return, order parameter over time, mean field, decentralised policy
        fig = _swarm_figure(dataset)
    elif is_grid(dataset) and is_stationary(dataset):
        fig = _stationary_grid_figure(dataset, scale)
    elif is_grid(dataset):
        times = _check_times(dataset, times)
        height, width = dataset.sizes["row"], dataset.sizes["col"]
        ncols = min(len(times), DEFAULT_PANELS)
        nrows = math.ceil(len(times) / ncols)
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


def plot_state_shares(data, ax=None, *, simulated=None, label: str = "mean field", linestyle: str = "-",
                      names=None):
    """Share of the population in each epidemic state over time (contagion games).

    ``data``: a result (or its dataset) with ``state_share`` ``(T+1, X)``, or that
    array itself (``names``: its states' names, e.g. ``game.state_names``). ``simulated``: optional ``(seeds, T+1, X)`` shares of an N-agent
    run on the graph, drawn as the mean over seeds (dotted) with a 5-95% band.
    Returns the axes.
    """
    if hasattr(data, "shape") and not hasattr(data, "data_vars"):  # an array (NumPy or JAX)
        shares = np.asarray(data)
        names = list(names) if names is not None else [f"state {x}" for x in range(shares.shape[-1])]
    else:
        dataset = as_dataset(data)
        if "state_share" not in dataset:
            raise MFGError("plot_state_shares needs a contagion game's result (sis-graphex, sir-graphex, "
                           "rumour-graphex): this one has no state_share")
        shares = np.asarray(dataset["state_share"].values)
        names = [str(name) for name in dataset["epidemic_state"].values]
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(6.0, 4.0), layout="constrained").subplots()
    times = np.arange(shares.shape[0])
    colors = [f"C{x}" for x in range(len(names))]
    for x, name in enumerate(names):
        ax.plot(times, shares[:, x], linestyle, color=colors[x], label=f"{name} ({label})")
    if simulated is not None:
        simulated = np.asarray(simulated)
        low, high = np.quantile(simulated, [0.05, 0.95], axis=0)
        for x, name in enumerate(names):
            ax.plot(times, simulated.mean(0)[:, x], ":", color=colors[x], lw=2, label=f"{name} (simulated)")
            ax.fill_between(times, low[:, x], high[:, x], color=colors[x], alpha=0.15, lw=0)
    ax.set_xlabel("time step t")
    ax.set_ylabel("share of the population")
    ax.set_ylim(0.0, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_degree_distribution(degrees, ax=None, *, theory=None, label: str = "graph"):
    """Degree distribution on log-log axes: the share of vertices of each degree ``k >= 1``.

    ``theory``: optional ``(K,)`` probabilities of degrees ``1..K`` (e.g.
    :func:`mfgtools.graphs.graphex.degree_distribution`), drawn as a line.
    Returns the axes.
    """
    degrees = np.asarray(degrees)
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(5.0, 4.0), layout="constrained").subplots()
    counts = np.bincount(degrees)
    k = np.flatnonzero(counts)
    k = k[k > 0]
    ax.loglog(k, counts[k] / degrees.size, ".", ms=4, label=f"{label} ({degrees.size:,} vertices)")
    if theory is not None:
        theory = np.asarray(theory)
        ax.loglog(np.arange(1, theory.size + 1), theory, "-", color="k", lw=1, label="theory")
    ax.set_xlabel("degree k")
    ax.set_ylabel("share of vertices")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax


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
        lines.append("stationary" + _discount_text(dataset, ", discount gamma = {:g}"))
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
    ax.text(0.02, 0.95, "\n".join(lines), transform=ax.transAxes, ha="left", va="top", fontsize=9,
            family="monospace")


def check_plottable(dataset, where="this result") -> None:
    """Refuse a result whose mean field is not a distribution (NaN, infinite or negative
    entries: the run diverged or the file is damaged); note non-finite metrics.

    Infinite or NaN exploitability entries are drawn as gaps: one
    ``mfgtools: note:`` line on stderr says how many.
    """
    import numpy as np

    from mfgtools.errors import note

    where = repr(os.fspath(where)) if isinstance(where, (str, os.PathLike)) and where != "this result" else where
    if "mean_field" in dataset:
        values = np.asarray(dataset["mean_field"].values, dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any() or (values < 0).any():
            what = f"{int(bad.sum()):,} NaN or infinite" if bad.any() else f"{int((values < 0).sum()):,} negative"
            raise MFGError(f"{where} has {what} entries in its mean field: it is not a distribution (the run "
                           "diverged or the file is damaged); rerun the solve, e.g. with a smaller learning_rate")
    for name in ("exploitability", "return"):
        if name in dataset and not is_sweep(dataset):
            values = np.asarray(dataset[name].values, dtype=np.float64)
            infinite = int(np.isinf(values).sum())
            if infinite:
                note(f"{where}: {infinite} of {values.size} {name} values are infinite; they are left out of "
                     "the figure")


def check_figure_path(path) -> str:
    """The image format of ``path`` (from its extension, which it must have), checked.

    Raises :class:`MFGError` for formats matplotlib cannot write and for
    directories that do not exist, before anything is computed or drawn.
    """
    from matplotlib.backend_bases import FigureCanvasBase

    path = os.fspath(path)
    if os.path.isdir(path):
        raise MFGError(f"cannot write the figure to {path!r}: it is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise MFGError(f"cannot write {path!r}: directory {directory!r} does not exist")
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    if not extension:  # a figure without an extension is easily taken for something else
        raise MFGError(f"figure file {path!r} has no extension: name it with its format, e.g. "
                       f"{os.path.basename(path) or 'figure'}.png (or .pdf, .svg)")
    supported = FigureCanvasBase.get_supported_filetypes()
    if extension not in supported:
        raise MFGError(
            f"cannot write a figure as .{extension}: use one of "
            f"{', '.join('.' + e for e in sorted(supported))}"
        )
    return extension


# ----- swarms (kind "swarm": Kuramoto, Vicsek, aggregation) -----------------------------
def is_swarm(dataset) -> bool:
    """Whether a result Dataset is of a swarm game (mean-field control of particles)."""
    return dataset.attrs.get("kind") == "swarm"


def _swarm_dataset(data):
    dataset = as_dataset(data)
    if not is_swarm(dataset):
        raise MFGError("this plot needs a swarm game's result (kuramoto, vicsek, aggregation)")
    return dataset


def plot_return(data, ax=None, *, label: str | None = None, **line_kwargs):
    """The shared return over training iterations (swarm results); the last point is
    the final policy's return, executed decentralised. Returns the axes."""
    dataset = _swarm_dataset(data)
    if ax is None:
        ax = _new_figure((6.0, 4.0)).subplots()
    values = np.asarray(dataset["return"].values, dtype=np.float64)
    iterations = np.arange(values.size)
    ax.plot(iterations[:-1], values[:-1], label=label or "training episodes", **line_kwargs)
    ax.plot(iterations[-1:], values[-1:], "o", color="C3", label="final policy, decentralised")
    ax.set_xlabel("iteration")
    ax.set_ylabel("discounted shared return")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_order_parameter(data, ax=None, *, label: str = "policy", ylabel: str | None = None, **line_kwargs):
    """The order parameter over time.

    ``data``: a swarm result (its ``order`` variable, ``(T+1,)``) or an array
    ``(seeds, T+1)`` (e.g. ``simulate_swarm(...).order``), drawn as the mean with
    a 5-95% band over seeds. Returns the axes.
    """
    if hasattr(data, "shape") and not hasattr(data, "data_vars"):
        runs = np.atleast_2d(np.asarray(data, dtype=np.float64))
    else:
        dataset = _swarm_dataset(data)
        runs = np.asarray(dataset["order"].values, dtype=np.float64)[None]
        ylabel = ylabel or dataset.attrs.get("order_label")
    if ax is None:
        ax = _new_figure((6.0, 4.0)).subplots()
    times = np.arange(runs.shape[1])
    (line,) = ax.plot(times, runs.mean(0), label=label, **line_kwargs)
    if runs.shape[0] > 1:
        low, high = np.quantile(runs, [0.05, 0.95], axis=0)
        ax.fill_between(times, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("t")
    ax.set_ylabel(ylabel or "order parameter")
    ax.grid(alpha=0.3)
    return ax


def plot_swarm_mean_field(data, ax=None, *, t: int | None = None):
    """The mean field of a swarm result: on a circle (phases, headings) a heat map
    over time and angle; on the torus the density at time ``t`` (default: T). Returns the axes."""
    dataset = _swarm_dataset(data)
    field = dataset["mean_field"]
    space = [d for d in field.dims if d != "t"]
    if ax is None:
        ax = _new_figure((6.0, 4.0)).subplots()
    if len(space) == 1:
        values = np.asarray(field.transpose(space[0], "t").values)
        centres = np.asarray(field[space[0]].values)
        width = centres[1] - centres[0]
        image = ax.imshow(values, origin="lower", aspect="auto", cmap=DENSITY_CMAP,
                          extent=(-0.5, values.shape[1] - 0.5, centres[0] - width / 2, centres[-1] + width / 2))
        ax.set_xlabel("t")
        ax.set_ylabel(space[0])
    else:
        t = int(dataset.sizes["t"] - 1 if t is None else t)
        values = np.asarray(field.isel(t=t).transpose(space[1], space[0]).values)
        image = ax.imshow(values, origin="lower", cmap=DENSITY_CMAP, extent=(0, 1, 0, 1))
        ax.set_xlabel(space[0])
        ax.set_ylabel(space[1])
        ax.set_title(f"t = {t}", fontsize=9)
    ax.figure.colorbar(image, ax=ax, label="share of agents")
    return ax


def plot_swarm_policy(data, ax=None, *, t: int = 0):
    """The decentralised policy of a swarm result at step ``t``: on a 1-D observation
    the probability of every action against it; on a 2-D observation the most
    likely action at every point (colour) with its probability (alpha). Returns the axes."""
    dataset = _swarm_dataset(data)
    policy = dataset["policy"].isel(t=int(t))
    observation = [d for d in policy.dims if d != "action"]
    actions = [str(a) for a in dataset["action"].values]
    if ax is None:
        ax = _new_figure((6.0, 4.0)).subplots()
    if len(observation) == 1:
        grid = np.asarray(policy[observation[0]].values)
        for index, name in enumerate(actions):
            ax.plot(grid, np.asarray(policy.isel(action=index).values), label=name)
        ax.set_xlabel(observation[0].replace("_", " "))
        ax.set_ylabel(f"probability at t = {int(t)}")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
    else:
        values = np.asarray(policy.transpose(observation[1], observation[0], "action").values)
        best = values.argmax(-1)
        xs = np.asarray(policy[observation[0]].values)
        ys = np.asarray(policy[observation[1]].values)
        ax.imshow(best, origin="lower", cmap="tab10", vmin=-0.5, vmax=9.5, alpha=values.max(-1),
                  extent=(xs[0], xs[-1], ys[0], ys[-1]))
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=f"C{i}", label=name) for i, name in enumerate(actions)], fontsize=7,
                  loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.set_xlabel(observation[0].replace("_", " "))
        ax.set_ylabel(observation[1].replace("_", " "))
        ax.set_title(f"most likely action at t = {int(t)}", fontsize=9)
    ax.grid(alpha=0.3)
    return ax


def plot_swarm(game, states, ax=None, *, title: str | None = None):
    """A snapshot of a swarm: ``states`` ``(N, D)`` of ``game`` on the unit torus.

    Vicsek agents are arrows along their headings, Kuramoto oscillators dots
    coloured by phase, aggregation agents dots. Returns the axes.
    """
    states = np.asarray(states)
    if ax is None:
        ax = _new_figure((4.5, 4.5)).subplots()
    _draw_swarm(game, states, ax)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def _draw_swarm(game, states, ax):
    labels = tuple(game.state_labels)
    size = float(np.clip(400.0 / np.sqrt(len(states)), 2.0, 40.0))
    if "phi" in labels:  # headings: arrows
        phi = states[:, labels.index("phi")]
        length = 0.03
        return [ax.quiver(states[:, 0], states[:, 1], np.cos(phi), np.sin(phi), phi % (2 * np.pi), cmap="hsv",
                          clim=(0, 2 * np.pi), angles="xy", scale_units="xy", scale=1 / length,
                          width=0.004 if len(states) <= 300 else 0.002)]
    if "theta" in labels:  # phases: colour
        theta = states[:, labels.index("theta")] % (2 * np.pi)
        return [ax.scatter(states[:, 0], states[:, 1], c=theta, cmap="hsv", vmin=0, vmax=2 * np.pi, s=size)]
    return [ax.scatter(states[:, 0], states[:, 1], s=size, color="C0")]


def plot_swarm_snapshots(game, states, times=None, *, fig=None):
    """Snapshots of one episode: ``states`` ``(T+1, N, D)`` (e.g.
    ``simulate_swarm(..., record_states=True).states[0]``) at ``times``
    (default: 4 from 0 to T). Returns the figure."""
    states = np.asarray(states)
    if states.ndim != 3:
        raise MFGError(f"plot_swarm_snapshots needs the states of one episode, (T+1, N, D); got {states.shape}")
    times = default_times(states.shape[0] - 1, 4) if times is None else [int(t) for t in times]
    for t in times:
        if not 0 <= t < states.shape[0]:
            raise MFGError(f"time {t} is outside the episode's 0..{states.shape[0] - 1}")
    if fig is None:
        fig = _new_figure((3.2 * len(times), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(times)))
    for ax, t in zip(axes, times):
        plot_swarm(game, states[t], ax=ax, title=f"t = {t}, {game.order_label} {_order(game, states[t]):.2f}")
    return fig


def _order(game, states) -> float:
    return float(game.order_parameter(states))


def animate_swarm(game, states, path=None, *, fps: int = 12, dpi: int = 100):
    """An animation of one episode, ``states`` ``(T+1, N, D)``.

    Returns the :class:`matplotlib.animation.FuncAnimation` on a figure of its
    own (in a notebook: ``IPython.display.HTML(animation.to_jshtml())``). With ``path`` it is also
    saved, atomically: ``.gif`` with Pillow (always available with matplotlib),
    ``.mp4`` where ffmpeg is installed.
    """
    from matplotlib.animation import FuncAnimation

    states = np.asarray(states)
    if states.ndim != 3:
        raise MFGError(f"animate_swarm needs the states of one episode, (T+1, N, D); got {states.shape}")
    fmt = None
    if path is not None:
        path = os.fspath(path)
        fmt = os.path.splitext(path)[1].lower()
        if fmt not in (".gif", ".mp4"):
            raise MFGError(f"animation file {path!r}: use a .gif (or .mp4 with ffmpeg installed) name")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.8), layout="constrained")  # not a pyplot figure: nothing shows it twice
    ax = fig.subplots()
    plot_swarm(game, states[0], ax=ax)

    def draw(t):
        for artist in list(ax.collections):
            artist.remove()
        artists = _draw_swarm(game, states[t], ax)
        ax.set_title(f"{game.name}: t = {t}, {game.order_label} {_order(game, states[t]):.2f}", fontsize=9)
        return artists

    animation = FuncAnimation(fig, draw, frames=states.shape[0], interval=1000 / fps)
    if path is not None:
        from matplotlib.animation import FFMpegWriter, PillowWriter

        from mfgtools.results import atomic_write

        if fmt == ".mp4" and not FFMpegWriter.isAvailable():
            raise MFGError("saving .mp4 needs ffmpeg on the PATH; save a .gif instead")
        writer = PillowWriter(fps=fps) if fmt == ".gif" else FFMpegWriter(fps=fps)
        atomic_write(path, lambda temporary: animation.save(temporary, writer=writer, dpi=dpi))
    return animation


def _swarm_figure(dataset):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 8.0), layout="constrained")
    axes = fig.subplots(2, 2)
    plot_return(dataset, ax=axes[0, 0])
    plot_order_parameter(dataset, ax=axes[0, 1], label="final policy (mean of episodes)")
    plot_swarm_mean_field(dataset, ax=axes[1, 0])
    plot_swarm_policy(dataset, ax=axes[1, 1])
    return fig


# ----- sweeps (mfgtools.sweep) ---------------------------------------------------------
def _sweep_dataset(data):
    import xarray as xr

    if isinstance(data, (str, os.PathLike)):
        from mfgtools.results import read_netcdf

        data = read_netcdf(os.fspath(data), "sweep file")
    if not isinstance(data, xr.Dataset) or "grid" not in data.attrs or "seed" not in data.dims:
        raise MFGError("this plot needs a sweep: a Dataset from mfgtools.sweep or a file of `mfgtools sweep`")
    return data


def is_sweep(dataset) -> bool:
    """Whether a Dataset is a sweep (:func:`mfgtools.sweep`) rather than one run."""
    return "grid" in dataset.attrs and "seed" in dataset.dims


def _coordinate_text(value) -> str:
    return f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)


def plot_sweep(data, ax=None):
    """The final metric of a sweep against its first swept parameter.

    One line per combination of the other swept parameters: the mean over
    seeds (markers), with a band from the lowest to the highest seed. The metric
    is the final exploitability (the final return on swarm games). A numeric
    parameter spanning a factor 10 or more gets a logarithmic axis; a sweep
    over seeds only shows each seed's value and their mean.

    Args:
      data: a Dataset from :func:`mfgtools.sweep` or the path of a saved sweep.
      ax: Axes to draw on (default: a new pyplot figure).

    Returns:
      The Axes.
    """
    import itertools
    import warnings

    from mfgtools.sweeps import grid_dims, headline

    dataset = _sweep_dataset(data)
    metric, higher = headline(dataset)
    dims = grid_dims(dataset)
    final = dataset[metric].isel(iteration=-1)
    seeds = dataset.sizes["seed"]
    if ax is None:
        ax = _new_figure((6.5, 4.0)).subplots()
    if not dims:
        values = np.asarray(final.values, dtype=np.float64)
        ax.plot(np.asarray(dataset["seed"].values), values, "o", label="final value per seed")
        ax.axhline(float(np.nanmean(values)), color="C1", linestyle="--", label=f"mean over {seeds} seeds")
        ax.set_xlabel("seed")
    else:
        x_dim, others = dims[0], dims[1:]
        xs = np.asarray(dataset[x_dim].values)
        numeric = np.issubdtype(xs.dtype, np.number) and not np.issubdtype(xs.dtype, np.bool_)
        positions = xs.astype(np.float64) if numeric else np.arange(len(xs), dtype=np.float64)
        for combo in itertools.product(*(range(dataset.sizes[d]) for d in others)):
            part = final.isel({d: i for d, i in zip(others, combo)}).transpose("seed", x_dim)
            values = np.asarray(part.values, dtype=np.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
                mean, low, high = (np.nanmean(values, 0), np.nanmin(values, 0), np.nanmax(values, 0))
            label = ", ".join(f"{d}={_coordinate_text(dataset[d].values[i])}" for d, i in zip(others, combo))
            line, = ax.plot(positions, mean, marker="o", markersize=4, label=label or f"mean over {seeds} seeds")
            if seeds > 1:
                ax.fill_between(positions, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        if numeric and (positions > 0).all() and positions.max() >= 10 * positions.min():
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(positions, [_coordinate_text(x) for x in xs])
        ax.set_xlabel(x_dim)
    finite = np.asarray(final.values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if metric == "exploitability" and finite.size and (finite > 0).all():
        ax.set_yscale("log")
    ax.set_ylabel(f"final {metric}" + (" (higher is better)" if higher else ""))
    band = "; band: lowest to highest seed" if seeds > 1 and dims else ""
    ax.set_title(f"{dataset.attrs.get('solver', '?')} on {dataset.attrs.get('game', '?')}, "
                 f"{int(dataset.attrs.get('iterations', 0))} iterations, {seeds} seed{'s' if seeds != 1 else ''}"
                 + band, fontsize=10)
    ax.grid(True, which="major", alpha=0.35)
    ax.legend(loc="best", fontsize=9)
    return ax


def write_sweep_plot(data, path, *, dpi: int = 150) -> str:
    """Draw :func:`plot_sweep` on a bare Figure and write it to ``path`` atomically; returns ``path``."""
    from matplotlib.figure import Figure

    from mfgtools.results import atomic_write

    path = os.fspath(path)
    fmt = check_figure_path(path)
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    plot_sweep(data, ax=fig.subplots())
    atomic_write(path, lambda temporary: fig.savefig(temporary, format=fmt, dpi=dpi))
    return path
