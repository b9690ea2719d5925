"""Game registry: every game is a module here, registered by name.

``make_game(name, **params)`` validates the name and every parameter, then
builds the game. ``list_games()`` returns the registry with each game's
parameters, defaults and help (what ``mfgtools list`` prints).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from mfgtools.errors import MFGError


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One game or solver parameter: default value and a line of help."""

    default: Any
    help: str


@dataclasses.dataclass(frozen=True)
class GameSpec:
    name: str
    builder: Callable
    description: str
    parameters: dict
    kind: str = "finite"


_GAMES: dict[str, GameSpec] = {}


def register_game(name: str, description: str, parameters: dict[str, Parameter], kind: str = "finite"):
    """Decorator registering ``builder(**params) -> game`` under ``name``."""

    def decorate(builder):
        if name in _GAMES:
            raise RuntimeError(f"game {name!r} registered twice")
        _GAMES[name] = GameSpec(name, builder, description, dict(parameters), kind)
        return builder

    return decorate


def game_spec(name: str) -> GameSpec:
    """The registry entry of ``name``, or a clear error listing the known games."""
    _load_builtin_games()
    if name not in _GAMES:
        raise MFGError(f"unknown game {name!r}: choose one of {', '.join(sorted(_GAMES))} (see `mfgtools list`)")
    return _GAMES[name]


def make_game(name: str, **params):
    """Build the game ``name`` with keyword parameters (all validated).

    Example: ``make_game("crowd", map="four_rooms", task="exploration")``.
    """
    spec = game_spec(name)
    unknown = sorted(set(params) - set(spec.parameters))
    if unknown:
        raise MFGError(
            f"game {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are: {', '.join(sorted(spec.parameters))}"
        )
    return spec.builder(**params)


def list_games() -> dict[str, GameSpec]:
    """All registered games by name."""
    _load_builtin_games()
    return dict(sorted(_GAMES.items()))


def _load_builtin_games() -> None:
    from mfgtools.games import crowd, crowd_modelling, tabular  # noqa: F401  (registration)


__all__ = ["Parameter", "GameSpec", "register_game", "make_game", "list_games", "game_spec"]
