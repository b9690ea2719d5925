"""Name -> builder registries (games, solvers), with validated construction.

One mechanism for everything that users pick by name: registration, lookup
with an error that lists the known names, and construction that rejects
unknown parameters with the list of valid ones.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from mfgtools.errors import MFGError

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


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One game or solver parameter: default value and a line of help."""

    default: Any
    help: str


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
        parameters: dict[str, Parameter],
        kind: str = "finite",
        modes: tuple = ("finite-horizon",),
        iterations: int | None = None,
    ):
        """Decorator registering ``builder(**params)`` under ``name``."""
        unknown = set(modes) - set(MODES)
        if unknown or not modes:
            raise RuntimeError(f"{self.what} {name!r}: modes must be among {MODES}, got {modes}")

        def decorate(builder):
            if name in self._entries:
                raise RuntimeError(f"{self.what} {name!r} registered twice")
            self._entries[name] = Entry(name, builder, description, dict(parameters), kind, tuple(modes), iterations)
            return builder

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
        """Validate the parameter names, then call the builder (which validates values)."""
        entry = self.entry(name)
        unknown = sorted(set(params) - set(entry.parameters))
        if unknown:
            raise MFGError(
                f"{self.what} {name!r} has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are: {', '.join(sorted(entry.parameters)) or 'none'}"
            )
        return entry.builder(**params)
