"""Live comparison with MFGLib (optional extra: pip install '.[mfglib]'); skipped without it.

Each ``mfglib/<name>`` game against MFGLib's own environment of the same
parameters, in float64: the rewards and transitions under random populations,
and the exploitability of the uniform policy and after 10 iterations of OMD
(MFGLib's default ``alpha = 1``) and of fictitious play.
"""

from __future__ import annotations

import numpy as np
import pytest

import mfgtools

torch = pytest.importorskip("torch", reason="mfglib not installed (pip install '.[mfglib]')")
mfglib_env = pytest.importorskip("mfglib.env", reason="mfglib not installed (pip install '.[mfglib]')")

pytestmark = pytest.mark.usefixtures("x64_module")

CASES = [
    ("beach_bar", {}),
    ("beach_bar", {"T": 3, "n": 5, "bar_loc": 1, "p_still": 0.3}),
    ("crowd_motion", {"T": 4, "torus_l": 4, "torus_w": 5, "loc_change_freq": 2, "c": 5.0, "seed": 3}),
    ("building_evacuation", {"T": 3, "n_floor": 2, "floor_l": 3, "floor_w": 3}),
    ("left_right", {"mu0": [0.5, 0.3, 0.2]}),
    ("rock_paper_scissors", {"T": 3, "mu0": [0.7, 0.1, 0.1, 0.1]}),
    ("susceptible_infected", {"T": 8}),
    ("linear_quadratic", {"T": 4, "el": 3, "m": 1, "sigma": 1.0}),
    ("linear_quadratic", {}),
    ("conservative_treasure_hunting", {"T": 3, "n": 2, "r": [1.0, 2.0], "c": [0.5, 1.0, 2.0]}),
    ("equilibrium_price", {"T": 2, "s_inv": 2, "Q": 1, "H": 2, "c": [0.5, 0.2, 0.3, 0.1, 0.05]}),
    ("random_linear", {}),
    ("random_linear", {"T": 2, "n": 3, "m": 2.0, "seed": 4}),
]
TIES = {"building_evacuation"}  # fictitious play meets exact ties there (see tests/games/test_mfglib_games.py)
NO_FP = {"equilibrium_price"}  # MFGLib 0.3.0's FictitiousPlay fails on multi-dimensional action spaces


@pytest.fixture(scope="module", autouse=True)
def _torch_float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _environment(name, params):
    kwargs = dict(params)
    if "mu0" in kwargs:
        mu0 = kwargs["mu0"]
        fixed = name in ("left_right", "rock_paper_scissors", "susceptible_infected")
        kwargs["mu0"] = tuple(mu0) if fixed else torch.tensor(mu0)
    return getattr(mfglib_env.Environment, name)(**kwargs)


