"""Neighbour sums on the torus: dense and cell list against a brute-force NumPy reference.

Every compiled program costs about a second here (the cell list more), so the
tests share a handful of configurations (swarm size, radius, include_self):
hypothesis varies the points, the configuration is drawn from ``CONFIGS``, and
the other tests reuse those shapes, hence the compiled programs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfgtools.errors import MFGError
from mfgtools.particles import (
    AUTO_DENSE_MAX,
    Neighbourhood,
    _cell_neighbour_sums,
    _dense_neighbour_sums,
    cell_plan,
    choose_method,
    neighbour_sums,
    periodic_difference,
)

# (n_agents, radius, include_self, n_values, period, cells_per_side): dyadic radii and
# periods, so that points on a grid of step period/64 sit at exactly the radius of each
# other in float64 (ties); cells_per_side forces the cell list's layout (None: its own)
CONFIGS = [
    (1, 0.25, True, 3, 1.0, None),
    (2, 0.4375, False, 3, 1.0, None),  # radius close to 1/2: no cell list fits, cells falls back to dense
    (64, 0.25, True, 3, 1.0, None),
    (64, 0.625, False, 0, 2.5, None),  # another period, no values (what aggregation sums)
    (300, 0.0625, True, 3, 1.0, None),
    (300, 0.3125, False, 3, 1.0, 16),  # fine cells: whole cells by the stencil (self included there), runs
]


# float64 for the whole module (compared with a float64 NumPy reference)
pytestmark = pytest.mark.usefixtures("x64_module")


def reference(positions, values, radius, include_self, period=1.0):
    """Brute force in float64 NumPy: (sums, counts, offsets)."""
    positions, values = np.asarray(positions, np.float64), np.asarray(values, np.float64)
    delta = positions[None, :, :] - positions[:, None, :]  # [i, j] = x_j - x_i
    delta -= period * np.round(delta / period)
    close = (delta**2).sum(-1) < radius**2
    if not include_self:
        np.fill_diagonal(close, False)
    weights = close.astype(np.float64)
    return weights @ values, weights.sum(1), np.einsum("ij,ijd->id", weights, delta)


def points(rng, n, layout):
    """``n`` points on the unit torus: uniform, crowded at the seams (corner), or on a 1/64 grid (ties)."""
    if layout == "uniform":
        return rng.random((n, 2))
    if layout == "seam":  # within 0.03 of x = 0 = 1 or y = 0 = 1, a third at the corner
        p = rng.random((n, 2))
        near = (rng.random((n, 2)) * 0.06 - 0.03) % 1.0
        side = rng.integers(0, 3, n)
        p[side == 0, 0] = near[side == 0, 0]
        p[side == 1, 1] = near[side == 1, 1]
        p[side == 2] = near[side == 2]
        return p
    return rng.integers(0, 64, (n, 2)) / 64.0  # grid: many pairs exactly at a dyadic radius


def run(config, method, positions, values):
    """``neighbour_sums`` for a config (the cell list with its forced layout, if any)."""
    n, radius, include_self, _, period, cells_per_side = config
    positions, values = jnp.asarray(positions), jnp.asarray(values)
    if method == "cells" and cells_per_side is not None:
        plan = cell_plan(n, radius, period, cells_per_side)
        return _cell_neighbour_sums(positions, values, radius, period, include_self, plan)
    return neighbour_sums(positions, values, radius, period, include_self=include_self, method=method)


def sample(config, rng, layout):
    n, _, _, n_values, period, _ = config
    return points(rng, n, layout) * period, rng.normal(size=(n, n_values))


def assert_matches(result: Neighbourhood, expected, atol=1e-9):
    sums, counts, offsets = expected
    np.testing.assert_array_equal(np.asarray(result.counts), counts)  # the same neighbours
    np.testing.assert_allclose(np.asarray(result.sums), sums, rtol=1e-9, atol=atol)
    np.testing.assert_allclose(np.asarray(result.offsets), offsets, rtol=1e-9, atol=atol)


@settings(max_examples=24, deadline=None, derandomize=True)
@given(
    config=st.sampled_from(CONFIGS), layout=st.sampled_from(["uniform", "seam", "grid"]), seed=st.integers(0, 2**32 - 1)
)
def test_dense_and_cells_match_the_reference(config, layout, seed):
    n, radius, include_self, n_values, period, _ = config
    positions, values = sample(config, np.random.default_rng(seed), layout)
    expected = reference(positions, values, radius, include_self, period)
    for method in ("dense", "cells"):
        result = run(config, method, positions, values)
        assert result.sums.shape == (n, n_values) and result.counts.shape == (n,) and result.offsets.shape == (n, 2)
        assert_matches(result, expected)


def test_ties_and_the_seam():
    """Pairs at exactly the radius are not neighbours (strict ``<``), across the seam too."""
    config = CONFIGS[2]  # 64 agents, radius 1/4
    n, radius, include_self = config[:3]
    rng = np.random.default_rng(0)
    positions, values = sample(config, rng, "grid")
    positions[7:] = rng.integers(0, 16, (n - 7, 2)) / 16  # a coarser grid: more ties
    positions[:7] = [
        [0.875, 0.5],
        [0.125, 0.5],  # 1/4 apart across the seam x = 0: not neighbours
        [0.0, 0.0],
        [0.9375, 0.9375],  # 1/16 * sqrt(2) apart across the corner: neighbours
        [0.5, 0.0],
        [0.5, 0.75],  # 1/4 apart across y = 0: not neighbours
        [0.875 + 2**-20, 0.5],
    ]  # just closer than 1/4 to (0.125, 0.5) across the seam
    delta = positions[None] - positions[:, None]
    delta -= np.round(delta)
    distance = np.hypot(delta[..., 0], delta[..., 1])
    assert distance[0, 1] == radius and distance[4, 5] == radius and distance[6, 1] < radius
    assert (distance == radius).sum() > 40  # many more ties from the grid
    expected = reference(positions, values, radius, include_self)
    for method in ("dense", "cells"):
        result = run(config, method, positions, values)
        assert_matches(result, expected)
    np.testing.assert_array_equal(expected[1], (distance < radius).sum(1))


def test_a_crowd_in_one_cell_and_the_interior_stencil():
    """Fine cells (whole cells summed by the stencil, self excluded there) and a crowded cell."""
    config = CONFIGS[5]  # 300 agents, radius 5/16, self excluded, 16 x 16 cells
    n, radius, include_self, _, period, cells_per_side = config
    plan = cell_plan(n, radius, period, cells_per_side)
    assert plan.interior and (0, 0) in plan.interior and plan.runs  # both paths, self in the stencil
    rng = np.random.default_rng(1)
    positions, values = sample(config, rng, "uniform")
    positions[:150] = 0.5 + 0.01 * rng.random((150, 2))  # half the swarm in one small cell
    assert_matches(run(config, "cells", positions, values), reference(positions, values, radius, include_self))


def test_vmap_over_seeds_equals_a_loop():
    config = CONFIGS[4]
    n, radius, include_self, n_values, period, _ = config
    rng = np.random.default_rng(2)
    positions, values = jnp.asarray(rng.random((3, n, 2))), jnp.asarray(rng.normal(size=(3, n, n_values)))
    for method in ("dense", "cells"):
        batched = jax.jit(
            jax.vmap(
                lambda p, v, method=method: neighbour_sums(
                    p, v, radius, period, include_self=include_self, method=method
                )
            )
        )(positions, values)
        for seed in range(3):
            single = run(config, method, positions[seed], values[seed])
            np.testing.assert_array_equal(np.asarray(batched.counts[seed]), np.asarray(single.counts))
            np.testing.assert_allclose(np.asarray(batched.sums[seed]), np.asarray(single.sums), atol=1e-12)
            np.testing.assert_allclose(np.asarray(batched.offsets[seed]), np.asarray(single.offsets), atol=1e-12)


def test_jit_compiles_once_per_shape():
    config = CONFIGS[2]
    n, radius, include_self, n_values, period, _ = config
    traces = []

    @jax.jit
    def observe(positions, values):
        traces.append(1)
        return neighbour_sums(positions, values, radius, period, include_self=include_self, method="dense")

    rng = np.random.default_rng(3)
    for _ in range(2):
        jax.block_until_ready(observe(*map(jnp.asarray, sample(config, rng, "uniform"))))
    assert len(traces) == 1
    # both implementations are jitted on (shapes, radius, period, include_self[, plan]): calls with new
    # values but the same shapes reuse their programs
    for method, implementation in (("dense", _dense_neighbour_sums), ("cells", _cell_neighbour_sums)):
        run(config, method, *sample(config, rng, "uniform"))
        size = implementation._cache_size()
        run(config, method, *sample(config, rng, "seam"))
        assert implementation._cache_size() == size


def test_values_may_be_empty_and_counts_follow_values_dtype():
    config = CONFIGS[3]  # no values
    n = config[0]
    positions, values = sample(config, np.random.default_rng(4), "uniform")
    assert values.shape == (n, 0)
    for method in ("dense", "cells"):
        result = run(config, method, positions, values)
        assert result.sums.shape == (n, 0) and result.counts.dtype == jnp.float64
        assert float(result.counts.min()) >= 0.0


def test_other_periods_and_unwrapped_positions():
    """A torus of side 2.5 and positions given outside ``[0, period)`` (whole periods away)."""
    config = CONFIGS[3]
    n, radius, include_self, _, period, _ = config
    rng = np.random.default_rng(5)
    positions, values = sample(config, rng, "uniform")
    expected = reference(positions, values, radius, include_self, period)
    shifted = positions + period * rng.integers(-2, 3, (n, 2))
    for method in ("dense", "cells"):
        assert_matches(run(config, method, shifted, values), expected)
    assert float(periodic_difference(jnp.asarray(0.1), jnp.asarray(2.4), 2.5)) == pytest.approx(0.2)


def test_auto_is_dense_for_small_swarms_and_cells_for_large_ones():
    assert choose_method(100, 0.25) == "dense" and choose_method(AUTO_DENSE_MAX, 0.05) == "dense"
    assert choose_method(100_000, 0.2) == "cells" and choose_method(100_000, 0.05) == "cells"
    assert choose_method(20_000, 0.3) == "cells"
    assert cell_plan(1_000, 0.49) is None  # no cell list fits: dense
    plan = cell_plan(100_000, 0.2)
    assert 2 * plan.reach + 1 <= plan.n  # the cells around a cell are distinct


@pytest.mark.parametrize("radius", [0.0, -0.1, 0.5, 0.7, float("nan"), "wide", True])
def test_bad_radius_is_an_mfg_error(radius):
    positions, values = jnp.zeros((4, 2)), jnp.zeros((4, 1))
    with pytest.raises(MFGError, match="radius"):
        neighbour_sums(positions, values, radius)


def test_bad_arguments_are_mfg_errors():
    positions, values = jnp.zeros((4, 2)), jnp.zeros((4, 1))
    with pytest.raises(MFGError, match="period / 2"):
        neighbour_sums(positions, values, 1.0, period=1.5)  # needs radius < 0.75
    with pytest.raises(MFGError, match="method"):
        neighbour_sums(positions, values, 0.1, method="kd-tree")
    with pytest.raises(MFGError, match="positions"):
        neighbour_sums(jnp.zeros((4, 3)), values, 0.1)
    with pytest.raises(MFGError, match="values"):
        neighbour_sums(positions, jnp.zeros((5, 1)), 0.1)
    with pytest.raises(MFGError, match="Python float"):
        jax.jit(lambda r: neighbour_sums(positions, values, r))(0.1)  # a traced radius
