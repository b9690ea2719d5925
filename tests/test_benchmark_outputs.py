"""Benchmark scripts write into results/ (git-ignored) unless told to replace the documented figures."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WRITERS = {
    "graphex_dmu.py": "graphex",
    "pma_population.py": "pma",
    "swarm_eval.py": "swarm",
    "evaluate_offline.py": "offline",
}


@pytest.fixture
def common(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import _common

    monkeypatch.setattr(_common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(_common, "ROOT", tmp_path)
    return _common


def _parse(common, *argv):
    parser = argparse.ArgumentParser()
    common.add_output_arguments(parser, "study", "study_docs", allow_none=True)
    return parser.parse_args(list(argv))


def test_default_is_results_and_docs_only_when_asked(common, tmp_path):
    assert common.output_folder(_parse(common)) == str(tmp_path / "results" / "study")
    assert (tmp_path / "results" / "study").is_dir() and not (tmp_path / "docs").exists()
    assert common.output_folder(_parse(common, "--docs")) == str(tmp_path / "docs" / "study_docs")
    assert common.output_folder(_parse(common, "--out", str(tmp_path / "mine"))) == str(tmp_path / "mine")
    assert common.output_folder(_parse(common, "--out", "")) == ""
    with pytest.raises(SystemExit, match="not both"):
        common.output_folder(_parse(common, "--docs", "--out", "x"))


@pytest.mark.parametrize("script, docs", sorted(WRITERS.items()))
def test_every_writing_script_has_the_flags(script, docs):
    process = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert process.returncode == 0, process.stderr
    text = "".join(process.stdout.split())  # help wraps lines, even inside "git-ignored"
    assert f"docs/{docs}" in text and "results/" in text and "git-ignored" in text


def test_bench_peers_starts_and_refuses_unknown_games(tmp_path):
    script = str(REPO / "benchmarks" / "bench_peers.py")
    process = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    assert "--quick" in process.stdout and "--json" in process.stdout
    # with or without the peers installed: a game no peer shares is refused before anything runs
    process = subprocess.run(
        [sys.executable, script, "--games", "no_such_game", "--json", str(tmp_path / "x.json")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert process.returncode == 2 and "no_such_game not among the importable peers' games" in process.stderr
    assert not (tmp_path / "x.json").exists()


def test_device_suite_script_is_valid_bash_and_names_existing_benchmarks():
    script = REPO / "benchmarks" / "device_suite.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True)
    named = {word for line in script.read_text().splitlines() if line.startswith("step ") for word in line.split()}
    benchmarks = {word.split("/")[-1] for word in named if word.startswith("benchmarks/")}
    assert benchmarks == {
        "bench_big_grid.py",
        "bench_off_mmd.py",
        "bench_swarm.py",
        "bench_sweep.py",
        "bench_latency.py",
    }
    assert all((REPO / "benchmarks" / name).is_file() for name in benchmarks)


def test_mixtures_are_drawn_as_the_official_study_draws_them(common):
    """Counts are fractions of each base, the size one of the official sizes capped at the pool, episodes exact."""
    import evaluate_offline

    import mfgtools
    from mfgtools.offline import shipped_dataset

    game = mfgtools.make_game("crowd", map="four_rooms", task="exploration")
    bases = [shipped_dataset(game, quality) for quality in ("random", "intermediate", "expert")]
    drawn = evaluate_offline.draw_mixtures(bases, 6, seed=3)
    assert len(drawn) == 6
    for counts, size, mixture in drawn:
        assert all(0 <= c < base.n_episodes for c, base in zip(counts, bases)) and sum(counts) > 0
        assert size == min(size, sum(counts)) and (size in evaluate_offline.MIXTURE_SIZES or size == sum(counts))
        assert mixture.n_episodes == size and mixture.game == game.name
    again = evaluate_offline.draw_mixtures(bases, 6, seed=3)
    assert [(c, s) for c, s, _ in again] == [(c, s) for c, s, _ in drawn]
    assert [(c, s) for c, s, _ in evaluate_offline.draw_mixtures(bases, 6, seed=4)] != [(c, s) for c, s, _ in drawn]


def test_bench_off_mmd_runs_at_a_tiny_budget():
    """The Off-MMD timing script runs end to end (it once broke silently when the solver state changed)."""
    process = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "bench_off_mmd.py"),
            "--iterations",
            "1",
            *("-p", "steps=5", "-p", "hidden=16", "-p", "batch_size=32"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert process.returncode == 0, process.stderr
    assert "39000 trained on (pairing=consecutive)" in process.stdout
    assert "whole iteration (one program)" in process.stdout and "5 Adam steps, batch 32" in process.stdout