@pytest.mark.parametrize("name, params", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_rewards_and_transitions_match_mfglib(name, params):
    env = _environment(name, params)
    game = mfgtools.make_game("mfglib/" + name, **params)
    n_s, n_a = game.n_states, game.n_actions
    assert game.horizon == env.T + 1 and (n_s, n_a) == (env.n_states, env.n_actions)
    assert game.state_shape == tuple(env.S) and game.action_shape == tuple(env.A)
    np.testing.assert_allclose(game.initial_distribution, env.mu0.numpy().reshape(-1), rtol=0, atol=1e-15)
    rng = np.random.default_rng(1)
    for t in range(env.T + 1):
        if game.joint:  # any joint distribution, its state marginal as mu
            joint_np = rng.dirichlet(np.ones(n_s * n_a)).reshape(n_s, n_a)
            mu = joint_np.sum(1)
            model = dict(reward=game.reward(t, mu, joint_np), transition=game.transition(t, mu, joint_np))
        else:
            mu = rng.dirichlet(np.ones(n_s))
            joint_np = mu[:, None] * np.full(n_a, 1.0 / n_a)
            model = dict(reward=game.reward(t, mu), transition=game.transition(t, mu))
        joint = torch.tensor(joint_np).reshape(*env.S, *env.A)
        expected_reward = env.reward(t, joint).numpy().reshape(n_s, n_a)
        np.testing.assert_allclose(model["reward"], expected_reward, rtol=1e-12, atol=1e-12)
        expected = np.moveaxis(env.prob(t, joint).numpy().reshape(n_s, n_s, n_a), 0, -1)  # (s, a, s')
        ours = np.zeros((n_s, n_a, n_s))
        np.add.at(
            ours,
            (np.arange(n_s)[:, None, None], np.arange(n_a)[None, :, None], np.asarray(game.next_state)),
            np.asarray(model["transition"]),
        )
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name, params", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_exploitability_matches_mfglib(name, params):
    from mfglib.alg import FictitiousPlay, OnlineMirrorDescent, PriorDescent
    from mfglib.scoring import exploitability_score

    env = _environment(name, params)
    game = mfgtools.make_game("mfglib/" + name, **params)
    uniform = torch.ones((env.T + 1,) + tuple(env.S) + tuple(env.A)) / env.n_actions
    assert mfgtools.exploitability(game, mfgtools.uniform_policy(game)) == pytest.approx(
        exploitability_score(env, uniform), rel=1e-6
    )
    _, omd, _ = OnlineMirrorDescent(alpha=1.0).solve(env, max_iter=10, atol=None, rtol=None)
    mirror = mfgtools.solve(game, "omd", iterations=10, learning_rate=1.0, progress=False)
    assert mfgtools.exploitability(game, mirror.policy) == pytest.approx(omd[10], rel=1e-6)
    if name not in TIES | NO_FP:
        _, fp, _ = FictitiousPlay().solve(env, max_iter=10, atol=None, rtol=None)
        play = mfgtools.solve(game, "fp", iterations=10, progress=False)
        assert mfgtools.exploitability(game, play.policy) == pytest.approx(fp[10], rel=1e-6)
    _, prior, _ = PriorDescent(eta=0.5, n_inner=3).solve(env, max_iter=10, atol=None, rtol=None)
    ours = mfgtools.solve(game, "prior-descent", iterations=10, eta=0.5, n_inner=3, progress=False)
    np.testing.assert_allclose(ours.metrics["exploitability"], [float(x) for x in prior], rtol=1e-6, atol=1e-12)


def test_crowd_motion_bar_is_torchs():
    from mfgtools.games.mfglib_envs import crowd_motion_bar_locations, torch_coin_flips, torch_uniform

    for seed in (0, 3):
        torch.manual_seed(seed)
        np.testing.assert_array_equal(torch_uniform(seed, 40), torch.rand(40).numpy())

    for seed in (0, 1, 12345):
        torch.manual_seed(seed)
        drawn = [int(torch.randint(0, 2, size=(1,))) for _ in range(16)]
        assert torch_coin_flips(seed, 16).tolist() == drawn
    env = mfglib_env.Environment.crowd_motion(T=7, torus_l=5, torus_w=6, loc_change_freq=1, seed=11)
    cells = [list(divmod(int(c[..., 0].argmax()), 6)) for c in env.reward_fn.c1s]
    assert crowd_motion_bar_locations(7, 5, 6, 1, 11).tolist() == cells


# MF-OMI-FBS: MFGLib as shipped (its default alpha, OSQP at 1e-8, each projection rounded to float32) agrees to
# 3.5e-7 at most over the REFERENCE games; with its projection kept in float64 and OSQP at 1e-12, to 1e-9
# (benchmarks/mfglib_games.py --omi prints both, on every game)
@pytest.mark.parametrize("name, params", [CASES[6], CASES[9]], ids=lambda x: x if isinstance(x, str) else "")
def test_mf_omi_fbs_matches_mfglib(name, params):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
    from mfglib_games import omi_run

    env = _environment(name, params)
    game = mfgtools.make_game("mfglib/" + name, **params)
    shipped = mfgtools.solve(game, "mf-omi-fbs", iterations=10, progress=False)
    np.testing.assert_allclose(shipped.metrics["exploitability"], omi_run(env), rtol=1e-6)
    tight = mfgtools.solve(game, "mf-omi-fbs", iterations=10, alpha=0.1, threshold=1e-11, progress=False)
    theirs = omi_run(env, alpha=0.1, osqp_tol=1e-12, float64=True)
    np.testing.assert_allclose(tight.metrics["exploitability"], theirs, rtol=1e-9, atol=1e-12)


# MF-OMO: MFGLib's MFOMO against mf-omo on the recorded cases (MF_OMO in test_mfglib_games.py), every iteration
def test_mf_omo_matches_mfglib():
    import sys
    from pathlib import Path

    from test_mfglib_games import MF_OMO, REFERENCE

    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
    from mfglib_games import omo_run

    for name, settings, recorded in MF_OMO:
        params = next(case[1] for case in REFERENCE if case[0] == name)
        theirs = omo_run(_environment(name, params), **settings)
        assert theirs[10] == pytest.approx(recorded, rel=1e-12), (name, settings)  # the recorded figure is MFGLib's
        game = mfgtools.make_game("mfglib/" + name, **params)
        ours = mfgtools.solve(game, "mf-omo", iterations=10, progress=False, **settings)
        np.testing.assert_allclose(ours.metrics["exploitability"], theirs, rtol=1e-6, err_msg=f"{name} {settings}")
