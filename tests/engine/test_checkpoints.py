"""Checkpoints defend themselves: every broken, foreign or altered file is one line naming it.

States are built by hand (no solver runs): a dict of two arrays stands for a solver state.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfgtools import checkpoints
from mfgtools.checkpoints import CHECKPOINT_FORMAT, Checkpoint
from mfgtools.errors import MFGError

IDENTITY = {
    "format": CHECKPOINT_FORMAT,
    "game": "crowd",
    "game_params": '{"map": "empty:3"}',
    "solver": "omd",
    "solver_params": '{"learning_rate": 0.1}',
    "seed": 3,
    "iterations": 10,
    "float64": False,
}


def template():
    """A fresh 'solver state': the structure, shapes and dtypes a checkpoint must match."""
    return {"logits": jnp.zeros((3, 4), jnp.float32), "step": jnp.zeros((), jnp.int32)}


def progressed():
    return {"logits": jnp.arange(12, dtype=jnp.float32).reshape(3, 4) - 5.5, "step": jnp.asarray(4, jnp.int32)}


KEY = jax.random.PRNGKey(11)
# two chunks of 2 iterations; the second lacks "bonus" (padded with NaN in the file)
COLLECTED = [
    {"exploitability": np.array([3.0, 2.0]), "bonus": np.array([0.1, 0.2])},
    {"exploitability": np.array([1.5, 1.0])},
]


def saved(path, identity=IDENTITY, state=None, done=4, collected=COLLECTED, key=KEY) -> str:
    checkpoint = Checkpoint(path, identity)
    checkpoint.save(progressed() if state is None else state, key, done, collected)
    checkpoint.close()
    return os.fspath(path)


def one_line(error: pytest.ExceptionInfo, path) -> str:
    message = str(error.value)
    assert "\n" not in message and os.fspath(path) in message, message
    assert "allow_pickle" not in message and "Traceback" not in message
    return message


def test_round_trip_restores_state_key_done_and_metrics(tmp_path):
    path = tmp_path / "run.ckpt"
    saved(path)
    checkpoint = Checkpoint(path, IDENTITY, resume=True)
    state, key, done, collected = checkpoint.load(template())
    assert checkpoint.written and done == 4
    np.testing.assert_array_equal(state["logits"], progressed()["logits"])
    assert state["step"].dtype == jnp.int32 and int(state["step"]) == 4
    np.testing.assert_array_equal(key, KEY)
    np.testing.assert_array_equal(collected[0]["exploitability"], [3.0, 2.0, 1.5, 1.0])
    np.testing.assert_array_equal(collected[0]["bonus"][:2], [0.1, 0.2])
    assert np.isnan(collected[0]["bonus"][2:]).all()
    checkpoint.remove()
    assert os.listdir(tmp_path) == [], "the resumed checkpoint and its lock are gone"


def test_typed_keys_come_back_typed(tmp_path):
    key = jax.random.key(5)
    saved(tmp_path / "run.ckpt", key=key)
    _, restored, _, _ = Checkpoint(tmp_path / "run.ckpt", IDENTITY, resume=True).load(template())
    assert jax.dtypes.issubdtype(restored.dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(jax.random.key_data(restored), jax.random.key_data(key))


def test_nothing_to_resume(tmp_path):
    assert Checkpoint(tmp_path / "none.ckpt", IDENTITY, resume=True).load(template()) is None
    fresh = Checkpoint(tmp_path / "fresh.ckpt", IDENTITY)
    assert fresh.load(template()) is None and not fresh.written
    fresh.remove()
    assert os.listdir(tmp_path) == []


def test_an_existing_checkpoint_stops_a_run_that_neither_resumes_nor_restarts(tmp_path):
    path = saved(tmp_path / "run.ckpt")
    before = open(path, "rb").read()
    with pytest.raises(MFGError) as error:
        Checkpoint(path, IDENTITY)
    message = one_line(error, path)
    assert "holds 4 of 10 iterations" in message and "game crowd, solver omd, seed 3" in message
    assert "--resume" in message and "--restart" in message
    assert open(path, "rb").read() == before


def test_restart_discards_only_an_mfgtools_checkpoint(tmp_path):
    path = saved(tmp_path / "run.ckpt", identity=dict(IDENTITY, seed=99))
    restarted = Checkpoint(path, IDENTITY, restart=True)
    assert restarted.load(template()) is None
    restarted.remove()  # never saved: the discarded checkpoint goes
    assert os.listdir(tmp_path) == []

    path = saved(tmp_path / "run.ckpt", identity=dict(IDENTITY, seed=99))
    restarted = Checkpoint(path, IDENTITY, restart=True)
    restarted.save(progressed(), KEY, 2, COLLECTED[:1])  # replaced by this run's
    assert checkpoints.peek(path) == (2, IDENTITY)
    restarted.remove()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("flags", [{}, {"resume": True}, {"restart": True}])
def test_a_file_that_is_not_a_checkpoint_is_never_touched(tmp_path, flags):
    victim = tmp_path / "victim.nc"
    victim.write_bytes(b"CDF\x01 precious results")
    with pytest.raises(MFGError) as error:
        Checkpoint(victim, IDENTITY, **flags)
    assert "is not an mfgtools checkpoint" in one_line(error, victim)
    assert victim.read_bytes() == b"CDF\x01 precious results"
    assert os.listdir(tmp_path) == ["victim.nc"]


def test_remove_leaves_what_this_run_did_not_write(tmp_path):
    path = tmp_path / "run.ckpt"
    never_saved = Checkpoint(path, IDENTITY)
    path.write_text("appeared later")
    never_saved.remove()
    assert path.read_text() == "appeared later"
    path.unlink()

    run = Checkpoint(path, IDENTITY)
    run.save(progressed(), KEY, 4, COLLECTED)
    run.close()
    saved(path.with_name("other.ckpt"), identity=dict(IDENTITY, seed=1))
    os.replace(path.with_name("other.ckpt"), path)  # another run's checkpoint now: not this run's to delete
    run.remove()
    assert checkpoints.peek(path)[1]["seed"] == 1


def test_path_checks(tmp_path):
    with pytest.raises(MFGError) as error:
        Checkpoint(tmp_path, IDENTITY)
    assert "is a directory" in one_line(error, tmp_path)
    with pytest.raises(MFGError, match="does not exist"):
        Checkpoint(tmp_path / "no" / "run.ckpt", IDENTITY)
    with pytest.raises(MFGError, match="--checkpoint is empty"):
        Checkpoint("", IDENTITY)
    out = tmp_path / "x.nc"
    with pytest.raises(MFGError) as error:
        Checkpoint(out, IDENTITY, outputs=[str(out)])
    assert "same file" in one_line(error, out)
    with pytest.raises(MFGError, match="pass one of them"):
        Checkpoint(tmp_path / "run.ckpt", IDENTITY, resume=True, restart=True)
    assert os.listdir(tmp_path) == []


def test_a_second_run_on_the_same_checkpoint_is_refused(tmp_path):
    path = tmp_path / "run.ckpt"
    first = Checkpoint(path, IDENTITY)
    assert (tmp_path / "run.ckpt.lock").is_file()
    with pytest.raises(MFGError, match="another mfgtools process .*pid"):
        Checkpoint(path, IDENTITY)
    first.close()
    Checkpoint(path, IDENTITY).close()
    assert os.listdir(tmp_path) == []


# ----- broken files ------------------------------------------------------------------------------
def _valid_bytes(tmp_path) -> bytes:
    return open(saved(tmp_path / "valid.ckpt"), "rb").read()


def _flip(data: bytes, where: int) -> bytes:
    return data[:where] + bytes([data[where] ^ 0x10]) + data[where + 1 :]


BROKEN = {
    "empty": (lambda good: b"", "is not an mfgtools checkpoint"),
    "text": (lambda good: b"done = 4\nstate = ...\n", "is not an mfgtools checkpoint"),
    "garbage": (lambda good: bytes(range(256)) * 4, "is not an mfgtools checkpoint"),
    "pickle": (lambda good: b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.", "is not an mfgtools checkpoint"),
    "truncated": (lambda good: good[: len(good) // 2], "damaged or truncated"),
    "truncated header": (lambda good: good[:80], "damaged or truncated"),
    "bit flipped in the state": (
        lambda good: _flip(good, good.index(b"\x93NUMPY", good.index(b"leaf_0.npy")) + 132),
        "CRC",
    ),
    "zeroed tail": (lambda good: good[:-40] + bytes(40), "damaged or truncated"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_files_are_one_line(tmp_path, case):
    make, fragment = BROKEN[case]
    path = tmp_path / "run.ckpt"
    path.write_bytes(make(_valid_bytes(tmp_path)))
    with pytest.raises(MFGError) as error:
        Checkpoint(path, IDENTITY, resume=True).load(template())
    message = one_line(error, path)
    assert fragment in message, message
    assert "--restart" in message or "another path" in message


def _rewrite(path, edit):
    """Rewrite a valid checkpoint with ``edit(header, arrays)`` applied and a correct checksum."""
    header, arrays = checkpoints._read(os.fspath(path))
    edit(header, arrays)
    os.unlink(path)
    checkpoints._write(os.fspath(path), header, arrays)


INVALID = {
    "done huge": (lambda h, a: h.update(done=10**12), "outside 0..10"),
    "done negative": (lambda h, a: h.update(done=-3), "outside 0..10"),
    "done not an integer": (lambda h, a: h.update(done="4"), "outside 0..10"),
    "state holds NaN": (lambda h, a: a["leaf_0"].__setitem__((0, 0), np.nan), "holds NaN"),
    "metrics short": (lambda h, a: a.update(metric_exploitability=a["metric_exploitability"][:2]), "2 entries for 4"),
    "metric missing": (lambda h, a: a.pop("metric_bonus"), "lacks metrics"),
    "leaf missing": (lambda h, a: a.pop("leaf_1"), "lacks state entries"),
    "key missing": (lambda h, a: a.pop("key"), "lacks state entries"),
    "other leaf count": (lambda h, a: (h.update(leaves=3), a.update(leaf_2=np.zeros(2))), "state of 3 arrays"),
    "leaf shape": (lambda h, a: a.update(leaf_0=np.zeros((4, 3), np.float32)), "state entry 0 has shape (4, 3)"),
    "leaf dtype": (lambda h, a: a.update(leaf_1=np.asarray(4, np.int64)), "int64"),
    "key shape": (lambda h, a: a.update(key=np.zeros(3, np.uint32)), "random key has shape (3,)"),
    "another run": (
        lambda h, a: h["identity"].update(seed=4),
        "belongs to another run (seed: checkpoint 4, this run 3)",
    ),
    "chunk of an old identity": (lambda h, a: h["identity"].update(chunk=5), "belongs to another run (chunk"),
    "other format": (lambda h, a: h["identity"].update(format=7), "format 7"),
    "identity not a record": (lambda h, a: h.update(identity=[1, 2]), "malformed header"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_fields_are_refused(tmp_path, case):
    edit, fragment = INVALID[case]
    path = tmp_path / "run.ckpt"
    saved(path)
    _rewrite(path, edit)
    with pytest.raises(MFGError) as error:
        Checkpoint(path, IDENTITY, resume=True).load(template())
    message = one_line(error, path)
    assert fragment in message and "--restart" in message, message
    assert path.exists(), "a refused checkpoint is kept"


def test_content_changed_after_writing_fails_the_checksum(tmp_path):
    path = tmp_path / "run.ckpt"
    saved(path)
    with np.load(path) as archive:
        entries = {name: archive[name] for name in archive.files}
    entries["leaf_0"] = entries["leaf_0"] + 1  # a plausible edit with valid zip CRCs
    with open(path, "wb") as handle:
        np.savez(handle, **entries)
    with pytest.raises(MFGError) as error:
        Checkpoint(path, IDENTITY, resume=True)
    assert "fails its checksum" in one_line(error, path)


def test_malformed_header_json(tmp_path):
    path = tmp_path / "run.ckpt"
    with open(path, "wb") as handle:
        np.savez(handle, mfgtools_checkpoint=np.asarray("{not json"), checksum=np.asarray("0"))
    with pytest.raises(MFGError) as error:
        Checkpoint(path, IDENTITY, resume=True)
    assert "malformed header" in one_line(error, path)


def test_format_1_checkpoints_are_named_and_can_be_discarded(tmp_path):
    path = tmp_path / "old.ckpt"
    with open(path, "wb") as handle:
        np.savez(
            handle,
            leaf_0=np.zeros((3, 4), np.float32),
            key=np.zeros(2, np.uint32),
            done=np.asarray(2),
            identity=np.asarray(json.dumps(dict(IDENTITY, format=1, chunk=1, leaves=1))),
        )
    with pytest.raises(MFGError) as error:
        Checkpoint(path, IDENTITY)
    assert "holds 2 of 10 iterations" in one_line(error, path)
    with pytest.raises(MFGError) as error:
        Checkpoint(path, IDENTITY, resume=True)
    assert "older mfgtools (checkpoint format 1" in one_line(error, path)
    Checkpoint(path, IDENTITY, restart=True).remove()
    assert os.listdir(tmp_path) == []


def test_module_functions_keep_working(tmp_path):
    """save/load of the first interface, used by the run loop until it moves to Checkpoint."""
    identity = checkpoints.run_identity(_Game(), "omd", {"learning_rate": 0.1}, 3, 10, chunk=2)
    assert identity["chunk"] == 2 and "chunk" not in checkpoints.run_identity(_Game(), "omd", {}, 3, 10)
    path = checkpoints.save(tmp_path / "run.npz", identity, progressed(), KEY, 4, COLLECTED)
    state, key, done, collected = checkpoints.load(path, identity, template())
    assert done == 4 and int(state["step"]) == 4 and collected[0]["exploitability"].shape == (4,)
    with pytest.raises(MFGError, match="belongs to another run"):
        checkpoints.load(path, dict(identity, seed=4), template())
    assert not checkpoints.discard(path, dict(identity, seed=4)) and checkpoints.discard(path, identity)
    victim = tmp_path / "victim.npz"
    victim.write_bytes(b"PK\x03\x04 not ours")
    assert not checkpoints.discard(victim) and victim.exists()


class _Game:
    name = "crowd"
    parameters = {"map": "empty:3"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.floats(0, 1, exclude_max=True), bits=st.integers(1, 255), cut=st.booleans())
def test_any_damage_is_refused_or_harmless(tmp_path_factory, where, bits, cut):
    """Flip bits of one byte (or cut the file there): the checkpoint loads unchanged, or is one clean line."""
    folder = tmp_path_factory.mktemp("fuzz")
    good = _valid_bytes(folder)
    at = int(where * len(good))
    damaged = good[:at] if cut else good[:at] + bytes([good[at] ^ bits]) + good[at + 1 :]
    path = folder / "run.ckpt"
    path.write_bytes(damaged)
    try:
        with Checkpoint(path, IDENTITY, resume=True) as checkpoint:
            loaded = checkpoint.load(template())
    except MFGError as error:
        assert "\n" not in str(error) and str(path) in str(error)
        return
    assert loaded is not None
    state, key, done, collected = loaded
    np.testing.assert_array_equal(state["logits"], progressed()["logits"])
    assert done == 4 and np.array_equal(key, KEY)


# ----- the protocol of the run loop ---------------------------------------------------------------
class Killed(Exception):
    pass


def run_loop(path, iterations, *, resume=False, restart=False, kill_at=None, every=1):
    """A stand-in for solve's loop, calling Checkpoint as the run engine does: one step per iteration
    (x <- x / 2 + noise), a metric per iteration, a save every ``every`` iterations."""
    identity = dict(IDENTITY, iterations=iterations)
    state, key, done, collected = {"x": jnp.ones(3)}, jax.random.PRNGKey(0), 0, []
    checkpoint = Checkpoint(path, identity, resume=resume, restart=restart)
    try:
        loaded = checkpoint.load(state)
        if loaded is not None:
            state, key, done, collected = loaded
        while done < iterations:
            key, step_key = jax.random.split(key)
            state = {"x": state["x"] / 2 + jax.random.normal(step_key, (3,))}
            collected.append({"norm": np.asarray([float(jnp.linalg.norm(state["x"]))])})
            done += 1
            if done < iterations and done % every == 0:
                checkpoint.save(state, key, done, collected)
            if done == kill_at:
                raise Killed
    finally:
        checkpoint.close()  # the lock goes with the loop; on an error the file stays for --resume
    return state, np.concatenate([c["norm"] for c in collected]), checkpoint  # result.checkpoint


def test_the_run_loop_protocol_resumes_to_the_same_result(tmp_path):
    path = tmp_path / "run.ckpt"
    whole, norms, finished = run_loop(tmp_path / "whole.ckpt", 6)
    finished.remove()
    with pytest.raises(Killed):
        run_loop(path, 6, kill_at=4)
    assert os.listdir(tmp_path) == ["run.ckpt"]
    with pytest.raises(MFGError, match="holds 4 of 6 iterations"):
        run_loop(path, 6)
    resumed, resumed_norms, checkpoint = run_loop(path, 6, resume=True)
    np.testing.assert_array_equal(resumed["x"], whole["x"])
    np.testing.assert_array_equal(resumed_norms, norms)
    assert checkpoint.written and not (tmp_path / "run.ckpt.lock").exists()
    run_loop(path, 6, resume=True)[2].close()  # resumable again until removed: the lock went with the loop
    checkpoint.remove()  # after the result is saved
    assert os.listdir(tmp_path) == []
