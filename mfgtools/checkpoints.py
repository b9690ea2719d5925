"""Checkpoints of a running :func:`mfgtools.solvers.solve`, so long runs survive a kill.

A checkpoint is one ``.npz`` file (NumPy can open it without mfgtools). Its
entries, in this order:

- ``mfgtools_checkpoint``: a JSON header: ``format``, ``identity`` (the run:
  game and its parameters, solver and its settings, seed, iterations, float64),
  ``done`` (iterations completed), ``leaves`` (count of state arrays),
  ``metrics`` (their names), ``key_impl`` (a typed key's implementation) and
  ``part`` (which batch of a sweep is in progress; 0 for a single run).
  Being first, it also marks a truncated file as an mfgtools checkpoint;
- ``leaf_0 .. leaf_{n-1}``: the solver state's leaves in pytree order;
- ``key``: the random key of the next iteration (its raw data);
- ``metric_NAME``: each metric of iterations ``1..done``;
- ``checksum``: SHA-256 over the header and every array (name, dtype, shape, bytes).

The file defends itself: :class:`Checkpoint` resumes only a file whose checksum
holds, whose identity is this run's, whose ``done`` lies in ``0..iterations``,
whose metrics have ``done`` entries and whose state has the structure, shapes and
dtypes of a fresh state, with no NaN. Every failure is one :class:`MFGError` line
naming the file and saying how to go on (``--restart``/``restart=True`` discards
it). A file that is not an mfgtools checkpoint is never replaced or deleted.
Files are written atomically (:func:`mfgtools.files.atomic_write`).
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
import zipfile
from typing import Any

import jax
import numpy as np

from mfgtools.annotations import params_to_json
from mfgtools.errors import MFGError
from mfgtools.files import FileLock, atomic_write, same_file

CHECKPOINT_FORMAT = 2
_HEADER = "mfgtools_checkpoint"
_ZIP_MAGIC = b"PK\x03\x04"
# how to go on, appended to every refusal of an existing checkpoint
_DISCARD = "pass --restart (restart=True) to discard it and start afresh, or delete it"


def run_identity(game, solver: str, settings: dict, seed, iterations: int, chunk: int | None = None) -> dict:
    """What a checkpoint must share with the run that resumes from it.

    ``seed``: an int for one run, a list of ints for a batch of seeds
    (:func:`mfgtools.solve_seeds`). ``chunk`` (iterations per compiled chunk)
    belongs to the identity only when the sequence of iterations depends on it;
    None leaves it out.
    """
    identity = {
        "format": CHECKPOINT_FORMAT,
        "game": game.name,
        "game_params": params_to_json(game.parameters),
        "solver": solver,
        "solver_params": params_to_json(settings),
        "seed": [int(one) for one in seed] if isinstance(seed, (list, tuple)) else int(seed),
        "iterations": int(iterations),
        "float64": bool(jax.config.read("jax_enable_x64")),
    }
    if chunk is not None:
        identity["chunk"] = int(chunk)
    return identity


def describe(identity: dict) -> str:
    """``"game crowd, solver omd, seed 0"``: a run in a few words, for messages."""
    return (
        ", ".join(f"{name} {identity[name]}" for name in ("game", "solver", "seed") if name in identity)
        or "unknown run"
    )


# ----- the file -------------------------------------------------------------------------
def is_checkpoint_file(path) -> bool:
    """Whether ``path`` is (or, truncated or damaged, was) an mfgtools checkpoint: its first zip entry is
    the header (format 2), or it is a readable zip with an ``identity`` entry (format 1)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(96)
    except OSError:
        return False
    if head[:4] != _ZIP_MAGIC:
        return False
    if _HEADER.encode() in head[30:96]:  # local file header: 30 bytes, then the entry's name
        return True
    try:
        with zipfile.ZipFile(path) as archive:
            return "identity.npy" in archive.namelist()
    except Exception:  # noqa: BLE001 - any unreadable zip is not recognisably ours
        return False


