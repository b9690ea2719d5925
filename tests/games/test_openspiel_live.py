"""Live comparison with OpenSpiel (optional extra: pip install '.[openspiel]'); skipped without it."""

from __future__ import annotations

import numpy as np
import pytest

import mfgtools


def _openspiel_figures(pyspiel, params, iterations, learning_rate):
    from open_spiel.python import policy as policy_std
    from open_spiel.python.mfg.algorithms import fictitious_play, mirror_descent, nash_conv

    game = pyspiel.load_game("mfg_crowd_modelling_2d", params)
    uniform = nash_conv.NashConv(game, policy_std.UniformRandomPolicy(game)).nash_conv()
    md = mirror_descent.MirrorDescent(game, lr=learning_rate)
    for _ in range(iterations):
        md.iteration()
    fp = fictitious_play.FictitiousPlay(game)
    for _ in range(iterations):
        fp.iteration()
    return (
        uniform,
        nash_conv.NashConv(game, md.get_policy()).nash_conv(),
        nash_conv.NashConv(game, fp.get_policy()).nash_conv(),
    )


def test_walls_positions_congestion_and_noise_match_openspiel(pyspiel, x64):
    walls = [(1, 0), (2, 1), (3, 3)]  # OpenSpiel's x|y = column|row
    params = {
        "size": 6,
        "horizon": 5,
        "forbidden_states": "[" + ";".join(f"{x}|{y}" for x, y in walls) + "]",
        "positional_reward": "[4|2]",
        "positional_reward_value": "[2.0]",
        "with_congestion": True,
        "noise_intensity": 0.5,
        "initial_distribution": "[0|0;5|5]",
        "initial_distribution_value": "[0.5;0.5]",
    }
    picture = "\n".join("".join("#" if (x, y) in walls else " " for x in range(6)) for y in range(6))
    mu0 = np.zeros((6, 6))
    mu0[0, 0] = mu0[5, 5] = 0.5
    game = mfgtools.make_game(
        "crowd_modelling_2d",
        map=picture,
        horizon=5,
        positional_reward=[(2, 4)],
        positional_reward_value=[2.0],
        with_congestion=True,
        noise=0.5,
        only_distribution_reward=False,
        mu0=mu0,
    )
    expected = _openspiel_figures(pyspiel, params, iterations=3, learning_rate=0.05)
    ours = (
        mfgtools.exploitability(game, mfgtools.uniform_policy(game)),
        mfgtools.solve(game, "omd", iterations=3, learning_rate=0.05).metrics["exploitability"][-1],
        mfgtools.solve(game, "fp", iterations=3).metrics["exploitability"][-1],
    )
    # OpenSpiel parses parameter strings as float32: agreement to ~1e-8, not 1e-15.
    np.testing.assert_allclose(ours, expected, rtol=1e-7)


def test_one_dimensional_game_matches_openspiel_policy_by_policy(pyspiel, x64):
    from open_spiel.python.mfg.algorithms import mirror_descent
    from open_spiel.python.mfg.games import crowd_modelling

    os_game = crowd_modelling.MFGCrowdModellingGame()
    md = mirror_descent.MirrorDescent(os_game, lr=0.01)
    for _ in range(4):
        md.iteration()
    ours = mfgtools.solve(mfgtools.make_game("crowd_modelling"), "omd", iterations=4, learning_rate=0.01).policy
    policy = md.get_policy()
    for x in range(10):  # decision nodes at t = 0 (reachable from the initial chance node)
        state = os_game.new_initial_state().child(x)
        probabilities = policy.action_probabilities(state)
        np.testing.assert_allclose([probabilities[a] for a in range(3)], ours[0, x], rtol=1e-10)


# ----- periodic_aversion, linear_quadratic, garnet (docs/openspiel_games.md) --------------------------
def _nash_convs(game, iterations, learning_rate):
    """OpenSpiel's NashConv: uniform policy, after MirrorDescent, after FictitiousPlay."""
    from open_spiel.python import policy as policy_std
    from open_spiel.python.mfg.algorithms import fictitious_play, mirror_descent, nash_conv

    uniform = nash_conv.NashConv(game, policy_std.UniformRandomPolicy(game)).nash_conv()
    md = mirror_descent.MirrorDescent(game, lr=learning_rate)
    fp = fictitious_play.FictitiousPlay(game)
    for _ in range(iterations):
        md.iteration()
        fp.iteration()
    return (
        uniform,
        nash_conv.NashConv(game, md.get_policy()).nash_conv(),
        nash_conv.NashConv(game, fp.get_policy()).nash_conv(),
    )


