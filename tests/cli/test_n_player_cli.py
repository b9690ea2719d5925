"""``mfgtools solve --n-players``: the N-player estimates under the mean-field exploitability."""

from __future__ import annotations

import os

import pytest
import xarray as xr

from mfgtools.cli import main

SOLVE = ["solve", "--game", "random", "-p", "n_states=5", "-p", "horizon=4", "--iterations", "2", "--quiet"]


def test_solve_prints_and_saves_the_n_player_estimates(tmp_path, capsys):
    out = tmp_path / "r.nc"
    status = main(
        SOLVE
        + ["--n-players", "4, 8", "--n-player-episodes", "8", "--n-player-deviator", "mean-field", "--out", str(out)]
    )
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    labels = [line.split("  ")[0] for line in lines]
    at = labels.index("exploitability")
    assert labels[at + 1 : at + 3] == ["N = 4", "N = 8"]
    assert "+-" in lines[at + 1] and "mean-field best response, 8 episodes" in lines[at + 1]
    with xr.open_dataset(out) as saved:
        assert list(saved.attrs["n_players"]) == [4, 8] and saved.attrs["n_player_episodes"] == 8
        assert saved.attrs["n_player_gain"].shape == saved.attrs["n_player_stderr"].shape == (2,)
        assert saved.attrs["n_player_deviator"] == "mean-field"


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--n-players", "1"], "--n-players must be at least 2, got 1"),
        (["--n-players", "10,,100"], "--n-players must be numbers separated by commas"),
        (["--n-players", "10", "--n-player-episodes", "1"], "--n-player-episodes must be at least 2, got 1"),
        (["--game", "vicsek", "--n-players", "10"], "--n-players needs a finite game"),
        (["--n-players", "10", "-p", "mode=stationary"], "--n-players needs a finite-horizon game"),
    ],
)
def test_bad_n_player_flags_fail_before_solving(tmp_path, capsys, flags, message):
    base = ["solve", "--quiet"] if "vicsek" in flags else SOLVE  # the swarm has no n_states
    status = main(base + flags + ["--out", str(tmp_path / "r.nc")])
    err = capsys.readouterr().err
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert os.listdir(tmp_path) == []
