"""One run split over devices (mfgtools.sharding): the same results as on one device.

The split runs go in one subprocess with 8 simulated CPU devices, so that the
rest of the suite keeps one device; the validation of ``devices`` runs here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from helpers import cli_env, with_xla_flag

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.simulate import simulate_swarm
from mfgtools.swarm_policies import uniform_policy

SPLIT = textwrap.dedent("""
    import json, jax, numpy as np, mfgtools
    from mfgtools import sharding
    from mfgtools.simulate import simulate_swarm
    from mfgtools.engine import seed_keys
    from mfgtools.solvers import prepare_solver
    from mfgtools.swarm_policies import uniform_policy

    def gap(a, b):
        return float(np.nanmax(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))

    def result_gap(a, b):
        return max(gap(a.policy, b.policy), gap(a.mean_field, b.mean_field),
                   gap(a.metrics["exploitability"], b.metrics["exploitability"]))

    report = {"devices": len(jax.devices()), "solve": {}, "shards": {}, "swarm": {}}
    for grid in ("empty:12", "empty:5x7"):  # 144 states, and 35 (not a multiple of 8)
        game = mfgtools.make_game("crowd", map=grid, horizon=6)
        kw = dict(iterations=4, learning_rate=0.3)
        plain = mfgtools.solve(game, "omd", **kw)
        for devices in (1, 8):
            split = mfgtools.solve(game, "omd", devices=devices, **kw)
            assert split.policy.shape == plain.policy.shape and split.mean_field.shape == plain.mean_field.shape
            report["solve"][f"{grid} on {devices}"] = result_gap(split, plain)
        # the state solve places: split along S, and still split after a chunk
        run = sharding.SpaceRun(game, prepare_solver(game, "omd", {"learning_rate": 0.3})[1], 8)
        carry = run.init(seed_keys(0)[1])
        before = {name: sharding.distinct_shards(leaf) for name, leaf in vars(carry.state).items()}
        carry, _ = run.advance(carry, seed_keys(0)[0], 0, 2, 2)
        after = {name: sharding.distinct_shards(leaf) for name, leaf in vars(carry.state).items()}
        report["shards"][grid] = {"before": before, "after": after,
                                  "spec": list(carry.state.policy.sharding.spec),
                                  "best": sharding.distinct_shards(carry.best.policy),
                                  "game": sharding.distinct_shards(run.game.next_state),
                                  "fetched": list(run.fetch(carry).state.policy.shape)}

    # a split run checkpointed, interrupted and resumed (split, and on one device)
    game = mfgtools.make_game("crowd", map="empty:5x7", horizon=6)
    kw = dict(iterations=4, learning_rate=0.3, checkpoint="run.npz")
    plain = mfgtools.solve(game, "omd", iterations=4, learning_rate=0.3)
    stopped = []
    def stop(done, _):
        if done >= 2:
            stopped.append(done)
            raise KeyboardInterrupt
    for resume_on in (8, None):
        try:
            mfgtools.solve(game, "omd", devices=8, callback=stop, restart=True, **kw)
        except KeyboardInterrupt:
            pass
        seen = []
        resumed = mfgtools.solve(game, "omd", devices=resume_on, resume=True, callback=lambda d, _: seen.append(d),
                                 **kw)
        report["solve"][f"resumed on {resume_on}"] = result_gap(resumed, plain)
        report[f"resumed on {resume_on}"] = {"stopped": stopped[-1], "seen": seen}

    for name, agents in (("vicsek", 64), ("kuramoto", 64), ("vicsek", 60)):
        game = mfgtools.make_game(name, horizon=5)
        kw = dict(n_seeds=2, seed=3, record_states=True)
        one = simulate_swarm(game, uniform_policy(game), agents, **kw)
        split = simulate_swarm(game, uniform_policy(game), agents, devices=8, **kw)
        report["swarm"][f"{name} {agents}"] = {
            "order": gap(one.order, split.order), "returns": gap(one.returns(), split.returns()),
            "effort": gap(one.effort, split.effort), "states": gap(one.states, split.states),
            "shards": sharding.distinct_shards(split.states), "shape": list(split.states.shape)}
    print(json.dumps(report))
