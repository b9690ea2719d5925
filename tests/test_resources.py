"""Resource checks: problems too big for the machine are refused at once, in one line.

Every case of group 1 of issue 16 (a problem that hung, swapped or died inside
XLA) is run through the command line and must end with exit status 2 and one
``mfgtools: error:`` line that names the estimate and the memory available.
The memory available is pinned with ``MFGTOOLS_MEMORY`` so that the verdicts do
not depend on the machine running the tests.
"""

from __future__ import annotations

import inspect
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_one_error_line, run_cli

import mfgtools
from mfgtools import resources
from mfgtools.cli import main
from mfgtools.errors import MFGError
from mfgtools.solvers import prepare_solver

MEMORY = "4GiB"  # the machine the verdicts below assume


@pytest.fixture(autouse=True)
def pinned_memory(monkeypatch):
    monkeypatch.setenv("MFGTOOLS_MEMORY", MEMORY)


def run_main(capsys, *argv):
    """``mfgtools ARGV`` in this process: ``(status, stdout, stderr lines)``."""
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, [line for line in captured.err.splitlines() if line.strip()]


def assert_refused(status, lines, *fragments):
    assert status == 2, lines
    assert len(lines) == 1 and lines[0].startswith("mfgtools: error: "), lines
    assert "Traceback" not in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# ----- group 1 of the issue: games too big to build ------------------------------------
GAME_CASES = {
    "empty:1500": ["--map", "empty:1500"],
    "empty:5000": ["--map", "empty:5000"],
    "empty:100000": ["--map", "empty:100000"],
    "random n_states=1e9": ["--game", "random", "-p", "n_states=1000000000"],
    "random n_actions=1e8": ["--game", "random", "-p", "n_actions=100000000"],
    "crowd_modelling size=1e9": ["--game", "crowd_modelling", "-p", "size=1000000000"],
    "crowd_modelling_2d size=1e5": ["--game", "crowd_modelling_2d", "-p", "size=100000"],
    "torus-crowd 1e5 x 1e5": ["--game", "torus-crowd", "--solver", "pma", "-p", "size=100000x100000"],
    "sis horizon=1e9": ["--game", "sis", "--mode", "finite-horizon", "-p", "horizon=1000000000"],
    "crowd horizon=1e7": ["--horizon", "10000000"],
    "kuramoto horizon=1e8": ["--game", "kuramoto", "-p", "horizon=100000000"],
}


@pytest.mark.parametrize("case", sorted(GAME_CASES))
def test_games_too_big_are_refused_before_allocating(case, tmp_path, capsys):
    status, out, lines = run_main(capsys, "solve", *GAME_CASES[case], "--out", str(tmp_path / "r.nc"), "-q")
    assert_refused(status, lines, "needs about", "more than the 4 GiB available (MFGTOOLS_MEMORY)", "lower", "--force")
    assert os.listdir(tmp_path) == [], "nothing is written"


def test_refusal_through_the_real_command_line(tmp_path):
    process = run_cli("solve", "--map", "empty:5000", cwd=tmp_path, timeout=120)
    # MFGTOOLS_MEMORY reaches the child through the environment
    assert_one_error_line(process, "game 'crowd' with S=25,000,000 states", "T=40", "MFGTOOLS_MEMORY")
    assert os.listdir(tmp_path) == []


def test_dataset_collection_too_big_is_refused_before_the_policy(tmp_path, capsys):
    status, out, lines = run_main(
        capsys,
        "dataset",
        "collect",
        "--policy",
        "omd:1000",
        "--episodes",
        "1000000000",
        "--out",
        str(tmp_path / "d.nc"),
    )
    assert_refused(status, lines, "collecting 1,000,000,000 episodes", "--episodes", "dataset mix")
    assert os.listdir(tmp_path) == []


def test_d_momd_refuses_more_transitions_than_it_can_index(tmp_path, capsys):
    status, out, lines = run_main(
        capsys, "solve", "--solver", "d-momd", "-p", "episodes=1000000000", "--out", str(tmp_path / "r.nc")
    )
    assert_refused(status, lines, "40,000,000,000 transitions", "lower episodes")


