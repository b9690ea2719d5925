"""The one host loop that executes runs, and the ways of executing a batch of runs.

:func:`execute` drives a :class:`Runs` (one run, seeds, a sweep's batch, one
run split over devices) through its iterations and serves the hooks: a
progress report, checkpoints (save, resume) and a callback. Without any of
them it runs the whole run as one program (:func:`~mfgtools.engine.programs.whole_run`);
with them, in chunks sized by time (about :data:`CHUNK_SECONDS` each), all of
one compiled program (the chunk length is a traced argument). Iterates do not
depend on the chunking (the key of iteration ``i`` is ``fold_in(key, i)``), so
every path gives the same result.

A batch given a :class:`~mfgtools.engine.programs.Stop` (``stop=``; MFGLib's
``atol``/``rtol``) stops each run inside the program at the first iterate that
meets its tolerance, and the host loop ends once every run has stopped: the
iterations run do not depend on the chunking either.
"""

from __future__ import annotations

import functools
import time
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np

from mfgtools.engine import programs
from mfgtools.engine.progress import make_report

CHUNK_SECONDS = 0.25  # target wall time of one chunk when progress, checkpoints or a callback need chunks
CHUNK_LIMIT = 4096  # longest chunk (the length of the metric buffers of a chunked run)


class Runs(Protocol):
    """How a batch of runs executes; every method returns device values (or host values for :meth:`fetch`).

    Keys: ``run_keys``/``init_keys`` are one key per run (``(2,)`` for a single
    run, ``(n, 2)`` for a batch); :meth:`whole` takes the seed keys themselves
    (``PRNGKey(seed)``, split inside its program).
    """

    def init(self, init_keys): ...

    def advance(self, carry, run_keys, start: int, count: int, cap: int): ...

    def finish(self, carry, iterations: int): ...

    def whole(self, keys, iterations: int, cap: int): ...

    def fetch(self, carry): ...

    def put(self, carry): ...


class OneRun:
    """A single run on one device; ``stop``: early stopping (:func:`~mfgtools.engine.programs.tolerance`)."""

    def __init__(self, solver, game, stop=None):
        self.solver, self.game, self.stop = solver, game, stop

    def init(self, init_keys):
        return programs.PROGRAMS.init(self.solver, self.game, init_keys, self.stop)

    def advance(self, carry, run_keys, start, count, cap):
        return programs.PROGRAMS.advance(
            self.solver, self.game, carry, run_keys, np.int32(start), np.int32(count), cap=cap
        )

    def finish(self, carry, iterations):
        return programs.PROGRAMS.finish(self.solver, self.game, carry, np.int32(iterations))

    def whole(self, keys, iterations, cap):
        return programs.PROGRAMS.whole(self.solver, self.game, keys, np.int32(iterations), cap=cap, stop=self.stop)

    def fetch(self, carry):
        return to_numpy(carry)

    def put(self, carry):
        return jax.tree_util.tree_map(jnp.asarray, carry)


class BatchRuns:
    """A batch of runs vmapped in one program: seeds, or a sweep's grid points x seeds.

    ``values``: per-run values of the traced solver parameters (``{name: (n,)}``,
    empty for seeds), ``paths`` where they live in the solver (see
    :func:`~mfgtools.engine.programs.rebuilt`), ``sharding``: how the runs are
    placed over devices (None: one device); ``stop``: every run's early stopping.
    """

    def __init__(self, solver, game, values=None, paths=(), sharding=None, fetch=None, stop=None):
        self.solver, self.game, self.stop = solver, game, stop
        self.values = {} if values is None else values
        self.paths, self.sharding = paths, sharding
        self._fetch = fetch

    def init(self, init_keys):
        return programs.PROGRAMS.init_runs(
            self.solver, self.game, self.values, init_keys, paths=self.paths, sharding=self.sharding, stop=self.stop
        )

    def advance(self, carry, run_keys, start, count, cap):
        return programs.PROGRAMS.advance_runs(
            self.solver,
            self.game,
            self.values,
            carry,
            run_keys,
            np.int32(start),
            np.int32(count),
            cap=cap,
            paths=self.paths,
            sharding=self.sharding,
        )

    def finish(self, carry, iterations):
        return programs.PROGRAMS.finish_runs(
            self.solver, self.game, self.values, carry, np.int32(iterations), paths=self.paths, sharding=self.sharding
        )

    def whole(self, keys, iterations, cap):
        return programs.PROGRAMS.whole_runs(
            self.solver,
            self.game,
            self.values,
            keys,
            np.int32(iterations),
            cap=cap,
            paths=self.paths,
            sharding=self.sharding,
            stop=self.stop,
        )

    def fetch(self, carry):
        if self._fetch is not None:
            return self._fetch(carry)
        return to_numpy(carry)

    def put(self, carry):
        if self.sharding is None:
            return jax.tree_util.tree_map(jnp.asarray, carry)
        from mfgtools.parallel.devices import put

        return jax.tree_util.tree_map(lambda x: put(np.asarray(x), self.sharding), carry)


