"""No file is lost: outputs never replace inputs or existing files unasked, checkpoints are deleted only by the
run that wrote them, writers are locked, failed writes are one line naming the file, broken inputs one line.

Issue 16, groups 0 (data loss) and 3 (full disk, 64-bit seeds, binary maps, non-netCDF inputs, SIGTERM).
Command-line cases run in this process (``cli``: ``mfgtools.cli.main`` with the working directory and the
streams of a subprocess run) to spare an interpreter start per case; the cases that are about processes (a
second writer, a killed run's lock, SIGTERM) and one refusal run as real subprocesses (``run_cli``).
"""

from __future__ import annotations

import errno
import io
import os
import signal
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import jax
import numpy as np
import pytest
import xarray as xr
from helpers import assert_one_error_line, run_cli, signal_when_running

import mfgtools
from mfgtools import checkpoints
from mfgtools.cli import main
from mfgtools.errors import MAX_SEED, MFGError, as_seed
from mfgtools.files import FileLock, atomic_write, check_output_path
from mfgtools.results import Result, save_dataset

TINY = ["--game", "crowd_modelling", "--solver", "omd", "--iterations", "2", "-p", "size=4", "--horizon", "3"]
MAP = "#####\n#   #\n#   #\n#####\n"
IDENTITY = {
    "format": checkpoints.CHECKPOINT_FORMAT,
    "game": "crowd_modelling",
    "game_params": "{}",
    "solver": "omd",
    "solver_params": "{}",
    "seed": 0,
    "iterations": 10,
    "float64": False,
}


def tiny_result() -> Result:
    """A hand-built finite-horizon result of a 4-state random game (no solver run)."""
    game = mfgtools.make_game("random", n_states=4, horizon=2)
    return Result(
        game=game,
        solver="omd",
        solver_params={"learning_rate": 0.1},
        policy=np.full(game.policy_shape, 1 / game.n_actions),
        mean_field=np.full((3, 4), 0.25),
        metrics={"exploitability": np.array([0.5, 0.25])},
        iterations=1,
        seed=0,
        wall_time=0.1,
    )


def hand_checkpoint(path, done=4) -> str:
    """A valid checkpoint of an interrupted run, written without running a solver."""
    state = {"logits": np.zeros((3, 2), np.float32)}
    return checkpoints.save(
        path, IDENTITY, state, jax.random.PRNGKey(0), done, [{"exploitability": np.arange(done, dtype=float)}]
    )


def cli(*args, cwd) -> subprocess.CompletedProcess:
    """``mfgtools ARGS`` run in this process from ``cwd``; status and streams as :func:`run_cli` returns them."""
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            status = main([str(arg) for arg in args])
    finally:
        os.chdir(previous)
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


def snapshot(folder) -> dict:
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


# ----- group 0: no file is destroyed ------------------------------------------------------------
def test_checkpoint_and_out_the_same_file_is_refused(tmp_path):
    process = run_cli("solve", *TINY, "--checkpoint", "x.nc", "--out", "x.nc", cwd=tmp_path)
    assert_one_error_line(process, "same file", "x.nc")
    assert os.listdir(tmp_path) == []


def test_an_unrelated_file_given_as_checkpoint_is_never_deleted(tmp_path):
    (tmp_path / "victim.nc").write_bytes(b"CDF\x01 somebody's results")
    for extra in ([], ["--resume"], ["--restart"]):
        process = cli("solve", *TINY, "--checkpoint", "victim.nc", "--out", "out.nc", *extra, cwd=tmp_path)
        assert_one_error_line(process, "'victim.nc' exists and is not an mfgtools checkpoint")
    assert snapshot(tmp_path) == {"victim.nc": b"CDF\x01 somebody's results"}


def test_the_input_dataset_given_as_checkpoint_is_kept(tmp_path):
    (tmp_path / "in.nc").write_bytes(b"dataset bytes")
    process = cli(
        "solve", "--solver", "off-mmd", "--dataset", "in.nc", "--checkpoint", "in.nc", "--out", "out.nc", cwd=tmp_path
    )
    assert_one_error_line(process, "--checkpoint 'in.nc' is the dataset file")
    assert snapshot(tmp_path) == {"in.nc": b"dataset bytes"}


