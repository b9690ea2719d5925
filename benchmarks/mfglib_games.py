"""MFGLib's environments side by side with the registered ``mfglib/<name>`` games (timing).

mfgtools builds each of MFGLib's environments natively (``mfgtools.make_game
("mfglib/beach_bar")``, module ``mfgtools.games.mfglib_envs``, with MFGLib's
conventions and defaults: docs/mfglib_games.md); this module pairs each with
MFGLib's own environment of the same parameters so that ``bench_latency.py``
can time one OMD iteration of each library and check that they agree.
Importing it needs ``mfglib`` (and torch); ``bench_latency.py`` skips it
otherwise. The games themselves never need MFGLib.

Run alone (``python benchmarks/mfglib_games.py``) it prints, for every game
at MFGLib's defaults, MFGLib's and mfgtools' exploitability of the uniform
policy and after 10 OMD (``alpha = 1``) and 10 fictitious-play iterations,
in float64, with their relative differences; ``--omi`` prints the same for
MF-OMI-FBS (MFGLib's ``OccupationMeasureInclusion`` against our ``mf-omi-fbs``):
MFGLib as shipped, then with its projection kept in float64 and OSQP at 1e-12;
``--omo`` prints MFGLib's ``MFOMO`` against our ``mf-omo`` on the test suite's
cases (``MF_OMO`` in tests/games/test_mfglib_games.py: its recorded figures come
from here).
"""

from __future__ import annotations

import torch
from mfglib.alg import FictitiousPlay, OnlineMirrorDescent
from mfglib.env import Environment
from mfglib.scoring import exploitability_score

# MFGLib's environments that mfgtools registers, at MFGLib's default parameters
GAMES = (
    "beach_bar",
    "building_evacuation",
    "conservative_treasure_hunting",
    "crowd_motion",
    "equilibrium_price",
    "left_right",
    "linear_quadratic",
    "random_linear",
    "rock_paper_scissors",
    "susceptible_infected",
)


def pair(name: str, **params):
    """``(MFGLib's environment, mfgtools' game)`` of ``name`` with the same parameters."""
    import mfgtools

    return getattr(Environment, name)(**params), mfgtools.make_game(f"mfglib/{name}", **params)


def omd_run(env, iterations: int, alpha: float = 1.0) -> tuple[list[float], list[float]]:
    """MFGLib's ``OnlineMirrorDescent(alpha)`` for ``iterations`` iterations (no early stop).

    Returns the seconds of each iteration (its step and the
    ``exploitability_score`` of the new policy, from the elapsed times MFGLib's
    ``solve`` records; the score of the initial policy is not counted) and the
    scores (entry ``k``: after ``k`` iterations, entry 0 the uniform policy).
    """
    _, scores, elapsed = OnlineMirrorDescent(alpha=alpha).solve(env, max_iter=iterations, atol=None, rtol=None)
    return [b - a for a, b in zip(elapsed, elapsed[1:])], [float(x) for x in scores]


def timer(env):
    """``time(repeats) -> (seconds per OMD iteration with exploitability, exploitability after 1 iteration)``."""

    def run(repeats: int):
        omd_run(env, 1)  # warm-up
        times, scores = omd_run(env, repeats)
        return sum(times) / repeats, scores[1]

    return run


def omi_run(env, iterations: int = 10, alpha: float = 1e-3, osqp_tol=None, float64=False) -> list[float]:
    """MFGLib's ``OccupationMeasureInclusion(alpha)`` scores (entry ``k``: after ``k`` iterations).

    ``osqp_tol``: OSQP's ``eps_abs = eps_rel`` (MFGLib: 1e-8; its policy then zeroes masses
    up to ten times it). ``float64``: keep OSQP's solution in float64 (MFGLib 0.3.0 rounds
    each projected occupation measure to float32, which also makes ``random_linear`` fail
    with a dtype error).
    """
    import mfglib.alg.occupation_measure_inclusion as omi
    from mfglib.alg import OccupationMeasureInclusion

    shipped = omi.osqp_proj

    def in_float64(*args):
        _, x, y = shipped(*args)
        return torch.tensor(x), x, y

    tolerances = {} if osqp_tol is None else {"osqp_atol": osqp_tol, "osqp_rtol": osqp_tol}
    omi.osqp_proj = in_float64 if float64 else shipped
    try:
        solver = OccupationMeasureInclusion(alpha=alpha, **tolerances)
        _, scores, _ = solver.solve(env, max_iter=iterations, atol=None, rtol=None)
    finally:
        omi.osqp_proj = shipped
    return [float(x) for x in scores]


def omo_run(env, iterations: int = 10, **settings) -> list[float]:
    """MFGLib's ``MFOMO`` scores (entry ``k``: after ``k`` iterations), with ``settings`` named as
    ``mf-omo``'s: ``optimizer`` (``"adam"``/``"sgd"``) and ``lr`` become MFGLib's optimizer dict."""
    from mfglib.alg import MFOMO

    kwargs = dict(settings)
    name = {"adam": "Adam", "sgd": "SGD"}[kwargs.pop("optimizer", "adam")]
    kwargs["optimizer"] = {"name": name, "config": {"lr": kwargs.pop("lr", 0.1)}}
    _, scores, _ = MFOMO(**kwargs).solve(env, max_iter=iterations, atol=None, rtol=None)
    return [float(x) for x in scores]


