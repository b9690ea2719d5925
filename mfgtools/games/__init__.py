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
        aggregation, contagion, crowd, crowd_modelling, kuramoto, mfglib_envs, sis, tabular, torus_crowd, vicsek,
    )


GAMES = Registry("game", _load_builtin_games)
register_game = GAMES.register


def make_game(name: str, force: bool | None = None, **params):
    """Build the game ``name`` with keyword parameters (all validated).

    A game too big for the memory available is refused before anything is
    allocated (:func:`mfgtools.resources.check_game_size`); ``force=True`` builds
    it anyway (None: as set by :func:`mfgtools.resources.forcing`, the CLI's ``--force``).

    Example: ``make_game("crowd", map="four_rooms", task="exploration")``.
    """
    from mfgtools.resources import forced, forcing

    with forcing(forced(force)):
        return GAMES.build(name, **params)


def list_games() -> dict[str, Entry]:
    """All registered games by name."""
    return GAMES.entries()


def game_spec(name: str) -> Entry:
    """The registry entry of ``name``, or a clear error listing the known games."""
    return GAMES.entry(name)


__all__ = ["Parameter", "GameSpec", "register_game", "make_game", "list_games", "game_spec"]
