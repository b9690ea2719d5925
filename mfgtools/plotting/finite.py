"""Figures of finite-game results: densities, exploitability curves and policies.

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

import numpy as np

from mfgtools.errors import MFGError
from mfgtools.plotting.common import (
    ARROWS,
    DEFAULT_PANELS,
    DENSITY_CMAP,
    WALL_COLOR,
    as_dataset,
    check_times,
    density_colormap,
    density_norm,
    discount_text,
    displayed_values,
    flat_axes,
    free_mask,
    is_grid,
    is_stationary,
    label_density_bar,
    new_figure,
    populations,
    reject_times,
    select_population,
    stationary_label,
    time_values,
)


# ----- densities -----------------------------------------------------------------
def plot_density(
    data,
    times=None,
    *,
    fig=None,
    axes=None,
    scale: str = "log",
    decades: float = 4.0,
    cmap=DENSITY_CMAP,
    wall_color=WALL_COLOR,
    max_cols: int = DEFAULT_PANELS,
    colorbar: bool = True,
    population=None,
):
    """Population density ``mu_t``: heatmaps on grid games, a (t, state) image otherwise.

    Multi-population results (a ``population`` dimension): ``population`` (a name
    or index) draws that population's distribution; ``None`` draws every
    population on grid games, one row of time steps each, and the first one otherwise.

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
    if population is not None or not (populations(dataset) and is_grid(dataset)):
        dataset = select_population(dataset, population)
    elif axes is None:  # every population: one row of panels each
        max_cols = len(check_times(dataset, times)) if not is_stationary(dataset) else 1
    if is_stationary(dataset):
        reject_times(times)
        if is_grid(dataset):
            return _plot_grid_density(dataset, None, fig, axes, scale, decades, cmap, wall_color, max_cols, colorbar)
        return _plot_stationary_state_density(dataset, fig, axes, scale, decades, cmap)
    if is_grid(dataset):
        return _plot_grid_density(dataset, times, fig, axes, scale, decades, cmap, wall_color, max_cols, colorbar)
    return _plot_state_density(dataset, times, fig, axes, scale, decades, cmap, colorbar)


def _grid_frames(dataset, times):
    """``(labels, (P, H, W) densities)``: the panels of a grid density figure."""
    names = populations(dataset)
    if names:  # every population, one row each
        frames = [_grid_frames(dataset.sel(population=name), times) for name in names]
        titles = [f"population {name}, {title}" for name, (labels, _) in zip(names, frames) for title in labels]
        return titles, np.concatenate([flow for _, flow in frames], axis=0)
    if is_stationary(dataset):
        frame = np.asarray(dataset["mean_field"].transpose("row", "col").values, dtype=np.float64)
        return [stationary_label(dataset)], frame[None]
    times = check_times(dataset, times)
    flow = np.asarray(dataset["mean_field"].sel(t=times).transpose("t", "row", "col").values, dtype=np.float64)
    return [f"t = {step}" for step in times], flow


def _plot_grid_density(dataset, times, fig, axes, scale, decades, cmap, wall_color, max_cols, colorbar):
    titles, flow = _grid_frames(dataset, times)
    free = free_mask(dataset)
    height, width = free.shape
    flow = np.where(np.isfinite(flow), flow, 0.0)
    norm = density_norm(flow[:, free], scale, decades)
    colormap = density_colormap(cmap, wall_color)

    panels = flat_axes(axes)
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
            fig = new_figure((ncols * panel * min(max(aspect, 0.5), 2.0) + 1.2, nrows * panel + 0.4))
        grid = fig.subplots(nrows, ncols, squeeze=False)
        panels = list(grid.ravel())
        for extra in panels[len(titles) :]:
            extra.remove()
        panels = panels[: len(titles)]

    image = None
    for ax, title, frame in zip(panels, titles, flow):
        shown = np.ma.masked_array(displayed_values(frame, norm), mask=~free)
        image = ax.imshow(shown, cmap=colormap, norm=norm, interpolation="nearest", origin="upper")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if colorbar and image is not None:
        below = bool(np.any(flow[:, free] < norm.vmin))
        bar = fig.colorbar(
            image, ax=panels, extend="min" if below else "neither", shrink=0.9 if len(panels) > 1 else 1.0, pad=0.02
        )
        label_density_bar(bar, scale, is_stationary(dataset))
    return fig