OUT_IS_INPUT = {
    "solve --dataset": (
        ["solve", "--solver", "off-mmd", "--dataset", "in.nc", "--out", "in.nc"],
        "in.nc",
        "dataset file",
    ),
    "solve --map": (["solve", "--map", "in.txt", "--out", "in.txt"], "in.txt", "map file"),
    "solve --graph": (
        ["solve", "--game", "sis-graphex", "--graph", "edges.txt", "--out", "edges.txt"],
        "edges.txt",
        "graph file",
    ),
    "solve --plot on the map": (
        ["solve", "--map", "in.png", "--out", "o.nc", "--plot", "in.png"],
        "in.png",
        "map file",
    ),
    "dataset collect --policy": (
        ["dataset", "collect", "--policy", "in.nc", "--out", "in.nc"],
        "in.nc",
        "--policy file",
    ),
    "dataset mix": (["dataset", "mix", "a.nc", "b.nc", "--out", "a.nc"], "a.nc", "dataset file"),
    "sweep --map": (["sweep", "--map", "in.txt", "--out", "in.txt"], "in.txt", "map file"),
    "plot": (["plot", "in.nc", "--out", "in.nc"], "in.nc", "would overwrite the result"),
}


@pytest.mark.parametrize("case", list(OUT_IS_INPUT))
def test_an_output_equal_to_an_input_is_refused(tmp_path, case):
    args, name, fragment = OUT_IS_INPUT[case]
    for path in {name, "b.nc"}:
        (tmp_path / path).write_text(MAP)
    before = snapshot(tmp_path)
    assert_one_error_line(cli(*args, "--overwrite", cwd=tmp_path), fragment)
    assert snapshot(tmp_path) == before


EXISTING = {
    "solve --out": ["solve", *TINY, "--out", "old"],
    "solve --plot": ["solve", *TINY, "--out", "new.nc", "--plot", "old.png"],
    "sweep --out": ["sweep", *TINY, "--out", "old"],
    "dataset collect": ["dataset", "collect", "--out", "old"],
    "dataset mix": ["dataset", "mix", "a.nc", "--out", "old"],
    "plot": ["plot", "a.nc", "--out", "old.png"],
}


@pytest.mark.parametrize("case", list(EXISTING))
def test_an_existing_output_is_replaced_only_with_overwrite(tmp_path, case):
    for name in ("old", "old.png", "a.nc"):
        (tmp_path / name).write_text("keep me")
    assert_one_error_line(cli(*EXISTING[case], cwd=tmp_path), "exists", "--overwrite")
    assert snapshot(tmp_path) == {name: b"keep me" for name in ("a.nc", "old", "old.png")}


def test_plot_replaces_a_figure_with_overwrite_only(tmp_path):
    tiny_result().save(str(tmp_path / "r.nc"))
    assert cli("plot", "r.nc", cwd=tmp_path).returncode == 0
    first = (tmp_path / "r.png").read_bytes()
    assert_one_error_line(cli("plot", "r.nc", "--scale", "linear", cwd=tmp_path), "'r.png' exists", "--overwrite")
    assert (tmp_path / "r.png").read_bytes() == first
    again = cli("plot", "r.nc", "--scale", "linear", "--overwrite", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "r.png").read_bytes() != first
    assert sorted(os.listdir(tmp_path)) == ["r.nc", "r.png"], "no lock or temporary file left"


@pytest.mark.parametrize(
    "args",
    [["solve", *TINY], ["sweep", *TINY], ["dataset", "collect"], ["plot", "r.nc"]],
    ids=["solve", "sweep", "collect", "plot"],
)
def test_an_empty_out_is_refused_before_any_work(tmp_path, args):
    (tmp_path / "r.nc").write_text("x")
    assert_one_error_line(cli(*args, "--out", "", cwd=tmp_path), "--out is empty")
    assert os.listdir(tmp_path) == ["r.nc"]


