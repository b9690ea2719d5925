#!/usr/bin/env python
"""Every game mfgtools shares with a peer: one OMD iteration + exploitability, mfgtools vs the peer, float64.

The games: OpenSpiel's mean-field games that mfgtools registers
(``crowd_modelling``, ``crowd_modelling_2d``, ``periodic_aversion``,
``linear_quadratic``, ``garnet``, ``dynamic_routing``, ``mean_field_nfg``, and the
multi-population ``predator_prey`` and ``crowd_avoidance``) and
MFGLib's ten environments (``mfglib/<name>``), at the peers' default sizes
(``dynamic_routing`` also at OpenSpiel's factory setting, Braess with
``max_num_time_step=100, time_step_length=0.05``: at the defaults every policy
is an equilibrium). For each, in float64:

- the peer: ``--iterations`` iterations of its online mirror descent with the
  exploitability of each new policy (OpenSpiel: ``MirrorDescent(lr=0.01)
  .iteration()`` + ``NashConv``; MFGLib: ``OnlineMirrorDescent(alpha=1)
  .solve``, which scores every iterate with ``exploitability_score``); its
  seconds per iteration are the median (OpenSpiel) or the mean (MFGLib, from
  the elapsed times its ``solve`` records) over those iterations;
- mfgtools: ``solve(game, "omd", iterations=--solve-iterations,
  learning_rate=...)`` with the exploitability of every iterate, compiled
  (the first call, reported apart as "first call", compiles), the median of
  ``--repeats`` calls divided by the number of iterations;
- the speed-up (peer / mfgtools) and the relative difference of the
  exploitability after the peer's last iteration (mfgtools' entry ``k`` of
  ``metrics["exploitability"]``).

Peers are optional: a peer that does not import is skipped with a note. Run
from the repository root with the peers importable, e.g.::

    PYTHONPATH=$PWD:/path/to/open_spiel/site-packages:/path/to/mfglib/site-packages \\
        python benchmarks/bench_peers.py [--quick] [--json peers.json]

``--quick`` shrinks OpenSpiel's slowest Python game (``periodic_aversion``:
11 cells, 5 moves per side, horizon 10, instead of 21, 10, 20) and runs at
most 2 peer iterations per game.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
from dataclasses import dataclass, field

import _common  # noqa: F401  (puts the checkout on sys.path)
from _common import load_average, machine, openspiel_available, openspiel_mirror_descent, seconds, table, time_solve

OPENSPIEL_LR = 0.01  # issue 19's learning rate for OpenSpiel's games
MFGLIB_ALPHA = 1.0  # MFGLib's default OnlineMirrorDescent step
DYNAMIC_ROUTING_FACTORY = {"max_num_time_step": 100, "time_step_length": 0.05}
PERIODIC_AVERSION_QUICK = {"size": 11, "horizon": 10, "n_actions_per_side": 5}


@dataclass(frozen=True)
class Case:
    """One shared game: mfgtools' name and parameters, the peer and how to build its game."""

    label: str
    peer: str  # "OpenSpiel" or "MFGLib"
    peer_game: str  # the peer's name for it
    name: str  # mfgtools' registry name
    params: dict = field(default_factory=dict)
    max_peer_iterations: int | None = None

    def ours(self):
        import mfgtools

        return mfgtools.make_game(self.name, **self.params)

    def theirs(self):
        if self.peer == "OpenSpiel":
            from openspiel_game_references import load

            return load(self.name, dict(self.params))
        from mfglib.env import Environment

        return getattr(Environment, self.name.split("/", 1)[1])(**self.params)

    @property
    def learning_rate(self) -> float:
        return OPENSPIEL_LR if self.peer == "OpenSpiel" else MFGLIB_ALPHA


