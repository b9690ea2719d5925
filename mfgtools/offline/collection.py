"""Collecting offline datasets with the N-agent simulator, and mixing them.

:func:`collect_dataset` plays a behaviour policy (optionally mixed with the
uniform policy, :func:`mixed_policy`) with one or more simulated populations
and records one episode per agent; :func:`mix_datasets` concatenates episodes
of datasets of the same game.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mfgtools.annotations import Annotation
from mfgtools.errors import MFGError, as_float, as_int, as_seed
from mfgtools.offline.dataset import FIELDS, OfflineDataset, dynamics_fingerprint, plain_json, require_finite_horizon


def mixed_policy(game, policy, epsilon: float) -> np.ndarray:
    """``(1 - epsilon) * policy + epsilon * uniform`` (over legal actions)."""
    from mfgtools.finite.evaluation import as_policy, uniform_policy

    epsilon = as_float(epsilon, "epsilon", 0.0, 1.0)
    checked = np.asarray(as_policy(game, policy), dtype=np.float64)
    return (1.0 - epsilon) * checked + epsilon * np.asarray(uniform_policy(game), dtype=np.float64)


def check_collection(game, n_episodes: int, population: int, force: bool | None = None) -> int:
    """Refuse a collection whose episodes cannot fit in memory; returns the number of populations.

    Per agent and step: state, action, reward and log-probability on the device,
    then their host copies and ``(E, T)`` reshapes; plus each population's
    ``(T+1, S)`` empirical flow.
    """
    from mfgtools.resources import check_bytes

    n_populations = -(-n_episodes // population)
    check_bytes(
        f"collecting {n_episodes:,} episodes of T={game.horizon:,} steps in game {game.name!r}",
        n_populations * population * (game.horizon + 1) * 4 * 4 * 3
        + n_populations * (game.horizon + 1) * game.n_states * 4,
        "--episodes (collect in parts and join them with `mfgtools dataset mix`) or --population",
        force,
    )
    return n_populations


def collect_dataset(
    game,
    policy,
    n_episodes: int,
    seed: int = 0,
    population: int | None = None,
    epsilon: float = 0.0,
    description: str = "",
) -> OfflineDataset:
    """Play ``policy`` with the N-agent simulator and record ``n_episodes`` episodes.

    Agents are simulated in populations of ``population`` agents (default: all
    ``n_episodes`` in one population); all agents of a population follow the
    behaviour policy ``(1 - epsilon) * policy + epsilon * uniform`` and the
    population's empirical distribution drives rewards and transitions. Each
    agent contributes one episode. The behaviour table is kept as metadata.
    """
    from mfgtools.finite.evaluation import as_policy, check_game
    from mfgtools.finite.simulate import simulate_seeds

    check_game(game)
    require_finite_horizon(game)
    n_episodes = as_int(n_episodes, "episodes", 1)
    seed = as_seed(seed)
    population = n_episodes if population is None else as_int(population, "population", 1)
    n_populations = check_collection(game, n_episodes, population)
    behaviour = as_policy(game, mixed_policy(game, policy, epsilon))
    keys = jax.random.split(jax.random.PRNGKey(seed), n_populations)
    runs = simulate_seeds(game, behaviour, keys, population)

    def episodes(x):  # (P, T, N) -> (P * N, T)[:E]
        x = np.asarray(x)
        return np.moveaxis(x, 1, 2).reshape(-1, x.shape[1])[:n_episodes]

    states = episodes(runs.states)  # (E, T+1)
    done = np.zeros((n_episodes, game.horizon), dtype=bool)
    done[:, -1] = True
    text = description or f"{n_episodes} episodes" + (f", epsilon {epsilon:g}" if epsilon else "")
    return OfflineDataset(
        state=jnp.asarray(states[:, :-1], jnp.int32),
        action=jnp.asarray(episodes(runs.actions), jnp.int32),
        reward=jnp.asarray(episodes(runs.rewards)),
        done=jnp.asarray(done),
        next_state=jnp.asarray(states[:, 1:], jnp.int32),
        log_prob=jnp.asarray(episodes(runs.log_prob)),
        behaviour_policy=behaviour,
        **_game_metadata(game),
        info=Annotation(_info(game, description=text, seed=seed, population=population)),
    )


def _game_metadata(game) -> dict:
    return dict(
        game=game.name, n_states=game.n_states, n_actions=game.n_actions, fingerprint=dynamics_fingerprint(game)
    )


def _info(game, **extra) -> dict:
    info = {
        "game_params": dict(game.parameters),
        "action_names": tuple(game.action_names),
        "grid_shape": game.grid_shape,
    }
    info.update(extra)
    return info


def mix_datasets(datasets, counts=None, seed: int = 0, description: str = "") -> OfflineDataset:
    """Concatenate episodes of several datasets of the same game.

    ``counts`` (one per dataset) draws that many episodes from each without
    replacement (default: all of them). Each step keeps its own behaviour
    log-probability: the importance weight of a step is then unbiased for the
    component that generated it, which is all the MIS estimate needs.
    """
    datasets = list(datasets)
    if not datasets:
        raise MFGError("mix needs at least one dataset")
    first = datasets[0]
    for index, other in enumerate(datasets[1:], start=1):
        if (other.game, other.fingerprint) != (first.game, first.fingerprint):
            raise MFGError(
                f"dataset {index + 1} comes from another game or map than dataset 1 "
                f"({other.game} {other.fingerprint} vs {first.game} {first.fingerprint}); "
                "only datasets of the same dynamics can be mixed"
            )
        theirs, ours = plain_json(other.game_params), plain_json(first.game_params)
        differ = [key for key in sorted(set(theirs) | set(ours)) if theirs.get(key) != ours.get(key)]
        if differ:  # same dynamics, other rewards (exploration vs navigation, weights, target)
            shown = "; ".join(f"{key}: {ours.get(key)!r} vs {theirs.get(key)!r}" for key in differ[:4])
            raise MFGError(
                f"dataset {index + 1} was collected with other game parameters than dataset 1 ({shown}): "
                "its rewards come from another reward function; mix only datasets of one game setting"
            )
    if counts is None:
        counts = [d.n_episodes for d in datasets]
    counts = [as_int(c, "episode count", 0) for c in counts]
    if len(counts) != len(datasets):
        raise MFGError(f"give one episode count per dataset: {len(datasets)} datasets, {len(counts)} counts")
    rng = np.random.default_rng(as_seed(seed))
    parts = {name: [] for name in FIELDS}
    for dataset, count in zip(datasets, counts):
        if count > dataset.n_episodes:
            raise MFGError(f"cannot draw {count} episodes from a dataset of {dataset.n_episodes}")
        chosen = np.sort(rng.choice(dataset.n_episodes, size=count, replace=False))
        for name in FIELDS:
            parts[name].append(np.asarray(getattr(dataset, name))[chosen])
    if sum(counts) == 0:
        raise MFGError("the mixture would have no episode; give positive counts")
    arrays = {name: jnp.asarray(np.concatenate(parts[name])) for name in FIELDS}
    text = description or " + ".join(f"{c} x [{d.description}]" for d, c in zip(datasets, counts) if c)
    info = dict(first.info.value, description=text, seed=int(seed), population=0)
    return OfflineDataset(
        **arrays,
        behaviour_policy=None,
        game=first.game,
        n_states=first.n_states,
        n_actions=first.n_actions,
        fingerprint=first.fingerprint,
        info=Annotation(info),
    )


__all__ = ["mixed_policy", "check_collection", "collect_dataset", "mix_datasets"]
