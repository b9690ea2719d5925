"""OpenSpiel's periodic_aversion, linear_quadratic, garnet, dynamic_routing, mean_field_nfg, predator_prey and
crowd_avoidance against its figures.

The reference values were computed by OpenSpiel 2.0.2 itself in float64
(benchmarks/openspiel_game_references.py: NashConv of the uniform policy, after
10 MirrorDescent iterations at lr 0.01 and after 10 FictitiousPlay iterations),
so CI checks them without OpenSpiel installed; tests/games/test_openspiel_live.py
re-derives such figures when OpenSpiel is present. Agreement is ~1e-14; the
tests ask for 1e-9 (the issue's bar is 1e-6).
"""

from __future__ import annotations

import numpy as np
import pytest

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.games.dynamic_routing import floor_quotient
from mfgtools.games.garnet import _MersenneWords, _uniform_int, _uniform_real, openspiel_tables

pytestmark = pytest.mark.usefixtures("x64_module")

# game, its parameters (OpenSpiel's names and values), then OpenSpiel's NashConv:
# uniform policy, after 10 MirrorDescent(lr=0.01) iterations, after 10 FictitiousPlay iterations
RECORDED = [
    (
        "periodic_aversion",
        dict(size=7, horizon=4, n_actions_per_side=2),
        5.903558663630377,
        5.262406461891619,
        0.5332428124813458,
    ),
    (
        "linear_quadratic",
        dict(size=6, horizon=4, n_actions_per_side=2),
        1.482155308888876,
        1.437213740213581,
        0.21547757172450233,
    ),
    ("garnet", dict(size=6, horizon=4), 0.613543486846087, 0.5613233862906277, 0.11038174178232119),
    ("mean_field_nfg", dict(reward_function="coop"), 265.5555555555555, 0.0029765734389579634, 36.877869605142344),
    ("mean_field_nfg", dict(reward_function="dom"), 0.19444444444444442, 0.19551586419066747, 0.036042240587694896),
    (
        "mean_field_nfg",
        dict(reward_function="biased_indirect_rps"),
        0.06666666666666667,
        0.06951310497539798,
        0.10220385674931126,
    ),
]
SMALL = {name: params for name, params, *_ in RECORDED[:3]}


@pytest.mark.parametrize(
    "name, params, uniform, after_omd, after_fp",
    RECORDED,
    ids=[f"{name}-{'-'.join(map(str, params.values()))}" for name, params, *_ in RECORDED],
)
def test_uniform_omd_and_fp_match_openspiel(name, params, uniform, after_omd, after_fp):
    game = mfgtools.make_game(name, **params)
    omd = mfgtools.solve(game, "omd", iterations=10, learning_rate=0.01, progress=False).metrics["exploitability"]
    fp = mfgtools.solve(game, "fp", iterations=10, progress=False).metrics["exploitability"]
    # entry 0 of a run's metrics is the uniform policy's exploitability, then one per iteration
    np.testing.assert_allclose([omd[0], fp[0], omd[-1], fp[-1]], [uniform, uniform, after_omd, after_fp], rtol=1e-9)
    np.testing.assert_allclose(mfgtools.exploitability(game, mfgtools.uniform_policy(game)), uniform, rtol=1e-9)


# OpenSpiel's multi-population games (NashConv summed over populations), at OpenSpiel's defaults and at a
# variant each (torus, two populations, congestion, forbidden cells that a torus wrap can enter); the figures
# come from benchmarks/openspiel_game_references.py with the same parameters (docs/openspiel_games.md)
PREDATOR_PREY_START = " ".join(["0.5"] + ["0"] * 4 + ["0.5"] + ["0"] * 25 + ["1"])  # 2 populations, 4x4
CROWD_AVOIDANCE_START = " ".join(["0"] * 4 + ["0.4", "0", "0", "0.6"] + ["0"] * 56 + ["1"] + ["0"] * 7)  # 6x6
RECORDED_POPULATIONS = [
    ("predator_prey", dict(), 36.968383925225865, 27.844120719963065, 3.0938284036860217),
    ("crowd_avoidance", dict(), 6.276543452378794, 6.266564486104568, 0.5705948593071604),
    (
        "predator_prey",
        dict(
            size=4,
            horizon=4,
            players=2,
            reward_matrix="0 1 -1 0",
            geometry=1,
            noise_probability=0.5,
            congestion_coeff=0.5,
            init_distrib=PREDATOR_PREY_START,
        ),
        0.7978105779170765,
        0.7598108581675334,
        0.23283227301716236,
    ),
    (
        "crowd_avoidance",
        dict(
            size=6,
            horizon=4,
            coef_congestion=1.0,
            geometry=1,
            proba_noise=0.3,
            congestion_matrix="0.5 1 1.5 0",
            forbidden_states="[2|2;1|3;0|5]",
            init_distrib=CROWD_AVOIDANCE_START,
        ),
        0.28696438591774154,
        0.285422835782457,
        0.026809851473564753,
    ),
]