def openspiel_cases(quick: bool) -> list[Case]:
    periodic = PERIODIC_AVERSION_QUICK if quick else {}
    return [
        Case("crowd_modelling", "OpenSpiel", "mfg_crowd_modelling (C++)", "crowd_modelling"),
        Case("crowd_modelling_2d", "OpenSpiel", "mfg_crowd_modelling_2d (C++)", "crowd_modelling_2d"),
        Case(
            "periodic_aversion" + (" (--quick size)" if quick else ""),
            "OpenSpiel",
            "python_mfg_periodic_aversion (Python)",
            "periodic_aversion",
            dict(periodic),
            max_peer_iterations=2,
        ),
        Case("linear_quadratic", "OpenSpiel", "mean_field_lin_quad (Python)", "linear_quadratic"),
        Case("garnet", "OpenSpiel", "mfg_garnet (C++)", "garnet"),
        Case("dynamic_routing", "OpenSpiel", "mfg_dynamic_routing (C++)", "dynamic_routing"),
        Case(
            "dynamic_routing (factory Braess)",
            "OpenSpiel",
            "mfg_dynamic_routing (C++)",
            "dynamic_routing",
            dict(DYNAMIC_ROUTING_FACTORY),
        ),
        Case("mean_field_nfg (coop)", "OpenSpiel", "mean_field_nfg (Python)", "mean_field_nfg"),
        Case("predator_prey", "OpenSpiel", "python_mfg_predator_prey (Python)", "predator_prey", max_peer_iterations=2),
        Case(
            "crowd_avoidance",
            "OpenSpiel",
            "python_mfg_crowd_avoidance (Python)",
            "crowd_avoidance",
            max_peer_iterations=2,
        ),
    ]


def mfglib_cases() -> list[Case]:
    from mfglib_games import GAMES

    return [Case(f"mfglib/{name}", "MFGLib", f"Environment.{name}()", f"mfglib/{name}") for name in GAMES]


def run_case(case: Case, iterations: int, solve_iterations: int, repeats: int) -> dict:
    """Time the peer and mfgtools on one game; return one row of the table (exact figures)."""
    k = min(iterations, case.max_peer_iterations or iterations, solve_iterations)
    peer_game = case.theirs()
    if case.peer == "OpenSpiel":
        times, values = openspiel_mirror_descent(peer_game, k, case.learning_rate)
        peer_seconds, peer_value = statistics.median(times), values[-1]
    else:
        from mfglib_games import omd_run

        omd_run(peer_game, 1, case.learning_rate)  # warm-up (torch's first calls)
        times, scores = omd_run(peer_game, k, case.learning_rate)
        peer_seconds, peer_value = statistics.fmean(times), scores[k]
    game = case.ours()
    median, first, result = time_solve(game, solve_iterations, repeats, learning_rate=case.learning_rate)
    ours_seconds = median / solve_iterations
    our_value = float(result.metrics["exploitability"][k])
    difference = abs(our_value - peer_value)
    relative = difference / abs(peer_value) if peer_value != 0 else None
    return {
        "game": case.label,
        "mfgtools_name": case.name,
        "params": case.params,
        "peer": case.peer,
        "peer_game": case.peer_game,
        "n_states": int(game.n_states),
        "n_actions": int(game.n_actions),
        "horizon": int(game.horizon),
        "learning_rate": case.learning_rate,
        "peer_iterations": k,
        "peer_seconds_per_iteration": peer_seconds,
        "mfgtools_seconds_per_iteration": ours_seconds,
        "mfgtools_first_call_seconds": first,
        "speed_up": peer_seconds / ours_seconds,
        "peer_exploitability": peer_value,
        "mfgtools_exploitability": our_value,
        "absolute_difference": difference,
        "relative_difference": relative,
    }


def cells(row: dict) -> list[str]:
    if row["relative_difference"] is None:
        agreement = f"{row['absolute_difference']:.1e} (abs.)"
    else:
        agreement = f"{row['relative_difference']:.1e}"
    return [
        row["game"],
        f"{row['peer']} {row['peer_game']}",
        f"{row['n_states']}",
        f"{row['horizon']}",
        seconds(row["peer_seconds_per_iteration"]),
        seconds(row["mfgtools_seconds_per_iteration"]),
        f"{row['speed_up']:,.0f}x",
        f"{row['peer_iterations']}",
        f"{row['peer_exploitability']:.10g}",
        agreement,
        seconds(row["mfgtools_first_call_seconds"]),
    ]


