#!/usr/bin/env python
"""Regenerate the offline datasets shipped in mfgtools/offline/data/ (bit for bit, from a seed).

For crowd exploration and navigation on the four-rooms map (Off-MMD
conventions), at three behaviour qualities, by the Off-MMD paper's recipe
(the default, ``--recipe paper``; issue 15): our D-MOMD trained as the
official online learner (``d-momd -p collection=official``, official settings,
``PAPER_ITERATIONS`` iterations from seed ``SEED``), the exact exploitability
of every checkpoint's policy ``softmax(Q_k / 20)`` recorded, and

- ``expert`` / ``intermediate``: the checkpoint whose exploitability is nearest
  the paper's behaviour checkpoints (``PAPER_EXPLOITABILITY``: 19.6 and 90.8 on
  exploration, 311 and 1133 on navigation; the official repository ships those
  checkpoints but states no rule for picking them), played at temperature 20;
- ``random``: the uniform policy.

Navigation is trained on the reward variant of ``PAPER_TRAINING_REWARD`` and
scored on the paper's reward (see there). ``--summary DIR`` also writes
``paper-<task>-checkpoints.npz`` (every checkpoint's policy table and
exploitability) and ``paper-<task>.json`` (the curve, the choice, the
training time).

``--recipe omd`` is the earlier recipe (``--out`` required): ``expert`` online
mirror descent run for 1000 iterations (lr 0.03; exploitability about 0.07),
``intermediate`` the mixture 0.5 * expert + 0.5 * uniform.

Each file holds 1000 episodes of one population of 1000 agents playing the
behaviour policy (the N-agent simulator), seed ``SEED + index`` in the order
above. The behaviour table is stored in the file as metadata. The same
software stack reproduces the files exactly (the shipped ones came out the
same on one and on two CPU threads); ``--check`` compares regenerated arrays
with the files instead of writing them.

    python data/make_datasets.py            # writes mfgtools/offline/data/crowd-four_rooms-*.nc (~17 min, 2 cores)
    python data/make_datasets.py --check    # regenerates and compares
    python data/make_datasets.py --summary results/paper   # also the checkpoints and curves
    python data/make_datasets.py --recipe omd --out results/omd-datasets   # the earlier recipe
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SEED = 0
EPISODES = 1000
TASKS = ("exploration", "navigation")
QUALITIES = ("random", "intermediate", "expert")
EXPERT_ITERATIONS = 1000
MIXTURE = 0.5
RECIPES = ("paper", "omd")
PAPER_ITERATIONS = 100  # the official train.yaml's num_iterations
PAPER_TEMPERATURE = 20.0  # collect_dataset.py's POLICY_TEMPERATURE (and the learner's tau)
# the reward the official navigation checkpoints were trained on: the variant ``reward - dist - 10 * congestion``
# left commented in the official envs.py, not its active ``- 5 * dist - congestion`` (docs/offline.md: trained on the
# active reward our checkpoints cover 2.2% of the (t, s) pairs at the paper's exploitability, the official expert
# 21.7%; on this variant 19.4%); checkpoints are still scored and chosen on the paper's (active) reward
PAPER_TRAINING_REWARD = {"exploration": {}, "navigation": {"distance_weight": 1.0, "move_weight": 10.0}}
# exact exploitability (our scale) of the official behaviour checkpoints (issue 15)
PAPER_EXPLOITABILITY = {
    "exploration": {"expert": 19.6, "intermediate": 90.8},
    "navigation": {"expert": 311.0, "intermediate": 1133.0},
}
# the package-data folder of mfgtools.offline (what a wheel ships), in this source tree
FOLDER = Path(__file__).resolve().parents[1] / "mfgtools" / "offline" / "data"


def behaviour_policy(game, quality: str, expert=None) -> np.ndarray:
    """The behaviour policy of ``quality`` (``expert``: reuse a computed OMD policy)."""
    import mfgtools
    from mfgtools.offline import mixed_policy

    if quality == "random":
        return mfgtools.uniform_policy(game)
    if expert is None:
        expert = mfgtools.solve(game, "omd", iterations=EXPERT_ITERATIONS, learning_rate=0.03).policy
    return expert if quality == "expert" else mixed_policy(game, expert, MIXTURE)


def build(task: str, quality: str, seed: int = SEED, episodes: int = EPISODES, expert=None, behaviour=None):
    """The dataset of ``task`` at ``quality`` (an :class:`~mfgtools.offline.OfflineDataset`).

    ``behaviour``: ``(policy, text)`` to play instead of the OMD recipe's policy (the paper recipe)."""
    import mfgtools
    from mfgtools.offline import collect_dataset

    game = mfgtools.make_game("crowd", map="four_rooms", task=task)
    index = TASKS.index(task) * len(QUALITIES) + QUALITIES.index(quality)
    if behaviour is not None:
        policy, text = behaviour
    else:
        policy = behaviour_policy(game, quality, expert)
        text = {
            "random": "uniform policy",
            "expert": f"OMD, {EXPERT_ITERATIONS} iterations",
            "intermediate": f"{MIXTURE} * OMD {EXPERT_ITERATIONS} + {1 - MIXTURE} * uniform",
        }[quality]
    return game, collect_dataset(
        game,
        policy,
        episodes,
        seed=seed + index,
        population=episodes,
        description=f"four rooms {task}, {quality}: {text}, {episodes} episodes",
    )


