"""Inputs that used to be accepted silently (issue 16, group 4 and the list after it).

Each is now refused with one clear line, or accepted with a one-line note of
what was changed: maps with stray characters, cells on walls, mixes of datasets
of different reward functions, results that cannot be plotted, figures without
an extension, edge lists with self-loops, duplicates, extra columns or 64-bit
ids, seeds and horizons beyond what JAX can index, negative or NaN
temperatures, complex policies.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import mfgtools
from mfgtools.cli import main
from mfgtools.errors import MAX_HORIZON, MAX_SEED, MFGError
from mfgtools.evaluation import as_policy, best_response, exploitability, uniform_policy

PICTURE = "#####\n#   #\n# # #\n#   #\n#####"


def run_main(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, [line for line in captured.err.splitlines() if line.strip()]


# ----- maps -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "picture, fragment",
    [
        ("#####\n# x #\n#####", "row 1 column 2 holds 'x'"),
        ("#####\n#\t  #\n#####", "holds '\\t'"),
        ("#####\n# \x00 #\n#####", "holds '\\x00'"),
    ],
)
def test_maps_hold_only_walls_and_free_cells(picture, fragment):
    with pytest.raises(MFGError, match="only '#' \\(wall\\) and spaces or '.'") as error:
        mfgtools.make_game("crowd", map=picture)
    assert fragment in str(error.value)


def test_dots_are_free_cells():
    game = mfgtools.make_game("crowd", map="#####\n#...#\n#. .#\n#...#\n#####", mu0="uniform")
    assert int(np.asarray(game.free_mask).sum()) == 9


def test_binary_and_huge_map_files_are_refused(tmp_path):
    binary = tmp_path / "map.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(MFGError, match="map file .* (is not UTF-8 text|is binary data)"):
        mfgtools.make_game("crowd", map=str(binary))


def test_a_map_file_named_like_a_shipped_map_keeps_its_own_picture(tmp_path, monkeypatch):
    (tmp_path / "labyrinth").write_text(PICTURE)
    monkeypatch.chdir(tmp_path)
    game = mfgtools.make_game("crowd", map=os.path.join(".", "labyrinth"), task="navigation")
    assert game.n_states == 25 and game.horizon == 40  # not the shipped labyrinth (484 cells, T = 100)
    assert "#" in game.parameters["map"]


@pytest.mark.parametrize(
    "params, fragment",
    [
        (
            dict(map="#####\n##  #\n#   #\n#   #\n#####"),
            "the default mu0 (1, 1) is a wall of the map; pass mu0=ROW,COL",
        ),
        (dict(map=PICTURE, mu0="2,2"), "mu0 (2, 2) is a wall of the map"),
        (dict(map=PICTURE, task="navigation", target="2,2"), "target (2, 2) is a wall"),
        (dict(map=PICTURE, task="navigation", target="9,9"), "target (9, 9) is outside the 5x5 map"),
    ],
)
def test_cells_on_walls_are_refused(params, fragment):
    with pytest.raises(MFGError) as error:
        mfgtools.make_game("crowd", **params)
    assert fragment in str(error.value)


def test_crowd_modelling_2d_reward_cells_must_be_free():
    with pytest.raises(MFGError, match="positional_reward \\(2, 2\\) is a wall"):
        mfgtools.make_game("crowd_modelling_2d", map=PICTURE, positional_reward="2,2")
    with pytest.raises(MFGError, match="positional_reward \\(7, 1\\) is outside"):
        mfgtools.make_game("crowd_modelling_2d", size=5, positional_reward="7,1")
    game = mfgtools.make_game("crowd_modelling_2d", map=PICTURE, positional_reward="1,1")
    assert game.parameters["positional_reward"] == ((1, 1),)


# ----- datasets ---------------------------------------------------------------------------------
def test_mixing_datasets_of_different_rewards_is_refused():
    from mfgtools.games.base import Annotation
    from mfgtools.offline import collect_dataset, dynamics_fingerprint, mix_datasets

    explore = mfgtools.make_game("crowd", map="empty:4", horizon=3)
    navigate = mfgtools.make_game("crowd", map="empty:4", horizon=3, task="navigation")
    first = collect_dataset(explore, uniform_policy(explore), 4, seed=0)
    # what a navigation dataset of the same map records (same dynamics, other rewards), without
    # compiling a second simulation
    second = first.replace(info=Annotation({**first.info.value, "game_params": dict(navigate.parameters)}))
    assert second.fingerprint == dynamics_fingerprint(navigate)  # the dynamics alone do not tell them apart
    with pytest.raises(
        MFGError,
        match="other game parameters than dataset 1 .*task: 'exploration' vs 'navigation'.*another reward function",
    ):
        mix_datasets([first, second])
    assert mix_datasets([first, first]).n_episodes == 8


# ----- results and figures --------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    game = mfgtools.make_game("crowd", map="empty:4", horizon=3)
    result = mfgtools.solve(game, "omd", iterations=2)
    folder = tmp_path_factory.mktemp("results")
    return result.to_xarray(), folder


def _variant(saved, name, change):
    dataset, folder = saved
    copy = dataset.copy(deep=True)
    change(copy)
    path = folder / name
    copy.to_netcdf(path)
    return path


@pytest.mark.parametrize(
    "version, fragment",
    [
        (99, "format version 99, but this mfgtools reads versions 1 to 1 (written by a newer mfgtools"),
        (0, "format version 0"),
        ("two", "format version 'two', not an integer"),
    ],
)
def test_plot_refuses_unknown_format_versions(saved, version, fragment, capsys):
    path = _variant(saved, f"v{version}.nc", lambda d: d.attrs.update(mfgtools_format=version))
    status, _, lines = run_main(capsys, "plot", str(path), "--out", str(path) + ".png")
    assert status == 2 and len(lines) == 1 and fragment in lines[0], lines
    assert not os.path.exists(str(path) + ".png")


def test_plot_refuses_a_mean_field_that_is_not_a_distribution(saved, capsys):
    def poison(d):
        d["mean_field"].values[1, 0, 0] = np.nan

    path = _variant(saved, "nan.nc", poison)
    status, _, lines = run_main(capsys, "plot", str(path), "--out", str(path) + ".png")
    assert status == 2 and len(lines) == 1 and "1 NaN or infinite entries in its mean field" in lines[0], lines
    assert not os.path.exists(str(path) + ".png")


def test_plot_notes_infinite_exploitability_and_draws_the_rest(saved, capsys):
    def diverge(d):
        d["exploitability"].values[-1] = np.inf

    path = _variant(saved, "inf.nc", diverge)
    status, out, lines = run_main(capsys, "plot", str(path), "--out", str(path) + ".png")
    assert status == 0, lines
    assert (
        len(lines) == 1
        and lines[0].startswith("mfgtools: note: ")
        and "1 of 3 exploitability values are infinite" in lines[0]
    ), lines
    assert os.path.getsize(str(path) + ".png") > 1000


def test_figures_need_an_extension(tmp_path, capsys):
    status, _, lines = run_main(
        capsys,
        "solve",
        "--map",
        "empty:4",
        "--horizon",
        "3",
        "--iterations",
        "1",
        "--out",
        str(tmp_path / "r.nc"),
        "--plot",
        str(tmp_path / "run"),
    )
    assert status == 2 and len(lines) == 1 and "has no extension: name it with its format, e.g. run.png" in lines[0]
    assert os.listdir(tmp_path) == []


# ----- edge lists -------------------------------------------------------------------------------------
def test_edge_lists_say_what_was_dropped_merged_or_renumbered(tmp_path, capsys):
    from mfgtools.games.contagion import load_population
    from mfgtools.graphs.networks import load_edge_list

    big = 2**62 + 7  # a 64-bit id: accepted, renumbered
    lines = ["0 1", "1 1", "0 1", "1 2 0.5", f"{big} 2"] + [f"0 {k}" for k in range(3, 12)]
    path = tmp_path / "net.txt"
    path.write_text("\n".join(lines) + "\n")
    graph, report = load_edge_list(path)
    assert report.changes() == [
        "1 self-loop dropped",
        "1 duplicate line merged",
        "columns after the second ignored on 1 line",
        "node ids renumbered 0..12",
    ]
    assert int(graph.node_ids[-1]) == big and graph.n_edges == 12
    load_population(str(path), k_max=1)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == [
        f"mfgtools: note: network file {str(path)!r}: 1 self-loop dropped; 1 duplicate line merged; "
        "columns after the second ignored on 1 line; node ids renumbered 0..12 (13 vertices, 12 "
        "undirected edges)"
    ]
    clean = tmp_path / "clean.txt"
    clean.write_text("0 1\n1 2\n2 0\n0 3\n")
    assert load_edge_list(clean)[1].changes() == []
    beyond = tmp_path / "beyond.txt"
    beyond.write_text(f"0 {2**64}\n")
    with pytest.raises(MFGError, match="too large \\(ids must fit in 64 bits\\)"):
        load_edge_list(beyond)


# ----- seeds, horizons, temperatures, policies ----------------------------------------------------
@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["solve", "--seed", str(2**70)], f"--seed must be at most {MAX_SEED}"),
        (["solve", "--seed", str(2**32)], f"--seed must be at most {MAX_SEED}"),
        (["solve", "--horizon", str(2**70)], f"horizon must be at most {MAX_HORIZON}"),
        (["sweep", "--seeds", f"0,{2**70}"], f"--seeds must be at most {MAX_SEED}"),
        (["dataset", "collect", "--seed", str(2**64), "--out", "d.nc"], f"--seed must be at most {MAX_SEED}"),
        (["solve", "--game", "random", "-p", f"seed={2**70}"], f"seed must be at most {MAX_SEED}"),
        (["solve", "--game", "sis", "-p", f"horizon={2**40}"], f"horizon must be at most {MAX_HORIZON}"),
    ],
)
def test_seeds_and_horizons_are_bounded_from_above(argv, fragment, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, _, lines = run_main(capsys, *argv)
    assert status == 2 and len(lines) == 1 and fragment in lines[0], lines
    assert os.listdir(tmp_path) == []


@pytest.fixture(scope="module")
def small_game():
    return mfgtools.make_game("crowd", map="empty:3", horizon=2)


@pytest.mark.parametrize("temperature", [-0.5, float("nan"), float("inf"), "warm"])
def test_temperature_must_be_a_non_negative_number(small_game, temperature):
    policy = uniform_policy(small_game)
    with pytest.raises(MFGError, match="temperature"):
        exploitability(small_game, policy, temperature=temperature)
    with pytest.raises(MFGError, match="temperature"):
        best_response(small_game, policy, temperature=temperature)


def test_complex_policies_are_refused(small_game):
    policy = uniform_policy(small_game).astype(np.complex64)
    with pytest.raises(MFGError, match="real numbers .*complex64"):
        as_policy(small_game, policy)
    with pytest.raises(MFGError, match="real numbers"):
        exploitability(small_game, policy + 0j)
