"""Games: conventions of crowd.md, maps, parameters and their validation."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.games import crowd_modelling as cm
from mfgtools.games.maps import LABYRINTH, MAZE, load_map
from mfgtools.games.openspiel_traversal import openspiel_traversal
from mfgtools.graphs.lattice import grid_moves, ring_moves


def test_crowd_defaults_follow_off_mmd():
    game = mfgtools.make_game("crowd", map="four_rooms", task="exploration")
    assert (game.n_states, game.n_actions, game.horizon) == (169, 5, 40)
    assert game.grid_shape == (13, 13)
    mu0 = np.asarray(game.initial_distribution)
    assert mu0[1 * 13 + 1] == 1.0 and mu0.sum() == 1.0
    assert game.action_names == ("left", "right", "up", "down", "stay")
    assert mfgtools.make_game("crowd", map="labyrinth").horizon == 100
    assert mfgtools.make_game("crowd", task="navigation").parameters["target"] == (11, 11)


def test_crowd_moves_and_walls():
    game = mfgtools.make_game("crowd", map="four_rooms")
    next_state = np.asarray(game.next_state)[:, :, 0]
    start = 1 * 13 + 1
    # left and up hit walls: stay; right -> (1,2); down -> (2,1); stay stays
    assert list(next_state[start]) == [start, start + 1, start, start + 13, start]
    uniform = mfgtools.uniform_policy(game)
    flow = mfgtools.mean_field(game, uniform)
    walls = ~game.free_cells.reshape(-1)
    assert np.abs(flow[:, walls]).max() == 0.0  # walls are never reached
    np.testing.assert_allclose(flow.sum(1), 1.0, atol=1e-5)


def test_crowd_rewards_match_the_paper():
    explore = mfgtools.make_game("crowd", task="exploration")
    navigate = mfgtools.make_game("crowd", task="navigation")
    mu = np.zeros(169, np.float32)
    mu[14], mu[15], mu[16] = 0.5, 0.5e-7, 0.5 - 0.5e-7
    r = np.asarray(explore.reward(0, mu))
    assert r[14, 0] == pytest.approx(-np.log(0.5)) and r[15, 3] == pytest.approx(-np.log(1e-6))
    r = np.asarray(navigate.reward(0, mu))
    d = abs(1 - 11) + abs(1 - 11)
    assert r[14, 4] == pytest.approx(-np.log(0.5) - 5 * d, rel=1e-6)  # stay: no move cost
    assert r[14, 1] == pytest.approx(-np.log(0.5) - 5 * d - 0.5, rel=1e-6)
    lab = mfgtools.make_game("crowd", map="labyrinth", task="navigation")
    mu = np.zeros(22 * 22, np.float32)
    mu[23] = 1.0
    assert np.asarray(lab.reward(0, mu))[23, 4] == pytest.approx(-38 / 38 + 0.0, abs=1e-6)


def test_crowd_noise_keeps_rows_stochastic():
    game = mfgtools.make_game("crowd", map="empty:5", noise=0.2, horizon=4, mu0="uniform")
    np.testing.assert_allclose(np.asarray(game.transition_prob).sum(-1), 1.0, atol=1e-6)
    flow = mfgtools.mean_field(game, mfgtools.uniform_policy(game))
    np.testing.assert_allclose(flow.sum(1), 1.0, atol=1e-5)


def test_grid_views_round_trip():
    game = mfgtools.make_game("crowd", map="empty:3x4", horizon=2, mu0=(0, 0))
    policy = mfgtools.uniform_policy(game)
    grid = game.to_grid(policy)
    assert grid.shape == (2, 3, 4, 5)
    np.testing.assert_array_equal(game.from_grid(grid), policy)
    flow = mfgtools.mean_field(game, policy)
    assert game.to_grid(flow).shape == (3, 3, 4)
    with pytest.raises(MFGError, match="not a grid game"):
        mfgtools.make_game("crowd_modelling").to_grid(np.zeros(10))


def test_maps_from_names_strings_and_files(tmp_path):
    free, label = load_map("four_rooms")
    assert free.shape == (13, 13) and free.sum() == 13 * 13 - 65 and label == "four_rooms"
    lab, _ = load_map("labyrinth")
    maze, _ = load_map("maze")
    differs = np.nonzero((lab != maze).any(axis=1))[0]
    assert list(differs) == [10]  # OpenSpiel's maze is the labyrinth but for row 10
    assert LABYRINTH.splitlines()[0] == MAZE.splitlines()[0]
    picture = "#####\n#   #\n# # #\n#   #\n#####\n"
    path = tmp_path / "room.txt"
    path.write_text(picture)
    from_file, _ = load_map(str(path))
    from_string, _ = load_map(picture)
    np.testing.assert_array_equal(from_file, from_string)
    assert from_string.sum() == 8
    game = mfgtools.make_game("crowd", map=str(path), horizon=3)
    assert game.n_states == 25 and "#" in game.parameters["map"]
    assert load_map("empty:7x3")[0].shape == (7, 3)
    assert load_map("   \n   ")[0].all()  # rows of spaces are free rows


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(map="nowhere"), "unknown map"),
        (dict(map="###\n#  \n#"), "not rectangular"),
        (dict(map="###\n###"), "no free cell"),
        (dict(task="dance"), "unknown task"),
        (dict(horizon=0), "horizon must be at least 1"),
        (dict(horizon="ten"), "horizon must be an integer"),
        (dict(mu0=(0, 0)), "is a wall"),
        (dict(mu0=(40, 1)), "outside"),
        (dict(task="navigation", target=(6, 6)), "target .* is a wall"),
        (dict(floor=0), "floor must be >"),
        (dict(noise=1.5), "noise must be <="),
        (dict(colour="red"), "has no parameter 'colour'"),
    ],
)
def test_crowd_parameters_are_validated(params, message):
    with pytest.raises(MFGError, match=message):
        mfgtools.make_game("crowd", **params)


def test_unknown_game_lists_the_known_ones():
    with pytest.raises(MFGError, match="unknown game 'chess'.*crowd"):
        mfgtools.make_game("chess")


def test_crowd_modelling_2d_settings():
    rooms = mfgtools.make_game("crowd_modelling_2d", setting="four_rooms")
    assert (rooms.n_states, rooms.horizon) == (169, 40)
    maze = mfgtools.make_game("crowd_modelling_2d", setting="maze")
    assert (maze.n_states, maze.horizon) == (484, 100)
    default = mfgtools.make_game("crowd_modelling_2d")
    assert (default.n_states, default.horizon) == (100, 10)
    np.testing.assert_allclose(np.asarray(default.initial_distribution), 0.01)
    legal = np.asarray(rooms.action_mask)[1 * 13 + 1]
    assert rooms.action_names == ("up", "left", "stay", "right", "down")
    assert list(legal) == [False, False, True, True, True]
    with pytest.raises(MFGError, match="unknown setting"):
        mfgtools.make_game("crowd_modelling_2d", setting="moon")


def _brute_force_openspiel_dfs(post_move, legal, noise_next, noise_legal, initial_order, horizon):
    """OpenSpiel's recursive, memoised evaluation order, literally (for small games)."""
    n_states, n_actions = post_move.shape
    first_action = np.full((horizon, n_states), -1)
    stale = np.zeros((horizon, n_states, n_actions), bool)
    seen_decision, seen_chance = set(), set()
    sys.setrecursionlimit(10000)

    def decision(s, t, last):
        if t == horizon or (s, t) in seen_decision:
            return
        seen_decision.add((s, t))
        first_action[t, s] = last
        for a in range(n_actions):
            if legal[s, a]:
                stale[t, s, a] = (post_move[s, a], t) in seen_chance
        for a in range(n_actions):
            if legal[s, a]:
                chance(post_move[s, a], t, a)

    def chance(y, t, a):
        if (y, t) in seen_chance:
            return
        seen_chance.add((y, t))
        for n in range(noise_next.shape[1]):
            if noise_legal[y, n]:
                decision(noise_next[y, n], t + 1, a)

    for s in initial_order:
        decision(s, 0, -1)
    return first_action, stale


