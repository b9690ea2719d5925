"""Quality metrics of an offline dataset: coverage, mean return, trajectory quality."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from mfgtools.offline.dataset import OfflineDataset


def coverage(dataset: OfflineDataset) -> dict:
    """State and state-action coverage: ``#unique(t, s[, a]) / (T * S [* A])``."""
    horizon, n_states, n_actions = dataset.horizon, dataset.n_states, dataset.n_actions
    t = np.broadcast_to(np.arange(horizon), dataset.state.shape)
    states = np.asarray(dataset.state).astype(np.int64)
    flat_state = t * n_states + states
    flat_action = flat_state * n_actions + np.asarray(dataset.action)
    return {
        "state_coverage": np.unique(flat_state).size / (horizon * n_states),
        "state_action_coverage": np.unique(flat_action).size / (horizon * n_states * n_actions),
    }


def reference_values(game, expert_policy=None, expert_iterations: int = 1000) -> dict:
    """Expected returns (from ``mu0``, in their own mean fields) of the uniform and expert policies.

    The expert defaults to online mirror descent run for ``expert_iterations``.
    """
    from mfgtools.finite import kernels
    from mfgtools.finite.evaluation import as_policy, uniform_policy
    from mfgtools.solvers import solve

    if expert_policy is None:
        expert_policy = solve(game, "omd", iterations=expert_iterations).policy

    def value(policy):
        policy = as_policy(game, policy)
        flow = kernels.mean_field(game, policy)
        _, v = kernels.evaluate_policy(game, policy, flow)
        return float(jnp.dot(game.initial_distribution, v[0]))

    return {"random_return": value(uniform_policy(game)), "expert_return": value(expert_policy)}


def dataset_metrics(dataset: OfflineDataset, game=None, references: dict | None = None) -> dict:
    """The spec's quality metrics: coverages, mean return and (with ``game``) trajectory quality.

    ``quality = clip((R_D - V_random) / (V_expert - V_random), 0, 1)`` with
    ``R_D`` the mean return of the episodes and ``V_*`` from :func:`reference_values`.
    """
    metrics = {
        "episodes": dataset.n_episodes,
        "transitions": dataset.n_transitions,
        **coverage(dataset),
        "mean_return": float(dataset.returns().mean()),
    }
    if game is not None or references is not None:
        references = references or reference_values(game)
        spread = references["expert_return"] - references["random_return"]
        quality = (metrics["mean_return"] - references["random_return"]) / spread if spread else float("nan")
        metrics.update(references, trajectory_quality=float(np.clip(quality, 0.0, 1.0)))
    return metrics


__all__ = ["coverage", "reference_values", "dataset_metrics"]
