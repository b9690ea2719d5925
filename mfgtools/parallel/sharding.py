"""One run split over several devices: the state space (finite games) or the agents (swarms).

:mod:`mfgtools.sweeps` spreads a *batch of runs* over devices, one run per
device. This module is for the other case: *one* run too big for one device
(a grid of ~10^7 cells, a swarm of ~10^6 agents). JAX does the work: the arrays
are placed with a :class:`~jax.sharding.NamedSharding` over a 1-D
:class:`~jax.sharding.Mesh`, ``jit`` (GSPMD) partitions the same programs that
run on one device and inserts the communication (the gathers of the forward and
backward passes, the reductions of the exploitability).

Finite games (``solve(..., devices=...)``, :class:`SpaceRun`): the mesh axis is
``"space"``. Every array with a state axis is sharded along it: the ``S`` axis
of ``(T, S, A)`` policies and cumulative values, of ``(T, S)`` / ``(T+1, S)``
flows (``(S, A)`` and ``(S,)`` in stationary mode), and the leading ``S`` axis
of the game's per-state arrays (``mu0``, ``next_state``, ``transition_prob``,
``incoming``, ``action_mask``, per-state rewards); everything else (scalars,
maps, a solver's data) is replicated. When ``S`` is not a multiple of the device
count, the state axis is padded to the next multiple at the boundary of the
compiled programs and the padding is cut off first thing inside them, so the
iterations always see the true ``S`` (GSPMD splits an uneven axis inside a
program, but not across program calls); results come back unpadded.

Devices and meshes are in :mod:`mfgtools.parallel.devices`. Swarms
(``simulate_swarm(..., devices=...)``, :func:`mfgtools.swarm.rollouts.simulate_swarm_split`): the mesh
axis is ``"agents"``; the ``(N, D)`` states are sharded along the agents
(constrained after every move), the policy and the keys are replicated.
Neighbour sums need every position: GSPMD gathers them. Any ``N`` works (an
uneven split is padded inside the program); random draws are the same as on
one device (JAX's partitionable threefry), so are the results, up to float
rounding in sums.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from mfgtools.engine import programs
from mfgtools.errors import MFGError

# the devices and meshes (re-exported: their historical home is this module)
from mfgtools.parallel.devices import AGENTS, SPACE, distinct_shards, mesh_of, put, replicate, resolve_devices
from mfgtools.registry import family_of

# the agents-split swarm simulation lives with the swarm simulator (re-exported under its old name)
from mfgtools.swarm.rollouts import simulate_swarm_split as simulate_swarm


def _spec(ndim: int, axis, name: str) -> PartitionSpec:
    return PartitionSpec() if axis is None else PartitionSpec(*([None] * axis + [name]))


# ----- which axis is the state axis ------------------------------------------------------
def _state_axis(shape: tuple, n_states: int, leading: bool):
    """The state axis of an array: the first one for a game's tables (``(S, ...)``),
    else the last, or last but one, of length ``S`` (``(..., S)``, ``(..., S, A)``); None: none."""
    if leading:
        return 0 if len(shape) >= 1 and shape[0] == n_states else None
    for axis in (len(shape) - 1, len(shape) - 2):
        if axis >= 0 and shape[axis] == n_states:
            return axis
    return None


def _axes(tree, n_states: int, leading: bool = False) -> tuple:
    """Per leaf of ``tree`` (pytree order), its state axis or None (a static tuple)."""
    return tuple(_state_axis(np.shape(leaf), n_states, leading) for leaf in jax.tree_util.tree_leaves(tree))


class SpaceRun:
    """One finite-game run of a solver with its state space split over devices.

    What :func:`mfgtools.solve` does with ``devices``: the engine's programs
    (:mod:`mfgtools.engine.programs`: init, advance, finish, whole run) on the
    game and the run's carry placed over the mesh ``("space",)``; it is a
    :class:`mfgtools.engine.loop.Runs`. Carries handed out by :meth:`init` and
    :meth:`advance` are padded along the state axis when ``S`` is not a
    multiple of the device count; :meth:`fetch` gives them as NumPy arrays of
    their true shapes and :meth:`put` places such arrays again.
    """

    def __init__(self, game, solver, devices):
        if family_of(game).particles:
            raise MFGError(
                "devices= splits a finite game's state space over devices; a swarm game's solver "
                "state has no state axis (split a big swarm with simulate_swarm(..., devices=...))"
            )
        self.mesh = mesh_of(devices, SPACE)
        self.n_devices = self.mesh.size
        self.n_states = game.n_states
        self.padded = -(-self.n_states // self.n_devices) * self.n_devices
        replicated = NamedSharding(self.mesh, PartitionSpec())
        self.game_axes = _axes(game, self.n_states, leading=True)
        self.game = self._place(game, self.game_axes)
        self.solver = replicate(solver, replicated)
        self._replicated = replicated
        shapes = jax.eval_shape(programs.init, solver, game, jax.random.PRNGKey(0))
        self.state_axes = _axes(shapes, self.n_states)
        self._final_axes = _axes(jax.eval_shape(programs.finish, solver, game, shapes, 0), self.n_states)

    # placement on the host side
    def _place(self, tree, axes):
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        placed = []
        for leaf, axis in zip(leaves, axes):
            if axis is not None and self.padded != self.n_states:
                width = [(0, 0)] * np.ndim(leaf)
                width[axis] = (0, self.padded - self.n_states)
                leaf = np.pad(np.asarray(leaf), width)
            placed.append(jax.device_put(leaf, NamedSharding(self.mesh, _spec(np.ndim(leaf), axis, SPACE))))
        return jax.tree_util.tree_unflatten(treedef, placed)

    def _strip_host(self, tree, axes):
        leaves, treedef = jax.tree_util.tree_flatten(jax.device_get(tree))
        return jax.tree_util.tree_unflatten(
            treedef,
            [
                np.asarray(leaf)
                if axis is None
                else np.asarray(leaf)[(slice(None),) * axis + (slice(0, self.n_states),)]
                for leaf, axis in zip(leaves, axes)
            ],
        )

    def put(self, carry):
        """A run's carry of true shapes (NumPy or JAX arrays) placed over the mesh."""
        return self._place(carry, self.state_axes)

    def fetch(self, carry):
        """A placed carry as NumPy arrays of their true shapes (checkpoints)."""
        return self._strip_host(carry, self.state_axes)

    # the compiled programs
    def _layout(self):
        return _Layout(self.mesh, self.n_states, self.padded)

    def _key(self, key):
        return jax.device_put(key, self._replicated)

    def _static(self):
        return dict(layout=self._layout(), game_axes=self.game_axes, state_axes=self.state_axes)

    def init(self, init_key):
        """The run's initial carry, created directly in its place (never whole on one device)."""
        return _init(self.solver, self.game, self._key(init_key), **self._static())

    def advance(self, carry, run_key, start: int, count: int, cap: int):
        """``count`` iterations from ``start`` (``carry`` is donated): ``(carry, metrics)``."""
        return _advance_program(
            self.solver,
            self.game,
            carry,
            self._key(run_key),
            np.int32(start),
            np.int32(count),
            cap=cap,
            **self._static(),
        )

    def compile_advance(self, carry, cap: int = 1):
        """:meth:`advance` compiled ahead of time (benchmarks): ``(compiled, run)`` where
        ``run(carry, key, start, count) -> (carry, metrics)`` and ``compiled`` has ``as_text()``,
        ``memory_analysis()`` (per device)."""
        key = self._key(jax.random.PRNGKey(0))
        compiled = _advance_program.lower(
            self.solver, self.game, carry, key, np.int32(0), np.int32(1), cap=cap, **self._static()
        ).compile()

        def run(carry, key, start, count):
            return compiled(self.solver, self.game, carry, self._key(key), np.int32(start), np.int32(count))

        return compiled, run

    def finish(self, carry, iterations: int):
        """The run's final values (a :class:`~mfgtools.engine.programs.Final`), as NumPy arrays of true shapes."""
        values = _finish_program(
            self.solver, self.game, carry, np.int32(iterations), final_axes=self._final_axes, **self._static()
        )
        return self._strip_host(values, self._final_axes)

    def whole(self, key, iterations: int, cap: int):
        """A whole run from its seed key: :meth:`init`, one :meth:`advance` and :meth:`finish`."""
        from mfgtools.engine import split_keys

        run_key, init_key = split_keys(key)
        carry, metrics = self.advance(self.init(init_key), run_key, 0, iterations, cap)
        return self.finish(carry, iterations), metrics