def test_a_second_writer_of_the_same_output_is_refused(tmp_path):
    """Within one process too: a lock is one open file description under flock."""
    with FileLock(tmp_path / "out.nc"):
        process = cli("solve", *TINY, "--out", "out.nc", cwd=tmp_path)
        assert_one_error_line(process, "another mfgtools process", f"pid {os.getpid()}", "'out.nc'")
    assert os.listdir(tmp_path) == []


def test_the_lock_of_a_killed_run_is_taken_over_and_a_foreign_one_is_kept(tmp_path):
    tiny_result().save(str(tmp_path / "r.nc"))
    (tmp_path / "r.png.lock").write_text("mfgtools lock\npid 999999999\nhost elsewhere\n")  # no flock: dead
    process = cli("plot", "r.nc", cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    assert sorted(os.listdir(tmp_path)) == ["r.nc", "r.png"]
    (tmp_path / "s.png.lock").write_text("my own notes")
    assert_one_error_line(cli("plot", "r.nc", "--out", "s.png", cwd=tmp_path), "not an mfgtools lock file")
    assert (tmp_path / "s.png.lock").read_text() == "my own notes" and not (tmp_path / "s.png").exists()


def test_the_next_writer_removes_the_temporaries_of_a_killed_write(tmp_path):
    stale = [tmp_path / ".x.nc.tmp-abc123.nc", tmp_path / ".x.nc.ckpt.tmp-def456.ckpt"]
    unrelated = [tmp_path / ".y.nc.tmp-abc123.nc", tmp_path / ".x.nc.tmpnotes"]
    for path in stale + unrelated:
        path.write_bytes(b"partial")
    with FileLock(tmp_path / "x.nc"):
        assert not stale[0].exists() and stale[1].exists()  # only x.nc's own temporaries
    with FileLock(tmp_path / "x.nc.ckpt"):
        assert not stale[1].exists()
    assert all(path.exists() for path in unrelated)
    with pytest.raises(ZeroDivisionError):  # an interrupted write names its temporary after the target
        atomic_write(tmp_path / "z.nc", lambda temporary: (open(temporary, "wb").write(b"x"), 1 / 0))
    assert sorted(os.listdir(tmp_path)) == sorted(path.name for path in unrelated)


def test_lock_in_process():
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "x.nc")
        lock = FileLock(path).acquire()
        with pytest.raises(MFGError, match="another mfgtools process"):
            FileLock(path).acquire()
        lock.release()
        del lock
        with FileLock(path):
            assert os.path.exists(path + ".lock")
        assert os.listdir(folder) == []


def test_an_existing_checkpoint_stops_a_rerun_and_restart_discards_it(tmp_path):
    hand_checkpoint(tmp_path / "out.nc.ckpt")
    before = snapshot(tmp_path)
    refused = cli("solve", *TINY, "--out", "out.nc", cwd=tmp_path)
    assert_one_error_line(refused, "'out.nc.ckpt' holds 4 of 10 iterations", "--resume", "--restart")
    assert_one_error_line(
        cli("solve", *TINY, "--out", "out.nc", "--resume", "--restart", cwd=tmp_path), "pass one of them"
    )
    assert snapshot(tmp_path) == before
    restarted = cli("solve", *TINY, "--out", "out.nc", "--restart", "-q", cwd=tmp_path)
    assert restarted.returncode == 0, restarted.stderr
    assert sorted(os.listdir(tmp_path)) == ["out.nc"], "the discarded checkpoint and the locks are gone"


def test_a_directory_as_checkpoint_is_one_line(tmp_path):
    (tmp_path / "dir").mkdir()
    assert_one_error_line(cli("solve", *TINY, "--checkpoint", "dir", cwd=tmp_path), "'dir' is a directory")


