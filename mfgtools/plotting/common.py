"""What every figure shares: reading a result, time steps, colour scales, checks of a figure path.

Nothing here needs JAX or a display; see :mod:`mfgtools.plotting` for the data every function takes.
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
        raise MFGError(
            "this Dataset is not an mfgtools result: its mean_field has no t dimension and "
            "no mode attribute says that it is stationary"
        )
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


def discount_text(dataset, template: str) -> str:
    """``template.format(discount)``, or ``""`` when the discount is unknown."""
    discount = _discount(dataset)
    return "" if discount is None else template.format(discount)


def stationary_label(dataset) -> str:
    """``"stationary population (discount 0.9)"`` (the discount when known)."""
    return "stationary population" + discount_text(dataset, " (discount {:g})")


def reject_times(times, what: str = "times") -> None:
    """A stationary result has no time steps: ``times`` must be None."""
    if times is not None:
        raise MFGError(
            f"{what} does not apply to a stationary result: it has one stationary population "
            f"and no time steps; leave {what} out"
        )


def is_grid(dataset) -> bool:
    """Whether the result is on a grid game (``row``/``col`` dimensions)."""
    return "row" in dataset.dims and "col" in dataset.dims


def populations(dataset) -> list[str]:
    """The population names of a multi-population result (``population`` coordinate); ``[]`` otherwise."""
    if "population" not in dataset["mean_field"].dims:
        return []
    return [str(p) for p in np.asarray(dataset["population"].values)]


def select_population(dataset, population):
    """The result restricted to one population (its name or index) on a multi-population result; ``dataset``
    itself when it has none (``population`` must then be None)."""
    names = populations(dataset)
    if not names:
        if population is not None:
            raise MFGError(f"population = {population!r}: this result has one population; leave population out")
        return dataset
    if population is None:
        population = names[0]
    name = str(population)
    if name not in names:
        index = isinstance(population, (int, np.integer)) and not isinstance(population, bool)
        if index and 0 <= population < len(names):
            name = names[int(population)]
        else:
            raise MFGError(f"unknown population {population!r}: choose one of {', '.join(names)}")
    return dataset.sel(population=name)


def free_mask(dataset) -> np.ndarray:
    """``(H, W)`` bool, ``True`` on free cells (all cells when ``free`` is absent)."""
    if "free" in dataset:
        return np.asarray(dataset["free"].transpose("row", "col").values).astype(bool)
    return np.ones((dataset.sizes["row"], dataset.sizes["col"]), dtype=bool)


def default_times(horizon: int, panels: int = DEFAULT_PANELS) -> list[int]:
    """About ``panels`` evenly spaced time steps of ``0..horizon``, both ends included."""
    count = max(1, min(panels, horizon + 1))
    return sorted({int(round(x)) for x in np.linspace(0, horizon, count)})


def time_values(dataset) -> np.ndarray:
    return np.asarray(dataset["t"].values).astype(int)


def check_times(dataset, times) -> list[int]:
    available = time_values(dataset)
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


def flat_axes(axes) -> list:
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


def density_colormap(cmap, wall_color, empty_color=EMPTY_COLOR):
    import matplotlib

    colormap = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    # bad (masked) cells are walls; under the scale are cells (almost) nobody reaches
    return colormap.with_extremes(bad=wall_color, under=empty_color)


def label_density_bar(bar, scale: str, stationary: bool = False) -> None:
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


def displayed_values(values: np.ndarray, norm) -> np.ndarray:
    """Non-positive densities just under ``vmin`` so that LogNorm shows them as 'under', not 'bad'."""
    from matplotlib import colors

    values = np.asarray(values, dtype=np.float64)
    if isinstance(norm, colors.LogNorm):
        values = np.where(values > 0, values, norm.vmin * 1e-3)
    return values


def new_figure(figsize):
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize, layout="constrained")


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
            raise MFGError(
                f"{where} has {what} entries in its mean field: it is not a distribution (the run "
                "diverged or the file is damaged); rerun the solve, e.g. with a smaller learning_rate"
            )
    for name in ("exploitability", "return"):
        if name in dataset and not is_sweep(dataset):
            values = np.asarray(dataset[name].values, dtype=np.float64)
            infinite = int(np.isinf(values).sum())
            if infinite:
                note(
                    f"{where}: {infinite} of {values.size} {name} values are infinite; they are left out of the figure"
                )


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
        raise MFGError(
            f"figure file {path!r} has no extension: name it with its format, e.g. "
            f"{os.path.basename(path) or 'figure'}.png (or .pdf, .svg)"
        )
    supported = FigureCanvasBase.get_supported_filetypes()
    if extension not in supported:
        raise MFGError(
            f"cannot write a figure as .{extension}: use one of {', '.join('.' + e for e in sorted(supported))}"
        )
    return extension


def is_sweep(dataset) -> bool:
    """Whether a Dataset is a sweep (:func:`mfgtools.sweep`) rather than one run."""
    return "grid" in dataset.attrs and "seed" in dataset.dims


__all__ = [
    "DEFAULT_PANELS",
    "DENSITY_CMAP",
    "WALL_COLOR",
    "EMPTY_COLOR",
    "ARROWS",
    "as_dataset",
    "is_stationary",
    "discount_text",
    "stationary_label",
    "reject_times",
    "is_grid",
    "free_mask",
    "default_times",
    "time_values",
    "check_times",
    "flat_axes",
    "density_norm",
    "density_colormap",
    "label_density_bar",
    "displayed_values",
    "new_figure",
    "check_plottable",
    "check_figure_path",
    "is_sweep",
]
