"""``mfgtools list``: the registered games and solvers with their parameters."""

from __future__ import annotations

from mfgtools.cli.common import show_value


def _print_entries(title: str, entries: dict) -> None:
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
        if not spec.parameters:
            print("      (no parameters)")
        for key, parameter in spec.parameters.items():
            print(f"      {key:<{name_width}}  {show_value(parameter.default):<{default_width}}  {parameter.help}")


def run_list(args) -> int:
    from mfgtools.games import list_games
    from mfgtools.solvers import list_solvers

    if args.what in (None, "games"):
        _print_entries(
            "Games (mfgtools solve --game NAME [-p KEY=VALUE ...]); columns: parameter, default, help", list_games()
        )
    if args.what is None:
        print()
    if args.what in (None, "solvers"):
        _print_entries(
            "Solvers (mfgtools solve --solver NAME [-p KEY=VALUE ...]); columns: parameter, default, help",
            list_solvers(),
        )
    if args.what is None:
        print("\n`none`: the game or solver picks the value (see the help); type -p KEY=none to ask for it.")
        print(
            "modes: finite-horizon (policies over t = 0..T-1) or stationary (discounted, one policy for all t);\n"
            "a game with both has a parameter mode (--mode); a solver solves the modes it lists."
        )
    return 0


__all__ = ["run_list"]