def train_checkpoints(game, iterations: int = PAPER_ITERATIONS, seed: int = SEED, scored=None):
    """Official D-MOMD on ``game``: the policies ``softmax(Q_k / 20)`` of the checkpoints ``k = 0..iterations``
    ``(K+1, T, S, A)``, their exact exploitabilities ``(K+1,)`` in ``scored`` (default: ``game``) and the
    training time in seconds (one compiled iteration, checkpoint ``k`` is the network after ``k`` iterations,
    as the official ``checkpoints/00k.pkl``)."""
    import time

    import jax

    import mfgtools
    from mfgtools import solvers

    solver = solvers.make_solver("d-momd", collection="official", tau=PAPER_TEMPERATURE)
    solver.check(game)
    init_key, run_key = jax.random.split(jax.random.PRNGKey(seed))
    state = solver.init(game, init_key)
    iterate = jax.jit(lambda state, key: solver.step(game, state, key))
    policies = [np.asarray(solver.policy(game, state))]
    start = time.perf_counter()
    for k in range(iterations):
        state, _ = iterate(state, jax.random.fold_in(run_key, k))
        policies.append(np.asarray(solver.policy(game, state)))
        print(f"  iteration {k + 1}/{iterations} ({time.perf_counter() - start:.0f} s)", flush=True)
    seconds = time.perf_counter() - start
    scored = game if scored is None else scored
    exploitability = np.array([float(mfgtools.exploitability(scored, policy)) for policy in policies])
    return np.stack(policies), exploitability, seconds


def nearest_checkpoint(exploitability: np.ndarray, reference: float) -> int:
    """The checkpoint whose exploitability is nearest ``reference`` (the first of ties)."""
    return int(np.argmin(np.abs(exploitability - reference)))