def test_force_reaches_the_game_builder(monkeypatch, capsys):
    monkeypatch.setenv("MFGTOOLS_MEMORY", "100KiB")
    with pytest.raises(MFGError, match="crowd.*S=400 states.*100 KiB available"):
        mfgtools.make_game("crowd", map="empty:20", horizon=5)
    assert mfgtools.make_game("crowd", map="empty:20", horizon=5, force=True).n_states == 400
    with resources.forcing():
        assert mfgtools.make_game("crowd", map="empty:20", horizon=5).n_states == 400
    with pytest.raises(MFGError, match="available"):  # the block is over
        mfgtools.make_game("crowd", map="empty:20", horizon=5)
    # the CLI flag: the game is built and --dry-run reports the verdict instead of running
    status, out, lines = run_main(capsys, "solve", "--map", "empty:20", "--horizon", "5", "--force", "--dry-run")
    assert status == 0, lines
    assert "S=400, A=5, K=1, T=5" in out and "would be refused" in out and "not measured" in out


# ----- estimates -------------------------------------------------------------------------
def test_estimate_counts_the_omd_state_exactly():
    game = mfgtools.make_game("crowd", map="empty:4", horizon=3)
    algorithm = prepare_solver(game, "omd", {})[1]
    estimate = resources.estimate_run(game, algorithm, iterations=10, runs=2)
    t, s, a = 3, 16, 5
    assert estimate.state == 2 * t * s * a * 4 + t * s * 4 + 4  # cumulative, policy, flow, iteration
    assert {path for path, _, _ in estimate.state_leaves} == {
        ".cumulative",
        ".policy",
        ".flow",
        ".iteration",
    }
    assert estimate.intermediate >= t * s * a * 4  # the (T, S, A) tables the iteration writes
    assert estimate.metrics == 2 * 11 * 8  # 2 runs x (10 + 1) entries of one metric
    assert estimate.total == (
        estimate.game + 2 * (2 * estimate.state + 2 * estimate.intermediate) + estimate.metrics + estimate.results
    )
    assert estimate.work > t * s * a
    split = resources.estimate_run(game, algorithm, iterations=10, runs=2, devices=4)
    assert (
        split.total == (estimate.total - estimate.metrics - estimate.results) // 4 + estimate.metrics + estimate.results
    )


def test_walk_jaxpr_finds_the_largest_array_and_counts_loops():
    def program(x):
        outer = x[:, None] * x[None, :]  # (100, 100)
        return jax.lax.scan(lambda c, _: (c + 1.0, None), outer, None, length=7)[0]

    closed = jax.make_jaxpr(program)(jnp.ones(100))
    largest, work = resources.walk_jaxpr(closed.jaxpr)
    assert largest == 100 * 100 * 4
    assert work >= 7 * 100 * 100  # the loop body counted 7 times


@pytest.mark.parametrize(
    "solver, params, fragment",
    [
        ("pma-independent", {"n_agents": 10**9}, "PolicyMirrorAscent"),
        ("off-mmd", {"hidden": "100000,100000"}, "OfflineMunchausenMirrorDescent"),
        ("d-momd", {"batch_size": 10**9}, "OnlineMunchausenMirrorDescent"),
    ],
)
def test_check_run_refuses_solvers_too_big(solver, params, fragment):
    game = mfgtools.make_game(
        "sis" if solver.startswith("pma") else "crowd", **({} if solver.startswith("pma") else {"task": "navigation"})
    )
    algorithm = prepare_solver(game, solver, params)[1]
    with pytest.raises(MFGError) as error:
        resources.check_run(game, algorithm, iterations=10)
    message = str(error.value)
    assert fragment in message and "GiB of memory" in message and "4 GiB available" in message
    assert "\n" not in message
    assert resources.check_run(game, algorithm, iterations=10, force=True) is None


def test_check_run_sizes_many_runs():
    game = mfgtools.make_game("crowd", map="empty:5", horizon=5)
    algorithm = prepare_solver(game, "omd", {})[1]
    assert resources.check_run(game, algorithm, iterations=10, runs=4).runs == 4
    with pytest.raises(MFGError, match="1,000,001 runs of .* lower the number of runs"):
        resources.check_run(game, algorithm, iterations=10, runs=1_000_001)


def test_long_runs_are_announced_in_one_note(monkeypatch, capsys):
    game = mfgtools.make_game("crowd", map="empty:5", horizon=5)
    algorithm = prepare_solver(game, "omd", {})[1]
    monkeypatch.setattr(resources, "LONG_RUN_SECONDS", 1e-9)
    resources.check_run(game, algorithm, iterations=10)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mfgtools: note: ") and "--dry-run" in lines[0]