def test_resuming_a_truncated_checkpoint_is_one_line_and_keeps_it(tmp_path):
    data = open(hand_checkpoint(tmp_path / "good.ckpt"), "rb").read()
    (tmp_path / "good.ckpt").unlink()
    (tmp_path / "out.nc.ckpt").write_bytes(data[: len(data) // 2])
    process = cli("solve", *TINY, "--out", "out.nc", "--resume", cwd=tmp_path)
    assert_one_error_line(process, "'out.nc.ckpt' is damaged or truncated", "--restart")
    assert os.listdir(tmp_path) == ["out.nc.ckpt"]


# ----- group 3: every write checks its outcome ---------------------------------------------------
def _full_disk(self, path, *args, **kwargs):
    with open(path, "wb") as handle:
        handle.write(b"partial")
    raise OSError(errno.ENOSPC, "No space left on device")


def _hdf_error(self, path, *args, **kwargs):
    with open(path, "wb") as handle:
        handle.write(b"partial")
    raise RuntimeError("NetCDF: HDF error")


@pytest.mark.parametrize("failure", [_full_disk, _hdf_error], ids=["ENOSPC", "HDF error"])
def test_a_full_disk_is_one_line_naming_the_file(tmp_path, monkeypatch, failure):
    target = tmp_path / "run.nc"
    target.write_text("previous result")
    monkeypatch.setattr(xr.Dataset, "to_netcdf", failure)
    with pytest.raises(MFGError) as error:
        tiny_result().save(str(target))
    message = str(error.value)
    assert "\n" not in message and str(target) in message and "nothing was written" in message
    assert "disk is full" in message
    assert target.read_text() == "previous result" and os.listdir(tmp_path) == ["run.nc"]


def test_a_full_disk_at_fsync_is_caught(tmp_path, monkeypatch):
    def refuse(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", refuse)
    with pytest.raises(MFGError, match="no space left on the device"):
        atomic_write(str(tmp_path / "a.txt"), lambda temporary: open(temporary, "w").write("x"))
    assert os.listdir(tmp_path) == []


def test_permission_errors_are_one_line(tmp_path, monkeypatch):
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)  # as in a read-only directory (the tests run as root)
    with pytest.raises(MFGError, match=r"cannot write .*run\.nc.*permission denied"):
        save_dataset(xr.Dataset({"x": ("a", [1.0])}), str(tmp_path / "run.nc"))
    with pytest.raises(MFGError, match="permission denied in"):
        check_output_path(str(tmp_path / "run.nc"))


def test_a_full_disk_while_saving_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    path = hand_checkpoint(tmp_path / "run.ckpt", done=2)
    before = open(path, "rb").read()
    monkeypatch.setattr(np, "savez", lambda handle, **arrays: _full_disk(None, handle.name))
    with pytest.raises(MFGError, match=r"cannot write .*run\.ckpt.*disk is full"):
        hand_checkpoint(path, done=4)
    assert open(path, "rb").read() == before and os.listdir(tmp_path) == ["run.ckpt"]


def test_no_clobber_writes(tmp_path):
    target = tmp_path / "r.nc"
    target.write_text("keep")
    with pytest.raises(MFGError, match="exists"):
        tiny_result().save(str(target), overwrite=False)
    assert target.read_text() == "keep"
    tiny_result().save(str(target))  # the API replaces by default, as xarray does
    assert mfgtools.load_result(str(target)).attrs["game"] == "random"


def test_a_full_disk_through_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(xr.Dataset, "to_netcdf", _full_disk)
    status = main(["solve", *TINY, "--out", str(tmp_path / "out.nc"), "-q"])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "out.nc" in err and "disk is full" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []


# ----- group 3: inputs that ended in a traceback ---------------------------------------------------
SEEDS = {
    "solve --seed 2**70": (["solve", *TINY, "--seed", str(2**70)], "--seed must be at most 4294967295"),
    "solve --seed 2**32": (["solve", *TINY, "--seed", str(2**32)], "--seed must be at most 4294967295"),
    "sweep --seeds": (["sweep", *TINY, "--seeds", f"0,{2**64}"], "--seeds must be at most 4294967295"),
    "dataset collect --seed": (["dataset", "collect", "--seed", str(2**70), "--out", "d.nc"], "at most 4294967295"),
    "dataset mix --seed": (["dataset", "mix", "a.nc", "--seed", str(2**70), "--out", "d.nc"], "at most 4294967295"),
}


@pytest.mark.parametrize("case", list(SEEDS))
def test_seeds_beyond_32_bits_are_refused(tmp_path, case):
    args, fragment = SEEDS[case]
    assert_one_error_line(cli(*args, cwd=tmp_path), fragment)
    assert os.listdir(tmp_path) == []


def test_every_accepted_seed_has_its_own_key():
    assert as_seed(MAX_SEED) == 2**32 - 1 and as_seed("7") == 7
    assert not np.array_equal(jax.random.PRNGKey(MAX_SEED), jax.random.PRNGKey(0))
    np.testing.assert_array_equal(jax.random.PRNGKey(2**32), jax.random.PRNGKey(0))  # why the bound: 32 bits kept
    for bad in (2**32, 2**70, -1):
        with pytest.raises(MFGError):
            as_seed(bad)


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
        ("#####\n# é #\n#####".encode("latin-1"), "not UTF-8 text"),
    ],
    ids=["binary", "latin-1"],
)
def test_a_binary_map_file_is_one_line(tmp_path, content, fragment):
    (tmp_path / "map.txt").write_bytes(content)
    assert_one_error_line(
        cli("solve", "--map", "map.txt", "--iterations", "1", "--out", "o.nc", cwd=tmp_path),
        "map file 'map.txt'",
        fragment,
        "rows of '#'",
    )
    with pytest.raises(MFGError, match=fragment):
        mfgtools.make_game("crowd", map=str(tmp_path / "map.txt"))
    assert os.listdir(tmp_path) == ["map.txt"]


