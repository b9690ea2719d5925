"""Name -> builder registries (games, solvers), with validated construction.

One mechanism for everything that users pick by name: registration, lookup
with an error that lists the known names, and construction that rejects
unknown parameters with the list of valid ones.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

from mfgtools.errors import MFGError, as_bool, as_choice, as_float, as_horizon, as_int, as_seed

# How a finite game is played: over a finite horizon (policies (T, S, A), flows
# (T+1, S)) or stationary (discounted, infinite horizon; policies (S, A), the
# stationary population (S,)).
MODES = ("finite-horizon", "stationary")


@dataclasses.dataclass(frozen=True)
class Family:
    """What a family of games is, declared once: the registry, the run engine, results, plots, sweeps and the
    command line read it instead of comparing kind strings.

    Attributes:
      kind: the family's name, a game's ``kind``.
      satisfies: the solver requirements its games meet (a solver declares one requirement).
      headline: the metric runs are judged by, and ``higher_is_better`` for it.
      particles: mean-field control of a particle swarm (policies of observations, histogram flows, returns)
        rather than a finite game (tabular policies, exact flows, exploitability).
      default_solver: what ``mfgtools solve`` runs when no ``--solver`` is given.
    """

    kind: str
    satisfies: tuple
    headline: str = "exploitability"
    higher_is_better: bool = False
    particles: bool = False
    default_solver: str = "omd"


# A graphex game is a finite game too, so every finite-game solver runs on it; solvers that need its
# core/periphery structure require "graphex". A "joint" game is a finite game whose reward or transition reads
# the joint state-action distribution (FiniteGame.joint): only solvers that pass the flow's policy to the model
# run on it, and they require "joint", which every finite game satisfies.
FAMILIES = {
    family.kind: family
    for family in (
        Family("finite", ("finite", "joint")),
        Family("graphex", ("graphex", "finite", "joint")),
        Family("joint", ("joint",)),
        # P populations as one finite game on the product space (mfgtools.finite.populations): every finite
        # solver runs on it; a solver that needs the population structure requires "multi-population"
        Family("multi-population", ("multi-population", "finite", "joint")),
        Family(
            "swarm", ("swarm",), headline="return", higher_is_better=True, particles=True, default_solver="dec-pomfc"
        ),
    )
}
KINDS = {kind: family.satisfies for kind, family in FAMILIES.items()}  # kind -> requirements it satisfies

# How error messages and listings name a requirement
REQUIREMENT_NAMES = {"joint": "finite (state or joint state-action)"}


def family_of(thing) -> Family:
    """The :class:`Family` of a game, of a saved result or sweep (its ``kind`` attribute), or of a kind name;
    objects without a kind are finite games."""
    kind: str | None
    if isinstance(thing, str):
        kind = thing
    else:
        attrs = getattr(thing, "attrs", None)
        kind = attrs.get("kind") if isinstance(attrs, dict) else getattr(thing, "kind", None)
    return FAMILIES.get(kind or "finite", FAMILIES["finite"])


def requirement_name(required: str) -> str:
    """A solver requirement in words (``"joint"``: any finite game)."""
    return REQUIREMENT_NAMES.get(required, required)


def satisfies(game_kind: str, required: str) -> bool:
    """Whether a game of family ``game_kind`` can be given to a solver that requires ``required``."""
    family = FAMILIES.get(game_kind)
    return required in (family.satisfies if family is not None else (game_kind,))


Check = Callable[[Any, str], Any]  # check(value, name) -> the value validated (converted), or MFGError


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One game or solver parameter, declared once: everything else (the registry entry, validation, the
    command line's help and listings, sweeps) is derived from this declaration.

    Attributes:
      default: the value a run takes when the parameter is not given (checked like a given value).
      help: one line for ``mfgtools list`` and ``--help``.
      check: ``check(value, name) -> value``: validates (and converts: ``"0.5"`` -> 0.5) a value, raising a
        one-line :class:`~mfgtools.errors.MFGError` that names the parameter, the value and what is allowed
        (:func:`integer`, :func:`number`, :func:`choice`, :data:`boolean`, :func:`optional`, ...). None: any
        value is passed on unchanged.
      traced: whether a sweep may give the parameter to one compiled program as a traced (vmapped) value:
        True, False, or None (unknown: the sweep tries tracing it, :mod:`mfgtools.sweeps`).
    """

    default: Any
    help: str
    check: Check | None = None
    traced: bool | None = None

    def validate(self, value, name: str):
        """``value`` checked (and converted) by :attr:`check`."""
        return value if self.check is None else self.check(value, name)


# ----- checks: what a parameter accepts (each names the parameter, the value and what is allowed) ------
def integer(low: int | None = None, high: int | None = None, label: str | None = None) -> Check:
    """An integer (strings accepted) in ``[low, high]``; ``label``: how messages name it (default: its name)."""
    return lambda value, name: as_int(value, label or name, low, high)


def number(
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    label: str | None = None,
) -> Check:
    """A finite float (strings accepted) within the bounds (``low_open``: ``> low`` rather than ``>= low``)."""
    return lambda value, name: as_float(value, label or name, low, high, low_open, high_open)


def positive(label: str | None = None) -> Check:
    """A finite float ``> 0``."""
    return number(0.0, low_open=True, label=label)


def choice(*choices) -> Check:
    """One of ``choices``."""
    return lambda value, name: as_choice(value, name, choices)


def boolean(value, name: str) -> bool:
    """true or false (also yes/no/1/0/on/off as strings)."""
    return as_bool(value, name)


