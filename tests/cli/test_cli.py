"""The command line, run as users run it: ``python -m mfgtools ...`` in a subprocess.

Budgets are tiny (a 5x5 grid, horizon 5, 3 iterations): JAX compilation dominates.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import assert_one_error_line, assert_png, cli_env, run_cli, signal_when_running

import mfgtools
from mfgtools.cli import main
from mfgtools.errors import MFGError
from mfgtools.results import Result, dataset_params

TINY = ["--map", "empty:5", "--horizon", "5", "--iterations", "3"]


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """One tiny solve with the default --out (GAME-SOLVER.nc in the working directory) and --plot."""
    folder = tmp_path_factory.mktemp("solve")
    process = run_cli("solve", "--game", "crowd", "--solver", "omd", *TINY, "--plot", "run.png", cwd=folder)
    return folder, process


def test_help_is_quick_and_imports_no_jax(tmp_path):
    process = run_cli("--help", cwd=tmp_path)
    assert process.returncode == 0 and "solve" in process.stdout and "plot" in process.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, mfgtools, mfgtools.cli; print('jax' in sys.modules)"],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip() == "False", probe.stderr


def test_solve_writes_result_figure_and_summary(solved):
    folder, process = solved
    assert process.returncode == 0, process.stderr
    assert "Traceback" not in process.stderr
    # progress bar (tqdm, on stderr) and summary (stdout)
    assert "3/3" in process.stderr
    out = process.stdout
    assert "crowd: S=25, A=5" in out and "T=5" in out  # game.describe()
    assert "exploitability" in out and "wall time" in out
    assert "wrote           crowd-omd.nc" in out and "wrote           run.png" in out

    dataset = mfgtools.load_result(str(folder / "crowd-omd.nc"))
    assert set(dataset.dims) == {"t", "row", "col", "action", "iteration"}
    assert {"policy", "mean_field", "exploitability", "free"} <= set(dataset.data_vars)
    assert dict(dataset.sizes) == {"t": 6, "row": 5, "col": 5, "action": 5, "iteration": 4}
    assert dataset.attrs["game"] == "crowd" and dataset.attrs["solver"] == "omd"
    assert int(dataset.attrs["iterations"]) == 3 and int(dataset.attrs["seed"]) == 0
    params = dataset_params(dataset)
    assert params["map"] == "empty:5" and params["horizon"] == 5
    assert dataset_params(dataset, "solver_params")["learning_rate"] == 0.03
    assert float(dataset.exploitability[-1]) == pytest.approx(
        float(out.split("exploitability")[1].split()[0]), rel=1e-4
    )

    assert_png(folder / "run.png")
    assert not [name for name in os.listdir(folder) if name.startswith(".tmp")], "temporary files left"


def test_plot_command_default_output(solved):
    folder, _ = solved
    process = run_cli("plot", "crowd-omd.nc", "--times", "0,5", cwd=folder)
    assert process.returncode == 0, process.stderr
    assert "wrote crowd-omd.png" in process.stdout
    assert_png(folder / "crowd-omd.png")


def test_solve_routes_parameters_to_game_and_solver(tmp_path):
    """-p keys go to the game when it has them, else to the solver; `none` is None; --x64; --quiet."""
    process = run_cli(
        "solve",
        "--game",
        "crowd_modelling",
        "--solver",
        "omd",
        "--iterations",
        "2",
        "--seed",
        "7",
        "-p",
        "size=6",
        "-p",
        "horizon=3",
        "-p",
        "learning_rate=0.5",
        "-p",
        "openspiel_order=none",
        "--out",
        "ring.nc",
        "--x64",
        "--quiet",
        cwd=tmp_path,
    )
    assert process.returncode == 0, process.stderr
    assert "it/s" not in process.stderr, "--quiet shows no progress bar"
    assert "crowd_modelling: S=6" in process.stdout
    dataset = mfgtools.load_result(str(tmp_path / "ring.nc"))
    assert set(dataset.dims) == {"t", "state", "action", "iteration"}
    assert dataset_params(dataset)["size"] == 6 and dataset_params(dataset)["horizon"] == 3
    assert dataset_params(dataset, "solver_params") == {"learning_rate": 0.5, "openspiel_order": None}
    assert int(dataset.attrs["seed"]) == 7
    assert dataset.mean_field.dtype == "float64", "--x64 computes in float64"
    assert sorted(os.listdir(tmp_path)) == ["ring.nc"]


def test_list_shows_games_solvers_and_parameters(tmp_path):
    process = run_cli("list", cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    for name in ("crowd", "crowd_modelling", "crowd_modelling_2d", "omd", "fp", "learning_rate", "four_rooms"):
        assert name in process.stdout, name
    solvers = run_cli("list", "solvers", cwd=tmp_path)
    assert solvers.returncode == 0 and "omd" in solvers.stdout and "\n  crowd_modelling: " not in solvers.stdout
    # every game and every solver lists its modes, right under its name
    from mfgtools.solvers import list_solvers

    games_part, solvers_part = process.stdout.split("\nSolvers (")
    for part, entries in ((games_part, mfgtools.list_games()), (solvers_part, list_solvers())):
        lines = part.splitlines()
        named = {
            line[2:].split(":")[0]: lines[index + 1]
            for index, line in enumerate(lines)
            if line.startswith("  ") and not line.startswith("   ")
        }
        assert set(named) == set(entries)
        for name, spec in entries.items():
            iterations = f"; default iterations: {spec.iterations}" if spec.iterations is not None else ""
            assert named[name] == "      modes: " + ", ".join(spec.modes) + iterations, (name, named[name])
    assert "modes: finite-horizon" in solvers.stdout
    assert "  dec-pomfc: " in solvers.stdout and "default iterations: 2000" in solvers.stdout


def _listed_names(output: str, label: str) -> dict:
    """``{entry: [names]}`` from the (wrapped) ``label:`` line under each entry of a `mfgtools list` output."""
    listed, current, gathering = {}, None, False
    for line in output.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            current, gathering = line[2:].split(":")[0], False
        elif line.startswith(f"      {label}: "):
            listed[current], gathering = line.split(": ", 1)[1], True
        elif gathering and line.startswith(" " * (8 + len(label))) and not line.strip().startswith(("-", "(")):
            listed[current] += " " + line.strip()
        else:
            gathering = False
    return {name: [n.strip() for n in names.split(",")] for name, names in listed.items()}


def test_list_says_which_games_each_solver_runs_on(tmp_path):
    from mfgtools.registry import satisfies
    from mfgtools.solvers import list_solvers

    games, solvers = mfgtools.list_games(), list_solvers()
    games_of = _listed_names(run_cli("list", "solvers", cwd=tmp_path).stdout, "games")
    solvers_of = _listed_names(run_cli("list", "games", cwd=tmp_path).stdout, "solvers")
    assert set(games_of) == set(solvers) and set(solvers_of) == set(games)
    for s, solver in solvers.items():
        expected = [
            g for g, game in games.items() if satisfies(game.kind, solver.kind) and set(game.modes) & set(solver.modes)
        ]
        assert games_of[s] == (expected or ["none"]), s
    for g in games:
        assert solvers_of[g] == [s for s in solvers if g in games_of[s]] or solvers_of[g] == ["none"], g
    # examples that must hold whatever the registry grows into
    assert "omd" in solvers_of["crowd"] and "dec-pomfc" not in solvers_of["crowd"]
    assert games_of["dec-pomfc"] and "crowd" not in games_of["dec-pomfc"]
    assert "sis" in games_of["pma-independent"] and "d-momd" not in solvers_of["mfglib/random_linear"]
    assert (
        max(
            len(line)
            for line in run_cli("list", cwd=tmp_path).stdout.splitlines()
            if line.startswith(("      games: ", "      solvers: ", "             "))
        )
        <= 100
    )


ERRORS = {
    "unknown game": (["solve", "--game", "nope"], ["unknown game 'nope'", "crowd"]),
    "unknown solver": (["solve", "--solver", "nope", *TINY], ["unknown solver 'nope'", "omd"]),
    "unknown parameter": (["solve", *TINY, "-p", "bogus=1"], ["unknown parameter 'bogus'", "learning_rate", "map"]),
    "negative iterations": (
        ["solve", "--map", "empty:5", "--horizon", "5", "--iterations", "-1"],
        ["--iterations must be at least 0"],
    ),
    "bad solver value": (["solve", *TINY, "-p", "learning_rate=abc"], ["learning_rate must be a number"]),
    "bad game value": (["solve", *TINY[2:], "--map", "empty:5", "--task", "swim"], ["unknown task 'swim'"]),
    "start on a wall": (
        ["solve", "--map", "four_rooms", "--iterations", "3", "-p", "mu0=0,0"],
        ["mu0 (0, 0) is a wall"],
    ),
    "shortcut not of the game": (
        ["solve", "--game", "crowd_modelling", "--map", "four_rooms"],
        ["--map does not apply to game 'crowd_modelling'"],
    ),
    "malformed -p": (["solve", *TINY, "-p", "learning_rate"], ["KEY=VALUE"]),
    "solver of the other mode": (
        ["solve", "--game", "sis", "--solver", "omd"],
        ["solver 'omd' needs a finite-horizon game", "--mode finite-horizon", "pma"],
    ),
    "stationary-only solver": (
        ["solve", "--game", "sis", "--mode", "finite-horizon", "--solver", "pma-independent"],
        ["needs a stationary game", "--mode stationary"],
    ),
    "bad figure format": (["solve", *TINY, "--plot", "out.txt"], ["cannot write a figure as .txt"]),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_solve_errors_are_one_line_and_write_nothing(tmp_path, case):
    args, fragments = ERRORS[case]
    outputs = ["--out", "out.nc"] + ([] if "--plot" in args else ["--plot", "out.png"])
    process = run_cli(*args, *outputs, cwd=tmp_path)
    assert_one_error_line(process, *fragments)
    assert os.listdir(tmp_path) == [], "no output (or temporary) file is created"


def test_plot_missing_file(tmp_path):
    process = run_cli("plot", "missing.nc", cwd=tmp_path)
    assert_one_error_line(process, "no such file", "missing.nc")
    assert os.listdir(tmp_path) == []


def test_usage_errors_exit_2(tmp_path):
    process = run_cli("solve", "--no-such-flag", cwd=tmp_path)
    assert process.returncode == 2 and "usage:" in process.stderr and "Traceback" not in process.stderr
    assert run_cli(cwd=tmp_path).returncode == 2  # no command


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_ctrl_c_exits_130_without_partial_file(tmp_path):
    status, stderr = signal_when_running(
        [
            "solve",
            "--map",
            "empty:5",
            "--horizon",
            "5",
            "--iterations",
            "1000000",
            "--out",
            "big.nc",
            "--plot",
            "big.png",
        ],
        tmp_path,
        signal.SIGINT,
    )
    assert status == 130, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert lines[-1].startswith("mfgtools: interrupted before writing any file"), lines[-3:]
    assert sum("mfgtools:" in line for line in lines) == 1
    # only a complete checkpoint may remain (written between chunks, atomically)
    left = os.listdir(tmp_path)
    assert left in ([], ["big.nc.ckpt"]), "no partial result, figure or temporary file"
    if left:
        assert "--resume" in lines[-1]
        from mfgtools.checkpoints import peek

        done, identity = peek(tmp_path / "big.nc.ckpt")
        assert done > 0 and identity["game"] == "crowd"


# ----- offline datasets and Off-MMD ---------------------------------------------------
TINY_LEARNER = ["-p", "steps=3", "-p", "batch_size=16", "-p", "hidden=8"]


def test_dataset_collect_info_mix_and_off_mmd_from_the_file(tmp_path):
    collect = run_cli(
        "dataset",
        "collect",
        "--map",
        "empty:4",
        "--horizon",
        "4",
        "-p",
        "mu0=0,0",
        "--policy",
        "omd:5",
        "--epsilon",
        "0.3",
        "--episodes",
        "40",
        "--seed",
        "2",
        "--out",
        "data.nc",
        cwd=tmp_path,
    )
    assert collect.returncode == 0, collect.stderr
    assert "state_coverage" in collect.stdout and (tmp_path / "data.nc").is_file()
    assert "mfgtools:" not in collect.stderr  # stages are shown on a terminal only
    other = run_cli(
        "dataset",
        "collect",
        "--map",
        "empty:4",
        "--horizon",
        "4",
        "-p",
        "mu0=0,0",
        "--episodes",
        "20",
        "--out",
        "uniform.nc",
        cwd=tmp_path,
    )
    assert other.returncode == 0, other.stderr
    mixed = run_cli("dataset", "mix", "data.nc", "uniform.nc", "--counts", "10,20", "--out", "mix.nc", cwd=tmp_path)
    assert mixed.returncode == 0, mixed.stderr
    info = run_cli("dataset", "info", "mix.nc", "--quality", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert "mfgtools:" not in info.stderr
    values = dict(line.split(None, 1) for line in info.stdout.splitlines() if line.strip())
    assert values["episodes"] == "30" and 0 <= float(values["trajectory_quality"]) <= 1
    columns = {len(line) - len(line.split(None, 1)[1]) for line in info.stdout.splitlines() if line.strip()}
    assert len(columns) == 1, info.stdout  # every value in one column
    assert "target=" not in values["game"] and "move_weight" not in values["game"]  # exploration: not read
    own = run_cli("dataset", "info", "data.nc", "--quality", cwd=tmp_path)  # collected here: a known behaviour
    assert own.returncode == 0, own.stderr
    lines = [line for line in own.stdout.splitlines() if line.strip()]
    assert any(line.startswith("behaviour_exploitability ") for line in lines), own.stdout
    assert len({len(line) - len(line.split(None, 1)[1]) for line in lines}) == 1, own.stdout
    solve = run_cli(
        "solve",
        "--solver",
        "off-mmd",
        "--map",
        "empty:4",
        "--horizon",
        "4",
        "-p",
        "mu0=0,0",
        "--task",
        "navigation",
        "--dataset",
        "mix.nc",
        "--iterations",
        "2",
        *TINY_LEARNER,
        "--out",
        "off.nc",
        "--plot",
        "off.png",
        cwd=tmp_path,
    )
    assert solve.returncode == 0, solve.stderr
    assert_png(tmp_path / "off.png")
    result = mfgtools.load_result(str(tmp_path / "off.nc"))
    assert dataset_params(result, "solver_params")["dataset"] == "mix.nc"
    assert result["exploitability"].shape == (3,) and "mis_error" in result
    assert not (tmp_path / "off.nc.ckpt").exists()  # removed once the result is saved


def test_dataset_and_off_mmd_errors_are_one_line(tmp_path):
    assert_one_error_line(run_cli("dataset", "info", "missing.nc", cwd=tmp_path), "no such dataset file")
    assert_one_error_line(
        run_cli("dataset", "collect", "--policy", "best", "--out", "d.nc", cwd=tmp_path), "--policy 'best'"
    )
    assert_one_error_line(
        run_cli("solve", "--solver", "off-mmd", "--map", "labyrinth", "--iterations", "1", cwd=tmp_path),
        "no shipped expert dataset",
    )
    assert_one_error_line(
        run_cli("solve", "--solver", "omd", "--dataset", "x.nc", cwd=tmp_path),
        "--dataset does not apply to solver 'omd'",
    )
    assert os.listdir(tmp_path) == []


def test_killed_cli_run_resumes_to_the_same_result(tmp_path):
    # Off-MMD on the shipped data with a tiny network: long enough iterations (3000 small Adam
    # steps) to kill the run between two checkpoints
    common = [
        "solve",
        "--solver",
        "off-mmd",
        "--iterations",
        "6",
        "-p",
        "steps=3000",
        "-p",
        "batch_size=8",
        "-p",
        "hidden=4",
        "--checkpoint-every",
        "1",
        "--quiet",
    ]
    whole = run_cli(*common, "--out", "whole.nc", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "mfgtools", *common, "--out", "run.nc"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    checkpoint = tmp_path / "run.nc.ckpt"
    deadline = time.monotonic() + 120
    try:
        while not checkpoint.exists() and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.kill()  # SIGKILL: no chance to clean up
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    if not checkpoint.exists():
        pytest.skip("the run finished before it could be killed")
    assert not (tmp_path / "run.nc").exists()
    resumed = run_cli(*common, "--out", "run.nc", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    one, two = mfgtools.load_result(str(tmp_path / "whole.nc")), mfgtools.load_result(str(tmp_path / "run.nc"))
    np.testing.assert_array_equal(one["exploitability"].values, two["exploitability"].values)
    np.testing.assert_array_equal(one["policy"].values, two["policy"].values)
    assert not checkpoint.exists()


# ----- stationary mode ------------------------------------------------------------------
def stationary_result(game) -> Result:
    """A hand-built result of ``game`` in stationary mode: (S, A) policy, (S,) population."""
    game = game.replace(stationary=True, discount=0.9)
    policy = np.asarray(game.action_mask, dtype=float)
    return Result(
        game=game,
        solver="omd",
        solver_params={"learning_rate": 0.03},
        policy=policy / policy.sum(-1, keepdims=True),
        mean_field=np.full(game.n_states, 1 / game.n_states),
        metrics={"exploitability": np.array([0.8, 0.3, 0.2])},
        iterations=2,
        seed=0,
        wall_time=0.1,
    )


def test_mode_flag_is_a_game_shortcut():
    from mfgtools.cli import GAME_SHORTCUTS, build_parser, route_parameters

    assert "mode" in GAME_SHORTCUTS
    args = build_parser().parse_args(["solve", "--mode", "stationary"])
    assert args.mode == "stationary"
    with pytest.raises(MFGError, match="--mode does not apply to game 'crowd_modelling'"):
        route_parameters("crowd_modelling", "omd", {"mode": "stationary"}, [])
    both = [name for name, spec in mfgtools.list_games().items() if "mode" in spec.parameters]
    if both:  # games with both modes take it as a game parameter
        game_params, _ = route_parameters(both[0], "omd", {"mode": "stationary"}, [])
        assert game_params == {"mode": "stationary"}


def test_solve_summary_and_plot_of_a_stationary_result(tmp_path, capsys):
    status = main(
        [
            "solve",
            "--game",
            "sis",
            "--solver",
            "pma",
            "-p",
            "learning_rate=1",
            "--iterations",
            "40",
            "--out",
            str(tmp_path / "s.nc"),
            "--plot",
            str(tmp_path / "s.png"),
            "-q",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    summary = dict(line.split(None, 1) for line in out.splitlines() if line.strip() and not line.startswith("wall"))
    assert "stationary" in summary["game"] and "discount=0.9" in summary["game"] and "T=" not in summary["game"]
    final, initial = (float(x) for x in re.findall(r"[0-9.]+(?:e-?[0-9]+)?", summary["exploitability"])[:2])
    assert final < initial
    assert float(summary["regularised"].split()[0]) < 1e-3 and "temperature=0.1" in summary["regularised"]
    saved = mfgtools.load_result(str(tmp_path / "s.nc"))
    assert saved.attrs["mode"] == "stationary" and saved["policy"].dims == ("state", "action")
    assert saved["regularised_exploitability"].values[-1] < 1e-3
    assert_png(tmp_path / "s.png")

    plotted = run_cli("plot", "s.nc", "--out", "again.png", cwd=tmp_path)
    assert plotted.returncode == 0, plotted.stderr
    assert_png(tmp_path / "again.png")
    assert_one_error_line(
        run_cli("plot", "s.nc", "--times", "0,1", "--out", "t.png", cwd=tmp_path),
        "--times does not apply",
        "stationary result",
    )
    assert sorted(os.listdir(tmp_path)) == ["again.png", "s.nc", "s.png"]


def test_datasets_refuse_stationary_games(tmp_path, monkeypatch, capsys):
    from mfgtools.offline import collect_dataset, load_dataset

    game = mfgtools.make_game("crowd", map="empty:4", horizon=4, mu0=(0, 0)).replace(stationary=True, discount=0.9)
    message = "offline datasets are finite-horizon episodes, but game 'crowd' is in stationary mode"
    with pytest.raises(MFGError, match=message) as error:
        collect_dataset(game, np.full(game.policy_shape, 0.2), 10)
    assert "--mode finite-horizon" in str(error.value)
    with pytest.raises(MFGError, match=message):
        load_dataset(tmp_path / "any.nc", game)

    from mfgtools import games as game_module

    monkeypatch.setattr(game_module, "make_game", lambda name, **params: game)
    status = main(["dataset", "collect", "--episodes", "10", "--out", str(tmp_path / "d.nc")])
    err = capsys.readouterr().err
    assert (
        status == 2
        and err.startswith("mfgtools: error: offline datasets are finite-horizon")
        and len(err.strip().splitlines()) == 1
    )
    assert "--mode finite-horizon" in err
    assert os.listdir(tmp_path) == []


def test_dataset_behaviour_must_be_a_finite_horizon_policy(tmp_path, capsys):
    """A stationary result file is no behaviour policy for a finite-horizon game."""
    saved = stationary_result(mfgtools.make_game("random", n_states=5, horizon=3)).save(str(tmp_path / "s.nc"))
    status = main(
        [
            "dataset",
            "collect",
            "--game",
            "random",
            "-p",
            "n_states=5",
            "--horizon",
            "3",
            "--policy",
            saved,
            "--episodes",
            "10",
            "--out",
            str(tmp_path / "d.nc"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and "holds a stationary policy" in err and "--mode finite-horizon" in err, err
    assert os.listdir(tmp_path) == ["s.nc"]


def test_summaries_show_the_declared_settings_that_act():
    """`mfgtools list` and the run summaries agree: fp declares only ties and alpha (its
    other fixed-point fields are internal; alpha is recorded as damping), a tabular Off-MMD
    has no network, an exploration game no navigation target or weights."""
    from mfgtools.games.crowd import relevant_parameters
    from mfgtools.solvers import list_solvers, make_solver
    from mfgtools.solvers.base import shown_settings

    assert set(list_solvers()["fp"].parameters) == {"ties", "alpha"}
    assert shown_settings("fp", make_solver("fp").settings()) == {"ties": "first"}
    assert shown_settings("boltzmann", make_solver("boltzmann").settings()) == {
        "temperature": 1.0,
        "damping": 1.0,
        "soft": False,
    }
    tabular = shown_settings("off-mmd", make_solver("off-mmd", model="tabular").settings())
    assert {"tau", "alpha", "gamma", "cql", "dataset"} <= set(tabular)
    assert not {"hidden", "steps", "batch_size", "learning_rate", "dataset_digest"} & set(tabular)
    network = shown_settings("off-mmd", make_solver("off-mmd").settings())
    assert {"hidden", "steps", "batch_size", "learning_rate"} <= set(network)
    explore = relevant_parameters({"task": "exploration", "map": "four_rooms", "target": (11, 11), "move_weight": 1})
    assert explore == {"task": "exploration", "map": "four_rooms"}
    navigate = {"task": "navigation", "target": (11, 11), "move_weight": 1}
    assert relevant_parameters(navigate) == navigate


def test_fp_summary_lists_only_its_tie_rule(tmp_path):
    process = run_cli(
        "solve",
        "--map",
        "empty:4",
        "--horizon",
        "3",
        "--solver",
        "fp",
        "--iterations",
        "2",
        "--out",
        "fp.nc",
        "--quiet",
        cwd=tmp_path,
    )
    assert process.returncode == 0, process.stderr
    solver_line = next(line for line in process.stdout.splitlines() if line.startswith("solver"))
    assert solver_line.split(None, 1)[1] == "fp (ties=first), 2 iterations, seed 0"


def test_stages_are_shown_on_a_terminal_only(monkeypatch):
    import io

    from mfgtools.cli import _stage

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        monkeypatch.setattr(sys, "stderr", stream)
        with _stage("simulating 40 episodes"):
            pass
    first, last = terminal.getvalue().splitlines()
    assert first == "mfgtools: simulating 40 episodes ..."
    assert re.fullmatch(r"mfgtools: simulating 40 episodes: done in \d+\.\d s", last)
    assert pipe.getvalue() == ""