""")


def test_one_run_split_over_8_devices_matches_one_device(tmp_path):
    env = dict(cli_env(), XLA_FLAGS=with_xla_flag("--xla_force_host_platform_device_count=8"), JAX_PLATFORMS="cpu")
    process = subprocess.run(
        [sys.executable, "-c", SPLIT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert process.returncode == 0, process.stderr
    report = json.loads(process.stdout.strip().splitlines()[-1])
    assert report["devices"] == 8
    assert max(report["solve"].values()) < 1e-5, report["solve"]
    assert len(report["solve"]) == 6
    for grid, shards in report["shards"].items():
        # (T, S, A) cumulative values and policy, (T, S) flow: 8 pieces along S; the counter replicated
        expected = {"cumulative": 8, "policy": 8, "flow": 8, "iteration": 1}
        assert shards["before"] == expected and shards["after"] == expected, (grid, shards)
        assert shards["spec"] == [None, "space"] and shards["game"] == 8 and shards["best"] == 8
    for resumed in (report["resumed on 8"], report["resumed on None"]):
        # chunks are sized by time: the resumed run went on from the checkpoint where the first one stopped
        assert resumed["seen"][0] > resumed["stopped"] >= 2 and resumed["seen"][-1] == 4, resumed
    assert report["shards"]["empty:5x7"]["fetched"] == [6, 35, 5]  # padded to 40 inside, 35 outside
    for run, values in report["swarm"].items():
        assert max(values[k] for k in ("order", "returns", "effort", "states")) < 1e-5, (run, values)
        assert values["shape"][1:] == [6, int(run.split()[1]), 4 if run.startswith("kuramoto") else 3]
    assert report["swarm"]["vicsek 64"]["shards"] == 8 and report["swarm"]["kuramoto 64"]["shards"] == 8
    assert report["swarm"]["vicsek 60"]["shards"] == 1  # N not a multiple of 8: split inside, returned whole


def test_devices_are_validated():
    game = mfgtools.make_game("crowd", map="empty:3", horizon=2)
    count = len(jax.devices())
    with pytest.raises(MFGError, match="devices must be at least 1, got 0"):
        mfgtools.solve(game, "omd", iterations=1, devices=0)
    with pytest.raises(
        MFGError,
        match=f"devices=99, but JAX sees only {count} device.*pass at most {count}.*"
        "xla_force_host_platform_device_count=99",
    ):
        mfgtools.solve(game, "omd", iterations=1, devices=99)
    with pytest.raises(MFGError, match="devices must be an integer, got 'two'"):
        mfgtools.solve(game, "omd", iterations=1, devices="two")
    with pytest.raises(MFGError, match="devices must name at least one device"):
        mfgtools.solve(game, "omd", iterations=1, devices=[])
    with pytest.raises(MFGError, match="devices lists a device twice"):
        mfgtools.solve(game, "omd", iterations=1, devices=jax.devices()[:1] * 2)
    swarm = mfgtools.make_game("vicsek", n_agents=8, horizon=2)
    with pytest.raises(MFGError, match="swarm game's solver state has no state axis.*simulate_swarm"):
        mfgtools.solve(swarm, "ippo", iterations=1, devices=1)
    with pytest.raises(MFGError, match="devices must be at least 1, got 0"):
        simulate_swarm(swarm, uniform_policy(swarm), 8, devices=0)
    with pytest.raises(MFGError, match="devices=99, but JAX sees only"):
        simulate_swarm(swarm, uniform_policy(swarm), 8, devices=99)


def test_one_device_gives_the_unsplit_run():
    game = mfgtools.make_game("crowd", map="empty:3", horizon=2)
    plain = mfgtools.solve(game, "omd", iterations=2)
    split = mfgtools.solve(game, "omd", iterations=2, devices=jax.devices()[:1])
    assert split.policy.shape == plain.policy.shape
    assert abs(split.metrics["exploitability"] - plain.metrics["exploitability"]).max() < 1e-6


def test_cli_solve_splits_over_devices(tmp_path):
    # `mfgtools solve --devices 4` on 4 simulated devices writes the result of the one-device run
    env = dict(cli_env(), XLA_FLAGS=with_xla_flag("--xla_force_host_platform_device_count=4"), JAX_PLATFORMS="cpu")
    flags = ["-m", "mfgtools", "solve", "--map", "empty:5", "--horizon", "4", "--iterations", "3", "-q"]
    for name, extra in (("split.nc", ["--devices", "4"]), ("one.nc", [])):
        process = subprocess.run(
            [sys.executable, *flags, *extra, "--out", name],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert process.returncode == 0, process.stderr
    split, one = mfgtools.load_result(tmp_path / "split.nc"), mfgtools.load_result(tmp_path / "one.nc")
    for name in ("policy", "mean_field", "exploitability"):
        np.testing.assert_allclose(split[name].values, one[name].values, atol=1e-6)
    # on this process's single device, too many devices is a one-line error
    from helpers import assert_one_error_line, run_cli

    too_many = run_cli("solve", "--map", "empty:5", "--horizon", "4", "--devices", "3", "--out", "x.nc", cwd=tmp_path)
    assert_one_error_line(too_many, "devices=3, but JAX sees only 1 device")
    assert not (tmp_path / "x.nc").exists()
