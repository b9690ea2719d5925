"""Several processes (hosts) as one JAX program: ``jax.distributed.initialize`` from the environment.

A sweep (:func:`mfgtools.sweep`) shards its runs over ``jax.devices()``; once
``jax.distributed.initialize()`` has run in every process, those are the
devices of all processes together, and each process computes its share. Every
process runs the same command; only process 0 writes files.

The command line calls :func:`initialize_from_environment` first thing when
``mfgtools solve`` or ``mfgtools sweep`` gets ``--distributed``, or when
``MFGTOOLS_DISTRIBUTED=1``. Its arguments come from the environment:

- ``MFGTOOLS_COORDINATOR``: ``host:port`` of process 0's coordinator service,
- ``MFGTOOLS_NUM_PROCESSES``: the number of processes,
- ``MFGTOOLS_PROCESS_ID``: this process's index, ``0 .. num_processes - 1``;

all three, or none: JAX then detects them itself on clusters it knows (Slurm,
Open MPI, Cloud TPU, ...). From Python, call it before anything else uses JAX::

    from mfgtools.parallel.distributed import initialize_from_environment
    initialize_from_environment()          # no-op unless MFGTOOLS_DISTRIBUTED=1

What is shared: only :func:`mfgtools.sweep` splits its work over processes;
``solve`` and ``solve_seeds`` run whole on each process (every process computes
the same result; the command line writes it from process 0 only).
"""

from __future__ import annotations

import os

from mfgtools.errors import MFGError, as_bool, as_int

FLAG = "MFGTOOLS_DISTRIBUTED"
COORDINATOR = "MFGTOOLS_COORDINATOR"
NUM_PROCESSES = "MFGTOOLS_NUM_PROCESSES"
PROCESS_ID = "MFGTOOLS_PROCESS_ID"

_initialized = False


def requested(environ=None) -> bool:
    """Whether ``MFGTOOLS_DISTRIBUTED`` asks for several processes (unset: no)."""
    environ = os.environ if environ is None else environ
    value = environ.get(FLAG, "").strip()
    return bool(value) and as_bool(value, FLAG)


def settings_from_environment(environ=None) -> dict:
    """The keyword arguments of ``jax.distributed.initialize`` from the environment, validated.

    ``{}`` when none of the variables is set (JAX then detects the cluster);
    ``coordinator_address``, ``num_processes`` and ``process_id`` when all
    three are. Anything else is an :class:`MFGError` that names the variable.
    """
    environ = os.environ if environ is None else environ
    given = {
        name: environ[name].strip()
        for name in (COORDINATOR, NUM_PROCESSES, PROCESS_ID)
        if environ.get(name, "").strip()
    }
    if not given:
        return {}
    missing = [name for name in (COORDINATOR, NUM_PROCESSES, PROCESS_ID) if name not in given]
    if missing:
        raise MFGError(
            f"set {', '.join(missing)} too (or none of {COORDINATOR}, {NUM_PROCESSES}, {PROCESS_ID}, "
            "to let JAX detect the cluster, e.g. under Slurm)"
        )
    processes = as_int(given[NUM_PROCESSES], NUM_PROCESSES, 1)
    process = as_int(given[PROCESS_ID], PROCESS_ID, 0)
    if process >= processes:
        raise MFGError(f"{PROCESS_ID} must be below {NUM_PROCESSES} ({processes}), got {process}")
    coordinator = given[COORDINATOR]
    host, colon, port = coordinator.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise MFGError(f"{COORDINATOR} must be HOST:PORT (e.g. node001:12345), got {coordinator!r}")
    return {"coordinator_address": coordinator, "num_processes": processes, "process_id": process}


def initialize_from_environment(force: bool = False, environ=None) -> bool:
    """Call ``jax.distributed.initialize`` when asked; returns whether it did.

    Asked: ``force`` (the ``--distributed`` flag) or ``MFGTOOLS_DISTRIBUTED=1``.
    Must run before JAX computes anything; a second call does nothing.
    """
    global _initialized
    if not (force or requested(environ)):
        return False
    settings = settings_from_environment(environ)
    if _initialized:
        return True
    import jax

    try:
        jax.distributed.initialize(**settings)
    except (RuntimeError, ValueError) as error:
        where = ", ".join(f"{key}={value}" for key, value in settings.items()) or "detected from the cluster"
        raise MFGError(f"jax.distributed.initialize failed ({where}): {error}") from None
    _initialized = True
    return True


def process_index() -> int:
    """This process's index (0 without several processes)."""
    import jax

    return jax.process_index()


def is_writer() -> bool:
    """Whether this process writes the output files: process 0."""
    import sys

    if "jax" not in sys.modules:  # JAX not in use: a single process
        return True
    return process_index() == 0


__all__ = ["initialize_from_environment", "settings_from_environment", "requested", "is_writer", "process_index"]