def test_openspiel_traversal_matches_a_literal_depth_first_search():
    steps = np.array([-1, 0, 1])
    ring = ring_moves(7, steps)
    args = (ring, np.ones((7, 3), bool), ring, np.ones((7, 3), bool), np.arange(7), 6)
    for got, want in zip(openspiel_traversal(*args), _brute_force_openspiel_dfs(*args)):
        np.testing.assert_array_equal(got, want)
    free = np.ones((4, 5), bool)
    free[1, 2] = free[2, 1] = free[3, 3] = False
    target, legal = grid_moves(free, cm.MOVES_2D, torus=True)
    legal[:, cm.STAY_2D] = True
    post = np.where(legal, target, np.arange(20)[:, None])
    args = (post, legal, target, legal, np.array([0, 7, 19]), 5)
    for got, want in zip(openspiel_traversal(*args), _brute_force_openspiel_dfs(*args)):
        np.testing.assert_array_equal(got, want)


def test_every_registered_game_builds_with_defaults():
    for name in mfgtools.list_games():
        game = mfgtools.make_game(name)
        if game.kind == "swarm":  # particles: no finite state space
            assert game.horizon >= 1 and game.n_agents >= 1 and game.n_actions >= 2
            continue
        assert game.horizon >= 1 and game.n_states >= 1
        np.testing.assert_allclose(float(np.sum(game.initial_distribution)), 1.0, atol=1e-6)


def test_dense_transitions_keep_only_possible_successors():
    """A dense P[S, A, S] becomes a fan-out table of its nonzero successors (K = the most of any (s, a))."""
    from mfgtools.games.tabular import tabular_game

    rng = np.random.default_rng(3)
    dense = np.zeros((6, 3, 6))
    for s in range(6):
        for a in range(3):
            successors = rng.choice(6, 1 + (s + a) % 3, replace=False)
            dense[s, a, successors] = rng.dirichlet(np.ones(len(successors)))
    game = tabular_game(
        dense_transition=dense,
        reward=rng.uniform(size=(6, 3)),
        initial_distribution=np.ones(6) / 6,
        horizon=4,
        crowd_aversion=1.0,
    )
    assert game.fan_out == 3
    rebuilt = np.zeros_like(dense)
    np.add.at(
        rebuilt,
        (np.arange(6)[:, None, None], np.arange(3)[None, :, None], np.asarray(game.next_state)),
        np.asarray(game.transition_prob),
    )
    np.testing.assert_allclose(rebuilt, dense, atol=1e-6)
    flow = np.asarray(mfgtools.mean_field(game, mfgtools.uniform_policy(game)))
    expected = [np.ones(6) / 6]
    for _ in range(4):
        expected.append(np.einsum("s,sat->t", expected[-1] / 3, dense))
    np.testing.assert_allclose(flow, np.stack(expected), atol=1e-6)