@pytest.mark.parametrize(
    "name, openspiel_name, params",
    [
        (
            "periodic_aversion",
            "python_mfg_periodic_aversion",
            dict(
                size=6, horizon=3, n_actions_per_side=2, dt=0.05, volatility=0.7, coef_aversion=0.5, xmin=-1.0, xmax=2.0
            ),
        ),
        (
            "linear_quadratic",
            "mean_field_lin_quad",
            dict(size=7, horizon=2, dt=0.5, n_actions_per_side=2, volatility=0.8, cross_q=0.3, kappa=0.2),
        ),
        (
            "garnet",
            "mfg_garnet",
            dict(size=5, horizon=3, seed=12345, num_action=4, num_chance_action=5, sparsity_factor=0.5, eta=0.3),
        ),
    ],
)
def test_openspiel_games_match_openspiel(pyspiel, x64, name, openspiel_name, params):
    from open_spiel.python.mfg import games  # noqa: F401  (registers OpenSpiel's Python games)

    expected = _nash_convs(pyspiel.load_game(openspiel_name, params), iterations=3, learning_rate=0.05)
    game = mfgtools.make_game(name, **params)
    ours = (
        mfgtools.exploitability(game, mfgtools.uniform_policy(game)),
        mfgtools.solve(game, "omd", iterations=3, learning_rate=0.05, progress=False).metrics["exploitability"][-1],
        mfgtools.solve(game, "fp", iterations=3, progress=False).metrics["exploitability"][-1],
    )
    np.testing.assert_allclose(ours, expected, rtol=1e-9)


def test_garnet_tables_are_openspiels(pyspiel):
    size, actions, outcomes = 7, 3, 4
    params = dict(size=size, horizon=2, seed=99, num_action=actions, num_chance_action=outcomes, sparsity_factor=0.6)
    theirs = pyspiel.load_game("mfg_garnet", params)
    game = mfgtools.make_game("garnet", **params)
    next_state, prob = np.asarray(game.next_state), np.asarray(game.transition_prob, dtype=np.float64)
    for x in range(size):
        for a in range(actions):
            chance = theirs.new_initial_state().child(x).child(a)
            pairs = chance.chance_outcomes()
            assert [int(str(chance.child(k)).split(",")[0][1:]) for k, _ in pairs] == next_state[x, a].tolist()
            np.testing.assert_allclose([p for _, p in pairs], prob[x, a], rtol=1e-6)  # our float32 copy


@pytest.mark.parametrize("implementation", ["cpp", "python"])
def test_dynamic_routing_matches_openspiel(pyspiel, x64, implementation):
    from open_spiel.python import policy as policy_std
    from open_spiel.python.mfg.algorithms import mirror_descent, nash_conv

    params = dict(max_num_time_step=30, time_step_length=0.13)
    if implementation == "cpp":
        theirs = pyspiel.load_game("mfg_dynamic_routing", params)
    else:
        from open_spiel.python.games import dynamic_routing_data as data
        from open_spiel.python.mfg.games import dynamic_routing

        theirs = dynamic_routing.MeanFieldRoutingGame(
            dict(params, players=-1), network=data.BRAESS_NETWORK, od_demand=data.BRAESS_NETWORK_OD_DEMAND
        )
    md = mirror_descent.MirrorDescent(theirs, lr=0.05)
    for _ in range(3):
        md.iteration()
    expected = (
        nash_conv.NashConv(theirs, policy_std.UniformRandomPolicy(theirs)).nash_conv(),
        nash_conv.NashConv(theirs, md.get_policy()).nash_conv(),
    )
    game = mfgtools.make_game("dynamic_routing", implementation=implementation, **params)
    omd = mfgtools.solve(game, "omd", iterations=3, learning_rate=0.05, progress=False).metrics["exploitability"]
    np.testing.assert_allclose([omd[0], omd[-1]], expected, rtol=1e-9)


