"""The tuner (mfgtools.tune, `mfgtools tune`): finds better parameters than the defaults, its scores are solve's.

A tiny crowd game (4x4 grid, horizon 4) and 10 OMD iterations; every search
draws rounds of 4 candidates, so every round is the same compiled program (the
session's compilation cache serves all but the first). Validation cases
compile nothing.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import mfgtools
from mfgtools.cli import main
from mfgtools.engine.programs import PROGRAMS
from mfgtools.errors import MFGError
from mfgtools.tuning import check_space, parse_range

SPACE = {"learning_rate": (1e-3, 10.0, "log")}
SEARCH = dict(budget=8, rounds=2, iterations=10, progress=False)
RUN_PROGRAMS = ("init_runs", "advance_runs", "finish_runs", "whole_runs")


@pytest.fixture(scope="module")
def game():
    return mfgtools.make_game("crowd", map="empty:4", horizon=4)


@pytest.fixture(scope="module")
def tuned(game):
    return mfgtools.tune(game, "omd", space=SPACE, **SEARCH)


def final_exploitability(game, **params) -> float:
    return float(mfgtools.solve(game, "omd", iterations=10, seed=0, **params).metrics["exploitability"][-1])


def test_the_tuner_beats_the_default_learning_rate_and_its_score_is_solve_s(game, tuned):
    record = tuned.record
    assert record.sizes["candidate"] == 8 and list(record["round"].values) == [0] * 4 + [1] * 4
    assert tuned.metric == "exploitability" and not tuned.higher_is_better
    # OMD's default learning rate 0.03 is far too small for 10 iterations on this game; ~0.1-1 is right
    default = final_exploitability(game)
    assert int(record["default"].values[0]) == 1 and record["learning_rate"].values[0] == pytest.approx(0.03)
    assert float(record["score"].values[0]) == pytest.approx(default, rel=1e-6)
    assert tuned.score < 0.2 * default
    assert 0.05 < tuned.best["learning_rate"] < 2.0
    # the best parameters' score is a plain solve with them; it is the lowest score of the record
    assert tuned.score == pytest.approx(final_exploitability(game, **tuned.best), rel=1e-6)
    assert tuned.score == pytest.approx(float(np.nanmin(record["score"].values)))
    # the refinement round draws around the best of round 0, inside the space
    rates = record["learning_rate"].values
    assert np.all((rates >= 1e-3) & (rates <= 10.0))
    assert float(record["score"].values[4:].min()) <= float(record["score"].values[:4].min())
    assert record.attrs["programs"] == 2 and record.attrs["candidates"] == 8
    assert record["exploitability"].dims == ("seed", "candidate", "iteration")


def test_the_same_search_seed_gives_the_same_search_and_another_seed_another(game, tuned):
    again = mfgtools.tune(game, "omd", space={"learning_rate": "1e-3:10:log"}, **SEARCH)
    np.testing.assert_array_equal(again.record["learning_rate"].values, tuned.record["learning_rate"].values)
    np.testing.assert_array_equal(again.record["score"].values, tuned.record["score"].values)
    compiled = {name: PROGRAMS._built[name]._cache_size() for name in RUN_PROGRAMS}
    other = mfgtools.tune(game, "omd", space=SPACE, search_seed=1, **SEARCH)
    assert not np.array_equal(other.record["learning_rate"].values, tuned.record["learning_rate"].values)
    # other learning rates, the same shapes: every round ran the programs compiled for the first search
    assert {name: PROGRAMS._built[name]._cache_size() for name in RUN_PROGRAMS} == compiled


def test_scores_best_iterate_and_mean_of_last_iterations(tuned):
    history = tuned.sweeps[0]["exploitability"].isel(seed=0).values  # (point, iteration)
    from mfgtools.tuning import _run_scores

    np.testing.assert_allclose(_run_scores(history, "best", 10, False), history.min(axis=-1))
    np.testing.assert_allclose(_run_scores(history, "mean-last", 3, False), history[:, -3:].mean(axis=-1))
    np.testing.assert_allclose(_run_scores(history, "final", 10, False), history[:, -1])


def test_choices_are_separate_programs_searched_each_with_its_share(game):
    tuned = mfgtools.tune(
        game, "fixed-point", space={"damping": (0.1, 1.0), "ties": ["first", "split"]}, budget=4, iterations=2
    )
    record = tuned.record
    assert record.attrs["programs"] == 2 and record.attrs["vmapped"] == '["damping"]'
    assert list(record["ties"].values) == ["first", "first", "split", "split"]
    # the default damping (1.0) opens each combination; only ties=first is the solver's default point
    assert list(record["damping"].values[[0, 2]]) == [1.0, 1.0] and list(record["default"].values) == [1, 0, 0, 0]
    assert tuned.best["ties"] in ("first", "split") and isinstance(tuned.best["damping"], float)
    assert tuned.score == pytest.approx(float(np.nanmin(record["score"].values)))
    sweep = tuned.sweeps[0]
    assert json.loads(sweep.attrs["parameters"]) == ["damping", "ties"] and sweep.sizes["point"] == 4


def test_cli_tune_prints_the_best_point_and_saves_the_record(game, tuned, tmp_path, capsys):
    out = tmp_path / "tune.nc"
    args = ["tune", "--map", "empty:4", "--horizon", "4", "--solver", "omd", "--space", "learning_rate=1e-3:10:log"]
    status = main([*args, "--budget", "8", "--rounds", "2", "--iterations", "10", "--out", str(out), "-q"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "8 in 2 rounds x 1 seed; 2 program runs; vmapped: learning_rate" in printed
    assert f"learning_rate={tuned.best['learning_rate']:.6g}" in printed
    assert "(the solver's default point)" in printed and f"wrote           {out}" in printed
    with xr.open_dataset(out) as saved:
        np.testing.assert_array_equal(saved["score"].values, tuned.record["score"].values)
        assert saved.attrs["best_score"] == pytest.approx(tuned.score)
    assert main([*args, "--budget", "8", "--out", str(out)]) == 2  # an existing --out needs --overwrite
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    "space, fragment",
    [
        ({"nope": (0.1, 1.0)}, "solver 'omd' has no parameter 'nope' to tune; its parameters are: learning_rate"),
        ({"learning_rate": (1.0, 0.1)}, "low must be below high, got 1:0.1"),
        ({"learning_rate": (0.0, 1.0, "log")}, "a log range needs low > 0"),
        ({"learning_rate": (0.1, 1.0, "cubic")}, "the scale must be 'linear' or 'log'"),
        ({"learning_rate": (0.1, float("inf"))}, "the bounds must be finite"),
        ({"learning_rate": (-1.0, 1.0)}, "learning_rate"),  # the solver's own error for a bad bound
        ({"learning_rate": []}, "the list of choices is empty"),
        ({"learning_rate": 0.1}, "expected (low, high), (low, high, 'log') or a list of choices"),
        ({"learning_rate": "1e-3:x"}, "the bounds of '1e-3:x' must be numbers"),
        ({"learning_rate": "1:2:3:4"}, "expected LOW:HIGH or LOW:HIGH:log"),
        ({}, "space must be a non-empty dict"),
    ],
)
def test_bad_spaces_are_one_line_errors(space, fragment):
    with pytest.raises(MFGError) as error:
        check_space("omd", space)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_other_inputs_are_validated_before_anything_runs(game):
    with pytest.raises(MFGError, match="regret_steps is not a float parameter .* list of choices"):
        check_space("hedge", {"regret_steps": (1, 10)})
    with pytest.raises(MFGError, match="solver 'hedge' has no default search space"):
        check_space("hedge", None)
    with pytest.raises(MFGError, match="'learning_rate' is both tuned"):
        check_space("omd", SPACE, {"learning_rate": 0.1})
    assert [d.name for d in check_space("pma", None)] == ["learning_rate", "temperature"]
    assert check_space("fp", {"alpha": [0.1, 0.5]})[0].choices == (0.1, 0.5)  # stored as damping, kept as given
    assert parse_range("first,split", "ties") == ["first", "split"] and parse_range("0:1:log", "x") == (0.0, 1.0, "log")
    for kwargs, message in [
        (dict(budget=0), "budget must be"),
        (dict(score="median"), "score must be one of final, best, mean-last"),
        (dict(aggregate="max"), "aggregate must be one of mean, geomean"),
        (dict(rounds=0), "rounds must be"),
    ]:
        with pytest.raises(MFGError, match=message):
            mfgtools.tune(game, "omd", space=SPACE, **{"budget": 4, **kwargs})
    with pytest.raises(MFGError, match="budget 1 is below the 2 combinations of choices"):
        mfgtools.tune(game, "fixed-point", space={"ties": ["first", "split"]}, budget=1)


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--space", "learning_rate=1:0.1"], "low must be below high"),
        (["--space", "learning_rate"], "--space expects KEY=LOW:HIGH[:log] or KEY=V1,V2,..."),
        (["--space", "horizon=3:4"], "'horizon' is a parameter of game 'crowd'"),
        (["--budget", "0"], "--budget must be"),
    ],
)
def test_cli_tune_errors_are_one_line(tmp_path, capsys, extra, fragment):
    out = tmp_path / "t.nc"
    assert main(["tune", "--map", "empty:4", "--solver", "omd", *extra, "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("mfgtools: error: ") and fragment in error and "\n" not in error
    assert not out.exists()