def paper_recipe(args) -> int:
    """The paper's recipe (module docstring): train, pick the checkpoints, collect; write or ``--check``."""
    import json

    import mfgtools
    from mfgtools.offline import coverage, shipped_name

    out = Path(args.out)
    status = 0
    for task in args.tasks:
        game = mfgtools.make_game("crowd", map="four_rooms", task=task)
        trained_on = mfgtools.make_game("crowd", map="four_rooms", task=task, **PAPER_TRAINING_REWARD[task])
        print(f"{task}: training official D-MOMD for {args.iterations} iterations", flush=True)
        policies, exploitability, seconds = train_checkpoints(trained_on, args.iterations, args.seed, scored=game)
        chosen = {
            q: nearest_checkpoint(exploitability, PAPER_EXPLOITABILITY[task][q]) for q in ("expert", "intermediate")
        }
        summary = {
            "task": task,
            "iterations": args.iterations,
            "seed": args.seed,
            "training_reward": PAPER_TRAINING_REWARD[task],
            "training_seconds": round(seconds, 1),
            "exploitability": [round(float(x), 3) for x in exploitability],
            "final": float(exploitability[-1]),
            "best": {"checkpoint": int(np.argmin(exploitability)), "exploitability": float(exploitability.min())},
            "chosen": {},
        }
        for quality in QUALITIES:
            if quality == "random":
                behaviour = (mfgtools.uniform_policy(game), "uniform policy")
            else:
                k = chosen[quality]
                behaviour = (
                    policies[k],
                    f"official D-MOMD checkpoint {k} of seed {args.seed} at temperature {PAPER_TEMPERATURE:g}, "
                    f"exploitability {exploitability[k]:.1f} (paper: {PAPER_EXPLOITABILITY[task][quality]:g})",
                )
            _, dataset = build(task, quality, args.seed, args.episodes, behaviour=behaviour)
            path = out / shipped_name(game, quality)
            entry = {key: round(float(value), 4) for key, value in coverage(dataset).items()}
            if quality != "random":
                entry.update(checkpoint=chosen[quality], exploitability=float(exploitability[chosen[quality]]))
            summary["chosen"][quality] = entry
            status |= _write_or_check(dataset, path, game, args.check)
            print(f"  {entry}", flush=True)
        if args.summary:
            folder = Path(args.summary)
            folder.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(
                folder / f"paper-{task}-checkpoints.npz", policy=policies, exploitability=exploitability
            )
            (folder / f"paper-{task}.json").write_text(json.dumps(summary, indent=1))
        print(
            f"{task}: {args.iterations} iterations in {seconds:.0f} s; exploitability {exploitability[0]:.1f} -> "
            f"{exploitability[-1]:.1f} (best {exploitability.min():.1f} at {int(np.argmin(exploitability))})",
            flush=True,
        )
    return status


def _write_or_check(dataset, path: Path, game, check: bool) -> int:
    """Write ``dataset`` to ``path``, or with ``check`` compare it with the file there; 1 if they differ."""
    from mfgtools.offline import FIELDS, load_dataset

    if not check:
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.save(path)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)", flush=True)
        return 0
    stored = load_dataset(path, game)
    same = all(np.array_equal(np.asarray(getattr(stored, f)), np.asarray(getattr(dataset, f))) for f in FIELDS)
    print(f"{path.name}: {'identical' if same else 'DIFFERENT'}", flush=True)
    return int(not same)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--episodes", type=int, default=EPISODES)
    parser.add_argument("--out", default=str(FOLDER), help="folder (default: mfgtools/offline/data/)")
    parser.add_argument("--check", action="store_true", help="compare with the files instead of writing")
    parser.add_argument("--recipe", choices=RECIPES, default="paper", help="paper (default, issue 15) or omd")
    parser.add_argument("--iterations", type=int, default=PAPER_ITERATIONS, help="paper recipe: D-MOMD iterations")
    parser.add_argument("--summary", help="paper recipe: also write the checkpoints and curves to this folder")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    args = parser.parse_args(argv)
    if args.recipe == "paper":
        return paper_recipe(args)
    if args.out == str(FOLDER):
        parser.error("--recipe omd makes files that are not shipped: give --out (a folder of them to write or check)")

    import mfgtools
    from mfgtools.offline import shipped_name

    status = 0
    for task in args.tasks:
        game = mfgtools.make_game("crowd", map="four_rooms", task=task)
        expert = behaviour_policy(game, "expert")
        for quality in QUALITIES:
            _, dataset = build(task, quality, args.seed, args.episodes, expert)
            status |= _write_or_check(dataset, Path(args.out) / shipped_name(game, quality), game, args.check)
    return status


if __name__ == "__main__":
    sys.exit(main())