HEADERS = [
    "game",
    "peer",
    "S",
    "T",
    "peer / it",
    "mfgtools / it",
    "speed-up",
    "k",
    "peer exploitability after k",
    "rel. diff.",
    "mfgtools first call",
]


def versions() -> dict:
    from importlib import metadata

    out = {}
    for package in ("jax", "jaxlib", "numpy", "open_spiel", "mfglib", "torch"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[package] = metadata.version(package)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="periodic_aversion at 11 cells, horizon 10; at most 2 peer iterations per game",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=5,
        help="peer OMD iterations per game (periodic_aversion: at most 2); the exploitability after "
        "the last is compared",
    )
    parser.add_argument(
        "--solve-iterations",
        type=int,
        default=100,
        help="iterations of the timed mfgtools.solve (its time per iteration is reported)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed mfgtools.solve calls (median)")
    parser.add_argument(
        "--games", nargs="+", default=None, help="only these games (mfgtools names, e.g. garnet mfglib/beach_bar)"
    )
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.solve_iterations < 1 or args.repeats < 1:
        parser.error("--iterations, --solve-iterations and --repeats must be >= 1")
    iterations = min(args.iterations, 2) if args.quick else args.iterations

    import jax

    jax.config.update("jax_enable_x64", True)  # the peers compute in float64; build the games after this
    notes, cases = [], []
    if openspiel_available():
        cases += openspiel_cases(args.quick)
    else:
        notes.append("OpenSpiel not importable (pip install open_spiel): its games skipped")
    try:
        import mfglib_games  # noqa: F401  (needs mfglib and torch)
        import torch
    except ImportError as error:
        notes.append(f"MFGLib not importable ({error}; pip install mfglib): its games skipped")
    else:
        torch.set_default_dtype(torch.float64)
        cases += mfglib_cases()
    if args.games:
        known = {case.name for case in cases} | {case.label for case in cases}
        unknown = [name for name in args.games if name not in known]
        if unknown:
            parser.error(
                f"--games: {', '.join(unknown)} not among the importable peers' games "
                f"({', '.join(sorted({case.name for case in cases})) or 'none'})"
            )
        cases = [case for case in cases if case.name in args.games or case.label in args.games]

    print(f"machine: {machine()}")
    load_start = load_average()
    print(f"load average at start: {load_start}")
    for note in notes:
        print(note)
    rows = []
    for case in cases:
        print(f"  {case.label} ({case.peer}) ...", flush=True)
        rows.append(run_case(case, iterations, args.solve_iterations, args.repeats))
    load_end = load_average()
    if rows:
        print()
        print(
            f"One OMD iteration + exploitability, float64 (OpenSpiel lr {OPENSPIEL_LR}, MFGLib alpha "
            f"{MFGLIB_ALPHA}); mfgtools: a {args.solve_iterations}-iteration solve, median of {args.repeats}, "
            "per iteration; k: peer iterations, exploitabilities compared after k:"
        )
        print(table(HEADERS, [cells(row) for row in rows]))
        big = [row for row in rows if row["n_states"] >= 100]
        slow = [row["game"] for row in big if row["speed_up"] < 100]
        print(
            f"games with >= 100 states: {len(big)}; at least 100x faster on {len(big) - len(slow)}"
            + (f"; below 100x: {', '.join(slow)}" if slow else "")
        )
    else:
        print("no peer importable: nothing to compare")
    print(f"load average at end: {load_end}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {
                    "command": sys.argv,
                    "machine": machine(),
                    "versions": versions(),
                    "notes": notes,
                    "load_average": {"start": load_start, "end": load_end},
                    "rows": rows,
                },
                handle,
                indent=1,
            )


if __name__ == "__main__":
    main()
