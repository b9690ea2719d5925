"""Checkpoints of a running :func:`mfgtools.solvers.solve`, so long runs survive a kill.

A checkpoint is one ``.npz`` file (NumPy can open it without mfgtools):
``leaf_0 .. leaf_{n-1}`` the solver state's leaves in pytree order, ``key`` the
random key of the next chunk, ``done`` the iterations completed, ``metric_*``
the metrics so far and ``identity``, a JSON record of the run (game and its
parameters, solver and its settings, seed, iterations, chunk length). A run
resumes only from a checkpoint of the same run: everything that decides the
sequence of iterations must match, and the state must have the same structure,
shapes and dtypes. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from mfgtools.errors import MFGError
from mfgtools.games.base import params_to_json

CHECKPOINT_FORMAT = 1


def run_identity(game, solver: str, settings: dict, seed: int, iterations: int, chunk: int) -> dict:
    """What a checkpoint must share with the run that resumes from it."""
    return {
        "format": CHECKPOINT_FORMAT,
        "game": game.name,
        "game_params": params_to_json(game.parameters),
        "solver": solver,
        "solver_params": params_to_json(settings),
        "seed": int(seed),
        "iterations": int(iterations),
        "chunk": int(chunk),
        "float64": bool(jax.config.jax_enable_x64),
    }


def save(path, identity: dict, state, key, done: int, collected: list[dict]) -> str:
    """Write a checkpoint atomically (see the module docstring)."""
    from mfgtools.results import atomic_write

    leaves = jax.device_get(jax.tree_util.tree_leaves(state))
    arrays = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays["key"] = np.asarray(jax.device_get(jax.random.key_data(key)) if _typed(key) else key)
    arrays["done"] = np.asarray(done)
    names = list(dict.fromkeys(name for chunk in collected for name in chunk))
    for name in names:
        arrays[f"metric_{name}"] = np.concatenate([np.asarray(c[name], dtype=np.float64) for c in collected])
    arrays["identity"] = np.asarray(json.dumps(dict(identity, leaves=len(leaves)), sort_keys=True))

    def write(temporary):
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)

    return atomic_write(os.fspath(path), write)


def _typed(key) -> bool:
    return jax.dtypes.issubdtype(getattr(key, "dtype", None), jax.dtypes.prng_key)


def load(path, identity: dict, template):
    """Read a checkpoint of the run ``identity``; returns ``(state, key, done, collected)``.

    ``template`` is a freshly initialised state: it gives the pytree structure,
    shapes and dtypes the saved leaves must have.
    """
    try:
        with np.load(os.fspath(path), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as error:
        raise MFGError(f"cannot read checkpoint {os.fspath(path)!r} ({error}); delete it to start afresh") from None
    if "identity" not in arrays:
        raise MFGError(f"{os.fspath(path)!r} is not an mfgtools checkpoint (no identity record)")
    saved = json.loads(str(arrays["identity"]))
    leaves, treedef = jax.tree_util.tree_flatten(template)
    differ = [k for k in identity if saved.get(k) != identity[k]]
    if differ:
        shown = "; ".join(f"{k}: checkpoint {saved.get(k)!r}, this run {identity[k]!r}" for k in differ[:4])
        raise MFGError(f"checkpoint {os.fspath(path)!r} belongs to another run ({shown}); resume with the same "
                       "game, solver, parameters, seed and iterations, or delete it to start afresh")
    if saved.get("leaves") != len(leaves):
        raise MFGError(f"checkpoint {os.fspath(path)!r} has a different solver state; delete it to start afresh")
    restored = []
    for i, leaf in enumerate(leaves):
        value = arrays[f"leaf_{i}"]
        if value.shape != np.shape(leaf) or value.dtype != np.asarray(leaf).dtype:
            raise MFGError(f"checkpoint {os.fspath(path)!r}: state entry {i} has shape {value.shape} "
                           f"{value.dtype}, expected {np.shape(leaf)} {np.asarray(leaf).dtype}; delete it")
        restored.append(jax.numpy.asarray(value))
    state = jax.tree_util.tree_unflatten(treedef, restored)
    key = jax.numpy.asarray(arrays["key"])
    done = int(arrays["done"])
    collected = [{name[len("metric_"):]: arrays[name] for name in arrays if name.startswith("metric_")}]
    if not collected[0]:
        collected = []
    return state, key, done, collected
