"""MFGLib's environments (mfgtools.games.mfglib_envs) against values recorded from MFGLib.

The reference figures were computed by MFGLib 0.3.0 itself (torch float64,
``torch.set_default_dtype(torch.float64)``): ``exploitability_score`` of the
uniform policy, and of the policies after 10 iterations of
``OnlineMirrorDescent(alpha=1.0)`` (MFGLib's default step size) and of
``FictitiousPlay()`` (``alpha=0``, weights ``1/(k+2)``), from ``solve(env,
max_iter=10, atol=None, rtol=None)``. CI has no MFGLib: these numbers are what
it checks; tests/games/test_mfglib_live.py recomputes them when MFGLib is installed.
"""

from __future__ import annotations

import numpy as np
import pytest

import mfgtools
from mfgtools import kernels
from mfgtools.games.mfglib_envs import crowd_motion_bar_locations, torch_coin_flips, torch_uniform

pytestmark = pytest.mark.usefixtures("x64_module")

RTOL = 1e-6

# (game, parameters, uniform, after 10 OMD iterations, after 10 FP iterations), MFGLib's figures
REFERENCE = [
    (
        "beach_bar",
        {"T": 3, "n": 5, "bar_loc": 1, "p_still": 0.3},
        1.5266785784964028,
        0.11764202651384759,
        0.06469900552528651,
    ),
    (
        "crowd_motion",
        {"T": 4, "torus_l": 4, "torus_w": 5, "loc_change_freq": 2, "c": 5.0, "seed": 3},
        2.8341055420819075,
        0.08505817962232953,
        0.21299238685016064,
    ),
    (
        "building_evacuation",
        {"T": 3, "n_floor": 2, "floor_l": 3, "floor_w": 3},
        5.898004066554954,
        0.09725758338382207,
        0.6840312577214007,
    ),
    ("left_right", {"mu0": [0.5, 0.3, 0.2]}, 0.2499999999999999, 1.989844092276094e-06, 0.030991735537190146),
    ("rock_paper_scissors", {"T": 3, "mu0": [0.7, 0.1, 0.1, 0.1]}, 1.0, 5.769583081501916, 0.8264462809917354),
    ("susceptible_infected", {"T": 8}, 1.3915140461621158, 0.14215900156898353, 0.15333959771131767),
    (
        "linear_quadratic",
        {"T": 4, "el": 3, "m": 1, "sigma": 1.0},
        0.3607036186113033,
        0.1193336742184381,
        0.032791238055572824,
    ),
    # games of the joint state-action distribution L_t(s, a) (FiniteGame.joint)
    (
        "conservative_treasure_hunting",
        {"T": 3, "n": 2, "r": [1.0, 2.0], "c": [0.5, 1.0, 2.0]},
        1.96875,
        1.3706888957187857e-08,
        0.3920306940856797,
    ),
    (
        "equilibrium_price",
        {"T": 2, "s_inv": 2, "Q": 1, "H": 2, "c": [0.5, 0.2, 0.3, 0.1, 0.05]},
        1.1675925925925927,
        0.09206020293677587,
        None,
    ),
    (
        "random_linear",
        {"T": 2, "n": 3, "m": 2.0, "seed": 4},
        3.3180408515729445,
        0.00014651413015620562,
        0.3544043848861236,
    ),
]

# Fictitious play where MFGLib's best response meets exactly tied actions: MFGLib splits
# the mass over them, we take the first maximiser, and which Q values tie exactly depends
# on each library's order of summation. Our own figure after 10 iterations (MFGLib: above).
FP_TIES = {"building_evacuation": 0.7609700132614443}
# MFGLib 0.3.0's FictitiousPlay fails on multi-dimensional action spaces (its state
# distribution keeps one action axis): our own figure.
FP_OURS = {"equilibrium_price": 0.10872056779408112}