@pytest.mark.parametrize(
    "name, params, uniform, after_omd, after_fp",
    RECORDED_POPULATIONS,
    ids=["predator_prey", "crowd_avoidance", "predator_prey-torus-2", "crowd_avoidance-congestion-torus"],
)
def test_multi_population_games_match_openspiel(name, params, uniform, after_omd, after_fp):
    test_uniform_omd_and_fp_match_openspiel(name, params, uniform, after_omd, after_fp)


def test_garnet_generator_draws_openspiels_tables():
    # std::mt19937(0)'s first outputs, then OpenSpiel's mfg_garnet (seed 0, size 10) read through pyspiel:
    # the chance outcomes of state 0 under action 0 and of state 9 under action 1
    words = _MersenneWords(0, block=2)
    assert [words() for _ in range(3)] == [2357136044, 2546248239, 3071714933]
    reward, successor, probability = openspiel_tables(10, 3, 3, 1.0, 0)
    row = lambda x, a: x + 10 * a  # OpenSpiel's reading of its tables
    assert successor[row(0, 0)].tolist() == [4, 6, 6] and successor[row(9, 1)].tolist() == [8, 9, 6]
    np.testing.assert_array_equal(probability[row(0, 0)], [0.5448831775801376, 0.05788019299756131, 0.3972366294223011])
    np.testing.assert_array_equal(probability[row(9, 1)], [0.638921080209101, 0.25711730922320164, 0.10396161056769737])
    # reward of OpenSpiel's decision node (2, 1) reached by action 1, under a uniform distribution
    assert reward[row(2, 1)] - np.log(0.1 + 1e-25) == 2.3996863642915596
    game = mfgtools.make_game("garnet")
    np.testing.assert_array_equal(np.asarray(game.next_state)[0, 0], [4, 6, 6])


def test_abseil_conversions():
    class Words:
        def __init__(self, values):
            self.values = list(values)

        def __call__(self):
            return self.values.pop(0)

    assert _uniform_real(Words([0, 0])) == 0.0
    assert _uniform_real(Words([2**31, 0])) == 0.5
    assert _uniform_real(Words([0xFFFFFFFF, 0xFFFFFFFF])) == 1.0 - 2.0**-53  # truncated, never 1
    assert _uniform_int(Words([0xFFFFFFFF]), 8) == 7  # power of two: the low bits
    assert _uniform_int(Words([2**31 + 1]), 10) == 5  # multiply-shift: the high word of 10 * bits
    assert _uniform_int(Words([2**31, 2**31 + 1]), 10) == 5  # low word 0 < threshold 2^32 mod 10 = 6: redrawn


def test_quirks_change_the_numbers_and_clean_games_run():
    for name, extra in (
        ("periodic_aversion", {}),
        ("linear_quadratic", dict(mean_revert=0.5, dt=0.5)),
        ("garnet", dict(sparsity_factor=0.5)),
    ):
        params = dict(SMALL[name], **extra)
        quirks = params.pop("openspiel_quirks", True)
        clean = mfgtools.make_game(name, openspiel_quirks=False, **params)
        value = mfgtools.exploitability(clean, mfgtools.uniform_policy(clean))
        assert value > 0 and quirks
        if not extra:
            assert abs(value - next(r[2] for r in RECORDED if r[0] == name)) > 1e-3
    dense = mfgtools.make_game("linear_quadratic", size=6, horizon=2, dt=0.5, mean_revert=0.5, openspiel_quirks=False)
    assert dense.fan_out == 6 and dense.horizon == 4  # ceil(horizon / dt) steps
    prob = np.asarray(dense.transition(0, dense.initial_distribution))
    np.testing.assert_allclose(prob.sum(-1), 1.0, rtol=1e-12)


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("linear_quadratic", dict(mean_revert=1.0), "mean_revert=1.0 needs openspiel_quirks=False"),
        ("linear_quadratic", dict(dt=0), "dt must be > 0"),
        ("periodic_aversion", dict(xmin=1, xmax=0), "xmax must be above xmin"),
        ("periodic_aversion", dict(volatility=-1), "volatility must be > 0"),
        ("garnet", dict(seed=2**32), "seed must be at most"),
        ("garnet", dict(sparsity_factor=2), "sparsity_factor must be <= 1"),
        ("garnet", dict(num_chance_action="x"), "num_chance_action must be an integer"),
        ("dynamic_routing", dict(network="sioux_falls"), "unknown network 'sioux_falls': choose one of braess, line"),
        ("dynamic_routing", dict(implementation="java"), "unknown implementation 'java'"),
        ("dynamic_routing", dict(time_step_length=0), "time_step_length must be > 0"),
        ("dynamic_routing", dict(max_num_time_step=0), "max_num_time_step must be at least 1"),
        ("mean_field_nfg", dict(reward_function="rps"), "unknown reward_function 'rps'"),
    ],
)
def test_parameters_are_validated(name, params, message):
    with pytest.raises(MFGError, match=message) as error:
        mfgtools.make_game(name, **params)
    assert "\n" not in str(error.value)