@pytest.mark.parametrize("reward_function", ["coop", "dom", "biased_indirect_rps"])
def test_mean_field_nfg_matches_openspiel(pyspiel, x64, reward_function):
    from open_spiel.python.mfg.games import normal_form_game  # noqa: F401  (registers mean_field_nfg)

    theirs = pyspiel.load_game("mean_field_nfg", {"num_actions": 3, "reward_function": reward_function})
    expected = _nash_convs(theirs, iterations=5, learning_rate=0.03)
    game = mfgtools.make_game("mean_field_nfg", reward_function=reward_function)
    ours = (
        mfgtools.exploitability(game, mfgtools.uniform_policy(game)),
        mfgtools.solve(game, "omd", iterations=5, learning_rate=0.03, progress=False).metrics["exploitability"][-1],
        mfgtools.solve(game, "fp", iterations=5, progress=False).metrics["exploitability"][-1],
    )
    np.testing.assert_allclose(ours, expected, rtol=1e-9)


# ----- multi-population games: NashConv summed over populations ---------------------------------------
def _random_starts(players, size, seed, forbidden=()):
    """OpenSpiel's init_distrib string of random per-population distributions (no mass on forbidden cells).
    A uniform start makes every action tie exactly in exact arithmetic: fictitious play's greedy responses
    then follow each implementation's rounding (docs/openspiel_games.md), so the comparison avoids it."""
    weights = np.random.default_rng(seed).dirichlet(np.ones(size * size), size=players)
    for x, y in forbidden:
        weights[:, x + y * size] = 0.0
    weights /= weights.sum(axis=1, keepdims=True)
    return " ".join(repr(float(w)) for w in weights.reshape(-1))


@pytest.mark.parametrize(
    "name, openspiel_name, params",
    [
        (
            "predator_prey",
            "python_mfg_predator_prey",
            dict(size=3, horizon=3, noise_probability=0.3, congestion_coeff=2.0, init_distrib=_random_starts(3, 3, 1)),
        ),
        (
            "crowd_avoidance",
            "python_mfg_crowd_avoidance",
            dict(
                size=5,
                horizon=3,
                coef_congestion=0.7,
                proba_noise=0.6,
                forbidden_states="[1|1;3|2]",
                init_distrib=_random_starts(2, 5, 2, forbidden=((1, 1), (3, 2))),
                coef_target=2.0,
            ),
        ),
    ],
    ids=["predator_prey", "crowd_avoidance"],
)
def test_multi_population_games_match_openspiel(pyspiel, x64, monkeypatch, name, openspiel_name, params):
    from open_spiel.python import policy as policy_std
    from open_spiel.python.mfg import games  # noqa: F401  (registers OpenSpiel's Python games)

    game = mfgtools.make_game(name, **params)
    ours = (
        mfgtools.exploitability(game, mfgtools.uniform_policy(game)),
        mfgtools.solve(game, "omd", iterations=3, learning_rate=0.05, progress=False).metrics["exploitability"][-1],
        mfgtools.solve(game, "fp", iterations=3, progress=False).metrics["exploitability"][-1],
    )
    theirs = pyspiel.load_game(openspiel_name, params)
    uniform, after_omd, _ = _nash_convs(theirs, iterations=3, learning_rate=0.05)
    np.testing.assert_allclose(ours[:2], [uniform, after_omd], rtol=1e-9)
    # OpenSpiel's FictitiousPlay stores its policy as a TabularPolicy keyed by history strings, which omit the
    # population: where the populations' starts overlap, populations 1.. read population 0's entries. Keyed by
    # the observation string (which names the population) its FictitiousPlay gives ours.
    monkeypatch.setattr(
        policy_std.TabularPolicy,
        "_state_key",
        lambda self, state, player: state.observation_string(pyspiel.PlayerId.DEFAULT_PLAYER_ID),
    )
    _, _, after_fp = _nash_convs(theirs, iterations=3, learning_rate=0.05)
    np.testing.assert_allclose(ours[2], after_fp, rtol=1e-9)


