#!/usr/bin/env python
"""Regenerate the offline datasets shipped in mfgtools/offline/data/ (bit for bit, from a seed).

For crowd exploration and navigation on the four-rooms map (Off-MMD
conventions), at three behaviour qualities:

- ``random``: the uniform policy;
- ``expert``: online mirror descent run for 1000 iterations (lr 0.03;
  exploitability about 0.07), our own equilibrium;
- ``intermediate``: the mixture 0.5 * expert + 0.5 * uniform.

Each file holds 1000 episodes of one population of 1000 agents playing the
behaviour policy (the N-agent simulator), seed ``SEED + index`` in the order
above. The behaviour table is stored in the file as metadata. The same
software stack reproduces the files exactly; ``--check`` compares regenerated
arrays with the files instead of writing them.

    python data/make_datasets.py            # writes mfgtools/offline/data/crowd-four_rooms-*.nc
    python data/make_datasets.py --check    # regenerates and compares
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


def build(task: str, quality: str, seed: int = SEED, episodes: int = EPISODES, expert=None):
    """The dataset of ``task`` at ``quality`` (an :class:`~mfgtools.offline.OfflineDataset`)."""
    import mfgtools
    from mfgtools.offline import collect_dataset

    game = mfgtools.make_game("crowd", map="four_rooms", task=task)
    index = TASKS.index(task) * len(QUALITIES) + QUALITIES.index(quality)
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--episodes", type=int, default=EPISODES)
    parser.add_argument("--out", default=str(FOLDER), help="folder (default: mfgtools/offline/data/)")
    parser.add_argument("--check", action="store_true", help="compare with the files instead of writing")
    args = parser.parse_args(argv)

    import mfgtools
    from mfgtools.offline import FIELDS, load_dataset, shipped_name

    status = 0
    for task in TASKS:
        game = mfgtools.make_game("crowd", map="four_rooms", task=task)
        expert = behaviour_policy(game, "expert")
        for quality in QUALITIES:
            _, dataset = build(task, quality, args.seed, args.episodes, expert)
            path = Path(args.out) / shipped_name(game, quality)
            if args.check:
                stored = load_dataset(path, game)
                same = all(
                    np.array_equal(np.asarray(getattr(stored, f)), np.asarray(getattr(dataset, f))) for f in FIELDS
                )
                print(f"{path.name}: {'identical' if same else 'DIFFERENT'}")
                status |= not same
            else:
                dataset.save(path)
                print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return status


if __name__ == "__main__":
    sys.exit(main())