# dynamic_routing: OpenSpiel's NashConv of the uniform policy and after 1, 2 and 10 MirrorDescent(lr=0.01)
# iterations (its FictitiousPlay fails on this game: a KeyError in TabularPolicy). dt = 0.07 puts a waiting time
# on a rounding tie (1.75 / 0.07); at dt = 0.75 OpenSpiel's mirror descent parts from the textbook one after its
# first iteration (docs/openspiel_games.md), so only the uniform policy and that iteration are compared.
ROUTING = [
    (
        dict(time_step_length=0.07, max_num_time_step=85),
        (0.5250000000000004, 0.558921042001423, 0.5577408051416155, 0.49685632975918725),
    ),
    (
        dict(time_step_length=0.1, max_num_time_step=40, implementation="python"),
        (0.5499999999999998, 0.5489238776577938, 0.5478443922895915, 0.5390887118672198),
    ),
    (dict(time_step_length=0.75, max_num_time_step=12), (0.1875, 0.5628515620880137)),
]


@pytest.mark.parametrize("params, expected", ROUTING)
def test_dynamic_routing_matches_openspiel(params, expected):
    game = mfgtools.make_game("dynamic_routing", **params)
    omd = mfgtools.solve(game, "omd", iterations=10, learning_rate=0.01, progress=False).metrics["exploitability"]
    picked = [omd[0], omd[1], omd[2], omd[10]][: len(expected)]
    np.testing.assert_allclose(picked, expected, rtol=1e-9)


def test_dynamic_routing_defaults_and_structure():
    game = mfgtools.make_game("dynamic_routing")  # OpenSpiel's C++ default: Braess, T = 10, dt = 1
    assert game.n_actions == 8 and game.action_names[1:3] == ("to A->B", "to A->C")
    assert game.parameters["time_step_length"] == 1.0
    assert mfgtools.make_game("dynamic_routing", implementation="python").parameters["time_step_length"] == 0.5
    # every policy is an equilibrium at this coarse time step (OpenSpiel: NashConv 0 as well)
    assert mfgtools.exploitability(game, mfgtools.uniform_policy(game)) == 0.0
    line = mfgtools.make_game("dynamic_routing", network="line", max_num_time_step=5)
    flow = mfgtools.mean_field(line, mfgtools.uniform_policy(line))
    assert float(flow[-1, -2]) == pytest.approx(1.0)  # everyone arrived
    fp = mfgtools.solve(
        mfgtools.make_game("dynamic_routing", time_step_length=0.25, max_num_time_step=20),
        "fp",
        iterations=10,
        progress=False,
    ).metrics["exploitability"]
    assert fp[0] == pytest.approx(0.5) and fp[-1] < 0.2


def test_floor_quotient_rounds_like_scalar_division():
    rng = np.random.default_rng(1)
    steps = rng.choice([0.07, 0.05, 0.1, 0.3, 0.15, 0.35, 0.03, 0.7, 0.11], 5000)
    times = rng.integers(1, 60, 5000) * steps
    times = np.nextafter(times, times + rng.integers(-1, 2, 5000))  # on, just below and just above k * dt
    expected = [float(int(t / d)) for t, d in zip(times.tolist(), steps.tolist())]
    np.testing.assert_array_equal(np.asarray(floor_quotient(times, steps)), expected)
    assert float(floor_quotient(np.float64(1.75), np.float64(0.07))) == 24.0  # 1.75 / 0.07 = 24.999999999999996


def test_normal_form_payoffs():
    dominated = mfgtools.make_game("mean_field_nfg", reward_function="dominated")
    assert dominated.reward_function == "dom" and dominated.horizon == 1 and dominated.n_states == 4
    nu = np.array([0.0, 0.5, 0.25, 0.25])  # start state, then the three actions' shares
    np.testing.assert_allclose(dominated.terminal_reward(nu), [0.0, 0.75, 0.25, 0.5])  # nu_0 + nu_2, nu_1, - 1/4
    pure = np.zeros((1, 4, 3))
    pure[0, :, 0] = 1.0  # everyone plays action 0: f = (1, 0, 0.75), an equilibrium
    assert mfgtools.exploitability(dominated, pure) == 0.0
