"""``mfgtools list``: the registered games and solvers with their parameters, and which run on which."""

from __future__ import annotations

import textwrap

from mfgtools.cli.common import show_value

WIDTH = 100  # listings wrap their long lines of names at this width


def fits(game, solver) -> bool:
    """Whether ``solver`` (a registry entry) runs on ``game`` (a registry entry): the game's family satisfies
    the solver's requirement (:func:`mfgtools.registry.satisfies`) and they share a mode."""
    from mfgtools.registry import satisfies

    return satisfies(game.kind, solver.kind) and any(mode in solver.modes for mode in game.modes)


def pairings(games: dict, solvers: dict) -> tuple[dict, dict]:
    """``(games_of, solvers_of)``: for each solver name the games it runs on, for each game the solvers that
    accept it (names in registry order), derived from the registry's kinds and modes."""
    games_of = {s: [g for g, game in games.items() if fits(game, solver)] for s, solver in solvers.items()}
    solvers_of = {g: [s for s, solver in solvers.items() if fits(game, solver)] for g, game in games.items()}
    return games_of, solvers_of


def _names_line(label: str, names: list) -> str:
    """``      label: a, b, c`` wrapped at :data:`WIDTH`, continuation lines indented under the first name."""
    prefix = f"      {label}: "
    return textwrap.fill(
        ", ".join(names) if names else "none",
        width=WIDTH,
        initial_indent=prefix,
        subsequent_indent=" " * len(prefix),
        break_on_hyphens=False,
    )


def _print_entries(title: str, entries: dict, partners: dict, label: str) -> None:
    print(title)
    rows = [(name, show_value(p.default), p.help) for spec in entries.values() for name, p in spec.parameters.items()]
    name_width = max([len(r[0]) for r in rows] + [8])
    default_width = min(max([len(r[1]) for r in rows] + [7]), 14)
    for name, spec in entries.items():
        print(f"\n  {name}: {spec.description}")
        print(
            f"      modes: {', '.join(spec.modes)}"
            + (f"; default iterations: {spec.iterations}" if spec.iterations is not None else "")
        )
        print(_names_line(label, partners[name]))
        if not spec.parameters:
            print("      (no parameters)")
        for key, parameter in spec.parameters.items():
            print(f"      {key:<{name_width}}  {show_value(parameter.default):<{default_width}}  {parameter.help}")


def run_list(args) -> int:
    from mfgtools.games import list_games
    from mfgtools.solvers import list_solvers

    games, solvers = list_games(), list_solvers()
    games_of, solvers_of = pairings(games, solvers)
    if args.what in (None, "games"):
        _print_entries(
            "Games (mfgtools solve --game NAME [-p KEY=VALUE ...]); columns: parameter, default, help",
            games,
            solvers_of,
            "solvers",
        )
    if args.what is None:
        print()
    if args.what in (None, "solvers"):
        _print_entries(
            "Solvers (mfgtools solve --solver NAME [-p KEY=VALUE ...]); columns: parameter, default, help",
            solvers,
            games_of,
            "games",
        )
    if args.what is None:
        print("\n`none`: the game or solver picks the value (see the help); type -p KEY=none to ask for it.")
        print(
            "modes: finite-horizon (policies over t = 0..T-1) or stationary (discounted, one policy for all t);\n"
            "a game with both has a parameter mode (--mode); a solver solves the modes it lists.\n"
            "games / solvers: which run together (the game's family and a mode in common)."
        )
    return 0


__all__ = ["run_list", "pairings", "fits"]