def seed_keys(seed: int):
    """``(run_key, init_key)`` of ``seed``: the keys every way of running draws for that seed."""
    return jax.random.split(jax.random.PRNGKey(seed))


def split_keys(keys):
    """``(run_keys, init_keys)`` of seed keys ``(2,)`` or ``(n, 2)`` (as :func:`seed_keys`)."""
    single = np.ndim(keys) == 1
    run, init = programs.PROGRAMS.run_keys(keys[None] if single else keys)
    return (run[0], init[0]) if single else (run, init)


def _host(tree):
    """A pytree of (possibly multi-host) arrays as NumPy arrays on this process."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        tree = multihost_utils.process_allgather(tree, tiled=True)
    return to_numpy(tree)


def to_numpy(tree):
    """A pytree of arrays as NumPy copies. On CPU each leaf is copied directly (``np.array``: about 1 us a
    leaf, against 7 us through ``jax.device_get``'s asynchronous transfers, a fixed cost of every ``solve``);
    elsewhere ``jax.device_get`` starts every transfer before waiting for any."""
    if _on_cpu():
        return jax.tree_util.tree_map(np.array, tree)
    return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))


@functools.cache
def _on_cpu() -> bool:
    return all(device.platform == "cpu" for device in jax.devices())


class Hooks:
    """What a run serves between chunks: ``report`` (progress), ``checkpoint`` (an object with
    ``load(template)``, ``save(carry, key, done, collected)``), ``every`` (iterations between saves,
    0: never), ``callback(done, collected)``."""

    def __init__(self, report=None, checkpoint=None, every: int = 1, callback=None, headline: str | None = None):
        self.report, self.checkpoint, self.every = report, checkpoint, every
        self.callback, self.headline = callback, headline

    @property
    def need_chunks(self) -> bool:
        return self.report is not None or self.checkpoint is not None or self.callback is not None


def execute(runs: Runs, keys, iterations: int, hooks: Hooks | None = None, chunk_hint=None):
    """Run ``iterations`` iterations of ``runs`` from the seed keys ``keys`` (``PRNGKey(seed)``, one per run);
    returns ``(final, metrics)`` as NumPy values.

    ``metrics``: ``{name: (..., iterations)}`` (a leading run axis for batches),
    entry ``i`` describing the policy before iteration ``i``. ``chunk_hint``:
    the solver's preferred chunk length (1 for solvers whose iteration is long).
    With early stopping (``runs.stop``) ``final.stopped_at`` says where each run
    stopped (-1: it ran every iteration) and ``metrics`` end at the longest run
    (NaN past a run's end; :func:`run_lengths` gives each run's length).
    """
    hooks = hooks or Hooks()
    if not hooks.need_chunks:
        cap = programs.capacity(iterations)
        final, metrics = runs.whole(keys, iterations, cap)
        final, metrics = _host((final, metrics))
        length = int(np.max(run_lengths(final, iterations)))
        return final, {name: values[..., :length] for name, values in metrics.items()}

    cap = programs.capacity(iterations, CHUNK_LIMIT)
    run_keys, init_keys = split_keys(keys)
    carry = runs.init(init_keys)
    done, collected = 0, []
    if hooks.checkpoint is not None:
        loaded = hooks.checkpoint.load(runs.fetch(carry))
        if loaded is not None:
            host_carry, done, collected = loaded
            carry = runs.put(host_carry)
    last_saved = done
    report = hooks.report
    if report is not None and done:
        report.update(done)
    count = 1 if chunk_hint is None else max(1, min(int(chunk_hint), cap))
    first = True
    while done < iterations:
        active = min(count, iterations - done)
        began = time.perf_counter()
        carry, metrics = runs.advance(carry, run_keys, done, active, cap)
        metrics = _host(metrics)
        elapsed = time.perf_counter() - began
        stopped = getattr(carry, "stop", None) is not None and bool(np.all(_host(carry.stop.at) >= 0))
        ran = active
        if stopped:  # every run met its tolerance, the last of them within this chunk
            ran = max(0, int(np.max(_host(carry.stop.at))) - done)
        collected.append({name: values[..., :ran] for name, values in metrics.items()})
        done += ran
        if chunk_hint is None and not first:  # the first chunk's time includes compiling
            per_iteration = max(elapsed / active, 1e-7)
            count = int(min(cap, max(1, CHUNK_SECONDS / per_iteration)))
        elif chunk_hint is None:
            count = min(cap, 2)
        first = False
        if (
            hooks.checkpoint is not None
            and hooks.every
            and done < iterations
            and not stopped
            and done - last_saved >= hooks.every
        ):
            hooks.checkpoint.save(runs.fetch(carry), done, collected)
            last_saved = done
        if report is not None:
            if hooks.headline is not None and hooks.headline in collected[-1]:
                report.set_postfix(_postfix(hooks.headline, np.asarray(collected[-1][hooks.headline])[..., -1]))
            report.update(ran)
        if hooks.callback is not None:
            hooks.callback(done, collected)
        if stopped:
            break
    final = _host(runs.finish(carry, iterations))
    if report is not None and hooks.headline is not None and hooks.headline in final.metrics:
        report.set_postfix(_postfix(hooks.headline, final.metrics[hooks.headline]))
    names = list(dict.fromkeys(name for chunk in collected for name in chunk))
    metrics = {name: np.concatenate([chunk[name] for chunk in collected], axis=-1) for name in names}
    return final, metrics


def run_lengths(final, iterations: int) -> np.ndarray:
    """The iterations each run of a batch ran (``()`` for one run): ``iterations``, or where it stopped early."""
    if getattr(final, "stopped_at", None) is None:
        return np.asarray(iterations)
    at = np.asarray(final.stopped_at)
    return np.where(at >= 0, at, iterations)


def _postfix(name: str, values) -> dict:
    """What a progress report shows of the headline metric: its value, or its mean over a batch of runs."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 1:
        return {name: f"{float(values.reshape(-1)[0]):.4g}"}
    with np.errstate(all="ignore"):
        return {f"mean {name}": f"{float(np.nanmean(values)):.4g}"}


def merge_metrics(metrics: dict, final: dict, iterations: int) -> dict:
    """Per-iteration metrics ``(iterations,)`` plus the final entry: ``(iterations + 1,)`` float64 each;
    NaN where a metric is missing."""
    names = list(dict.fromkeys(list(final) + list(metrics)))
    merged = {}
    for name in names:
        head = np.asarray(metrics[name], dtype=np.float64) if name in metrics else np.full(iterations, np.nan)
        last = np.atleast_1d(np.asarray(final.get(name, np.nan), dtype=np.float64))
        merged[name] = np.concatenate([head.reshape(-1)[:iterations], last])
    return merged


__all__ = [
    "execute",
    "run_lengths",
    "Hooks",
    "Runs",
    "OneRun",
    "BatchRuns",
    "seed_keys",
    "split_keys",
    "merge_metrics",
    "make_report",
    "CHUNK_SECONDS",
    "CHUNK_LIMIT",
]
