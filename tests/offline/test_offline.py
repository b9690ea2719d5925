"""Offline datasets (schema, collection, metrics, files), the MIS estimate and the shipped data."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.offline import (
    FIELDS,
    QUALITIES,
    OfflineDataset,
    collect_dataset,
    coverage,
    dataset_metrics,
    load_dataset,
    mis_mean_field,
    mix_datasets,
    shipped_dataset,
    state_frequency,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_game():
    return mfgtools.make_game("crowd", map="empty:4", horizon=5, mu0=(0, 0), noise=0.2)


@pytest.fixture(scope="module")
def small_data(small_game):
    return collect_dataset(small_game, mfgtools.uniform_policy(small_game), 64, seed=3)


def mis(data, policy, **options):
    return np.asarray(
        mis_mean_field(
            data.state, data.action, data.next_state, data.log_prob, jnp.asarray(policy), data.n_states, **options
        )
    )


# ----- collection -------------------------------------------------------------------
def test_collected_steps_follow_the_schema_and_the_game(small_game, small_data):
    data = small_data
    assert data.state.shape == (64, small_game.horizon)
    assert all(getattr(data, name).shape == data.state.shape for name in FIELDS)
    np.testing.assert_array_equal(data.next_state[:, :-1], data.state[:, 1:])
    assert bool(data.done[:, -1].all()) and not bool(data.done[:, :-1].any())
    behaviour = np.asarray(data.behaviour_policy)
    t = np.broadcast_to(np.arange(small_game.horizon), data.state.shape)
    np.testing.assert_allclose(np.exp(data.log_prob), behaviour[t, data.state, data.action], rtol=1e-5)
    # the reward of each step is r(s, a, mu_N) under the population's empirical distribution
    frequency = np.asarray(data.state_frequency())
    for step in range(small_game.horizon):
        table = np.asarray(small_game.reward(step, jnp.asarray(frequency[step])))
        np.testing.assert_allclose(data.reward[:, step], table[data.state[:, step], data.action[:, step]], rtol=1e-5)
    # every start state is drawn from mu0 = (0, 0)
    assert (np.asarray(data.state[:, 0]) == 0).all()


def test_collection_is_deterministic_in_the_seed(small_game):
    policy = mfgtools.uniform_policy(small_game)
    one = collect_dataset(small_game, policy, 10, seed=1)
    two = collect_dataset(small_game, policy, 10, seed=1)
    other = collect_dataset(small_game, policy, 10, seed=2)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))
    assert not np.array_equal(one.action, other.action)


def test_epsilon_mixture_and_populations(small_game):
    greedy = np.zeros((small_game.horizon, small_game.n_states, small_game.n_actions))
    greedy[..., 1] = 1.0  # always "right"
    pure = collect_dataset(small_game, greedy, 30, seed=0)
    assert np.allclose(pure.log_prob, 0.0) and (np.asarray(pure.action) == 1).all()
    mixed = collect_dataset(small_game, greedy, 30, seed=0, epsilon=0.5, population=7)
    np.testing.assert_allclose(np.asarray(mixed.behaviour_policy)[0, 0], [0.1, 0.6, 0.1, 0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(np.unique(np.exp(mixed.log_prob).round(5)), [0.1, 0.6], rtol=1e-5)
    assert mixed.n_episodes == 30 and mixed.info.value["population"] == 7


# ----- metrics ------------------------------------------------------------------------
def test_coverage_counts_unique_time_state_action_triples():
    state = np.array([[0, 1], [0, 2], [0, 1]])
    action = np.array([[1, 0], [1, 0], [2, 0]])
    data = OfflineDataset(
        state=state,
        action=action,
        reward=np.zeros((3, 2)),
        done=np.array([[0, 1]] * 3),
        next_state=np.array([[1, 3], [2, 3], [1, 3]]),
        log_prob=np.zeros((3, 2)),
        n_states=4,
        n_actions=3,
    )
    values = coverage(data)
    assert values["state_coverage"] == pytest.approx(3 / 8)  # (0,0) (1,1) (1,2)
    assert values["state_action_coverage"] == pytest.approx(4 / 24)  # (0,0,1) (0,0,2) (1,1,0) (1,2,0)


def test_trajectory_quality_is_one_for_expert_data_and_zero_for_random(small_game):
    expert = mfgtools.solve(small_game, "omd", iterations=200, learning_rate=0.3).policy
    references = mfgtools.offline.reference_values(small_game, expert_policy=expert)
    good = dataset_metrics(collect_dataset(small_game, expert, 4000, seed=0), references=references)
    bad = dataset_metrics(
        collect_dataset(small_game, mfgtools.uniform_policy(small_game), 4000, seed=0), references=references
    )
    assert references["expert_return"] > references["random_return"]
    assert good["trajectory_quality"] > 0.9
    assert bad["trajectory_quality"] < 0.1
    assert 0 < bad["state_coverage"] <= 1 and 0 < bad["state_action_coverage"] <= bad["state_coverage"]


# ----- marginalised importance sampling ---------------------------------------------
@settings(max_examples=12, deadline=None)
@given(episodes=st.integers(1, 40), seed=st.integers(0, 2**16), epsilon=st.floats(0.05, 1.0))
def test_mis_with_the_behaviour_policy_is_the_empirical_distribution(small_game, episodes, seed, epsilon):
    target = mfgtools.solve(small_game, "omd", iterations=3, learning_rate=0.3).policy
    data = collect_dataset(small_game, target, episodes, seed=seed, epsilon=epsilon)
    estimate = mis(data, data.behaviour_policy)
    empirical = np.asarray(state_frequency(data.state, data.next_state, small_game.n_states))
    np.testing.assert_allclose(estimate, empirical, atol=1e-5)
    np.testing.assert_allclose(estimate.sum(-1), 1.0, atol=1e-5)


def test_mis_error_to_the_exact_flow_shrinks_with_the_dataset(small_game):
    equilibrium = mfgtools.solve(small_game, "omd", iterations=30, learning_rate=0.3).policy
    behaviour = mfgtools.offline.mixed_policy(small_game, equilibrium, 0.6)  # covers the target's support
    exact = mfgtools.mean_field(small_game, equilibrium)
    errors = {}
    for episodes in (100, 10000):
        data = collect_dataset(small_game, behaviour, episodes, seed=5)
        errors[episodes] = np.abs(mis(data, equilibrium) - exact).sum(-1).mean()
    assert errors[10000] < 0.35 * errors[100]
    assert errors[10000] < 0.05


def test_mis_options_normalise_and_clip(small_game, small_data):
    target = mfgtools.solve(small_game, "omd", iterations=5, learning_rate=0.3).policy
    normalised = mis(small_data, target)
    raw = mis(small_data, target, normalise=False)
    np.testing.assert_allclose(normalised.sum(-1), 1.0, atol=1e-5)
    # normalising each step or once at the end is the same (each step is linear in the last)
    np.testing.assert_allclose(normalised, raw / raw.sum(-1, keepdims=True), atol=1e-5)
    clipped = mis(small_data, target, normalise=False, clip=1.0)
    assert (clipped.sum(-1) <= raw.sum(-1) + 1e-5).all()


# ----- files --------------------------------------------------------------------------
def test_save_and_load_round_trip_and_plain_xarray(tmp_path, small_game, small_data):
    path = small_data.save(tmp_path / "data.nc")
    loaded = load_dataset(path, small_game)
    for name in FIELDS:
        np.testing.assert_array_equal(np.asarray(getattr(loaded, name)), np.asarray(getattr(small_data, name)))
    np.testing.assert_allclose(loaded.behaviour_policy, small_data.behaviour_policy)
    with xr.open_dataset(path) as plain:  # no mfgtools needed to read it
        assert plain.attrs["mfgtools_dataset_format"] == 1
        assert plain["state"].dims == ("episode", "t")
        assert json.loads(plain.attrs["game_params"])["map"] == "empty:4"


def _rewrite(tmp_path, data, change):
    ds = data.to_xarray()
    changed = change(ds)
    ds = changed if isinstance(changed, xr.Dataset) else ds
    path = tmp_path / "bad.nc"
    ds.to_netcdf(path)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda ds: ds.attrs.pop("mfgtools_dataset_format"), "not an mfgtools offline dataset"),
        (lambda ds: ds.attrs.update(mfgtools_dataset_format=7), "dataset format 7"),
        (lambda ds: ds.drop_vars("log_prob"), "lacks the field"),
        (lambda ds: ds.assign(reward=ds["reward"].where(ds["t"] != 2)), "NaN"),
        (lambda ds: ds.assign(log_prob=ds["log_prob"] + 5.0), "log_prob must be <= 0"),
        (lambda ds: ds.assign(state=ds["state"] + 100), "outside"),
        (lambda ds: ds.assign(done=ds["done"] * 0), "'done' must be 1"),
        (lambda ds: ds.assign(next_state=(ds["next_state"] + 1) % 16), "broken"),
        (lambda ds: ds.assign(state=ds["state"].transpose("t", "episode")), "dimensions"),
        (lambda ds: ds.assign(behaviour_policy=ds["behaviour_policy"] * 2), "summing to 1"),
    ],
)
def test_bad_files_are_refused_with_one_clear_error(tmp_path, small_data, change, message):
    path = _rewrite(tmp_path, small_data, change)
    with pytest.raises(MFGError, match=message):
        load_dataset(path)


def test_datasets_of_other_games_or_maps_are_refused(tmp_path, small_data):
    path = small_data.save(tmp_path / "data.nc")
    other_map = mfgtools.make_game("crowd", map="empty:4", horizon=5, mu0=(0, 0), noise=0.0)
    with pytest.raises(MFGError, match="noise: dataset 0.2, game 0.0"):
        load_dataset(path, other_map)
    with pytest.raises(MFGError, match="collected in game 'crowd'"):
        load_dataset(path, mfgtools.make_game("random", n_states=16, horizon=5))
    other_task = mfgtools.make_game("crowd", map="empty:4", horizon=5, mu0=(0, 0), noise=0.2, task="navigation")
    assert load_dataset(path, other_task).n_episodes == 64  # rewards are recomputed: tasks may differ
    with pytest.raises(MFGError, match="no such dataset file"):
        load_dataset(tmp_path / "missing.nc")
    result = mfgtools.solve(other_map, "omd", iterations=1).save(str(tmp_path / "result.nc"))
    with pytest.raises(MFGError, match="it is a solver result"):
        load_dataset(result)


def test_mixing_keeps_each_step_and_checks_the_game(small_game, small_data):
    greedy = np.zeros((small_game.horizon, small_game.n_states, small_game.n_actions))
    greedy[..., 3] = 1.0
    other = collect_dataset(small_game, greedy, 20, seed=0)
    mixed = mix_datasets([small_data, other], counts=[10, 20], seed=1)
    assert mixed.n_episodes == 30
    assert np.isclose(np.asarray(mixed.log_prob[10:]), 0.0).all()  # the greedy part keeps its log-probs
    assert mixed.behaviour_policy is None
    with pytest.raises(MFGError, match="cannot draw 99"):
        mix_datasets([small_data, other], counts=[99, 1])
    foreign = collect_dataset(mfgtools.make_game("crowd", map="empty:5", horizon=5), greedy[:, :1].repeat(25, 1), 4)
    with pytest.raises(MFGError, match="same dynamics"):
        mix_datasets([small_data, foreign])


# ----- shipped data -------------------------------------------------------------------
def _recipe():
    spec = importlib.util.spec_from_file_location("make_datasets", ROOT / "data" / "make_datasets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("task", ["exploration", "navigation"])
def test_shipped_datasets_load_and_regenerate_bit_for_bit(task):
    recipe = _recipe()
    game = mfgtools.make_game("crowd", map="four_rooms", task=task)
    behaviour = {}
    for quality in QUALITIES:
        data = shipped_dataset(game, quality)
        assert data.n_episodes == recipe.EPISODES and data.horizon == 40
        behaviour[quality] = np.asarray(data.behaviour_policy)
        # the stored behaviour table regenerates the episodes exactly (same seeds)
        _, again = recipe.build(task, quality, behaviour=(behaviour[quality], "stored table"))
        for name in FIELDS:
            np.testing.assert_array_equal(
                np.asarray(getattr(again, name)), np.asarray(getattr(data, name)), err_msg=f"{quality} {name}"
            )
    # the random one from scratch; expert and intermediate are the paper recipe's D-MOMD checkpoints, chosen
    # nearest the paper's exploitabilities (the nearest our run offers: within 5% for the experts)
    _, fresh = recipe.build(task, "random")
    np.testing.assert_array_equal(np.asarray(fresh.action), np.asarray(shipped_dataset(game, "random").action))
    paper = recipe.PAPER_EXPLOITABILITY[task]
    expert = float(mfgtools.exploitability(game, behaviour["expert"]))
    intermediate = float(mfgtools.exploitability(game, behaviour["intermediate"]))
    assert abs(expert - paper["expert"]) < 0.05 * paper["expert"], expert
    assert paper["expert"] < intermediate < 2 * paper["intermediate"], intermediate
    assert "D-MOMD checkpoint" in shipped_dataset(game, "expert").description


def test_unknown_shipped_dataset_says_what_exists():
    game = mfgtools.make_game("crowd", map="labyrinth")
    with pytest.raises(MFGError, match="no shipped expert dataset.*collect one"):
        shipped_dataset(game, "expert")
    with pytest.raises(MFGError, match="unknown dataset quality"):
        shipped_dataset(game, "superb")
