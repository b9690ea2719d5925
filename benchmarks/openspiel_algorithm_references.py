"""OpenSpiel's own figures for the OpenSpiel algorithms of docs/algorithms.md (needs open_spiel, not mfgtools).

For a game and parameter set it prints, in float64, OpenSpiel's NashConv after
each of ``--iterations`` iterations of ``MunchausenMirrorDescent`` and of
``BoltzmannPolicyIteration`` (``--learning-rate``, 0.01 by default, their
``lr``); with ``--psro MINIMIZER`` instead, ``MeanFieldPSRO`` (best responder
``cce_br``) driven by that regret minimiser (``hedge``, ``regret-matching``,
``polynomial-weights``) with ``--regret-steps`` steps per iteration, exact
values, no compression and no early stop, and after 0, 1, ..., ``--iterations``
of its steps: ``cce_gap`` and ``ce_gap`` (``compute_true_rewards=True``, as its
example ``mfg_psro.py`` reports them), the average regret its step returns and
the NashConv of the population's ``MergedPolicy`` under the rows' mean
weights. These are the reference values recorded in
tests/solvers/test_openspiel_algorithms.py::

    python benchmarks/openspiel_algorithm_references.py crowd_modelling
    python benchmarks/openspiel_algorithm_references.py garnet size=6 horizon=4
    python benchmarks/openspiel_algorithm_references.py crowd_modelling --psro hedge --regret-steps 5

Game names and parameters as in benchmarks/openspiel_game_references.py.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import sys
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


def psro(name: str, params: dict, minimizer: str, regret_steps: int, iterations: int) -> dict:
    import numpy as np
    from open_spiel.python.mfg.algorithms import correlated_equilibrium as ce
    from open_spiel.python.mfg.algorithms import distribution, mf_psro, nash_conv, utils
    from open_spiel.python.mfg.algorithms.regret import hedge, polynomial_weights, regret_matching

    classes = {
        "hedge": hedge.Hedge,
        "regret-matching": regret_matching.RegretMatching,
        "polynomial-weights": polynomial_weights.PolynomialWeightAlgorithm,
    }
    game = load(name, params)
    start = time.perf_counter()
    minimizer_ = classes[minimizer](
        game,
        [],
        None,
        regret_steps,
        compress_nus=False,
        stop_early=False,
        value_estimator=utils.get_exact_value,
    )
    solver = mf_psro.MeanFieldPSRO(game, minimizer_, regret_steps, best_responder=ce.cce_br)
    out = {"cce_gap": [], "ce_gap": [], "average_regret": [0.0], "exploitability": [], "policies": []}

    def record():
        policies, nus, mus, rhos = solver.get_equilibrium()
        nus, rhos = np.asarray(nus, dtype=float), np.asarray(rhos, dtype=float)
        out["cce_gap"].append(ce.cce_gap(game, policies, rhos, mus, nus, compute_true_rewards=True))
        out["ce_gap"].append(ce.ce_gap(game, policies, rhos, mus, nus, compute_true_rewards=True))
        nubar = list(rhos @ nus)
        merged = utils.MergedPolicy(
            game, None, policies, nubar, [distribution.DistributionPolicy(game, p) for p in policies]
        )
        out["exploitability"].append(nash_conv.NashConv(game, merged).nash_conv())
        out["policies"].append(len(policies))

    record()
    for _ in range(iterations):
        with contextlib.redirect_stdout(sys.stderr):  # MeanFieldPSRO prints its progress
            average_regret, _ = solver.step()
        out["average_regret"].append(float(average_regret))
        record()
    return {
        "game": name,
        "params": params,
        "psro": minimizer,
        "regret_steps": regret_steps,
        **out,
        "seconds": time.perf_counter() - start,
    }


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
    parser.add_argument("--psro", choices=["hedge", "regret-matching", "polynomial-weights"])
    parser.add_argument("--regret-steps", type=int, default=5)
    args = parser.parse_args()
    params = parse_params(args.params)
    if args.psro:
        print(json.dumps(psro(args.game, params, args.psro, args.regret_steps, args.iterations)))
    else:
        print(json.dumps(soft_iterations(args.game, params, args.iterations, args.learning_rate)))


if __name__ == "__main__":
    main()
