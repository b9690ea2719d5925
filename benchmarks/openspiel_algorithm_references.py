"""OpenSpiel's own figures for the OpenSpiel algorithms of docs/algorithms.md (needs open_spiel, not mfgtools).

For a game and parameter set it prints, in float64, OpenSpiel's NashConv after
each of ``--iterations`` iterations of ``MunchausenMirrorDescent`` and of
``BoltzmannPolicyIteration`` (``--learning-rate``, 0.01 by default, their
``lr``). These are the reference values recorded in
tests/test_openspiel_algorithms.py::

    python benchmarks/openspiel_algorithm_references.py crowd_modelling
    python benchmarks/openspiel_algorithm_references.py garnet size=6 horizon=4

Game names and parameters as in benchmarks/openspiel_game_references.py.
"""

from __future__ import annotations

import argparse
import ast
import json
import time

from openspiel_game_references import OPENSPIEL_NAMES, load


def soft_iterations(name: str, params: dict, iterations: int, learning_rate: float) -> dict:
    from open_spiel.python.mfg.algorithms import boltzmann_policy_iteration, munchausen_mirror_descent, nash_conv

    game = load(name, params)
    start = time.perf_counter()
    out = {}
    for key, algorithm in (
        ("munchausen-omd", munchausen_mirror_descent.MunchausenMirrorDescent),
        ("boltzmann-pi", boltzmann_policy_iteration.BoltzmannPolicyIteration),
    ):
        solver = algorithm(game, lr=learning_rate)
        curve = []
        for _ in range(iterations):
            solver.iteration()
            curve.append(nash_conv.NashConv(game, solver.get_policy()).nash_conv())
        out[key] = curve
    return {"game": name, "params": params, **out, "seconds": time.perf_counter() - start}


def parse_params(items) -> dict:
    params = {}
    for item in items:
        key, value = item.split("=", 1)
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("game", choices=sorted(OPENSPIEL_NAMES))
    parser.add_argument("params", nargs="*", help="OpenSpiel parameters as key=value")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    args = parser.parse_args()
    params = parse_params(args.params)
    print(json.dumps(soft_iterations(args.game, params, args.iterations, args.learning_rate)))


if __name__ == "__main__":
    main()
