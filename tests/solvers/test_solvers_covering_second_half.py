"""The second half of the covering (game, solver) runs of test_solvers.py (split so pytest's two workers share
them: each run compiles)."""

from __future__ import annotations

from helpers import covering_selection, run_covering_half


def test_every_game_and_every_solver_runs_second_half():
    instances, runs, _ = covering_selection()
    run_covering_half(instances, runs, half=1)