def _plot_state_density(dataset, times, fig, axes, scale, decades, cmap, colorbar):
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    if times is None:
        times = [int(t) for t in time_values(dataset)]
    else:
        times = check_times(dataset, times)
    space = [d for d in dataset["mean_field"].dims if d != "t"]
    if len(space) != 1:
        raise MFGError(f"mean_field has dimensions {dataset['mean_field'].dims}: expected (t, state) or (t, row, col)")
    flow = np.asarray(dataset["mean_field"].sel(t=times).transpose("t", space[0]).values, dtype=np.float64)
    flow = np.where(np.isfinite(flow), flow, 0.0)
    norm = density_norm(flow, scale, decades)
    colormap = density_colormap(cmap, WALL_COLOR)

    fig, ax = _single_axes(fig, axes, 0.25 * len(times))
    image = ax.imshow(
        displayed_values(flow.T, norm), cmap=colormap, norm=norm, origin="lower", aspect="auto", interpolation="nearest"
    )
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.xaxis.set_major_formatter(
        FuncFormatter(
            lambda x, _: str(times[int(round(x))]) if 0 <= round(x) < len(times) and abs(x - round(x)) < 1e-6 else ""
        )
    )
    ax.yaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.set_xlabel("time step t")
    ax.set_ylabel(space[0])
    ax.set_title(r"density $\mu_t$ over states", fontsize=10)
    if colorbar:
        below = bool(np.any(flow < norm.vmin))
        bar = fig.colorbar(image, ax=ax, extend="min" if below else "neither", pad=0.02)
        label_density_bar(bar, scale)
    return fig


