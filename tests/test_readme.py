"""Every command and Python snippet of README.md runs, at a tiny budget.

The README's code blocks are read from the file itself, so an example that is
edited there is tested as written, with only its budget cut:
iterations, episodes, seeds, network sizes and swarm sizes (see ``shrink_command``
and ``shrink_python``). ``mfgtools`` commands run in this process through
``mfgtools.cli.main`` (one call per command, in one temporary folder, in README
order: later commands read the files earlier ones wrote); benchmark scripts are
checked to start (``--help``); the Python blocks run in order in one namespace.
Commands that need a file the user must fetch first are listed in ``NEEDS_FETCH``
(the README says where to get it) and skipped; ``pip install`` and the suite
itself are not rerun.
"""

from __future__ import annotations

import os
import re
import runpy
import shlex
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

# files the README asks the user to download first: commands naming one are skipped
NEEDS_FETCH = ("email-enron.txt.gz",)
# tiny learners (Off-MMD, D-MOMD: Munchausen; dec-pomfc, ippo: PPO) and swarms
TINY_MUNCHAUSEN = ["-p", "steps=2", "-p", "hidden=8", "-p", "batch_size=16"]
TINY_PPO = ["-p", "n_envs=2", "-p", "width=8", "-p", "epochs=1", "-p", "minibatches=1"]
TINY_SWARM = ["--horizon", "4", "-p", "n_agents=6"]
SWARM_GAMES = ("kuramoto", "vicsek", "aggregation")


