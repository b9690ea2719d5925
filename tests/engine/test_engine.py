"""The run engine: one program per run, chunks that never change the iterates, the best iterate, progress."""

from __future__ import annotations

import subprocess
import sys

import jax
import numpy as np
import pytest
from helpers import cli_env

import mfgtools
from mfgtools import solvers
from mfgtools.engine import PROGRAMS, TRACE_COUNT, programs, seed_key, whole_run
from mfgtools.engine.loop import CHUNK_LIMIT
from mfgtools.engine.progress import LogReport, wanted
from mfgtools.errors import MFGError


def small_game():
    return mfgtools.make_game("crowd", map="empty:4", horizon=4, mu0=(0, 0))


def stationary_game():
    return mfgtools.make_game("torus-crowd", size="3x3", mode="stationary")


SAMPLED = dict(n_agents=8, mixing_steps=2, td_steps=4)


def test_seed_key_is_jax_prng_key():
    for seed in (0, 1, 12345, 2**31 - 1, 2**32 - 1):
        np.testing.assert_array_equal(seed_key(seed), np.asarray(jax.random.PRNGKey(seed)))


def test_chunks_sized_by_time_give_the_iterates_of_one_program():
    """A callback forces chunks; the whole run in one program must give the same iterates, bit for bit."""
    game = small_game()
    whole = mfgtools.solve(game, "omd", iterations=23, learning_rate=0.3, progress=False)
    seen = []
    chunked = mfgtools.solve(
        game, "omd", iterations=23, learning_rate=0.3, progress=False, callback=lambda done, _: seen.append(done)
    )
    assert seen[-1] == 23 and seen == sorted(seen) and len(seen) >= 2
    np.testing.assert_array_equal(whole.metrics["exploitability"], chunked.metrics["exploitability"])
    np.testing.assert_array_equal(whole.policy, chunked.policy)


def test_stochastic_solver_same_iterates_in_every_execution_path():
    game = stationary_game()
    one = mfgtools.solve(game, "pma-sampled", iterations=5, seed=3, progress=False, **SAMPLED)
    chunked = mfgtools.solve(
        game, "pma-sampled", iterations=5, seed=3, progress=False, callback=lambda *_: None, **SAMPLED
    )
    seeds = mfgtools.solve_seeds(game, "pma-sampled", iterations=5, seeds=(2, 3), progress=False, **SAMPLED)
    swept = mfgtools.sweep(game, "pma-sampled", seeds=(3,), iterations=5, progress=False, **SAMPLED)
    curve = one.metrics["exploitability"]
    assert np.isfinite(curve).all() and curve[-1] < curve[0]
    np.testing.assert_array_equal(curve, chunked.metrics["exploitability"])
    np.testing.assert_allclose(curve, seeds[1].metrics["exploitability"], rtol=1e-6)
    np.testing.assert_allclose(curve, swept["exploitability"].values[0], rtol=1e-6)
    assert not np.allclose(curve, seeds[0].metrics["exploitability"])  # another seed, other samples


class Interrupted(Exception):
    pass


def test_solve_seeds_resumes_a_killed_batch_to_the_uninterrupted_results(tmp_path):
    game = stationary_game()
    kw = dict(iterations=6, seeds=(2, 3), progress=False, **SAMPLED)
    whole = mfgtools.solve_seeds(game, "pma-sampled", **kw)
    path = tmp_path / "batch.ckpt"

    def stop(done, _):
        if done >= 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        mfgtools.solve_seeds(game, "pma-sampled", checkpoint=path, checkpoint_every=1, callback=stop, **kw)
    done, identity = mfgtools.checkpoints.peek(path)
    assert 3 <= done < 6 and identity["seed"] == [2, 3]
    with pytest.raises(MFGError, match="pass --resume"):  # neither resume nor restart: the file stops the run
        mfgtools.solve_seeds(game, "pma-sampled", checkpoint=path, **kw)
    with pytest.raises(MFGError, match="belongs to another run"):  # other seeds are another batch
        mfgtools.solve_seeds(game, "pma-sampled", checkpoint=path, resume=True, **dict(kw, seeds=(2, 4)))
    resumed = mfgtools.solve_seeds(game, "pma-sampled", checkpoint=path, resume=True, **kw)
    for one, other in zip(whole, resumed):
        np.testing.assert_array_equal(one.metrics["exploitability"], other.metrics["exploitability"])
        np.testing.assert_array_equal(one.policy, other.policy)
    assert resumed[0].checkpoint is resumed[1].checkpoint
    resumed[0].checkpoint.remove()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_runs_of_similar_lengths_share_one_compiled_program():
    game = small_game()
    mfgtools.solve(game, "omd", iterations=40, learning_rate=0.3, progress=False)
    count = TRACE_COUNT["OnlineMirrorDescent"]
    for iterations in (33, 47, 64):  # the same metric capacity (64): nothing is traced again
        result = mfgtools.solve(game, "omd", iterations=iterations, learning_rate=0.3, progress=False)
        assert len(result.metrics["exploitability"]) == iterations + 1
    assert TRACE_COUNT["OnlineMirrorDescent"] == count
    assert programs.capacity(5000, CHUNK_LIMIT) == CHUNK_LIMIT and programs.capacity(0) == 1


