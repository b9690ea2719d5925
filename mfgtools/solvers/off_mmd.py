"""Offline Munchausen Mirror Descent (Off-MMD; Brunnbauer et al., AAMAS 2025).

Learns an equilibrium policy from a static dataset of episodes (spec:
off_mmd.md): each iteration estimates the mean field of the current policy
``pi_k`` from the data by marginalised importance sampling
(:func:`mfgtools.offline.mis_mean_field`), recomputes the rewards of the data
from the known reward function under that estimate, and fits the next
Q-function to Munchausen targets with a CQL penalty
(:mod:`mfgtools.solvers.munchausen`), with the official code's loss scaling
``0.25 * MSE + 3 * CQL`` (``0.5 * mean(optax.l2_loss) + 3 * CQL``).

The iterates ``pi_k`` of the paper's method swing around the equilibrium
(exploitability 33 to 140 on the README's main job after the first dip) and
do not settle. The policy returned (and scored) is therefore by default the
average of the iterates ``pi_0..pi_k`` weighted by ``(k + 1) * muhat_k(t, s)``,
``muhat_k`` the MIS estimate of iterate ``k``'s flow (``average=linear``; the
data only, no dynamics; fictitious play's average with estimated flows);
``average=none`` returns the last iterate as the paper does. The learning
iteration itself always continues from the last iterate.

Two learner defaults differ from the official ``off_omd.yaml`` (``alpha``
0.99, ``tau`` 20): ``alpha = 0.9`` and ``tau = 10`` (:data:`OFFLINE_DEFAULTS`).
With ``alpha = 0.99`` the Munchausen term accumulates the advantages of about
100 iterations, the network's Q-values and the CQL penalty grow with every
iteration and on navigation the iterates degrade after about 45 iterations
(exploitability 43 -> 500); ``alpha = 0.9`` keeps about 10 iterations, so the
Q-values stay bounded and the run settles, and ``tau = 10`` halves the
entropy regularisation ``tau * (1 - alpha)`` that this adds (2 -> 1).
Measured in docs/offline.md ("Convergence"); ``-p alpha=0.99 -p tau=20``
gives the official settings.

The learner never reads the game's dynamics; for evaluation only, after every
iteration it logs the exact exploitability of the returned policy, the
paper's score of it (``paper_exploitability``, :func:`paper_score`), the
last iterate's exact exploitability (``iterate_exploitability``, when
averaging) and the L1 error of the MIS estimate (``mis_error``, averaged
over time).

One iteration (estimate, targets, 2000 Adam steps, exact evaluation) is one
compiled program; the dataset is an argument of that program, not a constant.
"""

from __future__ import annotations

import hashlib

import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.annotations import Annotation
from mfgtools.errors import MFGError
from mfgtools.finite import kernels
from mfgtools.offline.dataset import OfflineDataset
from mfgtools.offline.mis import mis_mean_field
from mfgtools.offline.shipped import resolve_dataset
from mfgtools.registry import Parameter, boolean, choice, optional, parameters_of, positive
from mfgtools.solvers.base import setting
from mfgtools.solvers.munchausen import (
    MunchausenLearner,
    MunchausenSolver,
    Transitions,
    learner_parameters,
)
from mfgtools.solvers.registry import register_solver

PAIRINGS = ("all", "consecutive")
AVERAGES = ("none", "uniform", "linear")


