"""Figures of graphex games: state shares over time (mean field vs simulation) and degree distributions."""

from __future__ import annotations

import numpy as np

from mfgtools.errors import MFGError
from mfgtools.plotting.common import as_dataset


def plot_state_shares(data, ax=None, *, simulated=None, label: str = "mean field", linestyle: str = "-", names=None):
    """Share of the population in each epidemic state over time (contagion games).

    ``data``: a result (or its dataset) with ``state_share`` ``(T+1, X)``, or that
    array itself (``names``: its states' names, e.g. ``game.state_names``). ``simulated``: optional
    ``(seeds, T+1, X)`` shares of an N-agent run on the graph, drawn as the mean over seeds (dotted) with a 5-95% band.
    Returns the axes.
    """
    if hasattr(data, "shape") and not hasattr(data, "data_vars"):  # an array (NumPy or JAX)
        shares = np.asarray(data)
        names = list(names) if names is not None else [f"state {x}" for x in range(shares.shape[-1])]
    else:
        dataset = as_dataset(data)
        if "state_share" not in dataset:
            raise MFGError(
                "plot_state_shares needs a contagion game's result (sis-graphex, sir-graphex, "
                "rumour-graphex): this one has no state_share"
            )
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


__all__ = ["plot_state_shares", "plot_degree_distribution"]