def test_best_iterate_is_the_lowest_exploitability():
    game = small_game()
    solver = solvers.make_solver("omd", learning_rate=3.0).prepare(game)  # a step that overshoots
    final, metrics = jax.jit(whole_run, static_argnames="cap")(solver, game, seed_key(0), 12, cap=16)
    curve = np.append(np.asarray(metrics["exploitability"])[:12], float(final.metrics["exploitability"]))
    best = int(final.best_iteration)
    assert best == int(np.argmin(curve))
    assert float(mfgtools.exploitability(game, final.best_policy)) == pytest.approx(curve.min(), rel=1e-4, abs=1e-5)
    np.testing.assert_allclose(final.best_mean_field, mfgtools.mean_field(game, final.best_policy), atol=1e-6)


def test_whole_run_is_pure_inside_a_users_jit_and_vmap():
    game = small_game()
    solver = solvers.make_solver("omd", learning_rate=0.3).prepare(game)
    keys = np.stack([seed_key(s) for s in (0, 1)])
    final, metrics = jax.jit(jax.vmap(lambda k: whole_run(solver, game, k, 6, 8)))(keys)
    assert final.policy.shape == (2,) + game.policy_shape and metrics["exploitability"].shape == (2, 8)
    reference = mfgtools.solve(game, "omd", iterations=6, learning_rate=0.3, progress=False)
    np.testing.assert_allclose(
        np.asarray(metrics["exploitability"][0, :6]), reference.metrics["exploitability"][:6], rtol=1e-6
    )
    assert np.isnan(np.asarray(metrics["exploitability"][:, 6:])).all()  # past the run: NaN


def test_solve_takes_a_solver_object():
    game = small_game()
    by_name = mfgtools.solve(game, "omd", iterations=5, learning_rate=0.2, progress=False)
    by_object = mfgtools.solve(game, solvers.make_solver("omd", learning_rate=0.2), iterations=5, progress=False)
    np.testing.assert_array_equal(by_name.metrics["exploitability"], by_object.metrics["exploitability"])
    assert by_object.solver == "OnlineMirrorDescent" and by_object.solver_params["learning_rate"] == 0.2
    with pytest.raises(MFGError, match="solver object carries its own settings"):
        mfgtools.solve(game, solvers.make_solver("omd"), iterations=1, learning_rate=0.1)
    with pytest.raises(MFGError, match="lacks init, step"):
        mfgtools.solve(game, object(), iterations=1)


def test_advance_program_compiles_once_for_any_chunk_length():
    game = small_game()
    solver = solvers.make_solver("omd", learning_rate=0.3).prepare(game)
    carry = PROGRAMS.init(solver, game, jax.random.PRNGKey(0))
    carry, _ = PROGRAMS.advance(solver, game, carry, jax.random.PRNGKey(1), np.int32(0), np.int32(1), cap=8)
    count = TRACE_COUNT["OnlineMirrorDescent"]
    for start, length in ((1, 3), (4, 8), (12, 5)):
        carry, metrics = PROGRAMS.advance(
            solver, game, carry, jax.random.PRNGKey(1), np.int32(start), np.int32(length), cap=8
        )
        values = np.asarray(metrics["exploitability"])
        assert np.isfinite(values[:length]).all() and np.isnan(values[length:]).all()
    assert TRACE_COUNT["OnlineMirrorDescent"] == count


def test_progress_in_a_log_is_lines_not_frames(tmp_path):
    code = (
        "import mfgtools; g = mfgtools.make_game('crowd', map='empty:4', horizon=4, mu0=(0, 0)); "
        "mfgtools.solve(g, 'omd', iterations=30, progress=True)"
    )
    process = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300
    )
    assert process.returncode == 0, process.stderr
    assert "\r" not in process.stderr
    assert "omd on crowd: 30/30 it (100%)" in process.stderr and "exploitability" in process.stderr


def test_log_report_and_auto_progress(capsys):
    report = LogReport(10, "job", interval=0.0)
    report.update(4)
    report.set_postfix({"exploitability": "1.5"})
    report.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("job: 4/10 it (40%)") and lines[-1].endswith("exploitability 1.5")
    assert wanted(True) and not wanted(False)
    assert wanted(None) is False  # pytest captures stderr: nobody is watching
