"""What several test modules share: the repository, the command line run as users run it, the tiny
instance of every registered game, the tiny budgets of the learning solvers.

``tests`` is on ``sys.path`` (``pythonpath`` in pyproject.toml), so test modules in any folder import these
as ``from helpers import ...``.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import mfgtools
from mfgtools.registry import satisfies

REPO = Path(__file__).resolve().parents[1]  # the checkout
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def with_xla_flag(flag: str) -> str:
    """This process's XLA_FLAGS (the suite's compile settings, see conftest.py) with ``flag`` added."""
    return f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()


def cli_env() -> dict:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def run_cli(*args, cwd, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mfgtools", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert len(data) > 10_000, f"{path} is suspiciously small ({len(data)} bytes)"


def assert_one_error_line(process, *fragments) -> str:
    assert process.returncode == 2, (process.returncode, process.stderr)
    assert "Traceback" not in process.stderr
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, process.stderr
    assert lines[0].startswith("mfgtools: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def signal_when_running(args, cwd, signum, meanwhile=None) -> tuple[int, str]:
    """Run ``mfgtools ARGS``, wait until its iterations run (the progress bar's postfix), call
    ``meanwhile(process)``, send ``signum``; returns the exit status and all of stderr."""
    # restore the default disposition in the child: a test run started as a background job of a
    # non-interactive shell inherits SIGINT ignored, and Python then keeps ignoring it
    process = subprocess.Popen(
        [sys.executable, "-m", "mfgtools", *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=None
        if signum == signal.SIGKILL
        # SIGKILL has no handler
        else lambda: signal.signal(signum, signal.SIG_DFL),
    )
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while not re.search(rb"exploitability[= ]", seen):  # iterations are running (the report's postfix)
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([process.stderr], [], [], 1.0)
            if ready:
                chunk = os.read(process.stderr.fileno(), 65536)
                assert chunk or process.poll() is None, seen.decode(errors="replace")
                seen += chunk
        if meanwhile is not None:
            meanwhile(process)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, (seen + stderr).decode(errors="replace")


# ----- every registered game, tiny --------------------------------------------------------------
TINY_GAMES = {
    "crowd": dict(map="empty:4", horizon=4, mu0=(0, 0)),
    "crowd_modelling": dict(horizon=3),
    "crowd_modelling_2d": dict(size=4, horizon=3),
    "periodic_aversion": dict(size=5, horizon=3, n_actions_per_side=1),
    "linear_quadratic": dict(size=5, horizon=3, n_actions_per_side=1),
    "garnet": dict(size=5, horizon=3),
    "dynamic_routing": dict(max_num_time_step=4),
    "mean_field_nfg": dict(),
    "predator_prey": dict(size=3, horizon=3),
    "crowd_avoidance": dict(horizon=3),
    "random": dict(n_states=5, horizon=3),
    "sis": dict(horizon=3),
    "torus-crowd": dict(size="3x3", horizon=3),
    "sis-graphex": dict(nu=20, L=100, horizon=3, k_max=3, core_bins=2),
    "sir-graphex": dict(nu=20, L=100, horizon=3, k_max=3, core_bins=2),
    "rumour-graphex": dict(nu=20, L=100, horizon=3, k_max=3, core_bins=2),
    "kuramoto": dict(n_agents=6, horizon=3),
    "vicsek": dict(n_agents=6, horizon=3),
    "aggregation": dict(n_agents=6, horizon=3),
    # MFGLib's games: one state-only (mu-dependent transitions) and one joint game run every solver;
    # tests/test_mfglib_games.py runs omd and fp on all of them against MFGLib's figures
    "mfglib/linear_quadratic": dict(T=1, el=2, m=1),
    "mfglib/equilibrium_price": dict(T=1, s_inv=1, Q=1, H=1),
}
# registered games the solver sweep leaves to their own test module (same kinds as a game above)
COVERED_ELSEWHERE = {
    f"mfglib/{name}"
    for name in (
        "beach_bar",
        "building_evacuation",
        "crowd_motion",
        "left_right",
        "rock_paper_scissors",
        "susceptible_infected",
        "conservative_treasure_hunting",
        "random_linear",
    )
}
# learning solvers at a tiny budget (their defaults are the papers' settings)
TINY_LEARNER = dict(steps=3, batch_size=8, hidden="8")


TINY_SAMPLED = dict(n_agents=8, mixing_steps=2, td_steps=4)


TINY_PPO = dict(n_envs=2, width=8, epochs=1, minibatches=1)


# average-network fictitious play at a tiny budget (its defaults are OpenSpiel's)
TINY_AVERAGE_NETWORK = dict(steps=3, batch_size=8, hidden="8", episodes=4, buffer_capacity=64, min_buffer_size=8)


def tiny_instances(every: bool = False):
    """Every registered game in every mode it declares, at a tiny size (those in COVERED_ELSEWHERE only with
    ``every``, at their defaults unless TINY_GAMES sizes them)."""
    for name, spec in mfgtools.list_games().items():
        if name in COVERED_ELSEWHERE and not every:
            continue
        for mode in spec.modes:
            params = dict(TINY_GAMES.get(name, {}))
            if len(spec.modes) > 1:
                params["mode"] = mode
            yield name, mode, mfgtools.make_game(name, **params)


def tiny_solver_params(solver_name: str, game) -> dict:
    if solver_name == "off-mmd":
        from mfgtools.offline import collect_dataset

        return dict(TINY_LEARNER, dataset=collect_dataset(game, mfgtools.uniform_policy(game), 16))
    if solver_name == "d-momd":
        return dict(TINY_LEARNER, episodes=16)
    if solver_name in ("pma-sampled", "pma-independent"):
        return dict(TINY_SAMPLED)
    if solver_name == "dec-pomfc":
        return dict(TINY_PPO, policy_agents=8, policy_rollouts=2)
    if solver_name == "ippo":
        return dict(TINY_PPO)
    if solver_name == "avg-network-fp":
        return dict(TINY_AVERAGE_NETWORK)
    return {}


# ----- the covering set of (game, solver) runs --------------------------------------------------
# a game instance runs the first of these that fits it (each run compiles; these compile fastest)
CHEAP_SOLVERS = ("omd", "fixed-point", "boltzmann")
# swarm games whose end-to-end solve (a policy-gradient compile of about 20 s each) another test already does
SOLVED_ELSEWHERE = {
    "kuramoto": "test_swarm_results.py::test_cli_solves_a_swarm_game_with_dec_pomfc_by_default",
    "vicsek": "test_swarm_results.py (the results fixture)",
}


def covering_runs(instances, solver_specs, game_kinds):
    """The (game, solver) runs that cover every game in every mode and every solver on every kind of game in
    every mode it declares: each game instance runs the first of CHEAP_SOLVERS that fits it (else the first by
    name), each solver runs on the first instance of each (kind, mode) it fits. Returns
    ``{(game index, solver name)}`` and the refused pairs."""
    fits, refused = {}, []
    for index, (name, mode, _) in enumerate(instances):
        for solver_name, spec in solver_specs.items():
            if satisfies(game_kinds[name], spec.requires) and mode in spec.modes:
                fits.setdefault(index, []).append(solver_name)
            else:
                refused.append((index, solver_name))

    def preference(solver_name):
        return (CHEAP_SOLVERS.index(solver_name) if solver_name in CHEAP_SOLVERS else len(CHEAP_SOLVERS), solver_name)

    runs = {(index, min(solvers_, key=preference)) for index, solvers_ in fits.items()}
    for solver_name in solver_specs:
        seen = set()
        for index, (name, mode, _) in enumerate(instances):
            if solver_name in fits.get(index, ()) and (game_kinds[name], mode) not in seen:
                seen.add((game_kinds[name], mode))
                runs.add((index, solver_name))
    return runs, refused


def covering_selection():
    """Every tiny game instance, the covering runs among them (games solved elsewhere left out) and the refused
    pairs; asserts that the selection leaves no game, mode or solver out."""
    games, specs = mfgtools.list_games(), mfgtools.list_solvers()
    assert set(TINY_GAMES) | COVERED_ELSEWHERE == set(games)
    instances = list(tiny_instances())
    runs, refused = covering_runs(instances, specs, {name: spec.kind for name, spec in games.items()})
    runs = {(index, solver) for index, solver in runs if instances[index][0] not in SOLVED_ELSEWHERE}
    # every game in every mode runs (here, or in the test named in SOLVED_ELSEWHERE)
    assert {index for index, _ in runs} | {
        index for index, (name, _, _) in enumerate(instances) if name in SOLVED_ELSEWHERE
    } == set(range(len(instances)))
    # every solver runs in every mode it declares
    assert {(solver, instances[index][1]) for index, solver in runs} == {
        (name, mode) for name, spec in specs.items() for mode in spec.modes
    }
    return instances, runs, refused


def run_covering_half(instances, runs, half: int) -> None:
    """Solve every other run of the sorted covering set (``half`` 0 or 1) for 2 iterations and check the result:
    a policy on the simplex, a normalised mean field, finite metrics (exploitability >= 0 where it applies)."""
    for index, solver_name in sorted(runs)[half::2]:
        name, mode, game = instances[index]
        assert game.mode == mode
        result = mfgtools.solve(
            game, solver_name, iterations=2, progress=False, **tiny_solver_params(solver_name, game)
        )
        if game.kind == "swarm":  # mean-field control: returns, a decentralised policy, a histogram flow
            grid = game.observation_grid()
            assert result.policy.shape == (game.horizon, len(grid), game.n_actions)
            np.testing.assert_allclose(result.policy.sum(-1), 1.0, atol=1e-5)
            assert result.mean_field.shape == (game.horizon + 1, *game.histogram_shape)
            np.testing.assert_allclose(result.mean_field.reshape(game.horizon + 1, -1).sum(-1), 1.0, atol=1e-5)
            assert len(result.metrics["return"]) == 3 and np.isfinite(result.metrics["return"]).all()
            assert result.swarm_policy is not None
            continue
        assert result.policy.shape == game.policy_shape, (name, solver_name)
        np.testing.assert_allclose(result.policy.sum(-1), 1.0, atol=1e-5)
        assert (result.policy >= 0).all()
        np.testing.assert_allclose(result.mean_field.sum(-1), 1.0, atol=1e-5)
        assert len(result.metrics["exploitability"]) == 3
        assert (result.metrics["exploitability"] >= -1e-4).all(), (name, solver_name)
