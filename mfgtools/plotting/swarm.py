"""Figures of swarm results and simulations: return, order parameter, mean field, policy, snapshots, animations."""

from __future__ import annotations

import os

import numpy as np

from mfgtools.errors import MFGError
from mfgtools.plotting.common import DENSITY_CMAP, as_dataset, default_times, new_figure
from mfgtools.registry import family_of


# ----- swarms (kind "swarm": Kuramoto, Vicsek, aggregation) -----------------------------
def is_swarm(dataset) -> bool:
    """Whether a result Dataset is of a swarm game (mean-field control of particles)."""
    return family_of(dataset).particles


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
        ax = new_figure((6.0, 4.0)).subplots()
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
        ax = new_figure((6.0, 4.0)).subplots()
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
        ax = new_figure((6.0, 4.0)).subplots()
    if len(space) == 1:
        values = np.asarray(field.transpose(space[0], "t").values)
        centres = np.asarray(field[space[0]].values)
        width = centres[1] - centres[0]
        image = ax.imshow(
            values,
            origin="lower",
            aspect="auto",
            cmap=DENSITY_CMAP,
            extent=(-0.5, values.shape[1] - 0.5, centres[0] - width / 2, centres[-1] + width / 2),
        )
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
        ax = new_figure((6.0, 4.0)).subplots()
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
        ax.imshow(
            best,
            origin="lower",
            cmap="tab10",
            vmin=-0.5,
            vmax=9.5,
            alpha=values.max(-1),
            extent=(xs[0], xs[-1], ys[0], ys[-1]),
        )
        from matplotlib.patches import Patch

        ax.legend(
            handles=[Patch(color=f"C{i}", label=name) for i, name in enumerate(actions)],
            fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
        )
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
        ax = new_figure((4.5, 4.5)).subplots()
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
        return [
            ax.quiver(
                states[:, 0],
                states[:, 1],
                np.cos(phi),
                np.sin(phi),
                phi % (2 * np.pi),
                cmap="hsv",
                clim=(0, 2 * np.pi),
                angles="xy",
                scale_units="xy",
                scale=1 / length,
                width=0.004 if len(states) <= 300 else 0.002,
            )
        ]
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
        fig = new_figure((3.2 * len(times), 3.4))
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


def swarm_figure(dataset):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 8.0), layout="constrained")
    axes = fig.subplots(2, 2)
    plot_return(dataset, ax=axes[0, 0])
    plot_order_parameter(dataset, ax=axes[0, 1], label="final policy (mean of episodes)")
    plot_swarm_mean_field(dataset, ax=axes[1, 0])
    plot_swarm_policy(dataset, ax=axes[1, 1])
    return fig


__all__ = [
    "is_swarm",
    "plot_return",
    "plot_order_parameter",
    "plot_swarm_mean_field",
    "plot_swarm_policy",
    "plot_swarm",
    "plot_swarm_snapshots",
    "animate_swarm",
    "swarm_figure",
]