# ----- OpenSpiel's algorithms ported as solvers (docs/algorithms.md) ----------------------------------
@pytest.mark.parametrize(
    "name, openspiel_name, params",
    [
        ("crowd_modelling_2d", "mfg_crowd_modelling_2d", dict(size=4, horizon=3)),
        ("garnet", "mfg_garnet", dict(size=5, horizon=3, seed=7, num_action=3, num_chance_action=2)),
    ],
)
def test_munchausen_and_boltzmann_policy_iteration_match_openspiel(pyspiel, x64, name, openspiel_name, params):
    from open_spiel.python.mfg.algorithms import boltzmann_policy_iteration, munchausen_mirror_descent, nash_conv

    theirs = pyspiel.load_game(openspiel_name, params)
    game = mfgtools.make_game(name, **params)
    for solver, algorithm in (
        ("munchausen-omd", munchausen_mirror_descent.MunchausenMirrorDescent),
        ("boltzmann-pi", boltzmann_policy_iteration.BoltzmannPolicyIteration),
    ):
        iterate = algorithm(theirs, lr=0.3)
        expected = []
        for _ in range(3):
            iterate.iteration()
            expected.append(nash_conv.NashConv(theirs, iterate.get_policy()).nash_conv())
        ours = mfgtools.solve(game, solver, iterations=3, learning_rate=0.3, progress=False)
        np.testing.assert_allclose(ours.metrics["exploitability"][1:], expected, rtol=1e-9, err_msg=solver)


@pytest.mark.parametrize(
    "name, openspiel_name, params, minimizer",
    [
        ("garnet", "mfg_garnet", dict(size=5, horizon=3, seed=7, num_action=3, num_chance_action=2), "hedge"),
        ("garnet", "mfg_garnet", dict(size=5, horizon=3, seed=7, num_action=3, num_chance_action=2), "regret-matching"),
        (
            "garnet",
            "mfg_garnet",
            dict(size=5, horizon=3, seed=7, num_action=3, num_chance_action=2),
            "polynomial-weights",
        ),
        ("crowd_modelling", "mfg_crowd_modelling", dict(size=6, horizon=5), "hedge"),
    ],
)
def test_mf_psro_matches_openspiel(pyspiel, x64, name, openspiel_name, params, minimizer):
    """OpenSpiel's MeanFieldPSRO with exact values, no compression and no early stop: the gaps (as its example
    mfg_psro.py computes them) and the merged policy's NashConv after each step. (The symmetric default
    crowd_modelling_2d has exactly tied best actions, which rounding breaks differently: docs/algorithms.md.)"""
    import numpy as np_
    from open_spiel.python.mfg.algorithms import correlated_equilibrium as ce
    from open_spiel.python.mfg.algorithms import distribution, mf_psro, nash_conv, utils
    from open_spiel.python.mfg.algorithms.regret import hedge, polynomial_weights, regret_matching

    classes = {
        "hedge": hedge.Hedge,
        "regret-matching": regret_matching.RegretMatching,
        "polynomial-weights": polynomial_weights.PolynomialWeightAlgorithm,
    }
    theirs = pyspiel.load_game(openspiel_name, params)
    regret = classes[minimizer](
        theirs, [], None, 3, compress_nus=False, stop_early=False, value_estimator=utils.get_exact_value
    )
    psro = mf_psro.MeanFieldPSRO(theirs, regret, 3, best_responder=ce.cce_br)
    expected = []
    for _ in range(3):
        psro.step()
        policies, nus, mus, rhos = psro.get_equilibrium()
        nus, rhos = np_.asarray(nus, dtype=float), np_.asarray(rhos, dtype=float)
        merged = utils.MergedPolicy(
            theirs, None, policies, list(rhos @ nus), [distribution.DistributionPolicy(theirs, p) for p in policies]
        )
        expected.append(
            (
                ce.cce_gap(theirs, policies, rhos, mus, nus, compute_true_rewards=True),
                ce.ce_gap(theirs, policies, rhos, mus, nus, compute_true_rewards=True),
                nash_conv.NashConv(theirs, merged).nash_conv(),
            )
        )
    game = mfgtools.make_game(name, **params)
    m = mfgtools.solve(game, minimizer, iterations=4, regret_steps=3, max_policies=5, progress=False).metrics
    ours = np.stack([m["cce_gap"][1:4], m["ce_gap"][1:4], m["exploitability"][1:4]], axis=1)
    np.testing.assert_allclose(ours, expected, rtol=1e-9)
