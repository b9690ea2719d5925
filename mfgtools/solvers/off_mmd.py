"""Offline Munchausen Mirror Descent (Off-MMD; Brunnbauer et al., AAMAS 2025).

Learns an equilibrium policy from a static dataset of episodes (spec:
off_mmd.md): each iteration estimates the mean field of the current policy
``pi_k`` from the data by marginalised importance sampling
(:func:`mfgtools.offline.mis_mean_field`), recomputes the rewards of the data
from the known reward function under that estimate, and fits the next
Q-function to Munchausen targets with a CQL penalty
(:mod:`mfgtools.solvers.munchausen`). The learner never reads the game's
dynamics; the exact exploitability of ``pi_k`` in the true game is logged
after every iteration (with the L1 error of the MIS estimate, ``mis_error``,
averaged over time), for evaluation only.

One iteration (estimate, targets, 2000 Adam steps, exact evaluation) is one
compiled program; the dataset is an argument of that program, not a constant.
"""

from __future__ import annotations

import hashlib

import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools import kernels
from mfgtools.errors import MFGError, as_bool, as_float
from mfgtools.games import Parameter
from mfgtools.games.base import Annotation
from mfgtools.offline import OfflineDataset, mis_mean_field, resolve_dataset
from mfgtools.solvers import register_solver
from mfgtools.solvers.base import setting
from mfgtools.solvers.munchausen import (
    MunchausenLearner, MunchausenSolver, Transitions, learner_parameters, make_learner,
)


@struct.dataclass
class OfflineMunchausenMirrorDescent(MunchausenSolver):
    learner: MunchausenLearner = setting(MunchausenLearner())
    # where the data came from (a shipped quality, a path or a label) and a hash of its
    # arrays: recorded with results, never part of the compiled program's identity
    dataset: Annotation = setting(Annotation("expert"))
    dataset_digest: Annotation = setting(Annotation(""))
    normalise: bool = setting(True)
    clip: float | None = setting(None)
    source: OfflineDataset | None = None  # a dataset given as an object (before prepare)
    data: OfflineDataset | None = None  # bound by prepare
    transitions: Transitions | None = None

    def prepare(self, game):
        dataset = resolve_dataset(game, self.source if self.source is not None else self.dataset.value)
        dataset = dataset.replace(behaviour_policy=None)  # the learner never sees the behaviour table
        transitions = Transitions.from_episodes(dataset.state, dataset.action, dataset.next_state, dataset.done)
        return self.replace(source=None, data=dataset, transitions=transitions,
                            dataset_digest=Annotation(_digest(dataset)))

    def settings(self) -> dict:
        return {"dataset": self.dataset.value, "dataset_digest": self.dataset_digest.value,
                **self.learner_settings(), "normalise": self.normalise, "clip": self.clip}

    def mean_field_estimate(self, game, policy):
        """MIS estimate ``(T+1, S)`` of the flow of ``policy`` from the data."""
        data = self.data
        clip = jnp.inf if self.clip is None else self.clip
        return mis_mean_field(data.state, data.action, data.next_state, data.log_prob, policy,
                              game.n_states, self.normalise, clip).astype(policy.dtype)

    def step(self, game, state, key):
        if self.data is None:
            raise MFGError("Off-MMD needs its dataset: call solver.prepare(game) (solve does)")
        q = self.learner.q_table(game, state)
        policy = self.learner.policy(game, q)
        estimate = self.mean_field_estimate(game, policy)
        targets = self.learner.targets(game, q, estimate, self.transitions)
        fitted, losses = self.learner.fit(game, state, self.transitions, targets, key)
        flow = kernels.mean_field(game, policy)  # evaluation only: the learner never sees it
        metrics = {
            "exploitability": kernels.exploitability(game, policy, flow=flow),
            "mis_error": jnp.mean(jnp.sum(jnp.abs(estimate - flow), axis=-1)),
            **losses,
        }
        return {**fitted, "iteration": state["iteration"] + 1}, metrics


def _digest(dataset: OfflineDataset) -> str:
    digest = hashlib.sha256()
    for name in ("state", "action", "next_state", "log_prob", "reward"):
        digest.update(np.ascontiguousarray(np.asarray(getattr(dataset, name))).tobytes())
    return digest.hexdigest()[:16]


@register_solver(
    "off-mmd",
    "offline Munchausen mirror descent: learns from a dataset (MIS mean field, CQL); exact exploitability logged",
    {
        "dataset": Parameter("expert", "random, intermediate, expert (shipped, four rooms) or a dataset file"),
        **learner_parameters(3.0),
        "normalise": Parameter(True, "rescale each MIS estimate mu_t to sum to 1"),
        "clip": Parameter(None, "clip MIS weights at this value (none: no clipping)"),
    },
)
def make_off_mmd(dataset="expert", normalise=True, clip=None, **learner):
    source = None
    if isinstance(dataset, OfflineDataset):
        source, label = dataset, f"in-memory: {dataset.description or f'{dataset.n_episodes} episodes'}"
    elif isinstance(dataset, str) and dataset.strip():
        label = dataset.strip()
    else:
        raise MFGError(f"dataset must be random, intermediate, expert or a file path, got {dataset!r}")
    clip = None if clip is None else as_float(clip, "clip", 0.0, low_open=True)
    return OfflineMunchausenMirrorDescent(
        learner=make_learner(**learner), dataset=Annotation(label), normalise=as_bool(normalise, "normalise"), clip=clip,
        source=source,
    )
