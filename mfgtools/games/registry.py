"""The game registry: the one object every game module registers itself in.

Game modules import :func:`register_game` from here (never the package
``mfgtools.games``); the package sets the loader that imports the built-in
game modules on first lookup (:meth:`mfgtools.registry.Registry.set_loader`),
so imports point one way: package -> game modules -> this registry.
"""

from __future__ import annotations

from mfgtools.registry import Entry, Parameter, Registry

GameSpec = Entry

GAMES = Registry("game")
register_game = GAMES.register

__all__ = ["GAMES", "GameSpec", "Parameter", "register_game"]