def seed(value, name: str) -> int:
    """A random seed in ``[0, 2^32 - 1]``."""
    return as_seed(value, name)


def horizon(value, name: str) -> int:
    """A number of time steps in ``[1, 2^31 - 1]``."""
    return as_horizon(value, name)


def optional(check: Check) -> Check:
    """None, or a value that ``check`` accepts."""
    return lambda value, name: None if value is None else check(value, name)


def validate(parameters: dict[str, Parameter], params: dict, owner: str) -> dict:
    """Every one of ``parameters``: the values of ``params`` checked, the declared defaults (checked too) for
    the others, in declaration order; a name not declared is refused with the list of those that are
    (``owner``: what the message says has no such parameter, e.g. ``"solver 'omd'"``)."""
    unknown = sorted(set(params) - set(parameters))
    if unknown:
        raise MFGError(
            f"{owner} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are: {', '.join(sorted(parameters)) or 'none'}"
        )
    return {key: parameter.validate(params.get(key, parameter.default), key) for key, parameter in parameters.items()}


def parameters_of(cls) -> dict[str, Parameter]:
    """The parameters a dataclass declares on its fields (``metadata["parameter"]``, see
    :func:`mfgtools.solvers.base.setting`), by field name, in field order."""
    return {
        field.name: field.metadata["parameter"]
        for field in dataclasses.fields(cls)
        if field.metadata.get("parameter") is not None
    }


@dataclasses.dataclass(frozen=True)
class Entry:
    """A registered builder. ``kind``: for games, the family of game it builds
    (``"finite"``, ``"graphex"``: see :data:`KINDS`); for solvers, the family of game it needs. ``modes``: for
    games, the modes they can be played in (``"finite-horizon"``,
    ``"stationary"``; a game with both has a ``mode`` parameter); for solvers,
    the modes they can solve. ``iterations``: for solvers, the default number of
    iterations of a run (``None`` for games)."""

    name: str
    builder: Callable
    description: str
    parameters: dict
    kind: str = "finite"
    modes: tuple = ("finite-horizon",)
    iterations: int | None = None
    what: str = "game"

    def validate(self, params: dict) -> dict:
        """Every parameter of the entry: ``params`` checked (unknown names refused with the list of known
        ones), the declared defaults for the others, in declaration order."""
        return validate(self.parameters, params, f"{self.what} {self.name!r}")

    @property
    def requires(self) -> str:
        """For a solver: the family of game it needs (same as ``kind``)."""
        return self.kind


def import_modules(package: str) -> None:
    """Import every module of ``package`` (``mfgtools.games``, ``mfgtools.solvers``): a game or solver module
    registers itself when imported, so adding one is adding its file (CONTRIBUTING.md)."""
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


class Registry:
    """Builders registered by name; ``what`` names the kind in messages ("game")."""

    def __init__(self, what: str, load: Callable[[], None] | None = None):
        self.what = what
        self._load = load or (lambda: None)
        self._loaded = False
        self._entries: dict[str, Entry] = {}

    def set_loader(self, load: Callable[[], None]) -> None:
        """``load()`` imports the built-in modules (which register themselves) before any lookup.

        The package that holds those modules sets it (``mfgtools.games``,
        ``mfgtools.solvers``), so that the registry itself, which the modules
        import to register, imports none of them.
        """
        self._load = load
        self._loaded = False

    def register(
        self,
        name: str,
        description: str,
        parameters: dict[str, Parameter] | None,
        kind: str = "finite",
        modes: tuple = ("finite-horizon",),
        iterations: int | None = None,
    ):
        """Decorator registering ``builder(**params)`` under ``name``, with the declared ``parameters`` (None:
        those declared on the fields of ``builder``, a dataclass: :func:`parameters_of`).

        The registry calls ``builder`` with every parameter, validated; the decorated function (not a class,
        which is returned as it is) validates too, so a direct call ``make_x(size=3)`` is the same as
        ``build("x", size=3)``."""
        unknown = set(modes) - set(MODES)
        if unknown or not modes:
            raise RuntimeError(f"{self.what} {name!r}: modes must be among {MODES}, got {modes}")

        def decorate(builder):
            if name in self._entries:
                raise RuntimeError(f"{self.what} {name!r} registered twice")
            declared = parameters_of(builder) if parameters is None else dict(parameters)
            entry = Entry(name, builder, description, declared, kind, tuple(modes), iterations, self.what)
            self._entries[name] = entry

            if isinstance(builder, type):
                return builder
            signature = inspect.signature(builder)

            @functools.wraps(builder)
            def build(*args, **params):
                if args:  # positional arguments as the builder names them
                    params = {**signature.bind_partial(*args).arguments, **params}
                return builder(**entry.validate(params))

            build.entry = entry  # type: ignore[attr-defined]
            return build

        return decorate

    def entries(self) -> dict[str, Entry]:
        if not self._loaded:  # import the built-in modules once (listing a package costs about a millisecond)
            self._load()
            self._loaded = True
        return dict(sorted(self._entries.items()))

    def entry(self, name: str) -> Entry:
        entries = self.entries()
        if name not in entries:
            raise MFGError(f"unknown {self.what} {name!r}: choose one of {', '.join(entries)} (see `mfgtools list`)")
        return entries[name]

    def build(self, name: str, **params):
        """Validate the parameter names and values (the declared checks), fill in the declared defaults, then
        call the builder with every parameter: builders repeat no default and no per-parameter check."""
        entry = self.entry(name)
        return entry.builder(**entry.validate(params))
