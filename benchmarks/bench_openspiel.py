"""mfgtools vs OpenSpiel on OpenSpiel's 2D crowd-modelling settings.

What it measures, for ``crowd_modelling_2d`` settings ``four_rooms`` (13x13,
T = 40) and ``maze`` (22x22, T = 100), both with ``only_distribution_reward``:

- OpenSpiel (pure Python, ``open_spiel.python.mfg.algorithms``): one
  ``MirrorDescent.iteration()`` (learning rate 0.01) followed by
  ``NashConv(game, md.get_policy()).nash_conv()``, on the C++ game
  ``pyspiel.load_game("mfg_crowd_modelling_2d", FOUR_ROOMS | MAZE + only_distribution_reward)``;
- mfgtools: one online-mirror-descent iteration of ``solve``'s compiled chunk
  program (``mfgtools.engine.PROGRAMS.advance``, one iteration per call). That pass
  also computes the exact exploitability of the policy it updates, so it is
  the same work as OpenSpiel's iteration + NashConv. Compile time is measured
  separately (ahead-of-time ``lower().compile()``); the time reported is the
  median of ``--repeats`` runs after two warm-up runs, in float32 (JAX's
  default) and float64.

It also checks that the numbers agree: the exploitability after one iteration
(learning rate 0.01) from OpenSpiel and from mfgtools in float64.

Run it from the repository root (no pytest involved)::

    python benchmarks/bench_openspiel.py                 # both settings
    python benchmarks/bench_openspiel.py --settings maze --repeats 50

Without ``open_spiel`` installed (``pip install open_spiel``) it prints a
message and exits with status 0. The OpenSpiel side takes about 20 s per
iteration on the maze (``--openspiel-repeats`` defaults to 1).
"""

from __future__ import annotations

import argparse
import time

import _common  # noqa: F401  (puts the checkout on sys.path)
from _common import SolverRunner, load_average, machine, median_time, seconds, table

SETTINGS = {"four_rooms": "FOUR_ROOMS", "maze": "MAZE"}
LEARNING_RATE = 0.01


def openspiel_available() -> bool:
    try:
        import pyspiel  # noqa: F401
        from open_spiel.python.mfg.algorithms import mirror_descent, nash_conv  # noqa: F401
        from open_spiel.python.mfg.games import crowd_modelling_2d  # noqa: F401
    except ImportError:
        return False
    return True


def openspiel_run(setting: str, repeats: int) -> dict:
    """Time OpenSpiel's MirrorDescent iteration and NashConv (``repeats`` iterations)."""
    import pyspiel
    from open_spiel.python.mfg.algorithms import mirror_descent, nash_conv
    from open_spiel.python.mfg.games import crowd_modelling_2d

    params = dict(getattr(crowd_modelling_2d, SETTINGS[setting]))
    params["only_distribution_reward"] = True
    game = pyspiel.load_game("mfg_crowd_modelling_2d", params)
    start = time.perf_counter()
    md = mirror_descent.MirrorDescent(game, lr=LEARNING_RATE)
    setup = time.perf_counter() - start
    iteration_times, nash_conv_times, values = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        md.iteration()
        middle = time.perf_counter()
        values.append(nash_conv.NashConv(game, md.get_policy()).nash_conv())
        end = time.perf_counter()
        iteration_times.append(middle - start)
        nash_conv_times.append(end - middle)
    median = lambda xs: sorted(xs)[len(xs) // 2]
    return {
        "setup": setup,
        "iteration": median(iteration_times),
        "nash_conv": median(nash_conv_times),
        "total": median([a + b for a, b in zip(iteration_times, nash_conv_times)]),
        "exploitability_after_1": values[0],
    }


def ours_run(setting: str, repeats: int) -> dict:
    """Time one OMD iteration (+ its exploitability) in the current JAX precision."""
    import mfgtools

    game = mfgtools.make_game("crowd_modelling_2d", setting=setting)
    runner = SolverRunner(game, learning_rate=LEARNING_RATE)
    runner.step()  # iteration 0: reports the exploitability of the uniform policy
    runner.step()  # iteration 1: reports the exploitability of pi_1
    after_one = runner.exploitability
    median, _ = median_time(runner.step, repeats)
    return {"game": game, "compile": runner.compile_time, "step": median, "exploitability_after_1": after_one}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--repeats", type=int, default=30, help="timed mfgtools iterations (median)")
    parser.add_argument("--openspiel-repeats", type=int, default=1, help="timed OpenSpiel iterations")
    args = parser.parse_args()

    if not openspiel_available():
        print("open_spiel is not installed (pip install open_spiel): nothing to compare, skipping.")
        return

    import jax

    print(f"machine: {machine()}")
    print(f"load average at start: {load_average()}")
    openspiel = {}
    for setting in args.settings:
        print(f"OpenSpiel {setting}: {args.openspiel_repeats} MirrorDescent iteration(s) + NashConv ...", flush=True)
        openspiel[setting] = openspiel_run(setting, args.openspiel_repeats)
    ours = {}
    for precision in ("float32", "float64"):
        jax.config.update("jax_enable_x64", precision == "float64")
        for setting in args.settings:
            print(f"mfgtools {setting} ({precision}): compile + {args.repeats} OMD iterations ...", flush=True)
            ours[setting, precision] = ours_run(setting, args.repeats)
    jax.config.update("jax_enable_x64", False)

    rows = []
    for setting in args.settings:
        os_, f32, f64 = openspiel[setting], ours[setting, "float32"], ours[setting, "float64"]
        game = f32["game"]
        rows.append(
            [
                setting,
                f"{game.n_states}x{game.n_actions}x{game.fan_out}, T={game.horizon}",
                seconds(os_["iteration"]),
                seconds(os_["nash_conv"]),
                seconds(os_["total"]),
                seconds(f32["step"]),
                f"{os_['total'] / f32['step']:,.0f}x",
                seconds(f64["step"]),
                f"{os_['total'] / f64['step']:,.0f}x",
                seconds(f32["compile"]),
            ]
        )
    print()
    print("One mirror-descent iteration including the exploitability (NashConv) of the policy:")
    print(
        table(
            [
                "setting",
                "S x A x K, T",
                "OpenSpiel MD iteration",
                "OpenSpiel NashConv",
                "OpenSpiel total",
                "mfgtools f32",
                "speed-up f32",
                "mfgtools f64",
                "speed-up f64",
                "compile (f32)",
            ],
            rows,
        )
    )
    print(
        "(mfgtools: median of the timed iterations after warm-up; OpenSpiel: median of "
        f"{args.openspiel_repeats}; compile time not included in the ratio)"
    )

    rows = []
    for setting in args.settings:
        theirs, mine = openspiel[setting]["exploitability_after_1"], ours[setting, "float64"]["exploitability_after_1"]
        rows.append([setting, f"{theirs:.15g}", f"{mine:.15g}", f"{abs(mine - theirs) / abs(theirs):.1e}"])
    print()
    print(f"Exploitability after one iteration (learning rate {LEARNING_RATE}), float64:")
    print(table(["setting", "OpenSpiel NashConv", "mfgtools", "relative difference"], rows))

    if "maze" in args.settings:
        ratio = openspiel["maze"]["total"] / ours["maze", "float32"]["step"]
        verdict = "met" if ratio >= 1000 else "NOT met"
        print(f"\nmaze speed-up (float32) {ratio:,.0f}x: requirement >= 1000x {verdict}")
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
