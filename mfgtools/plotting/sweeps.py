"""Figures of sweeps (:func:`mfgtools.sweep`): the headline metric over the swept values."""

from __future__ import annotations

import os

import numpy as np

from mfgtools.errors import MFGError
from mfgtools.plotting.common import check_figure_path, new_figure


# ----- sweeps (mfgtools.sweep) ---------------------------------------------------------
def _sweep_dataset(data):
    import xarray as xr

    if isinstance(data, (str, os.PathLike)):
        from mfgtools.results import read_netcdf

        data = read_netcdf(os.fspath(data), "sweep file")
    if not isinstance(data, xr.Dataset) or "grid" not in data.attrs or "seed" not in data.dims:
        raise MFGError("this plot needs a sweep: a Dataset from mfgtools.sweep or a file of `mfgtools sweep`")
    return data


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
        ax = new_figure((6.5, 4.0)).subplots()
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
            (line,) = ax.plot(positions, mean, marker="o", markersize=4, label=label or f"mean over {seeds} seeds")
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
    ax.set_title(
        f"{dataset.attrs.get('solver', '?')} on {dataset.attrs.get('game', '?')}, "
        f"{int(dataset.attrs.get('iterations', 0))} iterations, {seeds} seed{'s' if seeds != 1 else ''}" + band,
        fontsize=10,
    )
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


__all__ = ["plot_sweep", "write_sweep_plot"]