@pytest.mark.parametrize("name, params, uniform, omd, fp", REFERENCE, ids=[case[0] for case in REFERENCE])
def test_exploitability_matches_mfglib(name, params, uniform, omd, fp):
    game = mfgtools.make_game("mfglib/" + name, **params)
    assert game.initial_distribution.dtype == np.float64
    assert mfgtools.exploitability(game, mfgtools.uniform_policy(game)) == pytest.approx(uniform, rel=RTOL)
    mirror = mfgtools.solve(game, "omd", iterations=10, learning_rate=1.0, progress=False)
    assert mfgtools.exploitability(game, mirror.policy) == pytest.approx(omd, rel=RTOL)
    play = mfgtools.solve(game, "fp", iterations=10, progress=False)
    expected = FP_TIES.get(name, FP_OURS.get(name, fp))
    assert mfgtools.exploitability(game, play.policy) == pytest.approx(expected, rel=RTOL)


# MFGLib's PriorDescent(eta=0.5, n_inner=3), exploitability_score after 10 iterations (solve(env, max_iter=10,
# atol=None, rtol=None)), on the REFERENCE parameters; benchmarks/mfglib_games.py prints every game
PRIOR_DESCENT = {
    "beach_bar": 0.16471086054524942,
    "crowd_motion": 8.720621153092623,
    "susceptible_infected": 0.15244618947512834,
    "random_linear": 0.0009981553917954855,  # a game of the joint state-action distribution
}


@pytest.mark.parametrize("name", sorted(PRIOR_DESCENT))
def test_prior_descent_matches_mfglib(name):
    params = next(case[1] for case in REFERENCE if case[0] == name)
    game = mfgtools.make_game("mfglib/" + name, **params)
    result = mfgtools.solve(game, "prior-descent", iterations=10, eta=0.5, n_inner=3, progress=False)
    assert result.metrics["exploitability"][10] == pytest.approx(PRIOR_DESCENT[name], rel=RTOL)


# MFGLib's OccupationMeasureInclusion(alpha=0.1), exploitability_score after 10 iterations on the REFERENCE
# parameters, with its projection kept in float64 and OSQP at eps 1e-12 (its policy then zeroes masses up to
# 1e-11: our threshold=1e-11). MFGLib as shipped rounds each projection to float32 and stops OSQP at 1e-8: our
# figures then agree to 3.5e-7 at its default alpha = 1e-3 (docs/mfglib_games.md; benchmarks/mfglib_games.py --omi)
OMI_FBS = {
    "susceptible_infected": 0.24303901667800787,  # transitions that read the population
    "conservative_treasure_hunting": 0.0584438400223215,  # a game of the joint state-action distribution
}
# also recorded (benchmarks/mfglib_games.py --omi): beach_bar 0.07623411542922343, equilibrium_price
# 0.20681516221467938


@pytest.mark.parametrize("name", sorted(OMI_FBS))
def test_mf_omi_fbs_matches_mfglib(name):
    params = next(case[1] for case in REFERENCE if case[0] == name)
    game = mfgtools.make_game("mfglib/" + name, **params)
    result = mfgtools.solve(game, "mf-omi-fbs", iterations=10, alpha=0.1, threshold=1e-11, progress=False)
    assert result.metrics["exploitability"][10] == pytest.approx(OMI_FBS[name], rel=1e-9)


# MFGLib's MFOMO with mf-omo's settings named as ours (optimizer and lr form MFGLib's optimizer dict),
# exploitability_score after 10 iterations on the REFERENCE parameters (benchmarks/mfglib_games.py --omo prints
# MFGLib's figure, ours and the worst gap over the run). With Adam after the hat initialisation (MFGLib's
# defaults) the runs agree to ~5e-8: that start zeroes the dual residual, whose gradient is then rounding noise
# that Adam divides by sqrt(v) + 1e-8 (docs/mfglib_games.md); SGD, or Adam from other starts, to ~1e-13.
MF_OMO = [
    ("beach_bar", {}, 0.3568419281304782),  # MFGLib's defaults: l1_l2, Adam(0.1), projections, hat start
    ("random_linear", {}, 0.8521621148380616),  # a game of the joint state-action distribution
    ("left_right", {"parameterize": True}, 0.03237088028664736),
    ("susceptible_infected", {"loss": "l1", "hat_init": False, "rb_freq": 3}, 1.5305585180221488),
    ("rock_paper_scissors", {"loss": "l2", "optimizer": "sgd", "lr": 0.01, "rb_freq": 2}, 1.595135677021232),
]