NOT_NETCDF = {
    "empty": (b"", "an empty file"),
    "text": (b"time,value\n0,1\n", "a text file (it starts with 'time,value 0,1')"),
    "garbage": (bytes(range(1, 256)) * 8, "binary data that is not netCDF"),
    "checkpoint": (None, "a zip archive"),
    "truncated netCDF": (b"truncated", "damaged or truncated"),
}


@pytest.fixture(scope="module")
def broken_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken")
    for name, (content, _) in NOT_NETCDF.items():
        path = folder / f"{name.replace(' ', '_')}.nc"
        if name == "checkpoint":
            hand_checkpoint(path)
        elif name == "truncated netCDF":
            whole = open(tiny_result().save(str(folder / "whole.nc")), "rb").read()
            path.write_bytes(whole[: len(whole) // 2])
        else:
            path.write_bytes(content)
    return folder


@pytest.mark.parametrize("case", list(NOT_NETCDF))
def test_files_that_are_not_netcdf_say_what_they_should_be(broken_inputs, tmp_path, case):
    _, fragment = NOT_NETCDF[case]
    path = str(broken_inputs / f"{case.replace(' ', '_')}.nc")
    with pytest.raises(MFGError) as error:
        mfgtools.load_result(path)
    message = str(error.value)
    assert "\n" not in message and fragment in message and "IO backends" not in message
    assert "a result file is the netCDF written by `mfgtools solve --out`" in message
    plot = cli("plot", path, "--out", "p.png", cwd=tmp_path)
    assert "IO backends" not in assert_one_error_line(plot, fragment, "a result file is")
    info = cli("dataset", "info", path, cwd=tmp_path)
    assert "IO backends" not in assert_one_error_line(info, fragment, "a dataset file is the netCDF written by")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGTERM on Windows")
def test_sigterm_exits_like_ctrl_c_and_the_lock_refuses_a_second_writer(tmp_path):
    def second_writer(process):
        second = run_cli(
            "solve", "--game", "crowd_modelling", "--iterations", "1", "--out", "big.nc", "--overwrite", cwd=tmp_path
        )
        assert_one_error_line(second, "another mfgtools process", f"pid {process.pid}")

    status, stderr = signal_when_running(
        ["solve", "--game", "crowd_modelling", "--iterations", "1000000", "--out", "big.nc"],
        tmp_path,
        signal.SIGTERM,
        meanwhile=second_writer,
    )
    assert status == 143, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert lines[-1].startswith("mfgtools: terminated (SIGTERM) before writing any file"), lines[-3:]
    assert sum("mfgtools:" in line for line in lines) == 1
    assert os.listdir(tmp_path) in ([], ["big.nc.ckpt"]), "no partial result, lock or temporary file"