@struct.dataclass
class OfflineMunchausenMirrorDescent(MunchausenSolver):
    learner: MunchausenLearner = setting()
    # where the data came from (a shipped quality, a path or a label) and a hash of its
    # arrays: recorded with results, never part of the compiled program's identity
    dataset: Annotation = setting()
    normalise: bool = setting(True, "rescale each MIS estimate mu_t to sum to 1", boolean)
    clip: float | None = setting(
        None, "clip MIS weights at this value (none: no clipping)", optional(positive()), traced=False
    )
    pairing: str = setting(
        "consecutive",
        "training transitions: consecutive (the official code's: pairs of steps within an episode, "
        "the last step dropped) or all steps (the last with done = 1)",
        choice(*PAIRINGS),
    )
    average: str = setting(
        "linear",
        "returned policy: the iterates averaged with their estimated flows, "
        "iterate k weighted linear (k + 1) or uniform; none: the last iterate",
        choice(*AVERAGES),
    )
    dataset_digest: Annotation = setting(Annotation(""))
    source: OfflineDataset | None = None  # a dataset given as an object (before prepare)
    data: OfflineDataset | None = None  # bound by prepare
    transitions: Transitions | None = None

    def prepare(self, game):
        dataset = resolve_dataset(game, self.source if self.source is not None else self.dataset.value)
        dataset = dataset.replace(behaviour_policy=None)  # the learner never sees the behaviour table
        transitions = Transitions.from_episodes(
            dataset.state, dataset.action, dataset.next_state, dataset.done, drop_last=self.pairing == "consecutive"
        )
        return self.replace(
            source=None, data=dataset, transitions=transitions, dataset_digest=Annotation(_digest(dataset))
        )

    def settings(self) -> dict:
        return {
            "dataset": self.dataset.value,
            "dataset_digest": self.dataset_digest.value,
            **self.learner_settings(),
            "normalise": self.normalise,
            "clip": self.clip,
            "pairing": self.pairing,
            "average": self.average,
        }

    def mean_field_estimate(self, game, policy):
        """MIS estimate ``(T+1, S)`` of the flow of ``policy`` from the data."""
        data = self.data
        clip = jnp.inf if self.clip is None else self.clip
        return mis_mean_field(
            data.state, data.action, data.next_state, data.log_prob, policy, game.n_states, self.normalise, clip
        ).astype(policy.dtype)

    # ----- the returned policy: the last iterate or a flow-weighted average ---------------
    def init(self, game, key):
        state = super().init(game, key)
        if self.average == "none":
            return state
        dtype = game.initial_distribution.dtype
        return state.replace(
            flow_sum=jnp.zeros((game.horizon, game.n_states), dtype),
            policy_sum=jnp.zeros((game.horizon, game.n_states, game.n_actions), dtype),
        )

    def _with_iterate(self, state, iterate, estimate):
        """``state`` with iterate ``k`` (``state.iteration``) added to the running sums of ``policy``,
        weight ``w_k * muhat_k(t, s)``; ``w_k`` is 1 (uniform) or ``k + 1`` (linear)."""
        weight = 1.0 if self.average == "uniform" else (state.iteration + 1).astype(estimate.dtype)
        weight = weight * estimate[:-1]  # (T, S)
        return state.replace(
            policy_sum=state.policy_sum + weight[..., None] * iterate, flow_sum=state.flow_sum + weight
        )

    def _averaged(self, sums, iterate):
        flow_sum = sums.flow_sum[..., None]
        return jnp.where(flow_sum > 0, sums.policy_sum / jnp.where(flow_sum > 0, flow_sum, 1.0), iterate)

    def policy(self, game, state):
        """The last iterate ``pi_k = softmax(Q_k / tau)``, or with ``average`` the iterates
        ``pi_0..pi_k`` averaged per ``(t, s)`` with weights ``w_j * muhat_j(t, s)``
        (``muhat_j`` the MIS estimate of iterate ``j``'s flow: the data only). Without
        population-dependent dynamics the average's flow is then the ``w``-weighted
        average of the iterates' (estimated) flows, as in fictitious play. Where no
        iterate has estimated mass the last iterate is used."""
        iterate = super().policy(game, state)
        if self.average == "none":
            return iterate
        return self._averaged(self._with_iterate(state, iterate, self.mean_field_estimate(game, iterate)), iterate)

    def step(self, game, state, key):
        if self.data is None:
            raise MFGError("Off-MMD needs its dataset: call solver.prepare(game) (solve does)")
        q = self.learner.q_table(game, state.learner)
        iterate = self.learner.policy(game, q)
        estimate = self.mean_field_estimate(game, iterate)
        targets = self.learner.targets(game, q, estimate, self.transitions)
        fitted, losses = self.learner.fit(game, state.learner, self.transitions, targets, key)
        new_state = state.replace(iteration=state.iteration + 1, learner=fitted)
        policy = iterate
        if self.average != "none":
            sums = self._with_iterate(state, iterate, estimate)
            policy = self._averaged(sums, iterate)
            new_state = new_state.replace(flow_sum=sums.flow_sum, policy_sum=sums.policy_sum)
        # evaluation only: the learner never sees the game's dynamics
        flow = kernels.mean_field(game, iterate)
        metrics = {**self.evaluate(game, policy), "mis_error": jnp.mean(jnp.sum(jnp.abs(estimate - flow), axis=-1))}
        if self.average != "none":
            metrics["iterate_exploitability"] = kernels.exploitability(game, iterate, flow=flow)
        return new_state, {**metrics, **losses}

    def evaluate(self, game, policy):
        """Exact exploitability and the paper's score (:func:`paper_score`) of ``policy``."""
        return {"exploitability": kernels.exploitability(game, policy), PAPER_METRIC: paper_score(game, policy)}


