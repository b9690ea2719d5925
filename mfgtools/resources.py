"""Memory and work estimates from shapes, and the refusal of what cannot fit.

Every game builder calls :func:`check_game_size` with its sizes *before* it
allocates anything, and every run (``solve``, ``solve_seeds``, ``sweep``,
dataset collection) calls :func:`check_run` (or :func:`check_bytes`) before it
compiles: a problem too big for the machine is refused at once, in one
:class:`~mfgtools.errors.MFGError` line that names the size, the estimate, the
memory available and what to lower, instead of hanging, swapping or dying
inside XLA. ``force=True`` (the CLI's ``--force``, or ``with forcing():``)
skips the refusal for those who know better.

Estimates are made without allocating or compiling: the solver state from
``jax.eval_shape(solver.init, game, key)``, one iteration from the abstract
values of ``jax.make_jaxpr(solver.step)`` (its largest intermediate array, and
the element operations of all its equations, loops counted by their length).

The memory available is, in this order: ``MFGTOOLS_MEMORY`` (bytes, or with a
unit: ``8GiB``, ``500MB``; for tests and shared machines), the free memory of
the first JAX device when it reports it (GPUs: ``bytes_limit - bytes_in_use``),
else the host's ``MemAvailable`` (``/proc/meminfo``, bounded by a cgroup limit)
or its physical memory (``os.sysconf``).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import os
import re

from mfgtools.errors import MFGError

FORCE_HINT = "pass --force (force=True) to try anyway"
# a run may use this share of the memory available; the rest is for XLA's own
# buffers, the Python process and the estimate's error
USABLE_SHARE = 0.9
# runs and games estimated below this are not checked against the memory available (unless MFGTOOLS_MEMORY
# pins it): no machine that imports JAX lacks it, and reading /proc and the cgroup files costs a small solve
NEVER_REFUSED_BYTES = 32 * 2**20
# per-state fan-in width assumed for the inverse transition table (``incoming``)
INCOMING_SLACK = 2
# (T, S, A) float tables any solve or evaluation holds at once (policy, values, best response)
RUN_TABLES = 3

_FORCE: contextvars.ContextVar[bool] = contextvars.ContextVar("mfgtools_force", default=False)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1e3,
    "kb": 1e3,
    "m": 1e6,
    "mb": 1e6,
    "g": 1e9,
    "gb": 1e9,
    "t": 1e12,
    "tb": 1e12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


# ----- force ---------------------------------------------------------------------------
@contextlib.contextmanager
def forcing(enabled: bool = True):
    """Within this block, resource checks warn nothing and refuse nothing (``--force``)."""
    token = _FORCE.set(bool(enabled))
    try:
        yield
    finally:
        _FORCE.reset(token)


def forced(force: bool | None = None) -> bool:
    """``force`` if given, else whether a :func:`forcing` block is active."""
    return _FORCE.get() if force is None else bool(force)


# ----- memory available --------------------------------------------------------------
def parse_bytes(text) -> int:
    """``"8GiB"``, ``"500MB"``, ``"1e9"`` -> bytes."""
    match = re.fullmatch(r"\s*([0-9.eE+]+)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise MFGError(
            f"MFGTOOLS_MEMORY={text!r} is not a size: write bytes, or a number with a unit such as 8GiB or 500MB"
        )
    try:
        value = float(match.group(1)) * _UNITS[unit]
    except ValueError:
        raise MFGError(f"MFGTOOLS_MEMORY={text!r} is not a size: write e.g. 8GiB") from None
    if not math.isfinite(value) or value <= 0:
        raise MFGError(f"MFGTOOLS_MEMORY={text!r} must be a positive size")
    return int(value)


def host_memory() -> tuple[int, str]:
    """``(bytes, source)``: memory the host can still give this process."""
    available, source = None, ""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available, source = int(line.split()[1]) * 1024, "MemAvailable"
                    break
    except (OSError, ValueError, IndexError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            source = "physical memory"
        except (OSError, ValueError, AttributeError):
            available, source = 2**63, "unknown"
    limit = _cgroup_room()
    if limit is not None and limit < available:
        available, source = limit, "cgroup memory.max"
    return available, source


def _cgroup_room() -> int | None:
    try:
        with open("/sys/fs/cgroup/memory.max") as handle:
            text = handle.read().strip()
        if text == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as handle:
            used = int(handle.read().strip())
        return max(int(text) - used, 0)
    except (OSError, ValueError):
        return None


def device_memory() -> tuple[int, str] | None:
    """``(bytes, source)`` free on the first JAX device, when it reports it (GPUs, TPUs)."""
    try:
        import jax

        device = jax.local_devices()[0]
        if device.platform == "cpu":
            return None
        stats = device.memory_stats() or {}
        limit = stats.get("bytes_limit")
        if not limit:
            return None
        return int(limit) - int(stats.get("bytes_in_use", 0)), f"{device.platform.upper()} memory free"
    except Exception:  # noqa: BLE001 - no device statistics: fall back to the host
        return None


def available_memory() -> tuple[int, str]:
    """``(bytes, source)`` a run may plan with (see the module docstring)."""
    override = os.environ.get("MFGTOOLS_MEMORY")
    if override:
        return parse_bytes(override), "MFGTOOLS_MEMORY"
    device = device_memory()
    host = host_memory()
    if device is not None and device[0] < host[0]:
        return device
    return host


def format_bytes(count: float) -> str:
    """``1536 -> '1.5 KiB'``."""
    if count >= 2**100:  # beyond any memory (and beyond a float, for some counts)
        return "more than 2^100 bytes"
    count = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(count) < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.3g} {unit}"
        count /= 1024
    return f"{count:.3g} EiB"  # pragma: no cover


def check_bytes(what: str, needed: float, lower: str, force: bool | None = None) -> None:
    """Refuse ``what`` when ``needed`` bytes exceed the usable memory, unless forced.

    ``what`` names the problem and its size ("game 'crowd' (S=25,000,000, ...)"),
    ``lower`` what to reduce ("the map size or --horizon").
    """
    if forced(force):
        return
    if needed <= NEVER_REFUSED_BYTES and not os.environ.get("MFGTOOLS_MEMORY"):
        return  # nothing to read: any machine that runs JAX has this much (saves ~15 us per solve)
    available, source = available_memory()
    if needed <= USABLE_SHARE * available:
        return
    raise MFGError(
        f"{what} needs about {format_bytes(needed)} of memory, more than the "
        f"{format_bytes(available)} available ({source}); lower {lower}, or {FORCE_HINT}"
    )


# ----- games ---------------------------------------------------------------------------
def game_bytes(
    n_states: int, n_actions: int, fan_out: int, horizon: int, dtype_bytes: int = 4, stationary: bool = False
) -> int:
    """Bytes of a finite game's tables and of the (T, S, A) tables any run of it holds.

    Device: ``next_state`` and ``transition_prob`` ``(S, A, K)``, ``incoming``
    ``(S, J)`` (``J`` about ``INCOMING_SLACK * A * K``), the action mask, and
    :data:`RUN_TABLES` policy-shaped tables plus two flows. Host, while building:
    the same tables in 64 bits plus the sort of the inverse table (about 40 bytes
    per entry of ``S * A * K``); the larger of the two counts.
    """
    entries = n_states * n_actions * fan_out
    steps = 1 if stationary else horizon
    device = (
        entries * (4 + dtype_bytes)
        + n_states * INCOMING_SLACK * n_actions * fan_out * 4
        + n_states * n_actions
        + RUN_TABLES * steps * n_states * n_actions * dtype_bytes
        + 2 * (steps + 1) * n_states * dtype_bytes
    )
    host = entries * 40 + n_states * 64
    return max(device, host)


def check_game_size(
    name: str,
    n_states: int,
    n_actions: int,
    fan_out: int,
    horizon: int,
    force: bool | None = None,
    dtype_bytes: int | None = None,
    stationary: bool = False,
    lower: str | None = None,
) -> None:
    """Refuse a finite game whose tables (and one run's ``(T, S, A)`` tables) cannot fit.

    Called by game builders before they allocate. ``force``: None follows
    :func:`forcing` (the CLI's ``--force``). ``dtype_bytes``: None is 4
    (float32), or 8 under ``jax_enable_x64``.
    """
    if dtype_bytes is None:
        dtype_bytes = _float_bytes()
    needed = game_bytes(n_states, n_actions, fan_out, horizon, dtype_bytes, stationary)
    length = "stationary" if stationary else f"T={horizon:,}"
    check_bytes(
        f"game {name!r} with S={n_states:,} states, A={n_actions:,} actions, K={fan_out:,}, {length}",
        needed,
        lower or "the number of states (size, map), actions or the horizon",
        force,
    )


def check_swarm_size(name: str, n_agents: int, horizon: int, state_dim: int, force: bool | None = None) -> None:
    """Refuse a swarm game whose episodes (``T`` steps of ``N`` agents) cannot fit.

    An episode carries the agents' states, observations, actions and neighbour
    structures (about ``4 * 4 * (2 D + 8)`` bytes per agent) and records a few
    scalars per step; runs play :data:`SWARM_EPISODES` episodes side by side.
    Solvers' training buffers are counted by :func:`check_run`.
    """
    per_episode = n_agents * 16 * (2 * state_dim + 8) + (horizon + 1) * 16
    check_bytes(
        f"swarm game {name!r} with N={n_agents:,} agents and T={horizon:,} steps",
        SWARM_EPISODES * per_episode,
        "n_agents or the horizon",
        force,
    )


SWARM_EPISODES = 16  # evaluation episodes a swarm run plays at once (SwarmSolver.evaluation_episodes)


def _float_bytes() -> int:
    try:
        import jax

        return 8 if jax.config.read("jax_enable_x64") else 4
    except Exception:  # noqa: BLE001
        return 4


# ----- runs ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Estimate:
    """What one run (or ``runs`` vmapped runs) of a solver on a game holds and does.

    Attributes (bytes unless said otherwise):
      game: the game's arrays (shared by all runs).
      state: one run's solver state (``jax.eval_shape(solver.init, ...)``).
      state_leaves: ``(path, shape, dtype)`` of the state's arrays.
      intermediate: the largest array one iteration creates (one run).
      step_bytes: the sum of the arrays of one iteration's top-level equations (one run).
      work: element operations of one iteration (one run), loops counted by length.
      metrics: the per-iteration metrics of all runs (host).
      results: the final policies and flows of all runs (host).
      runs, iterations, devices: as given.
      total: the peak estimate, ``(game + runs * (2 state + 2 intermediate)) / devices + metrics + results``.
    """

    game: int
    state: int
    state_leaves: tuple
    intermediate: int
    step_bytes: int
    work: int
    metrics: int
    results: int
    runs: int
    iterations: int
    devices: int = 1

    @property
    def total(self) -> int:
        """Peak bytes on one device (the game, states and arrays split over ``devices``) plus the host's."""
        per_device = (self.game + self.runs * (2 * self.state + 2 * self.intermediate)) / self.devices
        return int(per_device) + self.metrics + self.results

    def describe(self) -> list[tuple[str, str]]:
        """Rows ``(label, text)`` for ``--dry-run``."""
        runs = f" x {self.runs:,} runs" if self.runs != 1 else ""
        return [
            ("game arrays", format_bytes(self.game)),
            ("solver state", f"{format_bytes(self.state)}{runs}"),
            ("largest array", f"{format_bytes(self.intermediate)} (one iteration){runs}"),
            ("metrics, results", format_bytes(self.metrics + self.results)),
            ("memory estimate", f"{format_bytes(self.total)} (peak)"),
            ("work", f"{self.work:.3g} element operations per iteration{runs}"),
        ]


def _nbytes(aval) -> int:
    shape = getattr(aval, "shape", ())
    try:
        itemsize = aval.dtype.itemsize
    except Exception:  # noqa: BLE001 - extended dtypes (PRNG keys)
        itemsize = 8
    return int(math.prod(shape)) * int(itemsize)


def _sub_jaxprs(value):
    from jax.extend import core

    if isinstance(value, core.ClosedJaxpr):
        yield value.jaxpr
    elif isinstance(value, core.Jaxpr):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _sub_jaxprs(item)


def walk_jaxpr(jaxpr) -> tuple[int, int]:
    """``(largest, work)``: the largest array (bytes) any equation of ``jaxpr`` creates,
    and its element operations (output elements of every equation; loop bodies
    times their length, ``while`` bodies once)."""
    largest = work = 0
    for eqn in jaxpr.eqns:
        subs = [sub for value in eqn.params.values() for sub in _sub_jaxprs(value)]
        for var in eqn.outvars:
            aval = getattr(var, "aval", None)
            if aval is not None and hasattr(aval, "shape"):
                largest = max(largest, _nbytes(aval))
                if not subs:  # a call or loop: its work is its body's
                    work += int(math.prod(aval.shape))
        if eqn.primitive.name in _IN_PLACE and len(eqn.invars) > 1:  # writes the update, not the whole array
            work -= sum(int(math.prod(v.aval.shape)) for v in eqn.outvars)
            work += int(
                math.prod(
                    getattr(eqn.invars[-1 if eqn.primitive.name != "dynamic_update_slice" else 1].aval, "shape", ())
                )
            )
        repeat = int(eqn.params.get("length", 1)) if eqn.primitive.name == "scan" else 1
        for sub in subs:
            inner_largest, inner_work = walk_jaxpr(sub)
            largest = max(largest, inner_largest)
            work += repeat * inner_work
    return largest, work


# primitives XLA runs in place on a donated or loop-carried buffer
_IN_PLACE = ("dynamic_update_slice", "scatter", "scatter-add", "scatter_add")


def _leaves_bytes(tree) -> int:
    import jax

    return sum(_nbytes(leaf) for leaf in jax.tree_util.tree_leaves(tree) if hasattr(leaf, "shape"))


def estimate_run(
    game, solver, iterations: int, runs: int = 1, stored_runs: int | None = None, devices: int = 1
) -> Estimate:
    """Estimate the memory and work of ``runs`` runs of ``iterations`` iterations.

    ``solver``: a prepared solver object (``init``, ``step``, ``policy``), as
    ``solve`` runs it. ``runs``: runs computed at once (vmapped: a sweep's
    batch); ``stored_runs``: runs whose metrics and results are kept (a
    sweep's total; default ``runs``); ``devices``: how many devices share the
    game, the states and the arrays (a sharded run or sweep). Nothing is allocated or compiled: the
    state comes from ``jax.eval_shape``, one iteration from the abstract values
    of its jaxpr (both cached per solver and game structure and shapes, as
    compiled programs are).
    """
    stored_runs = runs if stored_runs is None else stored_runs
    profile = _profile(game, solver)
    metrics = stored_runs * (iterations + 1) * 8 * max(profile["metrics"], 1)
    per_run_result = profile["policy"] + _game_flow_bytes(game)
    return Estimate(
        game=_leaves_bytes(game),
        state=profile["state"],
        state_leaves=profile["leaves"],
        intermediate=profile["largest"],
        step_bytes=profile["step_bytes"],
        work=profile["work"],
        metrics=metrics,
        results=stored_runs * per_run_result,
        runs=runs,
        iterations=iterations,
        devices=max(int(devices), 1),
    )


_PROFILES: dict = {}  # (solver and game structure and shapes) -> what one iteration holds and does
_MAX_PROFILES = 256


def _shapes_key(tree):
    import jax

    leaves, structure = jax.tree_util.tree_flatten(tree)
    # dtypes as they are (hashable; their str() is a few microseconds each, per leaf, per solve)
    return structure, tuple((tuple(getattr(leaf, "shape", ())), getattr(leaf, "dtype", type(leaf))) for leaf in leaves)


def _profile(game, solver) -> dict:
    """State, largest array, work and result sizes of one run of ``solver`` on ``game``."""
    import jax

    try:
        key_of = (_shapes_key(solver), _shapes_key(game), jax.config.read("jax_enable_x64"))
        hash(key_of)
    except TypeError:  # an unhashable static field: no caching
        key_of = None
    if key_of is not None and key_of in _PROFILES:
        return _PROFILES[key_of]
    key = jax.ShapeDtypeStruct((2,), jax.numpy.uint32)
    state = jax.eval_shape(solver.init, game, key)
    leaves = tuple(
        (jax.tree_util.keystr(path), tuple(leaf.shape), str(leaf.dtype))
        for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]
    )
    closed = jax.make_jaxpr(lambda a, g, s, k: a.step(g, s, k))(solver, game, state, key)
    largest, work = walk_jaxpr(closed.jaxpr)
    step_bytes = sum(
        _nbytes(var.aval)
        for eqn in closed.jaxpr.eqns
        for var in eqn.outvars
        if hasattr(getattr(var, "aval", None), "shape")
    )
    n_metrics = len(jax.tree_util.tree_leaves(closed.out_avals[len(jax.tree_util.tree_leaves(state)) :]))
    policy = jax.eval_shape(lambda s: solver.policy(game, s), state)
    profile = dict(
        state=_leaves_bytes(state),
        leaves=leaves,
        largest=largest,
        step_bytes=step_bytes,
        work=work,
        metrics=n_metrics,
        policy=_leaves_bytes(policy),
    )
    if key_of is not None:
        if len(_PROFILES) >= _MAX_PROFILES:
            _PROFILES.clear()
        _PROFILES[key_of] = profile
    return profile


def _game_flow_bytes(game) -> int:
    n_states = getattr(game, "n_states", None)
    if n_states is None:
        return 0
    steps = 1 if getattr(game, "stationary", False) else game.horizon + 1
    return steps * n_states * _float_bytes()


def _run_label(game, solver, iterations: int, runs: int) -> str:
    describe = getattr(game, "describe", None)
    shape = describe() if callable(describe) else getattr(game, "name", type(game).__name__)
    who = type(solver).__name__
    count = f"{runs:,} runs of " if runs != 1 else ""
    return f"{count}{who} ({iterations:,} iterations) on {shape}"


def check_run(
    game,
    solver,
    iterations: int,
    runs: int = 1,
    force: bool | None = None,
    notify: bool = True,
    stored_runs: int | None = None,
    devices: int = 1,
) -> Estimate | None:
    """Refuse ``runs`` runs of ``solver`` on ``game`` when their peak memory cannot fit.

    ``runs`` are computed at once (vmapped), ``stored_runs`` (default ``runs``)
    keep their metrics and results: a sweep passes its batch and its total.
    ``devices``: the number of devices the run (or batch) is split over.

    Returns the :class:`Estimate` (None when forced: nothing is traced then).
    Call it after the solver is prepared and before the first compile. With
    ``notify``, a run the cost model puts above :data:`LONG_RUN_SECONDS` is
    announced in one ``mfgtools: note:`` line on stderr (it still runs).
    """
    if forced(force):
        return None
    estimate = estimate_run(game, solver, iterations, runs, stored_runs, devices)
    total_runs = max(runs, stored_runs or runs)
    lower = (
        "the number of runs (seeds, grid points; or --batch-size)"
        if total_runs > 1
        else "the game's size (states, horizon, agents) or the solver's (hidden, batch_size, n_agents, episodes)"
    )
    check_bytes(_run_label(game, solver, iterations, total_runs), estimate.total, lower, force)
    seconds = estimate.work * total_runs * iterations / ASSUMED_RATE
    if notify and seconds > LONG_RUN_SECONDS:
        from mfgtools.errors import note

        note(
            f"{_run_label(game, solver, iterations, total_runs)} is estimated at {format_seconds(seconds)} "
            f"(cost model, {estimate.work:.2g} element operations per iteration); `mfgtools solve --dry-run` "
            "measures it"
        )
    return estimate


# runs estimated to take longer than this are announced (one line on stderr)
LONG_RUN_SECONDS = 600


# ----- time ------------------------------------------------------------------------------
# element operations per second assumed by the cost model when nothing is measured
# (a rough figure for one CPU core running XLA's fused loops)
ASSUMED_RATE = 1e9


def format_seconds(value: float) -> str:
    """A duration for a person: seconds below two minutes, then minutes, then hours."""
    if value < 120:
        return f"{value:.3g} s"
    if value < 7200:
        return f"{value / 60:.3g} min"
    return f"{value / 3600:.3g} h"


__all__ = [
    "Estimate",
    "available_memory",
    "check_bytes",
    "check_game_size",
    "check_run",
    "check_swarm_size",
    "estimate_run",
    "forced",
    "forcing",
    "format_bytes",
    "format_seconds",
    "game_bytes",
    "walk_jaxpr",
    "ASSUMED_RATE",
]
