"""Game registry: every game is a module here, registered by name.

``make_game(name, **params)`` validates the name and every parameter, then
builds the game. ``list_games()`` returns the registry with each game's
parameters, defaults and help (what ``mfgtools list`` prints).
"""

from __future__ import annotations

from mfgtools.registry import Entry, Parameter, Registry

GameSpec = Entry


def _load_builtin_games() -> None:
    from mfgtools.games import (  # noqa: F401  (registration)
        aggregation, contagion, crowd, crowd_modelling, kuramoto, sis, tabular, torus_crowd, vicsek,
    )


GAMES = Registry("game", _load_builtin_games)
register_game = GAMES.register


def make_game(name: str, **params):
    """Build the game ``name`` with keyword parameters (all validated).

    Example: ``make_game("crowd", map="four_rooms", task="exploration")``.
    """
    return GAMES.build(name, **params)


def list_games() -> dict[str, Entry]:
    """All registered games by name."""
    return GAMES.entries()


def game_spec(name: str) -> Entry:
    """The registry entry of ``name``, or a clear error listing the known games."""
    return GAMES.entry(name)


__all__ = ["Parameter", "GameSpec", "register_game", "make_game", "list_games", "game_spec"]