# the learner defaults of off-mmd that differ from the official off_omd.yaml (module docstring)
OFFLINE_DEFAULTS = {"alpha": 0.9, "tau": 10.0}
PAPER_DISCOUNT = 0.99
PAPER_METRIC = "paper_exploitability"


def paper_score(game, policy):
    """The official Off-MMD code's "exploitability" of ``policy`` ``(T, S, A)``.

    Its evaluation (``value_iteration`` in the official ``train.py``) runs backward
    induction with discount 0.99 against the policy's exact mean field, for the
    policy and for the best response, and scores ``sum_s mu0(s) (max_a Q*_0(s, a) -
    max_a Q^pi_0(s, a))``: the policy's value at ``t = 0`` is the greedy one
    (:func:`mfgtools.finite.kernels.exploitability` with ``greedy_start=True`` on the game
    with discount 0.99). It is not a true exploitability (it can be lower than the
    clean one by the first step's gap); the uniform policy scores 279.4 on
    four-rooms exploration and 2111.7 on navigation (clean: 351.8 and 2716.5).
    """
    scored = game.replace(discount=PAPER_DISCOUNT)
    return kernels.exploitability(scored, policy, greedy_start=True)


def _digest(dataset: OfflineDataset) -> str:
    digest = hashlib.sha256()
    for name in ("state", "action", "next_state", "log_prob", "reward"):
        digest.update(np.ascontiguousarray(np.asarray(getattr(dataset, name))).tobytes())
    return digest.hexdigest()[:16]


def dataset_source(value, name: str):
    """An :class:`~mfgtools.offline.dataset.OfflineDataset`, or a shipped quality or file path (stripped)."""
    if isinstance(value, OfflineDataset):
        return value
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise MFGError(f"{name} must be random, intermediate, expert or a file path, got {value!r}")


@register_solver(
    "off-mmd",
    "offline Munchausen mirror descent: learns from a dataset (MIS mean field, CQL); exact exploitability logged",
    {
        "dataset": Parameter(
            "expert", "random, intermediate, expert (shipped, four rooms) or a dataset file", dataset_source
        ),
        **learner_parameters(**OFFLINE_DEFAULTS),
        **parameters_of(OfflineMunchausenMirrorDescent),
    },
)
def make_off_mmd(dataset, normalise, clip, pairing, average, **learner):
    source = dataset if isinstance(dataset, OfflineDataset) else None
    label = f"in-memory: {dataset.description or f'{dataset.n_episodes} episodes'}" if source else dataset
    return OfflineMunchausenMirrorDescent(
        learner=MunchausenLearner(**learner),
        dataset=Annotation(label),
        normalise=normalise,
        clip=clip,
        source=source,
        pairing=pairing,
        average=average,
    )