class _Layout:
    """The static part of a split run: mesh, ``S`` and ``S`` padded (hashable: a jit static argument)."""

    def __init__(self, mesh, n_states, padded):
        self.mesh, self.n_states, self.padded = mesh, n_states, padded

    def _key(self):
        return (self.mesh, self.n_states, self.padded)

    def __eq__(self, other):
        return isinstance(other, _Layout) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def strip(self, tree, axes):
        """Inside a program: cut the padding off the state axes (GSPMD keeps them split, unevenly)."""

        def cut(leaf, axis):
            if axis is None:
                return leaf
            if self.padded != self.n_states:
                leaf = jax.lax.slice_in_dim(leaf, 0, self.n_states, axis=axis)
            return jax.lax.with_sharding_constraint(leaf, NamedSharding(self.mesh, _spec(leaf.ndim, axis, SPACE)))

        return _map_axes(cut, tree, axes)

    def pad(self, tree, axes):
        """Inside a program: pad the state axes back and pin every leaf to its sharding."""

        def grow(leaf, axis):
            if axis is not None and self.padded != self.n_states:
                width = [(0, 0)] * leaf.ndim
                width[axis] = (0, self.padded - self.n_states)
                leaf = jnp.pad(leaf, width)
            return jax.lax.with_sharding_constraint(leaf, NamedSharding(self.mesh, _spec(leaf.ndim, axis, SPACE)))

        return _map_axes(grow, tree, axes)


def _map_axes(fn, tree, axes):
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return jax.tree_util.tree_unflatten(treedef, [fn(leaf, axis) for leaf, axis in zip(leaves, axes)])


@partial(jax.jit, static_argnames=("layout", "game_axes", "state_axes"))
def _init(solver, game, key, layout, game_axes, state_axes):
    return layout.pad(programs.init(solver, layout.strip(game, game_axes), key), state_axes)


@partial(jax.jit, static_argnames=("cap", "layout", "game_axes", "state_axes"), donate_argnames=("carry",))
def _advance_program(solver, game, carry, key, start, count, cap, layout, game_axes, state_axes):
    carry, metrics = programs.advance(
        solver, layout.strip(game, game_axes), layout.strip(carry, state_axes), key, start, count, cap
    )
    return layout.pad(carry, state_axes), metrics


@partial(jax.jit, static_argnames=("layout", "game_axes", "state_axes", "final_axes"))
def _finish_program(solver, game, carry, iterations, layout, game_axes, state_axes, final_axes):
    values = programs.finish(solver, layout.strip(game, game_axes), layout.strip(carry, state_axes), iterations)
    return layout.pad(values, final_axes)


__all__ = [
    "SpaceRun",
    "simulate_swarm",
    "resolve_devices",
    "put",
    "replicate",
    "mesh_of",
    "distinct_shards",
    "SPACE",
    "AGENTS",
]
