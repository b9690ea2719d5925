#!/usr/bin/env python
"""Small games at the speed of the machine: the fixed cost of ``solve`` and the peers' cost per iteration.

Part 1 (always): for games from 3 to 10^4 states, online mirror descent with
the exploitability of every iterate (float32),

- ``solve(game, "omd", iterations=n, progress=False)`` for n = 10, 100, 1000:
  wall time per iteration of the whole call (validation, the run, the final
  evaluation and the Result), compiled (median of ``--repeats`` calls after a
  warm-up call);
- the same n steps as one ``lax.scan`` of ``solver.step`` under one ``jit``
  (the floor: nothing but the iterations);
- the ratio solve / scan (1 is the floor; the issue asks <= 2 at n = 100).

Part 2 (when the peers are installed; skipped with a message otherwise; every
game shared with a peer: ``bench_peers.py``): one
OMD iteration plus the exploitability on the peers' own games, the peer's
time against the per-iteration cost of a 100-iteration ``solve`` of the same
game in mfgtools, in float64 (the precision the peers compute in):

- OpenSpiel (``pip install open_spiel``): ``MirrorDescent.iteration()`` +
  ``NashConv`` on the C++ games ``mfg_crowd_modelling`` (S = 10) and
  ``mfg_crowd_modelling_2d`` four rooms (S = 169, T = 40);
- MFGLib (``pip install mfglib``): ``OnlineMirrorDescent`` (its default step
  size 1.0) with ``exploitability_score`` per iteration on every one of its
  environments that mfgtools registers (``mfglib/<name>``, MFGLib's defaults);
  the exploitability after one iteration is compared with MFGLib's.

At the end it prints the issue's criteria (issue 18) with the figures of this
run: the 100-iteration ``solve`` of ``crowd_modelling`` at most 2x the scan,
at least 300x OpenSpiel's C++ ``mfg_crowd_modelling``, at least 3000x
OpenSpiel on four rooms, at least 100x MFGLib on every environment.

Run from the repository root::

    python benchmarks/bench_latency.py                  # everything available
    python benchmarks/bench_latency.py --skip-peers     # part 1 only
    python benchmarks/bench_latency.py --peers-only     # part 2 only
"""

from __future__ import annotations

import argparse

import _common  # noqa: F401  (puts the checkout on sys.path)
from _common import (
    block,
    load_average,
    machine,
    median_time,
    openspiel_available,
    openspiel_mirror_descent,
    seconds,
    table,
    time_solve,
)

ITERATIONS = (10, 100, 1000)
CRITERIA: list[tuple[str, float, float, bool]] = []  # (what, figure, bar, met) from this run


def criterion(what: str, figure: float, bar: float, at_most: bool = False) -> None:
    """Record one of the issue's criteria with this run's figure."""
    CRITERIA.append((what, figure, bar, figure <= bar if at_most else figure >= bar))


def ladder():
    """``(label, game)`` from 3 to 10^4 states."""
    import mfgtools

    return [
        ("random S=3 (A=3, K=2, T=10)", mfgtools.make_game("random", n_states=3, n_actions=3, fan_out=2, horizon=10)),
        ("crowd_modelling S=10 (T=10)", mfgtools.make_game("crowd_modelling")),
        (
            "random S=100 (A=5, K=3, T=20)",
            mfgtools.make_game("random", n_states=100, n_actions=5, fan_out=3, horizon=20),
        ),
        ("four rooms S=169 (T=40)", mfgtools.make_game("crowd_modelling_2d", setting="four_rooms")),
        ("crowd empty:32 S=1024 (T=30)", mfgtools.make_game("crowd", map="empty:32", horizon=30, mu0=(0, 0))),
        ("crowd empty:100 S=10^4 (T=30)", mfgtools.make_game("crowd", map="empty:100", horizon=30, mu0=(0, 0))),
    ]


def scan_program(solver, game, n: int):
    """``n`` solver steps as one jitted ``lax.scan`` from a fixed state (the floor ``solve`` is held to)."""
    import jax
    from jax import lax

    keys = jax.random.split(jax.random.PRNGKey(0), n)

    @jax.jit
    def run(state):
        return lax.scan(lambda s, k: solver.step(game, s, k), state, keys)

    state = jax.jit(solver.init)(game, jax.random.PRNGKey(1))
    return lambda: block(run(state))


