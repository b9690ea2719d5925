"""Kernel and histogram representations for swarm games (Dec-POMFC, spec ``dec_pomfc.md``).

A :class:`Basis` is a set of ``M`` fixed centres ``c_b`` on a product grid over
a box of coordinates; each coordinate is either periodic (period ``p``: angles,
positions on the torus) or bounded (``(low, high)``). Two kinds:

- ``"kernel"``: ``k(x, c) = prod_f k_f(x_f - c_f)`` with a von Mises kernel
  ``exp(kappa (cos(2 pi d / p) - 1))`` on periodic coordinates and a Gaussian
  ``exp(-d^2 / (2 sigma^2))`` on bounded ones. By default the bandwidth is tied
  to the centre spacing ``h``: ``sigma = bandwidth * h`` and, on periodic
  coordinates, ``kappa = 1 / (2 pi sigma / p)^2`` (the von Mises kernel with the
  same angular width).
- ``"histogram"``: the centres are bin centres and ``k(x, c_b)`` is 1 for the
  nearest centre (periodic where periodic; per coordinate, in units of the
  spacing) and 0 for the others.

Two uses:

- :func:`mean_field_features`: ``(1/N) sum_i k(x_i, c_b)``, a fixed-size
  description of an empirical distribution (for histograms: the bin shares),
  the upper-level policy's view of the mean field.
- the lower-level kernel mixture policy over observation space,
  ``pi(u|y) = sum_b k(y, c_b) p_b(u) / sum_b k(y, c_b)`` (:func:`mixture_probabilities`),
  Lipschitz in ``y`` for kernels and piecewise constant for histograms;
  :class:`MixturePolicy` holds one table ``p_b`` per decision step and is a
  swarm policy (:mod:`mfgtools.swarm.policies`).

Everything is pure JAX and computes in the dtype of its inputs.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.errors import MFGError, as_choice, as_float, as_int

KINDS = ("kernel", "histogram")
# kernel width in units of the centre spacing: narrow enough that the mixture policy
# can switch actions between neighbouring centres, wide enough to stay smooth
DEFAULT_BANDWIDTH = 0.35


@struct.dataclass
class Basis:
    """``M`` centres on a product grid over a box of ``F`` coordinates.

    Kernels and histograms factorise over the coordinates, so everything is
    computed per axis (``N x n_f`` kernel evaluations instead of ``N x M x F``)
    and combined by outer products.

    Attributes:
      axes: per coordinate, the ``(n_f,)`` centre values along it.
      widths: ``(F,)`` per coordinate, ``kappa`` (periodic) or ``sigma`` (bounded).
      spacing: ``(F,)`` the distance between neighbouring centres per coordinate.
      periods: per coordinate, its period or ``None`` (bounded), static.
      shape: the number of centres per coordinate ``(n_1, ..., n_F)``, static.
      kind: ``"kernel"`` or ``"histogram"``, static.
    """

    axes: tuple
    widths: jax.Array
    spacing: jax.Array
    periods: tuple = struct.field(pytree_node=False)
    shape: tuple = struct.field(pytree_node=False)
    kind: str = struct.field(pytree_node=False, default="kernel")

    @property
    def size(self) -> int:
        """The number of centres ``M``."""
        return int(np.prod(self.shape))

    @property
    def dim(self) -> int:
        """The number of coordinates ``F``."""
        return len(self.shape)

    @property
    def centres(self) -> jax.Array:
        """``(M, F)``: the centres ``c_b`` (C order over the grid axes)."""
        grids = jnp.meshgrid(*[jnp.asarray(axis) for axis in self.axes], indexing="ij")
        return jnp.stack(grids, axis=-1).reshape(self.size, self.dim)


TWO_PI = 2.0 * math.pi


def make_basis(box, shape, kind: str = "kernel", bandwidth: float = DEFAULT_BANDWIDTH) -> Basis:
    """A basis of centres on a grid over ``box``.

    Args:
      box: per coordinate, ``("periodic", low, period)`` or ``("bounded", low, high)``.
        Either way the interval (``[low, low + period)`` or ``[low, high]``) is cut
        into ``n`` equal cells of width ``h`` and the centres are their midpoints
        ``low + (k + 1/2) h`` (the bins of a histogram).
      shape: the number of centres per coordinate.
      kind: ``"kernel"`` or ``"histogram"``.
      bandwidth: kernel width in units of the centre spacing (``sigma = bandwidth * h``).
    """
    kind = as_choice(kind, "representation", KINDS)
    bandwidth = as_float(bandwidth, "bandwidth (kernel width in units of the centre spacing)", 0.0, low_open=True)
    shape = tuple(as_int(n, "number of centres per coordinate", 1) for n in shape)
    if len(box) != len(shape):
        raise MFGError(f"basis box has {len(box)} coordinates but {len(shape)} centre counts were given")
    # NumPy leaves: constants of any program that builds the basis (and concrete for kernel_mass)
    dtype = np.dtype(jnp.result_type(float))
    axes, widths, spacing, periods = [], [], [], []
    for (form, low, extent), n in zip(box, shape):
        if form == "periodic":
            period = float(extent)
            h = period / n
            widths.append(1.0 / (TWO_PI * bandwidth * h / period) ** 2)
            periods.append(period)
        elif form == "bounded":
            high = float(extent)
            if not high > low:
                raise MFGError(f"bounded coordinate needs low < high, got ({low}, {high})")
            h = (high - low) / n
            widths.append(bandwidth * h)
            periods.append(None)
        else:
            raise MFGError(f"basis coordinates are 'periodic' or 'bounded', got {form!r}")
        axes.append(np.asarray(low + h * (np.arange(n) + 0.5), dtype))
        spacing.append(h)
    return Basis(tuple(axes), np.asarray(widths, dtype), np.asarray(spacing, dtype), tuple(periods), shape, kind)


def _axis_differences(basis: Basis, x: jax.Array) -> list:
    """``(N, F)`` -> per coordinate ``(N, n_f)``: ``x_f - c``, periodic ones wrapped to the nearest image."""
    differences = []
    for f, period in enumerate(basis.periods):
        d = x[:, f : f + 1] - jnp.asarray(basis.axes[f], x.dtype)[None, :]
        differences.append(d if period is None else d - period * jnp.round(d / period))
    return differences


def axis_log_kernels(basis: Basis, x: jax.Array) -> list:
    """``(N, F)`` -> per coordinate ``(N, n_f)``: ``log k_f(x_f, c)`` (von Mises or Gaussian)."""
    widths = jnp.asarray(basis.widths, x.dtype)
    logs = []
    for f, (period, d) in enumerate(zip(basis.periods, _axis_differences(basis, x))):
        if period is None:
            logs.append(-0.5 * jnp.square(d / widths[f]))
        else:
            logs.append(widths[f] * (jnp.cos(TWO_PI * d / period) - 1.0))
    return logs


def _axis_nearest(basis: Basis, x: jax.Array) -> list:
    """``(N, F)`` -> per coordinate ``(N,)`` int: the nearest centre along it."""
    return [jnp.argmin(jnp.abs(d), axis=-1) for d in _axis_differences(basis, x)]


def _outer(factors: list) -> jax.Array:
    """Per coordinate ``(N, n_f)`` -> ``(N, M)``: the products over the grid (C order)."""
    product = factors[0]
    for factor in factors[1:]:
        product = (product[:, :, None] * factor[:, None, :]).reshape(product.shape[0], -1)
    return product


def log_kernel(basis: Basis, x: jax.Array) -> jax.Array:
    """``(N, F) -> (N, M)``: ``log k(x_i, c_b) = sum_f log k_f(x_if, c_bf)`` (ignores ``kind``)."""
    logs = axis_log_kernels(basis, x)
    total = logs[0]
    for log in logs[1:]:
        total = (total[:, :, None] + log[:, None, :]).reshape(total.shape[0], -1)
    return total


def nearest_centre(basis: Basis, x: jax.Array) -> jax.Array:
    """``(N, F) -> (N,)`` int: the index of the nearest centre (distances in units of the spacing)."""
    return jnp.ravel_multi_index(tuple(_axis_nearest(basis, x)), basis.shape, mode="clip")


def _axis_weights(basis: Basis, x: jax.Array, normalised: bool) -> list:
    if basis.kind == "histogram":
        return [jax.nn.one_hot(index, n, dtype=x.dtype) for index, n in zip(_axis_nearest(basis, x), basis.shape)]
    logs = axis_log_kernels(basis, x)
    return [jax.nn.softmax(log, axis=-1) if normalised else jnp.exp(log) for log in logs]


def weights(basis: Basis, x: jax.Array) -> jax.Array:
    """``(N, F) -> (N, M)``: ``k(x_i, c_b)`` (kernel values, or one-hot bins for histograms)."""
    return _outer(_axis_weights(basis, x, normalised=False))


def normalised_weights(basis: Basis, x: jax.Array) -> jax.Array:
    """``(N, F) -> (N, M)``: ``k(x_i, c_b) / sum_b' k(x_i, c_b')`` (rows on the simplex).

    The normalised product kernel is the product of the per-coordinate
    normalised kernels, each computed from log-kernels (a softmax), so points far
    from every centre (outside a bounded box, with a narrow kernel) still get the
    weights of their nearest centres instead of 0 / 0.
    """
    return _outer(_axis_weights(basis, x, normalised=True))


def mean_field_features(basis: Basis, coords: jax.Array) -> jax.Array:
    """``(N, F) -> (M,)``: ``(1/N) sum_i k(x_i, c_b)``; for histograms, the share of agents in each bin."""
    return jnp.mean(weights(basis, coords), axis=0)


def kernel_mass(basis: Basis) -> float:
    """``sum_b k(c_0, c_b)``: the total kernel weight a point at a centre puts on the basis
    (1 for histograms). Dividing :func:`mean_field_features` by it (times ``M``) gives
    features near 1 for the uniform distribution."""
    if basis.kind == "histogram":
        return 1.0
    mass = 1.0
    for f, period in enumerate(basis.periods):
        axis = np.asarray(basis.axes[f], np.float64)
        width = float(np.asarray(basis.widths)[f])
        d = axis - axis[0]
        if period is None:
            mass *= float(np.exp(-0.5 * (d / width) ** 2).sum())
        else:
            mass *= float(np.exp(width * (np.cos(TWO_PI * d / period) - 1.0)).sum())
    return mass


def mixture_probabilities(basis: Basis, probs: jax.Array, y: jax.Array) -> jax.Array:
    """The lower-level policy ``pi(u|y) = sum_b k(y, c_b) p_b(u) / sum_b k(y, c_b)``.

    Args:
      basis: ``M`` centres over observation space.
      probs: ``(M, A)`` action distribution ``p_b`` of every centre.
      y: ``(N, O)`` observations.

    Returns ``(N, A)`` rows on the simplex.
    """
    return normalised_weights(basis, y) @ probs.astype(y.dtype)


def mixture_from_logits(basis: Basis, logits: jax.Array, y: jax.Array) -> jax.Array:
    """:func:`mixture_probabilities` with ``p_b = softmax(xi_b)``; ``logits`` ``(M, A)``."""
    return mixture_probabilities(basis, jax.nn.softmax(logits.astype(y.dtype), axis=-1), y)


@struct.dataclass
class MixturePolicy:
    """A decentralised swarm policy: at step ``t`` every agent plays the kernel
    mixture ``pi_t(u|y)`` of its own observation ``y`` (:func:`mixture_probabilities`).

    Attributes:
      basis: ``M`` centres over observation space.
      probs: ``(T, M, A)`` the tables ``p_b`` of every decision step (steps past
        ``T - 1`` use the last one).
    """

    basis: Basis
    probs: jax.Array

    def probabilities(self, t, observations):
        """``(N, O) -> (N, A)``: the action distribution of every agent at step ``t``."""
        table = self.probs[jnp.clip(t, 0, self.probs.shape[0] - 1)]
        return mixture_probabilities(self.basis, table, observations)


# ----- default bases of a swarm game -------------------------------------------------
def _centres(value, dim: int, one_d: int, more_d: int, name: str) -> tuple:
    """Centres per coordinate: ``value`` (an int for every coordinate, or one per
    coordinate), or the default ``one_d`` in 1-D and ``more_d`` per coordinate otherwise."""
    if value is None:
        return (one_d,) if dim == 1 else (more_d,) * dim
    if isinstance(value, (tuple, list)):
        if len(value) != dim:
            raise MFGError(f"{name} needs {dim} centre counts (one per coordinate), got {len(value)}")
        return tuple(as_int(v, name, 1, 4096) for v in value)
    return (as_int(value, name, 1, 4096),) * dim


def feature_basis(game, centres=None, kind: str = "kernel", bandwidth: float = DEFAULT_BANDWIDTH) -> Basis:
    """The basis over ``game.feature_periods`` for the mean-field input (default:
    16 centres on a 1-D circle, 8 x 8 on the 2-D torus)."""
    count = _centres(centres, len(game.feature_periods), 16, 8, "feature_centres")
    box = [("periodic", 0.0, period) for period in game.feature_periods]
    return make_basis(box, count, kind, bandwidth)


def observation_basis(game, centres=None, kind: str = "kernel", bandwidth: float = DEFAULT_BANDWIDTH) -> Basis:
    """The basis over the observation space of ``game`` for the lower-level policy
    (default: 8 centres on a circle, 4 x 4 over a 2-D box such as aggregation's disc)."""
    count = _centres(centres, game.observation_dim, 8, 4, "observation_centres")
    box = []
    for period, (low, high) in zip(game.observation_periods, game.observation_bounds):
        box.append(("bounded", float(low), float(high)) if period is None else ("periodic", float(low), period))
    return make_basis(box, count, kind, bandwidth)


def observation_features(periods, bounds, observations: jax.Array) -> jax.Array:
    """``(..., O) -> (..., O')``: observations as network inputs: periodic coordinates
    (``periods[f]`` not None) as ``(cos, sin)`` of their angle, bounded ones rescaled
    from ``bounds[f] = (low, high)`` to ``[-1, 1]``; e.g. a game's
    ``observation_periods`` and ``observation_bounds``."""
    columns = []
    for f, (period, (low, high)) in enumerate(zip(periods, bounds)):
        y = observations[..., f]
        if period is None:
            columns.append(2.0 * (y - low) / (high - low) - 1.0)
        else:
            angle = TWO_PI * y / period
            columns += [jnp.cos(angle), jnp.sin(angle)]
    return jnp.stack(columns, axis=-1)
