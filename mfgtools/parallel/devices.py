"""Devices and meshes: which devices a run uses and how arrays are placed on them.

The bottom of :mod:`mfgtools.parallel`: no solver, game or engine here, so every
layer may use it (the engine's host loop places carries with :func:`put`, the
swarm simulator builds its agents mesh with :func:`mesh_of`).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh

from mfgtools.errors import MFGError, as_int

SPACE = "space"  # mesh axis of the state space (finite games)
AGENTS = "agents"  # mesh axis of the agents (swarms)


# ----- devices ---------------------------------------------------------------------
def resolve_devices(devices, local_only: bool = True) -> list:
    """Devices to shard over: a count (the first of ``jax.devices()``), a list of
    devices, or None (all of them); what :func:`mfgtools.solve`, ``simulate_swarm``
    and :func:`mfgtools.sweep` take as ``devices``.

    Raises :class:`MFGError` for a count outside ``1 .. len(jax.devices())``, an
    empty list, a device listed twice, and (``local_only``: one run is split over
    the devices of its own process) a device of another process.
    """
    available = jax.devices()
    if devices is None:
        chosen = list(available)
    elif isinstance(devices, (int, np.integer, str, float)) and not isinstance(devices, bool):
        count = as_int(devices, "devices", 1)
        if count > len(available):
            raise MFGError(
                f"devices={count}, but JAX sees only {len(available)} device{'s' if len(available) != 1 else ''} "
                f"({available[0].platform}); pass at most {len(available)} (on a CPU, simulate more with "
                f"XLA_FLAGS=--xla_force_host_platform_device_count={count} set before JAX starts)"
            )
        chosen = list(available[:count])
    else:
        chosen = [devices] if isinstance(devices, jax.Device) else list(devices)
        if not chosen:
            raise MFGError("devices must name at least one device")
        if len(set(chosen)) != len(chosen):
            raise MFGError("devices lists a device twice")
        if not all(isinstance(device, jax.Device) for device in chosen):
            raise MFGError("devices must be a count or a list of JAX devices (jax.devices())")
    foreign = [device for device in chosen if device.process_index != jax.process_index()]
    if local_only and foreign:
        raise MFGError(
            f"devices lists {len(foreign)} device(s) of another process; one run is split over the "
            "devices of its own process (jax.local_devices())"
        )
    return chosen


def put(value, sharding):
    """``value`` (the same on every process) as a global array with ``sharding``."""
    if jax.process_count() == 1:
        return jax.device_put(value, sharding)
    host = np.asarray(value)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def replicate(tree, sharding):
    """The array leaves of a game, solver or policy on every device of ``sharding`` (other leaves unchanged)."""
    return jax.tree_util.tree_map(lambda x: put(x, sharding) if isinstance(x, (jax.Array, np.ndarray)) else x, tree)


def mesh_of(devices, axis: str) -> Mesh:
    """A 1-D mesh named ``axis`` over ``devices`` (a count or a list, validated)."""
    return Mesh(np.asarray(resolve_devices(devices)), (axis,))


def distinct_shards(array) -> int:
    """How many different pieces ``array`` is split into (1: replicated or on one device)."""
    return len({tuple((s.start, s.stop, s.step) for s in shard.index) for shard in array.addressable_shards})


__all__ = ["SPACE", "AGENTS", "resolve_devices", "put", "replicate", "mesh_of", "distinct_shards"]
