"""Fuzzing the contract: any input is either accepted or refused in one clear line.

Hypothesis draws game and solver parameters, maps, edge lists, dataset,
result and checkpoint files (random bytes, and valid files truncated or with
bytes flipped) and command lines, and every test asserts the contract of
docs/reliability.md:

- the Python API returns, or raises :class:`~mfgtools.errors.MFGError` (never
  another exception from deep inside numpy, JAX, xarray or HDF5);
- the command line exits with status 0, or 2 with exactly one line
  ``mfgtools: error: ...`` on stderr and no traceback;
- a refused command leaves no file behind and every file that existed before is
  unchanged, byte for byte.

Budgets are small so that the whole module runs in well under a minute: many
examples for in-process API calls (no compilation: building games, parsing
files), few for command lines and real subprocesses. :data:`COUNTS` keeps how
many inputs each test tried and how they ended; set ``MFGTOOLS_FUZZ_REPORT``
to a file name to have them written there as JSON (docs/reliability.md shows a
run's counts).
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mfgtools
from mfgtools.cli import main
from mfgtools.errors import MFGError
from mfgtools.games import game_spec
from mfgtools.solvers import make_solver, solver_spec

REPO = Path(__file__).resolve().parents[1]
COUNTS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
CLI = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
SUBPROCESS = settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

# games built by the API fuzz (the graphex games sample a graph: their file input is fuzzed below)
GAMES = (
    "aggregation",
    "crowd",
    "crowd_modelling",
    "crowd_avoidance",
    "crowd_modelling_2d",
    "kuramoto",
    "predator_prey",
    "random",
    "sis",
    "torus-crowd",
    "vicsek",
)


@pytest.fixture(scope="module", autouse=True)
def small_machine():
    """Pretend 256 MiB are available: large values are refused at once, never built."""
    previous = os.environ.get("MFGTOOLS_MEMORY")
    os.environ["MFGTOOLS_MEMORY"] = "256MiB"
    yield
    if previous is None:
        os.environ.pop("MFGTOOLS_MEMORY", None)
    else:
        os.environ["MFGTOOLS_MEMORY"] = previous
    report = os.environ.get("MFGTOOLS_FUZZ_REPORT")
    if report:
        existing = json.loads(Path(report).read_text()) if os.path.isfile(report) else {}
        existing.update({name: dict(counter) for name, counter in COUNTS.items()})
        Path(report).write_text(json.dumps(existing, indent=1, sort_keys=True) + "\n")


# ----- values ------------------------------------------------------------------------------
NASTY_WORDS = [
    "",
    " ",
    "none",
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "1",
    "2",
    "3",
    "1e9",
    "1e400",
    "2**70",
    str(2**70),
    str(2**64),
    str(2**32),
    "0x10",
    "1,2",
    "1;2",
    "a,b",
    "1,1;2,2",
    "-1,-1",
    "true",
    "yes",
    "\x00",
    "é",
    "#",
    "empty:0",
    "empty:3",
    "empty:2x3",
    "uniform",
    "stationary",
    "finite-horizon",
    "navigation",
    "four_rooms",
    "3x3",
    "1x1",
    "128,128",
    "0,0",
]
values = st.one_of(
    st.sampled_from(NASTY_WORDS),
    st.integers(min_value=-3, max_value=9),
    st.sampled_from([2**31, 2**32, 2**63, 2**70, -(2**70), 10**9, 10**12]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0.0, max_value=1.0),
    st.booleans(),
    st.none(),
    st.text(max_size=6),
    st.lists(st.integers(min_value=-2, max_value=5), max_size=3).map(tuple),
)


def record(test: str, outcome: str) -> None:
    COUNTS[test]["tried"] += 1
    COUNTS[test][outcome] += 1


def api_outcome(test: str, call) -> str:
    """Run ``call``; only MFGError may escape it (anything else fails the test)."""
    try:
        call()
    except MFGError as error:
        assert str(error).strip(), "an MFGError says what is wrong"
        record(test, "refused")
        return "refused"
    record(test, "accepted")
    return "accepted"


def snapshot(folder: Path) -> dict:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in folder.iterdir() if path.is_file()}


def cli_outcome(test: str, folder: Path, argv: list, capsys) -> str:
    """Run ``mfgtools ARGV`` in-process in ``folder``: status 0, or 2 with one line and nothing written."""
    before = snapshot(folder)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        status = main([str(a) for a in argv])
    finally:
        os.chdir(cwd)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip() and not line.startswith("mfgtools: note:")]
    assert "Traceback" not in captured.err
    if status == 0:
        record(test, "accepted")
        return "accepted"
    assert status == 2, (argv, status, captured.err)
    errors = [line for line in lines if line.startswith("mfgtools: error: ")]
    assert len(errors) == 1 and len(lines) == 1, (argv, captured.err)
    assert snapshot(folder) == before, f"{argv}: a refused command changed the folder"
    record(test, "refused")
    return "refused"


# ----- games, solvers, maps (API, many examples) --------------------------------------------------
@FAST
@given(game=st.sampled_from(GAMES), data=st.data())
def test_game_parameters(game, data):
    names = sorted(game_spec(game).parameters)
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
    params = {name: data.draw(values) for name in chosen}
    api_outcome("game parameters", lambda: mfgtools.make_game(game, **params))


@FAST
@given(solver=st.sampled_from(sorted(mfgtools.list_solvers())), data=st.data())
def test_solver_parameters(solver, data):
    names = sorted(solver_spec(solver).parameters)
    if not names:
        return
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    params = {name: data.draw(values) for name in chosen if name != "dataset"}
    api_outcome("solver parameters", lambda: make_solver(solver, **params))


@FAST
@given(
    width=st.integers(1, 7),
    cells=st.lists(st.sampled_from("# . ## .#x\t\x00é"), max_size=42),
    ragged=st.booleans(),
    game=st.sampled_from(["crowd", "crowd_modelling_2d"]),
)
def test_maps(width, cells, ragged, game):
    text = "".join(cells)
    rows = [text[i : i + width] for i in range(0, len(text), width)]
    if not ragged:
        rows = [row.ljust(width, "#") for row in rows]
    picture = "\n".join(rows + ["#" * width])  # a '#' makes it a picture, never a file name
    api_outcome("maps", lambda: mfgtools.make_game(game, map=picture, mu0="uniform"))


@FAST
@given(
    seeds=st.one_of(
        st.text(alphabet="0123456789-, x", max_size=12),
        st.lists(st.one_of(st.integers(-3, 2**33), st.text(max_size=3)), max_size=5),
    )
)
def test_seed_lists(seeds):
    from mfgtools.sweeps import parse_seeds

    api_outcome("seed lists", lambda: parse_seeds(seeds))


@FAST
@given(
    shape=st.sampled_from(["ok", "batched", "flat"]),
    kind=st.sampled_from(["float", "complex", "int", "bool", "object", "nan", "negative", "unnormalised"]),
    temperature=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["x", None])),
)
def test_policies_and_temperatures(shape, kind, temperature):
    from mfgtools.evaluation import exploitability, uniform_policy

    game = _fuzz_game()
    policy = np.asarray(uniform_policy(game), dtype=np.float64)
    policy = {"ok": policy, "batched": policy[None], "flat": policy.reshape(-1)}[shape]
    policy = {
        "float": policy,
        "complex": policy + 0j,
        "int": policy.astype(int),
        "bool": policy > 0,
        "object": policy.astype(object),
        "nan": np.where(policy > 0, np.nan, policy),
        "negative": -policy,
        "unnormalised": 2 * policy,
    }[kind]

    def evaluate():
        value = exploitability(game, policy, temperature=temperature)
        assert np.isfinite(value) and value >= -1e-5, value

    api_outcome("policies and temperatures", evaluate)


_GAME = []


def _fuzz_game():
    if not _GAME:
        _GAME.append(mfgtools.make_game("crowd", map="empty:3", horizon=2))
    return _GAME[0]


# ----- files (API, random bytes and damaged valid files) -------------------------------------------
EDGE_TOKENS = ["0", "1", "2", "3", "-1", "1.5", str(2**62), str(2**64), "a", "#", "%", "0x1", "\t", "w=1"]
edge_lines = st.lists(st.lists(st.sampled_from(EDGE_TOKENS), max_size=4).map(" ".join), max_size=8)


@FAST
@given(lines=edge_lines, compress=st.booleans(), raw=st.binary(max_size=64), use_raw=st.booleans())
def test_edge_lists(tmp_path_factory, lines, compress, raw, use_raw):
    import gzip

    from mfgtools.graphs.networks import load_edge_list

    data = raw if use_raw else ("\n".join(lines) + "\n").encode()
    if compress:
        data = gzip.compress(data)
    path = tmp_path_factory.mktemp("edges") / "net.txt"
    path.write_bytes(data)

    def load():
        graph, report = load_edge_list(path)
        assert graph.n_edges == report.edges and report.edge_lines >= report.self_loops + report.duplicate_lines

    api_outcome("edge lists", load)
    assert path.read_bytes() == data, "reading never changes the file"


VALID: dict = {}  # kind -> bytes of a valid file (a module global: hypothesis never prints it)


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory):
    """A result, a dataset and a checkpoint of tiny runs (their bytes are damaged below)."""
    from mfgtools.evaluation import uniform_policy
    from mfgtools.offline import collect_dataset

    if VALID:
        return VALID
    folder = tmp_path_factory.mktemp("valid")
    game = _fuzz_game()
    checkpoint = folder / "run.ckpt"
    result = mfgtools.solve(game, "omd", iterations=3, checkpoint=str(checkpoint), checkpoint_every=1)
    files = {
        "result": result.save(str(folder / "result.nc")),
        "checkpoint": str(checkpoint),
        "dataset": collect_dataset(game, uniform_policy(game), 4).save(str(folder / "data.nc")),
    }
    VALID.update({name: Path(path).read_bytes() for name, path in files.items()})
    return VALID


def _damaged(data: bytes, how: str, where: list, fill: int) -> bytes:
    if how == "random":
        return bytes(w % 256 for w in where[:64])
    if how == "empty":
        return b""
    position = where[0] % max(len(data), 1) if where else 0
    if how == "truncated":
        return data[:position]
    damaged = bytearray(data)
    for index in where[:16]:
        damaged[index % len(damaged)] = fill
    return bytes(damaged)


damage = dict(
    how=st.sampled_from(["random", "empty", "truncated", "flipped"]),
    where=st.lists(st.integers(0, 2**20), min_size=1, max_size=64),
    fill=st.integers(0, 255),
)


def _loader(kind: str):
    from mfgtools import checkpoints
    from mfgtools.offline import load_dataset
    from mfgtools.results import load_result

    if kind == "result":
        return load_result
    if kind == "dataset":
        return load_dataset

    def load_checkpoint(path):
        import jax

        game = _fuzz_game()
        algorithm = make_solver("omd")
        template = algorithm.init(game, jax.random.PRNGKey(0))  # shapes and dtypes of the state
        identity = checkpoints.run_identity(game, "omd", algorithm.settings(), 0, 3, 1)
        state, key, done, collected = checkpoints.load(path, identity, template)
        assert 0 <= done <= 3

    return load_checkpoint


def _check_damaged(folder: Path, kind: str, how: str, where: list, fill: int) -> None:
    data = _damaged(VALID[kind], how, where, fill)
    path = folder / ("file.ckpt" if kind == "checkpoint" else "file.nc")
    path.write_bytes(data)
    api_outcome(f"damaged {kind} files", lambda: _loader(kind)(str(path)))
    assert path.read_bytes() == data


@pytest.mark.usefixtures("valid_files")
@FAST
@given(kind=st.sampled_from(["result", "dataset"]), **damage)
def test_damaged_result_and_dataset_files(tmp_path_factory, kind, how, where, fill):
    _check_damaged(tmp_path_factory.mktemp("damaged"), kind, how, where, fill)


@pytest.mark.usefixtures("valid_files")
@FAST
@given(**damage)
def test_damaged_checkpoints(tmp_path_factory, how, where, fill):
    _check_damaged(tmp_path_factory.mktemp("damaged"), "checkpoint", how, where, fill)


# ----- command lines (in-process, few examples) -------------------------------------------------------
SOLVE = ["solve", "--map", "empty:3", "--horizon", "2", "--iterations", "1", "-q", "--out", "out.nc"]
FLAGS = [
    "--game",
    "--solver",
    "--map",
    "--task",
    "--horizon",
    "--mode",
    "--iterations",
    "--seed",
    "--checkpoint-every",
    "--devices",
    "--plot",
    "--dataset",
    "-p",
]
PARAMETER_NAMES = [
    "size",
    "noise",
    "target",
    "mu0",
    "floor",
    "learning_rate",
    "temperature",
    "n_states",
    "hidden",
    "batch_size",
    "horizon",
    "discount",
    "bogus",
]


@CLI
@given(flag=st.sampled_from(FLAGS), value=values, name=st.sampled_from(PARAMETER_NAMES))
def test_solve_command_lines(tmp_path_factory, capsys, flag, value, name):
    folder = tmp_path_factory.mktemp("cli")
    (folder / "keep.nc").write_bytes(b"precious")
    text = "none" if value is None else str(value)
    extra = ["-p", f"{name}={text}"] if flag == "-p" else [flag, text]
    cli_outcome("solve command lines", folder, SOLVE + extra, capsys)
    assert (folder / "keep.nc").read_bytes() == b"precious"


@CLI
@given(
    command=st.sampled_from(
        [
            ["plot", "in.nc"],
            ["dataset", "info", "in.nc"],
            ["dataset", "mix", "in.nc", "in.nc", "--out", "mix.nc"],
            ["solve", "--solver", "off-mmd", "--task", "navigation", "--dataset", "in.nc", "--out", "r.nc", "-q"],
            ["dataset", "collect", "--policy", "in.nc", "--episodes", "2", "--out", "d.nc"],
            ["solve", "--map", "in.nc", "--out", "r.nc", "-q"],
            ["solve", "--game", "sis-graphex", "--graph", "in.nc", "--out", "r.nc", "-q"],
        ]
    ),
    data=st.binary(max_size=256),
)
def test_commands_reading_random_bytes(tmp_path_factory, capsys, command, data):
    folder = tmp_path_factory.mktemp("bytes")
    (folder / "in.nc").write_bytes(data)
    outcome = cli_outcome("commands reading random bytes", folder, command, capsys)
    assert outcome == "refused" or command[0] == "solve" and "--map" in command  # a byte picture can be a map
    assert (folder / "in.nc").read_bytes() == data


# ----- the real command line (subprocesses, very few examples) -----------------------------------
def _env() -> dict:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1", MFGTOOLS_MEMORY="256MiB")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


@SUBPROCESS
@given(
    argv=st.sampled_from(
        [
            ["solve", "--map", "empty:100000"],
            ["solve", "--seed", str(2**70)],
            ["plot", "in.nc"],
            ["dataset", "info", "in.nc"],
            ["solve", "--game", "random", "-p", "n_states=1000000000"],
        ]
    ),
    data=st.binary(min_size=1, max_size=64),
)
def test_real_command_line(tmp_path_factory, argv, data):
    folder = tmp_path_factory.mktemp("process")
    (folder / "in.nc").write_bytes(data)
    before = snapshot(folder)
    process = subprocess.run(
        [sys.executable, "-m", "mfgtools", *argv], cwd=folder, env=_env(), capture_output=True, text=True, timeout=120
    )
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    assert process.returncode == 2 and len(lines) == 1 and lines[0].startswith("mfgtools: error: "), process.stderr
    assert snapshot(folder) == before
    record("real command line", "refused")
