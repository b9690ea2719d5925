"""The learning notebooks (offline learning, stationary PMA, swarm control) run top to bottom at a tiny budget.

A file of its own so that the slowest notebooks run on another test worker than the others
(``--dist loadfile`` keeps a file on one worker); the helpers live in ``test_notebooks.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nbformat", reason="nbformat not installed (pip install '.[test]')")
pytest.importorskip("nbclient", reason="nbclient not installed (pip install '.[test]')")

from test_notebooks import OFFLINE, PMA, SWARM, execute


def test_offline_learning_notebook_runs(tmp_path, monkeypatch):
    # one iteration of a tiny network, few episodes, a short OMD reference
    execute(
        OFFLINE, tmp_path, monkeypatch, iterations=1, steps=10, batch_size=32, hidden=16, episodes=50, omd_iterations=5
    )
    saved = tmp_path / "output" / "omd20_epsilon0.2.nc"
    assert saved.is_file()
    from mfgtools.offline import load_dataset

    assert load_dataset(saved).n_episodes == 50


def test_stationary_pma_notebook_runs(tmp_path, monkeypatch):
    # three PMA iterations, two small populations, two seeds
    execute(PMA, tmp_path, monkeypatch, iterations=3, agents="10,20", seeds=2)
    output = tmp_path / "output"
    from mfgtools import load_result

    saved = load_result(output / "torus_pma.nc")  # the 10 x 10 torus equilibrium, stationary policy
    assert saved.attrs["mode"] == "stationary" and saved["policy"].shape == (10, 10, 5)
    assert (output / "sis_finite_n.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (output / "sis_floors.csv").is_file()


def test_swarm_control_notebook_runs(tmp_path, monkeypatch):
    # one PPO iteration of tiny networks on swarms of 6 agents over 4 steps, one extra task
    execute(
        SWARM,
        tmp_path,
        monkeypatch,
        iterations=1,
        horizon=4,
        train_agents=6,
        agents="6",
        seeds=2,
        tasks="aggregation",
        solver="n_envs=2,width=8,epochs=1,minibatches=1,policy_agents=8,policy_rollouts=2",
    )
    from mfgtools import load_result

    saved = load_result(tmp_path / "output" / "vicsek_dec_pomfc.nc")
    assert saved.attrs["kind"] == "swarm" and saved.attrs["solver"] == "dec-pomfc"
    assert saved["policy"].sizes["t"] == 5  # decisions at t = 0..3, NaN at t = T = 4
    np.testing.assert_allclose(saved["policy"].values[:4].sum(-1), 1.0, atol=1e-5)
    assert np.isnan(saved["policy"].values[4]).all()
    assert (tmp_path / "output" / "vicsek.gif").read_bytes()[:6] == b"GIF89a"
