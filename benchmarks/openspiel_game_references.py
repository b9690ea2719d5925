"""OpenSpiel's own figures for the games of docs/openspiel_games.md (needs open_spiel, not mfgtools).

For each game and parameter set it prints, in float64: the NashConv of the
uniform policy, after ``--iterations`` iterations of ``MirrorDescent``
(``--learning-rate``, 0.01 by default) and after as many of ``FictitiousPlay``.
These are the reference values recorded in tests/games/test_openspiel_games.py::

    python benchmarks/openspiel_game_references.py periodic_aversion size=7 horizon=4 n_actions_per_side=2
    python benchmarks/openspiel_game_references.py garnet                   # defaults

Game names are mfgtools' (``crowd_modelling``, ``crowd_modelling_2d``, ``periodic_aversion``,
``linear_quadratic``, ``garnet``, ``dynamic_routing``, ``mean_field_nfg``, ``predator_prey``,
``crowd_avoidance``); parameters are OpenSpiel's, as ``key=value`` (a value with spaces quoted,
e.g. ``'reward_matrix=0 1 -1 0'``). On the multi-population games NashConv is the sum over populations.
"""

from __future__ import annotations

import argparse
import ast
import json
import time

OPENSPIEL_NAMES = {
    "crowd_modelling": "mfg_crowd_modelling",
    "crowd_modelling_2d": "mfg_crowd_modelling_2d",
    "periodic_aversion": "python_mfg_periodic_aversion",
    "linear_quadratic": "mean_field_lin_quad",
    "garnet": "mfg_garnet",
    "dynamic_routing": "mfg_dynamic_routing",
    "python_dynamic_routing": "python_mfg_dynamic_routing",
    "mean_field_nfg": "mean_field_nfg",
    "predator_prey": "python_mfg_predator_prey",
    "crowd_avoidance": "python_mfg_crowd_avoidance",
}


def load(name: str, params: dict):
    import pyspiel
    from open_spiel.python.mfg import games  # noqa: F401  (registers the Python games)

    if name == "python_dynamic_routing":
        from open_spiel.python.games import dynamic_routing_data as data
        from open_spiel.python.mfg.games import dynamic_routing

        params = dict(params)
        network = params.pop("network", "braess")
        networks = {
            "braess": (data.BRAESS_NETWORK, data.BRAESS_NETWORK_OD_DEMAND),
            "line": (data.LINE_NETWORK, data.LINE_NETWORK_OD_DEMAND),
        }
        full = {"max_num_time_step": 10, "time_step_length": 0.5, "players": -1, **params}
        return dynamic_routing.MeanFieldRoutingGame(full, network=networks[network][0], od_demand=networks[network][1])
    if name == "mean_field_nfg":  # registered by its own module; its class reads both parameters without defaults
        from open_spiel.python.mfg.games import normal_form_game  # noqa: F401

        params = {"num_actions": 3, "reward_function": "coop", **params}
    return pyspiel.load_game(OPENSPIEL_NAMES[name], params)


def figures(name: str, params: dict, iterations: int, learning_rate: float) -> dict:
    from open_spiel.python import policy as policy_std
    from open_spiel.python.mfg.algorithms import fictitious_play, mirror_descent, nash_conv

    game = load(name, params)
    start = time.perf_counter()
    uniform = nash_conv.NashConv(game, policy_std.UniformRandomPolicy(game)).nash_conv()
    md = mirror_descent.MirrorDescent(game, lr=learning_rate)
    omd = []
    for _ in range(iterations):
        md.iteration()
        omd.append(nash_conv.NashConv(game, md.get_policy()).nash_conv())
    fps, failure = [], None
    try:
        fp = fictitious_play.FictitiousPlay(game)
        for _ in range(iterations):
            fp.iteration()
            fps.append(nash_conv.NashConv(game, fp.get_policy()).nash_conv())
    except Exception as error:  # noqa: BLE001  (OpenSpiel's FictitiousPlay fails on dynamic routing)
        failure = f"{type(error).__name__}: {error}"
    return {
        "game": name,
        "params": params,
        "uniform": uniform,
        "omd": omd,
        "fp": fps,
        "fp_failure": failure,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("game", choices=sorted(OPENSPIEL_NAMES))
    parser.add_argument("params", nargs="*", help="OpenSpiel parameters as key=value")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    args = parser.parse_args()
    params = {}
    for item in args.params:
        key, value = item.split("=", 1)
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    print(json.dumps(figures(args.game, params, args.iterations, args.learning_rate)))


if __name__ == "__main__":
    main()
