"""Figures of results and simulations, one module per family.

- :mod:`~mfgtools.plotting.common`: reading a result, time steps, colour scales, figure paths;
- :mod:`~mfgtools.plotting.finite`: densities, exploitability curves and policies of finite games;
- :mod:`~mfgtools.plotting.graphex`: state shares and degree distributions of graphex games;
- :mod:`~mfgtools.plotting.swarm`: return, order parameter, mean field, policy, snapshots and animations of swarms;
- :mod:`~mfgtools.plotting.sweeps`: the headline metric of a sweep;
- :mod:`~mfgtools.plotting.figures`: the figure of a run (:func:`plot_result`), whatever its family.

Every function takes ``data``: a :class:`~mfgtools.results.Result`, an
:class:`xarray.Dataset` from ``Result.to_xarray()`` / :func:`~mfgtools.results.load_result`,
or the path of a saved result. Nothing here needs JAX, and nothing here needs a
display. Every public name of the submodules is importable from ``mfgtools.plotting``.
"""

from __future__ import annotations

from mfgtools.plotting.common import (
    ARROWS,
    DEFAULT_PANELS,
    DENSITY_CMAP,
    EMPTY_COLOR,
    WALL_COLOR,
    as_dataset,
    check_figure_path,
    check_plottable,
    check_times,
    default_times,
    density_colormap,
    density_norm,
    discount_text,
    displayed_values,
    flat_axes,
    free_mask,
    is_grid,
    is_stationary,
    is_sweep,
    label_density_bar,
    new_figure,
    reject_times,
    stationary_label,
    time_values,
)
from mfgtools.plotting.figures import plot_result, run_title
from mfgtools.plotting.finite import (
    REFERENCE,
    UNIFORM_START,
    best_iteration,
    plot_density,
    plot_exploitability,
    plot_policy,
    starts_uniform,
)
from mfgtools.plotting.graphex import plot_degree_distribution, plot_state_shares
from mfgtools.plotting.swarm import (
    animate_swarm,
    is_swarm,
    plot_order_parameter,
    plot_return,
    plot_swarm,
    plot_swarm_mean_field,
    plot_swarm_policy,
    plot_swarm_snapshots,
    swarm_figure,
)
from mfgtools.plotting.sweeps import plot_sweep, write_sweep_plot

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
    "UNIFORM_START",
    "REFERENCE",
    "plot_density",
    "plot_exploitability",
    "best_iteration",
    "starts_uniform",
    "plot_policy",
    "plot_state_shares",
    "plot_degree_distribution",
    "is_swarm",
    "plot_return",
    "plot_order_parameter",
    "plot_swarm_mean_field",
    "plot_swarm_policy",
    "plot_swarm",
    "plot_swarm_snapshots",
    "animate_swarm",
    "swarm_figure",
    "plot_sweep",
    "write_sweep_plot",
    "run_title",
    "plot_result",
]