def code_blocks(language: str) -> list[str]:
    """The fenced code blocks of README.md in ``language``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def readme_commands() -> list[list[str]]:
    """Every shell command of the README's bash blocks, as argv lists (comments removed,
    ``a && b`` split)."""
    commands = []
    for block in code_blocks("bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                commands.append(words[:cut])
                words = words[cut + 1 :]
    return commands


def _option(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def _set(argv: list[str], flag: str, value: str) -> None:
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]


def shrink_command(argv: list[str]) -> list[str]:
    """An ``mfgtools`` command (without the program name) at a tiny budget."""
    argv = list(argv)
    command = argv[0]
    if command == "tune":
        _set(argv, "--budget", "4")
    if command in ("solve", "sweep", "tune"):
        _set(argv, "--iterations", "2")
        solver = _option(argv, "--solver")
        game = _option(argv, "--game") or "crowd"
        if solver in ("off-mmd", "d-momd"):
            argv += TINY_MUNCHAUSEN
        if game in SWARM_GAMES:
            argv += (
                TINY_SWARM
                + TINY_PPO
                + (["-p", "policy_agents=8", "-p", "policy_rollouts=2"] if solver in (None, "dec-pomfc") else [])
            )
        if command == "sweep" and "--seeds" in argv:
            _set(argv, "--seeds", "0-1")
        for index, word in enumerate(argv):  # sample-based learners: a few agents
            if word.startswith("n_agents=") and game not in SWARM_GAMES:
                argv[index] = "n_agents=20"
    if command == "dataset" and argv[1] == "collect":
        _set(argv, "--episodes", "20")
        policy = _option(argv, "--policy")
        if policy and policy.startswith("omd"):
            _set(argv, "--policy", "omd:2")
    if command == "dataset" and argv[1] == "mix" and "--counts" in argv:
        _set(argv, "--counts", "10,10")
    return argv


PYTHON_BUDGET = (  # (pattern, replacement) applied to the README's Python, in order
    (r'"off-mmd", (.*?)iterations=\d+', r'"off-mmd", \1iterations=2, steps=2, hidden=8, batch_size=16'),
    (r"iterations=\d+", "iterations=2"),
    (r"n_episodes=\d+", "n_episodes=20"),
    (r'make_game\("vicsek"\)', 'make_game("vicsek", horizon=4, n_agents=6)'),
    (
        r'"dec-pomfc"\)',
        '"dec-pomfc", iterations=1, n_envs=2, width=8, epochs=1, minibatches=1, policy_agents=8, policy_rollouts=2)',
    ),
    (r"n_agents=\d+, n_seeds=\d+", "n_agents=8, n_seeds=2"),
)


def shrink_python(source: str) -> str:
    for pattern, replacement in PYTHON_BUDGET:
        source = re.sub(pattern, replacement, source)
    return source


def test_readme_has_the_examples_this_test_expects():
    commands = readme_commands()
    assert commands[0] == ["pip", "install", "-e", "."]  # the first two commands, as they are
    assert commands[1][:3] == ["mfgtools", "solve", "--game"] and "off-mmd" in commands[1]
    assert commands[3] == ["python", "-m", "pytest", "-q"]
    assert sum(c[0] == "mfgtools" for c in commands) >= 15 and len(code_blocks("python")) >= 3
    fetched = [c for c in commands if any(name in c for name in NEEDS_FETCH)]
    assert fetched, "NEEDS_FETCH names a file no command uses any more: update it"
    text = README.read_text()
    assert all(f"{name}" in text and "snap.stanford.edu" in text for name in NEEDS_FETCH)


def test_shrink_cuts_every_budget():
    argv = shrink_command(["solve", "--solver", "off-mmd", "--iterations", "300", "--resume"])
    assert argv[argv.index("--iterations") + 1] == "2" and "steps=2" in argv
    argv = shrink_command(["tune", "--game", "crowd_modelling", "--budget", "64"])
    assert argv[argv.index("--budget") + 1] == "4" and argv[argv.index("--iterations") + 1] == "2"
    argv = shrink_command(["dataset", "collect", "--policy", "omd:50", "--episodes", "2000", "--out", "x.nc"])
    assert argv[argv.index("--policy") + 1] == "omd:2" and argv[argv.index("--episodes") + 1] == "20"
    assert "iterations=2, steps=2" in shrink_python('solve(game, "off-mmd", dataset=data, iterations=100)')


def _run_script_help(path: Path, monkeypatch) -> None:
    """``python SCRIPT --help`` in this process: the script starts and knows its flags."""
    monkeypatch.syspath_prepend(str(path.parent))  # as Python does for a script: its folder first
    monkeypatch.setattr(sys, "argv", [str(path), "--help"])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(path), run_name="__main__")
    assert stop.value.code in (0, None), f"{path.name} --help exited {stop.value.code}"


@pytest.mark.slow  # one tiny run of every example: the compilations add up
def test_readme_commands_run(tmp_path, monkeypatch, capsys):
    from mfgtools.cli import main

    # the commands name the shipped datasets by their path in the source tree, mfgtools/offline/data/...
    os.makedirs(tmp_path / "mfgtools" / "offline")
    os.symlink(REPO / "mfgtools" / "offline" / "data", tmp_path / "mfgtools" / "offline" / "data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    ran = []
    for argv in readme_commands():
        if argv[0] == "pip" or argv[:3] == ["python", "-m", "pytest"]:
            continue  # the install and the suite itself
        if any(name in argv for name in NEEDS_FETCH):
            continue
        if argv[0] == "python":
            _run_script_help(REPO / argv[1], monkeypatch)
            continue
        assert argv[0] == "mfgtools", argv
        small = shrink_command(argv[1:])
        if small[0] == "solve" and ("--resume" in small or "--out" not in small):
            # each example stands alone, as in a fresh folder: examples without --out share the default
            # output name (GAME-SOLVER.nc), and "continue a killed run" has no result yet
            game, solver = _option(small, "--game") or "crowd", _option(small, "--solver") or "omd"
            out = _option(small, "--out") or f"{game}-{solver}.nc"
            if os.path.exists(out):
                os.remove(out)
        status = main(small)
        out, err = capsys.readouterr()
        assert status == 0, f"mfgtools {' '.join(small)} exited {status}: {err}"
        if argv[1] == "list":
            assert "off-mmd" in out and "crowd" in out
        if argv[1] == "solve" and "exploitability" in out:
            line = next(line for line in out.splitlines() if line.startswith("exploitability"))
            assert not line.split()[1].startswith("-"), line  # never a negative exploitability
        ran.append(" ".join(small))
    assert len(ran) >= 15
    for name in ("run.nc", "run.png", "maze.nc", "nav.nc", "mixed.nc", "sweep.png"):
        assert (tmp_path / name).is_file(), f"no {name} after: {ran}"


@pytest.mark.slow
def test_readme_python_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import matplotlib

    matplotlib.use("Agg")
    namespace = {"__name__": "__readme__"}
    for block in code_blocks("python"):
        exec(compile(shrink_python(block), "README.md", "exec"), namespace)
    result = namespace["result"]
    assert (tmp_path / "vicsek.gif").is_file() and (tmp_path / "data.nc").is_file()
    assert namespace["mu_hat"].shape == (namespace["game"].horizon + 1, namespace["game"].n_states)
    assert result.metrics["return"].shape == (2,)  # the last block's swarm result: 1 iteration + the final