@pytest.mark.parametrize("name, settings, expected", MF_OMO, ids=[f"{case[0]}-{i}" for i, case in enumerate(MF_OMO)])
def test_mf_omo_matches_mfglib(name, settings, expected):
    params = next(case[1] for case in REFERENCE if case[0] == name)
    game = mfgtools.make_game("mfglib/" + name, **params)
    result = mfgtools.solve(game, "mf-omo", iterations=10, progress=False, **settings)
    assert result.metrics["exploitability"][10] == pytest.approx(expected, rel=RTOL)


def test_every_game_is_listed_with_mfglib_defaults():
    games = mfgtools.list_games()
    for name in (
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
    ):
        assert "mfglib/" + name in games
    assert games["mfglib/beach_bar"].parameters["T"].default == 2
    assert games["mfglib/susceptible_infected"].parameters["T"].default == 50
    assert games["mfglib/crowd_motion"].parameters["log_eps"].default == 1e-10


def test_horizon_shapes_and_default_sizes():
    beach = mfgtools.make_game("mfglib/beach_bar")
    assert (beach.horizon, beach.n_states, beach.n_actions) == (3, 4, 3)  # T = 2: decisions at t = 0, 1, 2
    crowd = mfgtools.make_game("mfglib/crowd_motion", torus_l=4, torus_w=3, T=1)
    assert crowd.state_shape == (4, 3) and crowd.grid_shape == (4, 3) and crowd.n_states == 12
    building = mfgtools.make_game("mfglib/building_evacuation", n_floor=2, floor_l=3, floor_w=4)
    assert building.state_shape == (2, 3, 4) and building.n_states == 24 and building.fan_out == 1
    assert building.grid_shape is None
    lq = mfgtools.make_game("mfglib/linear_quadratic")
    assert (lq.horizon, lq.n_states, lq.n_actions) == (4, 11, 5)
    assert mfgtools.make_game("mfglib/left_right").horizon == 2


def test_transitions_are_distributions_under_any_population():
    rng = np.random.default_rng(0)
    for name, params in (
        ("susceptible_infected", {"T": 2}),
        ("linear_quadratic", {"T": 2}),
        ("beach_bar", {}),
        ("building_evacuation", {"n_floor": 2, "floor_l": 2, "floor_w": 3}),
    ):
        game = mfgtools.make_game("mfglib/" + name, **params)
        mu = rng.dirichlet(np.ones(game.n_states))
        prob = np.asarray(game.transition(0, mu))
        assert (prob >= 0).all() and np.allclose(prob.sum(-1), 1.0), name


def test_linear_quadratic_successors_follow_the_crowd_mean():
    game = mfgtools.make_game("mfglib/linear_quadratic", el=3, m=1, sigma=0.0, delta=1.0, k=1.0)
    at_right = np.zeros(7)
    at_right[-1] = 1.0  # everybody at x = 3: m_t = 3, so x + (m_t - x) + u = 3 + u, clipped
    prob = np.asarray(game.transition(0, at_right))  # dense: K = S
    assert prob[0, 1].argmax() == 6 and prob[0, 0].argmax() == 5 and prob[0, 0].max() == 1.0
    reward = np.asarray(game.reward(game.horizon - 1, at_right))  # the last decision pays -c_term/2 (m - x)^2
    np.testing.assert_allclose(reward[:, 0], -0.5 * (3 - np.arange(-3, 4)) ** 2)


