"""Results: xarray layout, netCDF round trip, atomic writes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xarray as xr

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.results import Result, dataset_params


@pytest.fixture(scope="module")
def grid_result():
    game = mfgtools.make_game("crowd", map="four_rooms", horizon=5)
    return mfgtools.solve(game, "omd", iterations=3, seed=7)


def test_to_xarray_layout(grid_result):
    ds = grid_result.to_xarray()
    assert ds["policy"].dims == ("t", "row", "col", "action")
    assert ds["mean_field"].dims == ("t", "row", "col")
    assert ds["exploitability"].dims == ("iteration",)
    assert ds.sizes == {"t": 6, "row": 13, "col": 13, "action": 5, "iteration": 4}
    assert list(ds["action"].values) == ["left", "right", "up", "down", "stay"]
    assert np.isnan(ds["policy"].sel(t=5)).all()
    np.testing.assert_allclose(ds["mean_field"].sum(("row", "col")), 1.0, atol=1e-5)
    assert ds["free"].sel(row=0, col=0) == 0 and ds["free"].sel(row=1, col=1) == 1
    assert ds.attrs["game"] == "crowd" and ds.attrs["solver"] == "omd" and ds.attrs["seed"] == 7
    assert ds.attrs["mode"] == "finite-horizon" and ds.attrs["horizon"] == 5 and ds.attrs["discount"] == 1.0
    assert dataset_params(ds)["map"] == "four_rooms"
    assert dataset_params(ds, "solver_params")["learning_rate"] == 0.03
    np.testing.assert_allclose(ds["exploitability"].values, grid_result.metrics["exploitability"])


def test_netcdf_round_trip(grid_result, tmp_path):
    path = grid_result.save(str(tmp_path / "run.nc"))
    loaded = mfgtools.load_result(path)
    xr.testing.assert_allclose(loaded, grid_result.to_xarray())
    assert loaded.attrs == grid_result.to_xarray().attrs
    assert [p.name for p in tmp_path.iterdir()] == ["run.nc"]


def test_failed_write_leaves_nothing_behind(grid_result, tmp_path, monkeypatch):
    target = tmp_path / "run.nc"
    target.write_text("previous result")

    def explode(self, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", explode)
    with pytest.raises(MFGError, match=r"cannot write .*run\.nc.*disk full.*nothing was written"):
        grid_result.save(str(target))
    assert target.read_text() == "previous result"
    assert sorted(os.listdir(tmp_path)) == ["run.nc"]


def test_non_grid_games_use_a_state_dimension():
    game = mfgtools.make_game("crowd_modelling", horizon=3)
    ds = mfgtools.solve(game, "fp", iterations=2).to_xarray()
    assert ds["mean_field"].dims == ("t", "state") and "free" not in ds


def test_loading_checks_the_file(tmp_path):
    with pytest.raises(MFGError, match="no such file"):
        mfgtools.load_result(str(tmp_path / "missing.nc"))
    junk = tmp_path / "junk.nc"
    junk.write_text("not netcdf")
    with pytest.raises(MFGError, match="not a readable netCDF"):
        mfgtools.load_result(str(junk))
    other = tmp_path / "other.nc"
    xr.Dataset({"x": ("a", [1.0])}).to_netcdf(other)
    with pytest.raises(MFGError, match="not an mfgtools result"):
        mfgtools.load_result(str(other))
    with pytest.raises(MFGError, match="does not exist"):
        mfgtools.solve(mfgtools.make_game("crowd_modelling", horizon=2), "omd", iterations=1).save(
            str(tmp_path / "no" / "dir" / "run.nc")
        )


# ----- stationary results ---------------------------------------------------------------
def stationary_result(kind: str) -> Result:
    """A hand-built result of a game in stationary mode: a (S, A) policy, a (S,) population."""
    if kind == "grid":
        game = mfgtools.make_game("crowd", map="empty:4", horizon=4, mu0=(0, 0))
    else:
        game = mfgtools.make_game("random", n_states=5, horizon=3)
    game = game.replace(stationary=True, discount=0.9)
    rng = np.random.default_rng(0)
    policy = rng.random(game.policy_shape) * np.asarray(game.action_mask)
    mu = rng.random(game.n_states)
    return Result(
        game=game,
        solver="omd",
        solver_params={"learning_rate": 0.03},
        policy=policy / policy.sum(-1, keepdims=True),
        mean_field=mu / mu.sum(),
        metrics={"exploitability": np.array([1.0, 0.5, 0.25])},
        iterations=2,
        seed=3,
        wall_time=0.5,
    )


@pytest.mark.parametrize("kind", ["grid", "state"])
def test_stationary_result_layout_and_round_trip(kind, tmp_path):
    result = stationary_result(kind)
    ds = result.to_xarray()
    space = ("row", "col") if kind == "grid" else ("state",)
    assert ds["policy"].dims == space + ("action",) and ds["mean_field"].dims == space
    assert "t" not in ds.dims and "t" not in ds.coords
    assert ds["exploitability"].dims == ("iteration",)
    assert ds.attrs["mode"] == "stationary" and ds.attrs["discount"] == 0.9 and "horizon" not in ds.attrs
    assert ds["policy"].attrs["description"] == "stationary policy pi(a|s)"
    assert ds["mean_field"].attrs["description"] == "stationary population mu(s)"
    flat = result.game.from_grid(ds["policy"].values) if kind == "grid" else ds["policy"].values
    np.testing.assert_allclose(flat, result.policy)
    np.testing.assert_allclose(ds["mean_field"].sum(), 1.0)
    assert ("free" in ds) == (kind == "grid")

    loaded = mfgtools.load_result(result.save(str(tmp_path / "stationary.nc")))
    xr.testing.assert_allclose(loaded, ds)
    assert loaded.attrs == ds.attrs
    assert loaded["mean_field"].attrs["description"] == "stationary population mu(s)"


def test_result_shapes_must_match_the_mode():
    result = stationary_result("state")
    finite = result.game.replace(stationary=False)
    with pytest.raises(MFGError, match=r"finite-horizon mode: \(T, S, A\)"):
        Result(**{**vars(result), "game": finite}).to_xarray()
    flow = np.full((4, 5), 0.2)  # a (T+1, S) flow for a stationary game
    with pytest.raises(MFGError, match="stationary mode"):
        Result(**{**vars(result), "mean_field": flow}).to_xarray()


def test_files_without_a_mode_are_finite_horizon(grid_result, tmp_path):
    old = grid_result.to_xarray()
    del old.attrs["mode"], old.attrs["discount"]  # as written before games had modes
    old.to_netcdf(tmp_path / "old.nc")
    loaded = mfgtools.load_result(str(tmp_path / "old.nc"))
    assert loaded.attrs["mode"] == "finite-horizon" and loaded["mean_field"].dims[0] == "t"
    wrong = stationary_result("state").to_xarray()
    wrong.attrs["mode"] = "finite-horizon"
    wrong.to_netcdf(tmp_path / "wrong.nc")
    with pytest.raises(MFGError, match="says mode 'finite-horizon'"):
        mfgtools.load_result(str(tmp_path / "wrong.nc"))


# ----- the best iterate ------------------------------------------------------------
def _with_best(result, best_iteration=1):
    """``result`` with a best iterate set by hand (the uniform policy and its flow)."""
    import dataclasses

    game = result.game
    uniform = np.asarray(mfgtools.uniform_policy(game))
    return dataclasses.replace(
        result,
        best_iteration=best_iteration,
        best_policy=uniform,
        best_mean_field=np.asarray(mfgtools.mean_field(game, uniform)),
    )


def test_best_iterate_saved_and_loaded(grid_result, tmp_path):
    assert grid_result.best_iteration is None or grid_result.best_policy is not None
    result = _with_best(grid_result, best_iteration=2)
    ds = result.to_xarray()
    assert ds["best_policy"].dims == ds["policy"].dims and ds["best_mean_field"].dims == ds["mean_field"].dims
    assert ds.attrs["best_iteration"] == 2
    assert np.isnan(ds["best_policy"].sel(t=5)).all()
    np.testing.assert_allclose(ds["best_policy"].sel(t=0, row=1, col=1), 0.2, atol=1e-6)  # uniform over 5 actions
    np.testing.assert_allclose(ds["best_mean_field"].sum(("row", "col")), 1.0, atol=1e-5)
    loaded = mfgtools.load_result(result.save(str(tmp_path / "best.nc")))
    assert loaded.attrs["best_iteration"] == 2
    xr.testing.assert_allclose(loaded["best_policy"], ds["best_policy"])
    xr.testing.assert_allclose(loaded["best_mean_field"], ds["best_mean_field"])


def test_behaviour_exploitability_is_an_attribute(grid_result):
    import dataclasses

    ds = dataclasses.replace(grid_result, extras={"behaviour_exploitability": np.float32(2.5)}).to_xarray()
    assert ds.attrs["behaviour_exploitability"] == 2.5
    assert "behaviour_exploitability" not in grid_result.to_xarray().attrs


def test_no_best_iterate_no_variables(grid_result):
    import dataclasses

    ds = dataclasses.replace(grid_result, best_iteration=None, best_policy=None, best_mean_field=None).to_xarray()
    assert "best_policy" not in ds and "best_mean_field" not in ds and "best_iteration" not in ds.attrs


def test_best_iterate_stationary_layout():
    game = mfgtools.make_game("sis", mode="stationary")
    result = _with_best(mfgtools.solve(game, "pma", iterations=2), best_iteration=0)
    ds = result.to_xarray()
    assert ds["best_policy"].dims == ("state", "action") and ds["best_mean_field"].dims == ("state",)
    np.testing.assert_allclose(ds["best_mean_field"].sum(), 1.0, atol=1e-5)


def test_best_iterate_wrong_shape_is_rejected(grid_result):
    import dataclasses

    bad = dataclasses.replace(
        grid_result, best_iteration=1, best_policy=np.ones((2, 2)), best_mean_field=np.asarray(grid_result.mean_field)
    )
    with pytest.raises(MFGError, match="best policy has shape"):
        bad.to_xarray()