def _label(name: str, game) -> str:
    shape = " x ".join(map(str, game.state_shape))
    return f"{name} (S={shape}, T+1={game.horizon})"


def cases(names=GAMES):
    """``[(label, time_fn, mfgtools_game)]`` in float64 (torch's default dtype is set to float64;
    build the games under ``jax_enable_x64``)."""
    torch.set_default_dtype(torch.float64)
    out = []
    for name in names:
        env, game = pair(name)
        out.append((_label(name, game), timer(env), game))
    return out


def agreement(iterations: int = 10):
    """Print MFGLib's and mfgtools' exploitability on every game at MFGLib's defaults."""
    import jax

    import mfgtools

    jax.config.update("jax_enable_x64", True)
    torch.set_default_dtype(torch.float64)
    for name in GAMES:
        env, game = pair(name)
        uniform = torch.ones((env.T + 1,) + tuple(env.S) + tuple(env.A)) / env.n_actions
        _, omd, _ = OnlineMirrorDescent(alpha=1.0).solve(env, max_iter=iterations, atol=None, rtol=None)
        try:
            _, fp, _ = FictitiousPlay().solve(env, max_iter=iterations, atol=None, rtol=None)
        except RuntimeError:  # MFGLib 0.3.0's FP fails on multi-dimensional action spaces (equilibrium_price)
            fp = [float("nan")] * (iterations + 1)
        ours = (
            mfgtools.exploitability(game, mfgtools.uniform_policy(game)),
            mfgtools.exploitability(
                game, mfgtools.solve(game, "omd", iterations=iterations, learning_rate=1.0, progress=False).policy
            ),
            mfgtools.exploitability(game, mfgtools.solve(game, "fp", iterations=iterations, progress=False).policy),
        )
        theirs = (exploitability_score(env, uniform), omd[iterations], fp[iterations])
        cells = [
            f"{what} {t:.10g} / {o:.10g} ({abs(o - t) / max(abs(t), 1e-300):.1e})"
            for what, t, o in zip(("uniform", "omd", "fp"), theirs, ours)
        ]
        print(f"{_label(name, game)}: " + "; ".join(cells), flush=True)


def omi_agreement(alpha: float = 1e-3, iterations: int = 10):
    """Print MFGLib's MF-OMI-FBS scores after ``iterations`` against ours, on every game at the test
    suite's sizes (tests/games/test_mfglib_games.py), MFGLib as shipped and tightened."""
    import sys

    import jax

    import mfgtools

    sys.path.insert(0, "tests/games")
    from test_mfglib_games import REFERENCE

    jax.config.update("jax_enable_x64", True)
    torch.set_default_dtype(torch.float64)
    for name, params, *_ in REFERENCE:
        env, game = pair(name, **params)
        cells = []
        for label, tol, float64 in (("shipped", None, False), ("float64, OSQP 1e-12", 1e-12, True)):
            try:
                theirs = omi_run(env, iterations, alpha, tol, float64)
            except RuntimeError:  # MFGLib 0.3.0's float32 projection on random_linear
                cells.append(f"{label}: MFGLib fails")
                continue
            threshold = 1e-7 if tol is None else 10 * tol
            ours = mfgtools.solve(
                game, "mf-omi-fbs", iterations=iterations, alpha=alpha, threshold=threshold, progress=False
            )
            scores = [float(x) for x in ours.metrics["exploitability"]]
            worst = max(abs(o - t) / max(abs(t), 1e-12) for o, t in zip(scores, theirs))
            cells.append(f"{label}: {theirs[-1]:.12g} / {scores[-1]:.12g} (worst of {iterations + 1}: {worst:.1e})")
        print(f"{_label(name, game)}: " + "; ".join(cells), flush=True)


def omo_agreement(iterations: int = 10):
    """Print MFGLib's MFOMO scores after ``iterations`` against ``mf-omo``'s, with the worst relative gap over
    the run: the test suite's cases (``MF_OMO`` in tests/games/test_mfglib_games.py), then every game at its
    CI size (``REFERENCE``) with MFGLib's defaults and with SGD (``lr = 0.01``)."""
    import sys

    import jax

    import mfgtools

    sys.path.insert(0, "tests/games")
    from test_mfglib_games import MF_OMO, REFERENCE

    jax.config.update("jax_enable_x64", True)
    torch.set_default_dtype(torch.float64)
    every = [(name, settings) for name, *_ in REFERENCE for settings in ({}, {"optimizer": "sgd", "lr": 0.01})]
    for name, settings in [case[:2] for case in MF_OMO] + every:
        params = next(case[1] for case in REFERENCE if case[0] == name)
        env, game = pair(name, **params)
        theirs = omo_run(env, iterations, **settings)
        ours = mfgtools.solve(game, "mf-omo", iterations=iterations, progress=False, **settings)
        scores = [float(x) for x in ours.metrics["exploitability"]]
        worst = max(abs(o - t) / max(abs(t), 1e-12) for o, t in zip(scores, theirs))
        print(
            f"{_label(name, game)} {settings}: {theirs[-1]!r} / {scores[-1]!r} (worst of {iterations + 1}: "
            f"{worst:.1e})",
            flush=True,
        )


if __name__ == "__main__":
    import sys

    if "--omo" in sys.argv:
        omo_agreement()
    elif "--omi" in sys.argv:
        omi_agreement(float(sys.argv[-1]) if sys.argv[-1] != "--omi" else 1e-3)
    else:
        agreement()