def _checksum(header: str, arrays: dict) -> str:
    digest = hashlib.sha256(header.encode())
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"|{name}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _write(path: str, header: dict, arrays: dict) -> str:
    """Write the archive (header first, checksum last) atomically."""
    text = json.dumps(header, sort_keys=True)
    entries: dict[str, Any] = {_HEADER: np.asarray(text)}
    entries.update(arrays)
    entries["checksum"] = np.asarray(_checksum(text, arrays))

    def write(temporary):
        with open(temporary, "wb") as handle:
            np.savez(handle, **entries)

    return atomic_write(path, write)


def _key_arrays(key) -> tuple[np.ndarray, str | None]:
    if jax.dtypes.issubdtype(getattr(key, "dtype", None), jax.dtypes.prng_key):
        return np.asarray(jax.device_get(jax.random.key_data(key))), str(jax.random.key_impl(key))
    return np.asarray(jax.device_get(key)), None


def _arrays(state, key, done: int, collected: list[dict], part: int = 0) -> tuple[dict, dict]:
    """``(header fields, arrays)`` of a checkpoint; metrics padded with NaN where a chunk lacks one."""
    leaves = jax.device_get(jax.tree_util.tree_leaves(state))
    arrays = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays["key"], key_impl = _key_arrays(key)
    names = list(dict.fromkeys(name for chunk in collected for name in chunk))
    for name in names:  # metrics are (..., n) per chunk (a leading run axis for a batch): joined along the last axis
        parts = []
        for chunk in collected:
            shape = np.shape(np.atleast_1d(next(iter(chunk.values())))) if chunk else (0,)
            parts.append(np.asarray(chunk[name], dtype=np.float64) if name in chunk else np.full(shape, np.nan))
        arrays[f"metric_{name}"] = np.concatenate(parts, axis=-1) if parts else np.zeros(0)
    fields = {"done": int(done), "leaves": len(leaves), "metrics": names, "key_impl": key_impl, "part": int(part)}
    return fields, arrays