def test_crowd_motion_bar_follows_torch_seed():
    # torch.manual_seed(s); torch.randint(0, 2, (1,)) draws, as recorded from torch 2.x
    np.testing.assert_array_equal(torch_coin_flips(0, 10), [0, 1, 1, 0, 1, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(torch_coin_flips(7, 10), [1, 0, 1, 0, 1, 1, 1, 1, 0, 1])
    # the bar's cells as MFGLib 0.3.0 draws them (read from its RewardFn.c1s)
    assert crowd_motion_bar_locations(3, 20, 20, 2, 0).tolist() == [[10, 10], [10, 10], [9, 11], [9, 11]]
    assert crowd_motion_bar_locations(9, 6, 6, 1, 7).tolist() == [
        [3, 3],
        [4, 2],
        [5, 1],
        [5, 1],
        [5, 1],
        [4, 2],
        [3, 3],
        [2, 4],
        [1, 3],
        [0, 2],
    ]


def test_torch_uniform_draws_are_torchs():
    # torch.manual_seed(0); torch.rand(3) in float64, as recorded from torch 2.x
    np.testing.assert_array_equal(torch_uniform(0, 3), [0.9700530018065531, 0.707819864399788, 0.45938294312745087])


def test_joint_games_read_the_state_action_distribution():
    game = mfgtools.make_game("mfglib/equilibrium_price", T=1)
    assert game.joint and game.action_shape == (3, 3) and game.n_actions == 9
    assert game.action_names[5] == "q=1,h=2"  # actions (q, h) flattened row-major
    mu = np.full(4, 0.25)
    buyers, idle = np.zeros((4, 9)), np.zeros((4, 9))
    buyers[:, 8], idle[:, 0] = 0.25, 0.25  # everybody consumes q = 2, or nobody consumes
    # the price (d / (E[q] + e0))^(1/sigma) falls when the population consumes more
    assert float(game.reward(0, mu, buyers)[0, 3]) < float(game.reward(0, mu, idle)[0, 3])
    with pytest.raises(mfgtools.MFGError, match="joint state-action distribution"):
        kernels.best_response(game, kernels.mean_field(game, kernels.uniform_policy(game)))
    state_only = mfgtools.make_game("mfglib/beach_bar")
    assert not state_only.joint  # every other game keeps reward(t, mu)


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("beach_bar", {"bar_loc": 4}, "bar_loc"),
        ("beach_bar", {"p_still": 1.5}, "p_still"),
        ("beach_bar", {"T": -1}, "T"),
        ("beach_bar", {"mu0": [0.5, 0.5]}, "mu0"),
        ("beach_bar", {"mu0": "gaussian"}, "mu0"),
        ("crowd_motion", {"seed": -1}, "seed"),
        ("crowd_motion", {"loc_change_freq": 0}, "loc_change_freq"),
        ("building_evacuation", {"log_eps": 0.0}, "log_eps"),
        ("left_right", {"mu0": [0.5, 0.6, -0.1]}, "mu0"),
        ("linear_quadratic", {"delta": 0.0}, "delta"),
        ("susceptible_infected", {"mu0": [1.0]}, "mu0"),
        ("rock_paper_scissors", {"horizon": 3}, "no parameter"),
        ("conservative_treasure_hunting", {"T": 4}, "c must be 4"),
        ("conservative_treasure_hunting", {"r": [1.0, 2.0]}, "r must be 3"),
        ("equilibrium_price", {"c": [1.0, 2.0]}, "c must be 5"),
        ("equilibrium_price", {"e0": 0.0}, "e0"),
        ("random_linear", {"n": 0}, "n"),
    ],
)
def test_parameters_are_validated(name, params, message):
    with pytest.raises(mfgtools.MFGError, match=message) as error:
        mfgtools.make_game("mfglib/" + name, **params)
    assert "\n" not in str(error.value)


def test_runs_from_the_command_line(tmp_path, monkeypatch):
    from mfgtools.cli import main

    monkeypatch.chdir(tmp_path)
    status = main(["solve", "--game", "mfglib/beach_bar", "--solver", "omd", "--iterations", "3", "--quiet"])
    assert status == 0
    assert (tmp_path / "mfglib_beach_bar-omd.nc").exists()  # the default name: the game's / written _