def part_one(repeats: int, learning_rate: float) -> None:
    from mfgtools.solvers import make_solver

    rows = []
    for label, game in ladder():
        solver = make_solver("omd", learning_rate=learning_rate).prepare(game)
        cells = [label]
        for n in ITERATIONS:
            scan = scan_program(solver, game, n)
            scan()  # compile
            floor, _ = median_time(scan, repeats)
            whole = time_solve(game, n, repeats, learning_rate=learning_rate)[0]
            cells += [seconds(whole / n), seconds(floor / n), f"{whole / floor:.2f}"]
            if label.startswith("crowd_modelling") and n == 100:
                criterion("crowd_modelling, 100-iteration solve / scan", whole / floor, 2.0, at_most=True)
            print(f"  {label}, {n} iterations: solve {seconds(whole / n)}/it, scan {seconds(floor / n)}/it", flush=True)
        rows.append(cells)
    headers = ["game"]
    for n in ITERATIONS:
        headers += [f"solve/it n={n}", f"scan/it n={n}", f"ratio n={n}"]
    print()
    print(f"OMD + exploitability per iteration, float32, learning rate {learning_rate}; compiled, median of {repeats}:")
    print(table(headers, rows))


# ----- peers ------------------------------------------------------------------------------
def openspiel_iteration(name: str, params: dict, repeats: int) -> tuple[float, float]:
    """Median seconds of one MirrorDescent iteration + NashConv, and the NashConv after one iteration."""
    import pyspiel

    times, values = openspiel_mirror_descent(pyspiel.load_game(name, params), repeats, 0.01)
    return sorted(times)[len(times) // 2], values[0]


def ours_per_iteration(game, repeats: int, **params) -> tuple[float, float]:
    """Seconds per iteration of a compiled 100-iteration ``solve``, and its exploitability after one iteration."""
    per, _, result = time_solve(game, 100, repeats, **params)
    return per / 100, float(result.metrics["exploitability"][1])


def part_two(repeats: int) -> None:
    import jax

    import mfgtools

    jax.config.update("jax_enable_x64", True)
    rows = []
    if openspiel_available():
        from open_spiel.python.mfg.games import crowd_modelling_2d

        cases = [
            ("OpenSpiel mfg_crowd_modelling (C++)", "mfg_crowd_modelling", {}, mfgtools.make_game("crowd_modelling")),
            (
                "OpenSpiel mfg_crowd_modelling_2d four rooms (C++)",
                "mfg_crowd_modelling_2d",
                dict(crowd_modelling_2d.FOUR_ROOMS, only_distribution_reward=True),
                mfgtools.make_game("crowd_modelling_2d", setting="four_rooms"),
            ),
        ]
        for label, name, params, game in cases:
            print(f"  {label} ...", flush=True)
            theirs, their_value = openspiel_iteration(name, params, max(3, repeats // 4))
            ours, our_value = ours_per_iteration(game, repeats, learning_rate=0.01)
            criterion(f"{label}: speed-up", theirs / ours, 300.0 if game.n_states < 100 else 3000.0)
            rows.append(
                [
                    label,
                    f"{game.n_states}",
                    seconds(theirs),
                    seconds(ours),
                    f"{theirs / ours:,.0f}x",
                    f"{abs(our_value - their_value) / max(abs(their_value), 1e-300):.1e}",
                ]
            )
    else:
        print("open_spiel is not installed (pip install open_spiel): OpenSpiel rows skipped")
    try:
        import mfglib_games
    except ImportError as error:
        print(f"MFGLib rows skipped: {error}")
    else:
        for label, theirs_fn, game in mfglib_games.cases():
            print(f"  MFGLib {label} ...", flush=True)
            theirs, their_values = theirs_fn(max(3, repeats // 4))
            ours, our_value = ours_per_iteration(game, repeats, learning_rate=1.0)
            criterion(f"MFGLib {label}: speed-up", theirs / ours, 100.0)
            rows.append(
                [
                    f"MFGLib {label}",
                    f"{game.n_states}",
                    seconds(theirs),
                    seconds(ours),
                    f"{theirs / ours:,.0f}x",
                    f"{abs(our_value - their_values) / max(abs(their_values), 1e-300):.1e}",
                ]
            )
    jax.config.update("jax_enable_x64", False)
    if rows:
        print()
        print("One OMD iteration + exploitability, float64: the peer vs a 100-iteration mfgtools.solve per iteration")
        print(table(["game", "S", "peer", "mfgtools", "speed-up", "exploitability after 1 it, rel. diff"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per measurement (median)")
    parser.add_argument("--learning-rate", type=float, default=0.03, help="OMD step size of part 1")
    parser.add_argument("--skip-peers", action="store_true", help="part 1 only")
    parser.add_argument("--peers-only", action="store_true", help="part 2 only")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"load average at start: {load_average()}")
    if not args.peers_only:
        part_one(args.repeats, args.learning_rate)
    if not args.skip_peers:
        part_two(args.repeats)
    if CRITERIA:
        print()
        print("Issue 18's criteria, figures of this run:")
        for what, figure, bar, met in CRITERIA:
            relation = "<=" if "/ scan" in what else ">="
            print(f"  {'met    ' if met else 'NOT MET'}  {what}: {figure:,.2f} ({relation} {bar:,.0f})")
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