def _read(path: str) -> tuple[dict, dict]:
    """``(header, arrays)`` of a checkpoint file, its checksum verified; one line on any failure."""
    if not is_checkpoint_file(path):
        raise MFGError(
            f"{path!r} is not an mfgtools checkpoint (a checkpoint is the .npz archive written by "
            "`mfgtools solve --checkpoint`); give --checkpoint another path"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as error:  # noqa: BLE001 - BadZipFile, EOFError, CRC, zlib, ValueError...
        raise MFGError(
            f"checkpoint {path!r} is damaged or truncated ({_reason(error)}); cannot resume from it: {_DISCARD}"
        ) from None
    if _HEADER not in arrays:  # format 1 (identity entry, no header)
        raise MFGError(
            f"checkpoint {path!r} was written by an older mfgtools (checkpoint format 1; this one "
            f"reads format {CHECKPOINT_FORMAT}) and cannot be resumed: {_DISCARD}"
        )
    text = arrays.pop(_HEADER)
    try:
        header = json.loads(str(text)) if text.dtype.kind == "U" and text.ndim == 0 else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or not isinstance(header.get("identity"), dict):
        raise MFGError(f"checkpoint {path!r} has a malformed header; cannot resume from it: {_DISCARD}")
    saved_sum = arrays.pop("checksum", None)
    if saved_sum is None or saved_sum.ndim != 0 or str(saved_sum) != _checksum(str(text), arrays):
        raise MFGError(
            f"checkpoint {path!r} fails its checksum (its content was changed or damaged after it "
            f"was written); cannot resume from it: {_DISCARD}"
        )
    return header, arrays


def _reason(error: BaseException) -> str:
    if "CRC" in str(error):
        return "a CRC check failed: bits changed on disk"
    if isinstance(error, (EOFError, zipfile.BadZipFile)) or "truncat" in str(error).lower():
        return "truncated or not a complete zip archive"
    return f"{error.__class__.__name__}: {' '.join(str(error).split())[:100]}"


def peek(path):
    """``(done, identity)`` of the checkpoint at ``path`` from its header alone (no checksum), or None if
    it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if _HEADER not in archive.files:  # format 1: identity and done entries
                return int(archive["done"]), dict(json.loads(str(archive["identity"])))
            header = json.loads(str(archive[_HEADER]))
        return int(header["done"]), dict(header["identity"])
    except Exception:  # noqa: BLE001
        return None


# ----- the checkpoint of one run ----------------------------------------------------------
class Checkpoint:
    """The checkpoint file of one run: validated now, loaded, saved and removed safely.

    ``path`` must not be a directory, must lie in a writable directory and must
    not be one of ``outputs`` (the run's output files). A file already at
    ``path`` is resumed only with ``resume=True``; ``restart=True`` discards it
    (replaced by the first save, deleted by :meth:`remove`), but only if it is
    an mfgtools checkpoint; with neither, the run is refused with what the file
    holds. The path is locked (``PATH.lock``) against a second run until
    :meth:`remove` or :meth:`close`.

    Attributes:
      path: the checkpoint file.
      identity: the run (see :func:`run_identity`).
      written: whether this run wrote the file or resumed from it.
    """

    def __init__(self, path, identity: dict, *, resume: bool = False, restart: bool = False, outputs=()):
        self.path = check_path(path, resume=resume, restart=restart, outputs=outputs, existing=False)
        self.identity = json.loads(json.dumps(identity, sort_keys=True, default=str))  # as the file holds it
        self.resume = bool(resume)
        self.written = False
        self._pending = None  # (header, arrays) read for resuming, checked against the template by load()
        # lock first: a file held by a running process is not "an interrupted run's checkpoint"
        self._lock = FileLock(self.path, "checkpoint").acquire()
        self._finalizer = weakref.finalize(self, FileLock.release, self._lock)
        try:
            check_path(self.path, resume=resume, restart=restart)
            self._claimed = bool(restart) and os.path.lexists(self.path)  # an old checkpoint this run discards
            if self.resume and os.path.exists(self.path):
                self._pending = self._validated()
        except BaseException:
            self.close()
            raise

    def _validated(self) -> tuple[dict, dict]:
        """Read the file and check everything that does not need the solver state's template."""
        path = self.path
        header, arrays = _read(path)
        saved = header["identity"]
        if saved.get("format", header.get("format")) != CHECKPOINT_FORMAT:
            raise MFGError(
                f"checkpoint {path!r} has format {saved.get('format')!r}; this mfgtools reads format "
                f"{CHECKPOINT_FORMAT}: {_DISCARD}"
            )
        mine = self.identity
        differ = [k for k in dict.fromkeys([*mine, *saved]) if saved.get(k) != mine.get(k)]
        if differ:
            shown = "; ".join(f"{k}: checkpoint {saved.get(k)!r}, this run {mine.get(k)!r}" for k in differ[:3])
            raise MFGError(
                f"checkpoint {path!r} belongs to another run ({shown}); resume with the same game, "
                f"solver, parameters, seed and iterations, or {_DISCARD}"
            )
        part, parts = header.get("part", 0), int(mine.get("batches", 1))
        if isinstance(part, bool) or not isinstance(part, int) or not 0 <= part < parts:
            raise MFGError(
                f"checkpoint {path!r} says batch {part!r} is in progress, outside 0..{parts - 1}; "
                f"cannot resume from it: {_DISCARD}"
            )
        done = header.get("done")
        total = int(mine.get("iterations", saved.get("iterations", 0)))
        if isinstance(done, bool) or not isinstance(done, int) or not 0 <= done <= total:
            raise MFGError(
                f"checkpoint {path!r} says {done!r} iterations are done, outside 0..{total}; "
                f"cannot resume from it: {_DISCARD}"
            )
        names = header.get("metrics")
        if not isinstance(names, list) or any(f"metric_{name}" not in arrays for name in names):
            raise MFGError(f"checkpoint {path!r} lacks metrics its header lists; cannot resume from it: {_DISCARD}")
        for name in names:
            values = arrays[f"metric_{name}"]
            if values.ndim < 1 or values.shape[-1] != done:
                raise MFGError(
                    f"checkpoint {path!r}: metric {name!r} has {values.shape[-1] if values.ndim else 0} "
                    f"entries for {done} iterations done; cannot resume from it: {_DISCARD}"
                )
        leaves = header.get("leaves")
        if not isinstance(leaves, int) or any(f"leaf_{i}" not in arrays for i in range(leaves)) or "key" not in arrays:
            raise MFGError(
                f"checkpoint {path!r} lacks state entries its header lists; cannot resume from it: {_DISCARD}"
            )
        return header, arrays

    @property
    def pending_part(self) -> int | None:
        """The batch whose progress :meth:`load` would resume (0 for a single run); None when nothing is pending."""
        return None if self._pending is None else int(self._pending[0].get("part", 0))

    def load(self, template, allow_nan: bool = False):
        """``None`` when there is nothing to resume, else ``(state, key, done, collected)``.

        ``template`` is a freshly initialised state: the saved state must have
        its pytree structure, leaf shapes and dtypes, and no NaN (unless
        ``allow_nan``: a finished run may have diverged). ``collected`` is
        ``[{metric: (..., done) float64}]`` (empty when ``done`` is 0).
        """
        if self._pending is None:
            return None
        header, arrays = self._pending
        path = self.path
        leaves, treedef = jax.tree_util.tree_flatten(template)
        if header["leaves"] != len(leaves):
            raise MFGError(
                f"checkpoint {path!r} holds a solver state of {header['leaves']} arrays; this run's has "
                f"{len(leaves)}; cannot resume from it: {_DISCARD}"
            )
        restored = []
        for i, leaf in enumerate(leaves):
            value = arrays[f"leaf_{i}"]
            shape = tuple(np.shape(leaf))
            dtype = np.dtype(leaf.dtype) if hasattr(leaf, "dtype") else np.asarray(leaf).dtype
            if value.shape != shape or value.dtype != dtype:
                raise MFGError(
                    f"checkpoint {path!r}: state entry {i} has shape {value.shape} {value.dtype}, this "
                    f"run expects {shape} {dtype}; cannot resume from it: {_DISCARD}"
                )
            if not allow_nan and value.dtype.kind in "fc" and np.isnan(value).any():
                raise MFGError(
                    f"checkpoint {path!r}: state entry {i} holds NaN (the run had diverged, or the file "
                    f"was changed); cannot resume from it: {_DISCARD}"
                )
            restored.append(jax.numpy.asarray(value))
        state = jax.tree_util.tree_unflatten(treedef, restored)
        key = self._key(header, arrays["key"])
        done = header["done"]
        collected = [{name: arrays[f"metric_{name}"] for name in header["metrics"]}] if header["metrics"] else []
        if done == 0:
            collected = []
        self.written = True
        self._pending = None
        return state, key, done, collected

    def _key(self, header: dict, data: np.ndarray):
        impl = header.get("key_impl")
        if impl is not None:
            fresh = jax.random.key(0, impl=impl)
        else:
            fresh = jax.random.PRNGKey(0)
        expected = np.asarray(jax.random.key_data(fresh) if impl is not None else fresh)
        if data.shape[data.ndim - expected.ndim :] != expected.shape or data.dtype != expected.dtype:  # (..., key)
            raise MFGError(
                f"checkpoint {self.path!r}: random key has shape {data.shape} {data.dtype}, expected "
                f"{expected.shape} {expected.dtype}; cannot resume from it: {_DISCARD}"
            )
        key = jax.numpy.asarray(data)
        return jax.random.wrap_key_data(key, impl=impl) if impl is not None else key

    def save(self, state, key, done: int, collected: list[dict], part: int = 0) -> None:
        """Write the checkpoint atomically: ``done`` iterations, the state after them, the key of the next one
        and ``collected``, the metrics so far as a list of ``{name: (..., n) array}`` chunks; ``part``: the
        batch of a sweep they belong to."""
        if not self.written and not self._claimed and os.path.lexists(self.path) and not is_checkpoint_file(self.path):
            raise MFGError(
                f"{self.path!r} appeared during the run and is not an mfgtools checkpoint; not "
                "replacing it: give --checkpoint another path"
            )
        fields, arrays = _arrays(state, key, done, collected, part)
        header = dict(fields, format=CHECKPOINT_FORMAT, identity=self.identity)
        _write(self.path, header, arrays)
        self.written = True

    def remove(self) -> None:
        """Delete the file if this run wrote or resumed it and it still is a checkpoint of this run (or the
        old checkpoint ``restart`` discards); otherwise leave it. Releases the lock."""
        try:
            if os.path.isfile(self.path) and is_checkpoint_file(self.path):
                peeked = peek(self.path)
                ours = self.written and peeked is not None and peeked[1] == self.identity
                if ours or (self._claimed and not self.written):
                    os.unlink(self.path)
        finally:
            self.close()

    def close(self) -> None:
        """Release the lock; the file stays (a later run resumes it)."""
        self._finalizer()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_path(
    path, *, resume: bool = False, restart: bool = False, outputs=(), inputs=(), existing: bool = True
) -> str:
    """Check a checkpoint path before any work; returns it as a string.

    Refused with one line: an empty name, a directory, a missing or unwritable
    directory, a path equal to one of ``outputs`` or ``inputs`` (paths, or
    ``(label, path)`` pairs), ``resume`` with ``restart``, and (``existing``) an
    existing file unless it is an mfgtools checkpoint and ``resume`` or
    ``restart`` says what to do with it (the message says what it holds). Check
    ``existing`` once the path is locked: a running writer's file is no leftover.
    """
    from mfgtools.files import check_output_path

    if resume and restart:
        raise MFGError("--resume continues the checkpoint and --restart discards it; pass one of them")
    path = os.fspath(path) if path is not None else ""
    labelled = lambda pairs, label: [(p if isinstance(p, tuple) else (label, p)) for p in pairs]  # noqa: E731
    inputs = labelled(inputs, "input file")
    outputs = labelled(outputs, "output")
    for label, other in outputs:
        if other is not None and same_file(path, other):
            raise MFGError(
                f"the checkpoint and the {label} are the same file {path!r}: the checkpoint is deleted "
                "when the run completes; give --checkpoint another path"
            )
    check_output_path(path, "--checkpoint", inputs=inputs)
    if not existing or not os.path.lexists(path):
        return path
    if not os.path.isfile(path) or not is_checkpoint_file(path):
        raise MFGError(
            f"{path!r} exists and is not an mfgtools checkpoint; mfgtools never replaces or deletes a "
            "file it did not write: give --checkpoint another path"
        )
    if resume or restart:
        return path
    peeked = peek(path)
    if peeked is None:
        raise MFGError(f"checkpoint {path!r} of an earlier run exists but is damaged; {_DISCARD}")
    done, identity = peeked
    total = identity.get("iterations", "?")
    raise MFGError(
        f"checkpoint {path!r} holds {done} of {total} iterations of an interrupted run "
        f"({describe(identity)}); pass --resume (resume=True) to continue it or --restart "
        "(restart=True) to discard it"
    )


# ----- the functions of format 1's interface (kept while the run loop moves to Checkpoint) -----
def save(path, identity: dict, state, key, done: int, collected: list[dict]) -> str:
    """Write a checkpoint of ``identity`` atomically (prefer :meth:`Checkpoint.save`)."""
    fields, arrays = _arrays(state, key, done, collected)
    return _write(os.fspath(path), dict(fields, format=CHECKPOINT_FORMAT, identity=dict(identity)), arrays)


def load(path, identity: dict, template, allow_nan: bool = False):
    """Read and validate a checkpoint of the run ``identity``; returns ``(state, key, done, collected)``
    (prefer :meth:`Checkpoint.load`; a sweep's finished batches are read this way)."""
    checkpoint = Checkpoint.__new__(Checkpoint)
    checkpoint.path, checkpoint.written = os.fspath(path), False
    checkpoint.identity = json.loads(json.dumps(identity, sort_keys=True, default=str))
    checkpoint._pending = checkpoint._validated()
    return checkpoint.load(template, allow_nan=allow_nan)


def discard(path, identity: dict | None = None) -> bool:
    """Delete ``path`` if it is a readable mfgtools checkpoint (of a run with the same game, solver and seed as
    ``identity``, when given); returns whether it did. Never deletes anything else."""
    path = os.fspath(path)
    if not os.path.isfile(path) or not is_checkpoint_file(path):
        return False
    peeked = peek(path)
    if peeked is None:
        return False
    if identity is not None and any(peeked[1].get(k) != identity.get(k) for k in ("game", "solver", "seed")):
        return False
    os.unlink(path)
    return True