def _single_axes(fig, axes, extra_width: float):
    """The one Axes a non-grid panel is drawn on: the given one, or a new one
    ``extra_width`` inches wider than the minimum."""
    panels = flat_axes(axes)
    if axes is not None:
        if len(panels) != 1:
            raise MFGError(f"axes: a non-grid game is drawn on one Axes, got {len(panels)}")
        return panels[0].figure, panels[0]
    if fig is None:
        fig = new_figure((min(max(2.0 + extra_width, 5.0), 11.0), 4.0))
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
    colormap = density_colormap(cmap, WALL_COLOR)

    fig, ax = _single_axes(fig, axes, 0.3 * mu.size)
    ax.bar(states, mu, width=0.8, color=colormap(norm(displayed_values(mu, norm))), edgecolor="0.3", linewidth=0.5)
    if scale == "log":
        ax.set_yscale("log")
        # the smallest value on the scale still shows a bar; values under the scale hardly any
        ax.set_ylim(norm.vmin / 2.0, norm.vmax * 1.5)
    else:
        ax.set_ylim(0.0, norm.vmax * 1.05)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True))
    ax.set_xlabel(space)
    ax.set_ylabel(r"density $\mu(s)$" + (" (log)" if scale == "log" else ""))
    ax.set_title(stationary_label(dataset), fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    return fig


# ----- exploitability ------------------------------------------------------------
# Solvers whose entry 0 is the uniform policy (the Munchausen learners when tabular: Q = 0).
UNIFORM_START = ("omd", "fp", "fixed-point", "boltzmann", "pma", "pma-sampled", "pma-independent")
REFERENCE = "reference"  # gid of reference lines: not curves (ignored by the log-scale rule)


def plot_exploitability(
    data,
    ax=None,
    *,
    label: str | None = None,
    annotate: bool | None = None,
    references: bool = True,
    mark_best: bool = True,
    paper_score: bool = True,
    **line_kwargs,
):
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
    is not the last one. ``paper_score``: Off-MMD and D-MOMD runs also carry the official code's score
    (``paper_exploitability``: discount 0.99, greedy value at ``t = 0``); it is drawn dashed in the
    curve's colour.

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
        ax = new_figure((6.0, 3.5)).subplots()
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
    if paper_score and "paper_exploitability" in dataset:
        paper = np.asarray(dataset["paper_exploitability"].values, dtype=np.float64)
        final = f"final {paper[-1]:.3g}" if np.isfinite(paper[-1]) else "final: not finite"
        ax.plot(
            iterations,
            paper,
            "--",
            color=curve.get_color(),
            linewidth=1.0,
            label=f"paper's score, discount 0.99, greedy V(t = 0) ({final})",
        )
        label = label or "exploitability"
    best = best_iteration(dataset)
    if mark_best and best is not None and best != len(values) - 1:
        ax.plot(
            iterations[best],
            values[best],
            "*",
            color=curve.get_color(),
            markersize=11,
            markeredgecolor="black",
            markeredgewidth=0.6,
            zorder=5,
            gid=REFERENCE,
            label=f"lowest {values[best]:.3g} (iteration {int(iterations[best])})",
        )
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
    values = [np.asarray(line.get_ydata(), dtype=np.float64) for line in ax.get_lines() if line.get_gid() != REFERENCE]
    values = np.concatenate(values) if values else np.zeros(0)
    values = values[np.isfinite(values)]
    return bool(values.size) and bool((values > 0).all())


# ----- policy --------------------------------------------------------------------
def plot_policy(
    data,
    t: int | None = None,
    *,
    ax=None,
    background: bool = True,
    scale: str = "log",
    decades: float = 4.0,
    cmap=DENSITY_CMAP,
    wall_color=WALL_COLOR,
    mass_threshold: float = 1e-4,
    population=None,
):
    """Most likely action of the policy at time ``t``.

    Multi-population results: the policy of ``population`` (a name or index; default the first).

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

    dataset = select_population(as_dataset(data), population)
    if "policy" not in dataset:
        raise MFGError("this result has no policy variable to plot")
    actions = [str(a) for a in np.asarray(dataset["action"].values)] if "action" in dataset.coords else []
    stationary = is_stationary(dataset)
    if stationary and t is not None and not (_is_integer(t) and int(t) == 0):
        raise MFGError(
            f"t = {t!r} does not apply to a stationary result: its policy pi(a|s) does not depend on time; leave t out"
        )
    if not is_grid(dataset):
        if stationary:
            return _plot_stationary_state_policy(dataset, actions, ax)
        return _plot_state_policy(dataset, actions, ax)
    if stationary:
        step = None
        now = {}
    else:
        horizon = int(time_values(dataset).max())
        step = 0 if t is None else t
        if not _is_integer(step):
            raise MFGError(f"t must be an integer in 0..{horizon - 1}, got {t!r}")
        if not 0 <= int(step) < horizon:
            raise MFGError(
                f"t must be a decision step in 0..{horizon - 1} (no decision at t = T = {horizon}), got {t!r}"
            )
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
        ax = new_figure((min(max(4.5 * width / height, 3.5), 10.0) + 1.0, 4.5)).subplots()
    if background:  # faded, so that the arrows stay readable on dark colours
        norm = density_norm(mu[free], scale, decades)
        colormap = density_colormap(cmap, "none")
        shown = np.ma.masked_array(displayed_values(mu, norm), mask=~free)
        image = ax.imshow(shown, cmap=colormap, norm=norm, interpolation="nearest", origin="upper", alpha=0.55)
        bar = ax.figure.colorbar(image, ax=ax, pad=0.02, shrink=0.9)
        label_density_bar(bar, scale, stationary)
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
            ax.quiver(
                cols[pick],
                rows[pick],
                dcol[rows[pick], cols[pick]],
                drow[rows[pick], cols[pick]],
                angles="xy",
                scale_units="xy",
                scale=1.0 / 0.7,
                pivot="middle",
                color=color,
                width=0.006,
                headwidth=4,
                headlength=4,
                headaxislength=3.5,
            )
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
        ax = new_figure((min(max(2.0 + 0.25 * best.shape[0], 5.0), 11.0), 4.0)).subplots()
    count = max(len(actions), int(best.max()) + 1)
    palette = colors.ListedColormap([f"C{i}" for i in range(count)])
    image = ax.imshow(
        best.T, cmap=palette, vmin=-0.5, vmax=count - 0.5, origin="lower", aspect="auto", interpolation="nearest"
    )
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
        ax = new_figure((4.5, min(max(1.5 + 0.3 * best.size, 3.0), 8.0))).subplots()
    count = max(len(actions), int(best.max()) + 1)
    palette = colors.ListedColormap([f"C{i}" for i in range(count)])
    image = ax.imshow(
        best[:, None], cmap=palette, vmin=-0.5, vmax=count - 0.5, origin="lower", aspect="auto", interpolation="nearest"
    )
    _action_colorbar(ax, image, actions, count)
    if best.size <= 16 and len(actions) == count:  # few states: name the action in each cell
        for state, action in enumerate(best):
            ax.text(0, state, actions[action], ha="center", va="center", fontsize=9, color="white")
    ax.yaxis.set_major_locator(MaxNLocator(nbins=12, integer=True))
    ax.set_xticks([])
    ax.set_xlabel("stationary policy" + discount_text(dataset, " (discount {:g})"))
    ax.set_ylabel(space)
    ax.set_title("most likely action", fontsize=10)
    return ax


__all__ = [
    "UNIFORM_START",
    "REFERENCE",
    "plot_density",
    "plot_exploitability",
    "best_iteration",
    "starts_uniform",
    "plot_policy",
]
