"""Early stopping (MFGLib's atol/rtol) in the run engine: every solver, one program, same iterates."""

from __future__ import annotations

import numpy as np
import pytest

import mfgtools
from mfgtools.engine.programs import TRACE_COUNT
from mfgtools.errors import MFGError

ITERATIONS = 40


@pytest.fixture(scope="module")
def game():
    return mfgtools.make_game("crowd", map="empty:4", horizon=4, mu0=(0, 0))


@pytest.fixture(scope="module")
def full(game):
    return mfgtools.solve(game, "omd", iterations=ITERATIONS, learning_rate=0.1, progress=False)


def test_stops_at_the_first_iterate_within_tolerance(game, full):
    history = full.metrics["exploitability"]
    result = mfgtools.solve(game, "omd", iterations=ITERATIONS, learning_rate=0.1, progress=False, rtol=0.5)
    k = result.iterations
    threshold = 0.5 * history[0]
    assert result.stopped_early and 0 < k < ITERATIONS
    assert history[k] <= threshold < history[k - 1]  # the first iterate that meets it
    assert len(result.metrics["exploitability"]) == k + 1
    np.testing.assert_array_equal(result.metrics["exploitability"][:k], history[:k])  # the full run's prefix
    assert result.metrics["exploitability"][k] == pytest.approx(history[k], rel=1e-6)
    # the final policy is iterate k, the one a run of k iterations ends with
    np.testing.assert_array_equal(
        result.policy, mfgtools.solve(game, "omd", iterations=k, learning_rate=0.1, progress=False).policy
    )
    # atol alone, met only late; a tolerance never met runs every iteration
    late = mfgtools.solve(
        game, "omd", iterations=ITERATIONS, learning_rate=0.1, progress=False, atol=float(history[30])
    )
    assert late.iterations == int(np.argmax(history <= np.float32(history[30]))) and late.stopped_early
    never = mfgtools.solve(game, "omd", iterations=ITERATIONS, learning_rate=0.1, progress=False, atol=0.0)
    assert never.iterations == ITERATIONS and not never.stopped_early and not full.stopped_early
    np.testing.assert_array_equal(never.metrics["exploitability"], history)
    np.testing.assert_array_equal(never.policy, full.policy)


def test_chunks_seeds_and_recompiling(game, full, tmp_path):
    whole = mfgtools.solve(game, "omd", iterations=ITERATIONS, learning_rate=0.1, progress=False, rtol=0.3)
    traces = dict(TRACE_COUNT)
    # chunked (a callback), another tolerance, a batch of seeds: no new trace of the one-run programs
    chunked = mfgtools.solve(
        game,
        "omd",
        iterations=ITERATIONS,
        learning_rate=0.1,
        progress=False,
        rtol=0.3,
        callback=lambda done, collected: None,
    )
    assert chunked.iterations == whole.iterations and chunked.stopped_early
    np.testing.assert_array_equal(chunked.metrics["exploitability"], whole.metrics["exploitability"])
    np.testing.assert_array_equal(chunked.policy, whole.policy)
    again = dict(TRACE_COUNT)
    other = mfgtools.solve(
        game,
        "omd",
        iterations=ITERATIONS,
        learning_rate=0.1,
        progress=False,
        rtol=0.6,
        callback=lambda done, collected: None,
    )
    assert dict(TRACE_COUNT) == again and other.iterations < whole.iterations
    assert TRACE_COUNT["OnlineMirrorDescent"] <= traces["OnlineMirrorDescent"] + 1
    seeds = mfgtools.solve_seeds(
        game, "omd", iterations=ITERATIONS, learning_rate=0.1, progress=False, rtol=0.3, seeds=(0, 1)
    )
    for one in seeds:
        assert one.iterations == whole.iterations and one.stopped_early
        np.testing.assert_array_equal(one.metrics["exploitability"], whole.metrics["exploitability"])
    path = whole.save(str(tmp_path / "stopped.nc"))
    loaded = mfgtools.load_result(path)
    assert loaded.attrs["stopped_early"] == 1 and loaded.attrs["iterations"] == whole.iterations
    assert loaded.sizes["iteration"] == whole.iterations + 1


def test_other_solvers_stop_in_the_engine(game):
    fp = mfgtools.solve(game, "fp", iterations=30, progress=False)
    history = fp.metrics["exploitability"]
    stopped = mfgtools.solve(game, "fp", iterations=30, progress=False, atol=float(history[5]))
    assert stopped.iterations <= 5 and stopped.stopped_early
    np.testing.assert_array_equal(stopped.metrics["exploitability"][:-1], history[: stopped.iterations])
    # a tolerance met by the initial policy: no iteration at all (as MFGLib)
    assert mfgtools.solve(game, "fp", iterations=30, progress=False, rtol=1.0).iterations == 0