def test_available_memory_and_sizes(monkeypatch):
    assert resources.parse_bytes("8GiB") == 8 * 2**30
    assert resources.parse_bytes("500MB") == 500_000_000
    assert resources.parse_bytes("1e6") == 1_000_000
    for bad in ("lots", "-1GB", "8 parsecs", "nan"):
        with pytest.raises(MFGError, match="MFGTOOLS_MEMORY"):
            resources.parse_bytes(bad)
    assert resources.available_memory() == (4 * 2**30, "MFGTOOLS_MEMORY")
    monkeypatch.delenv("MFGTOOLS_MEMORY")
    host, source = resources.host_memory()
    assert host > 0 and source
    assert resources.format_bytes(1536) == "1.5 KiB" and resources.format_bytes(3 * 2**30) == "3 GiB"


def test_dry_run_prints_shapes_estimates_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the default --out would be crowd-omd.nc here
    status, out, lines = run_main(
        capsys, "solve", "--map", "empty:5", "--horizon", "5", "--iterations", "3", "--dry-run"
    )
    assert status == 0 and not lines, lines
    for fragment in (
        "S=25, A=5, K=1, T=5",
        ".policy (5, 25, 5) float32",  # the path of the leaf in the solver's typed state
        "memory estimate",
        "4 GiB (MFGTOOLS_MEMORY): fits",
        "time (model)",
        "time (measured)   compile",
        "nothing was run or written",
    ):
        assert fragment in out, (fragment, out)
    assert os.listdir(tmp_path) == []


# ----- the run loop (enabled once solve and sweep call check_run) ---------------------------
def _calls_check_run(function) -> bool:
    return "check_run" in inspect.getsource(function)


RUN_CASES = {
    "off-mmd hidden": ["--task", "navigation", "--solver", "off-mmd", "-p", "hidden=100000,100000"],
    "d-momd batch_size": ["--solver", "d-momd", "-p", "batch_size=1000000000"],
    "pma-independent n_agents": ["--game", "sis", "--solver", "pma-independent", "-p", "n_agents=1000000000"],
}


@pytest.mark.skipif(not _calls_check_run(mfgtools.solve), reason="solve() does not call resources.check_run yet")
@pytest.mark.parametrize("case", sorted(RUN_CASES))
def test_solvers_too_big_are_refused_by_solve(case, tmp_path, capsys):
    status, out, lines = run_main(capsys, "solve", *RUN_CASES[case], "--out", str(tmp_path / "r.nc"), "-q")
    assert_refused(status, lines, "needs about", "MFGTOOLS_MEMORY", "--force")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not _calls_check_run(mfgtools.sweep), reason="sweep() does not call resources.check_run yet")
def test_a_million_seeds_are_refused_by_sweep(tmp_path, capsys):
    status, out, lines = run_main(capsys, "sweep", "--seeds", "0-1000000", "--out", str(tmp_path / "s.nc"), "-q")
    assert_refused(status, lines, "1,000,001 runs", "MFGTOOLS_MEMORY")
    assert os.listdir(tmp_path) == []


def test_seed_lists_are_parsed_in_linear_time():
    from mfgtools.sweeps import MAX_SEEDS, parse_seeds

    seeds = parse_seeds("0-1000000")
    assert len(seeds) == 1_000_001 and seeds[-1] == 1_000_000
    assert parse_seeds("0-3,10") == [0, 1, 2, 3, 10]
    with pytest.raises(MFGError, match="repeats seed 2"):
        parse_seeds("0-3,2")
    with pytest.raises(MFGError, match="repeat seeds 1, 2"):
        parse_seeds([1, 2, 1, 2])
    with pytest.raises(MFGError, match=f"more than {MAX_SEEDS:,}"):
        parse_seeds("0-4294967295")  # counted, never listed
    with pytest.raises(MFGError, match="at most 4294967295"):
        parse_seeds(f"0-{2**70}")
    assert np.array_equal(parse_seeds(np.arange(3)), [0, 1, 2])


def test_simulations_too_big_are_refused():
    from mfgtools.evaluation import uniform_policy
    from mfgtools.simulate import simulate, simulate_swarm
    from mfgtools.swarm_policies import uniform_policy as uniform_swarm_policy

    game = mfgtools.make_game("crowd", map="empty:3", horizon=2)
    with pytest.raises(MFGError, match="simulating 1 x 1,000,000,000 agents .* lower n_agents or n_seeds"):
        simulate(game, uniform_policy(game), n_agents=10**9)
    swarm = mfgtools.make_game("vicsek")
    with pytest.raises(MFGError, match="simulating 1,000 x 10,000,000 agents of 'vicsek'"):
        simulate_swarm(swarm, uniform_swarm_policy(swarm), n_agents=10**7, n_seeds=1000)