@pytest.mark.parametrize(
    "params, message",
    [
        ({"atol": -1.0}, "atol must be >= 0.0, got -1.0"),
        ({"rtol": "x"}, "rtol must be a number, got 'x'"),
        ({"rtol": 0.1, "devices": 1}, "not available for a run split over devices"),
    ],
)
def test_tolerances_are_validated(game, params, message):
    with pytest.raises(MFGError, match=message):
        mfgtools.solve(game, "omd", iterations=3, progress=False, **params)


def test_command_line(tmp_path, monkeypatch, capsys):
    from mfgtools.cli import main

    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "solve",
            "--game",
            "crowd",
            "--map",
            "empty:4",
            "--horizon",
            "4",
            "-p",
            "mu0=0,0",
            "--iterations",
            "40",
            "-p",
            "learning_rate=0.1",
            "--rtol",
            "0.5",
            "--quiet",
            "--out",
            "run.nc",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "(stopped early: tolerance met)" in out
    assert mfgtools.load_result(str(tmp_path / "run.nc")).attrs["stopped_early"] == 1
    assert main(["solve", "--game", "crowd", "--map", "empty:4", "--horizon", "4", "--atol", "-2", "--quiet"]) != 0
    assert "--atol must be >= 0.0" in capsys.readouterr().err


def test_resumed_run_stops_where_an_uninterrupted_one_does(game, tmp_path):
    class Interrupted(Exception):
        pass

    def interrupt(done, _):
        if done >= 2:
            raise Interrupted

    kw = dict(iterations=ITERATIONS, learning_rate=0.1, progress=False, rtol=0.3)
    whole = mfgtools.solve(game, "omd", **kw)
    path = str(tmp_path / "run.ckpt")
    with pytest.raises(Interrupted):
        mfgtools.solve(game, "omd", checkpoint=path, checkpoint_every=1, callback=interrupt, **kw)
    done, identity = mfgtools.checkpoints.peek(path)
    assert 2 <= done < whole.iterations and identity["rtol"] == pytest.approx(0.3)
    with pytest.raises(MFGError, match="belongs to another run"):  # another tolerance is another run
        mfgtools.solve(game, "omd", checkpoint=path, resume=True, **dict(kw, rtol=0.5))
    resumed = mfgtools.solve(game, "omd", checkpoint=path, resume=True, **kw)
    assert resumed.iterations == whole.iterations and resumed.stopped_early
    np.testing.assert_array_equal(resumed.metrics["exploitability"], whole.metrics["exploitability"])
    np.testing.assert_array_equal(resumed.policy, whole.policy)


def test_sweep_stops_each_run_on_its_own(game):
    swept = mfgtools.sweep(
        game, "omd", grid={"learning_rate": [0.05, 0.1]}, seeds=(0,), iterations=ITERATIONS, progress=False, rtol=0.5
    )
    for column, rate in enumerate((0.05, 0.1)):
        alone = mfgtools.solve(game, "omd", iterations=ITERATIONS, learning_rate=rate, progress=False, rtol=0.5)
        k = alone.iterations
        assert int(swept["iterations_run"].values[0, column]) == k < ITERATIONS
        curve = swept["exploitability"].values[0, column]
        assert curve.shape == (ITERATIONS + 1,)
        np.testing.assert_allclose(curve[: k + 1], alone.metrics["exploitability"], rtol=1e-5)
        np.testing.assert_array_equal(curve[k:], np.full(ITERATIONS + 1 - k, curve[k]))  # held to the end
    assert swept.attrs["iterations"] == ITERATIONS


def test_sweep_command_line_stops_runs_early(game, tmp_path, monkeypatch, capsys):
    from mfgtools.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["sweep", "--game", "crowd", "--map", "empty:4", "--horizon", "4", "-p", "mu0=0,0", "--quiet"]
    code = main(args + ["--iterations", str(ITERATIONS), "--grid", "learning_rate=0.05,0.1", "--rtol", "0.5"])
    assert code == 0
    out = capsys.readouterr().out
    swept = mfgtools.sweep(
        game, "omd", grid={"learning_rate": [0.05, 0.1]}, seeds=(0,), iterations=ITERATIONS, progress=False, rtol=0.5
    )
    ran = swept["iterations_run"].values.reshape(-1)
    assert f"2 of 2 runs met the tolerance, after {ran.min()} to {ran.max()} iterations" in out
    saved = mfgtools.load_result(str(tmp_path / "crowd-omd-sweep.nc"))
    np.testing.assert_array_equal(saved["iterations_run"].values.reshape(-1), ran)
    assert main(args + ["--grid", "learning_rate=0.1", "--rtol", "nan"]) != 0
    assert "--rtol" in capsys.readouterr().err
