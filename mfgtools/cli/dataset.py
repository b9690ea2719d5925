"""``mfgtools dataset collect | mix | info``: offline datasets."""

from __future__ import annotations

import os
import sys
import time

from mfgtools.cli.common import (
    GAME_SHORTCUTS,
    LABEL_WIDTH,
    add_force_flag,
    add_game_flags,
    check_output,
    claim_outputs,
    input_paths,
    parse_assignments,
    show_value,
)
from mfgtools.errors import MFGError, as_int, as_seed


# ----- dataset ----------------------------------------------------------------------
def add_dataset_parser(commands) -> None:
    dataset = commands.add_parser(
        "dataset",
        help="offline datasets: collect, mix, info",
        description="Collect offline datasets by simulating a population that follows a policy, mix "
        "datasets, and print a dataset's schema summary and quality metrics.",
    )
    actions = dataset.add_subparsers(dest="action", metavar="ACTION", required=True)

    collect = actions.add_parser(
        "collect",
        help="simulate a population following a policy and save its episodes",
        description="Simulate EPISODES agents following a behaviour policy (one population unless "
        "--population is smaller) and save their episodes as a dataset file.",
        epilog="policies: uniform; omd:K (online mirror descent after K iterations); equilibrium "
        "(omd:1000); or a result file of `mfgtools solve` (its final policy).",
    )
    collect.add_argument("--game", default="crowd", help="game name (default: crowd)")
    add_game_flags(collect)
    collect.add_argument(
        "-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="set a game parameter (repeatable)"
    )
    collect.add_argument("--policy", default="uniform", help="behaviour policy (default: uniform; see below)")
    collect.add_argument("--epsilon", default="0", help="mix the policy with uniform: (1-e) pi + e uniform")
    collect.add_argument("--episodes", default="1000", metavar="E", help="episodes to record (default: 1000)")
    collect.add_argument("--population", metavar="N", help="agents per simulated population (default: E)")
    collect.add_argument("--seed", default="0", metavar="S", help="random seed (default: 0)")
    collect.add_argument("--out", required=True, metavar="PATH", help="dataset file to write (netCDF)")
    collect.add_argument("--overwrite", action="store_true", help="replace --out if it exists (default: refuse)")
    add_force_flag(collect)
    collect.set_defaults(handler=run_dataset_collect)

    mix = actions.add_parser(
        "mix",
        help="concatenate episodes of datasets of the same game",
        description="Mix datasets of the same game and map into one file.",
    )
    mix.add_argument("paths", nargs="+", metavar="PATH", help="dataset files")
    mix.add_argument("--counts", metavar="N,N,...", help="episodes to draw from each (default: all)")
    mix.add_argument("--seed", default="0", metavar="S", help="random seed of the draws (default: 0)")
    mix.add_argument("--out", required=True, metavar="PATH", help="dataset file to write")
    mix.add_argument("--overwrite", action="store_true", help="replace --out if it exists (default: refuse)")
    mix.set_defaults(handler=run_dataset_mix)

    info = actions.add_parser(
        "info",
        help="summary and quality metrics of a dataset",
        description="Print a dataset's game, size, coverage and returns; with "
        "--quality also its trajectory quality and the behaviour's "
        "exploitability (these need the game's dynamics).",
    )
    info.add_argument("path", help="dataset file")
    info.add_argument(
        "--quality", action="store_true", help="also compute the trajectory quality (runs OMD for the expert reference)"
    )
    info.set_defaults(handler=run_dataset_info)


class Stage:
    """``with Stage("collecting 2000 episodes"):`` one line on stderr when a person watches
    (stderr is a terminal): the stage's name, then its duration when it ends. Nothing
    otherwise, so that pipes and logs get only the results."""

    def __init__(self, message: str):
        self.message = message
        self.shown = sys.stderr.isatty()

    def __enter__(self):
        self.started = time.perf_counter()
        if self.shown:
            print(f"mfgtools: {self.message} ...", file=sys.stderr, flush=True)
        return self

    def __exit__(self, kind, error, traceback):
        if self.shown and kind is None:
            print(
                f"mfgtools: {self.message}: done in {time.perf_counter() - self.started:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        return False


def _behaviour(game, spec: str):
    from mfgtools.finite.evaluation import uniform_policy
    from mfgtools.solvers import solve

    text = spec.strip()
    if text == "uniform":
        return uniform_policy(game)
    if text == "equilibrium":
        text = "omd:1000"
    if text.startswith("omd"):
        _, _, count = text.partition(":")
        iterations = as_int(count or "1000", "--policy omd:K", 0)
        return solve(game, "omd", iterations=iterations).policy
    if not os.path.isfile(text):
        raise MFGError(f"--policy {spec!r} is not uniform, omd:K, equilibrium or an existing result file")
    from mfgtools.results import load_result

    result = load_result(text)
    if "policy" not in result or result.attrs.get("game") != game.name:
        raise MFGError(f"{text!r} holds no policy of game {game.name!r}")
    if result.attrs["mode"] != "finite-horizon":
        raise MFGError(
            f"{text!r} holds a {result.attrs['mode']} policy; datasets are collected with a "
            "finite-horizon policy: solve the game with --mode finite-horizon"
        )
    policy = result["policy"].values[:-1]
    if game.grid_shape is not None and policy.ndim == 4:
        policy = game.from_grid(policy)
    return policy


def run_dataset_collect(args) -> int:
    from mfgtools.games import make_game
    from mfgtools.offline import check_collection, collect_dataset, dataset_metrics, require_finite_horizon

    shortcuts = {name: getattr(args, name) for name in GAME_SHORTCUTS if getattr(args, name) is not None}
    game_params = dict(shortcuts)
    for key, value in parse_assignments(args.param):
        if key in game_params:
            raise MFGError(f"game parameter {key!r} is given twice; keep one")
        game_params[key] = value
    episodes = as_int(args.episodes, "--episodes", 1)
    population = None if args.population is None else as_int(args.population, "--population", 1)
    seed = as_seed(args.seed, "--seed")
    check_output(args.out, "--out", args.overwrite, input_paths(game_params, {"--policy": args.policy}))
    claim_outputs(args, args.out)
    game = make_game(args.game, **game_params)
    require_finite_horizon(game)  # before a behaviour policy is computed
    check_collection(game, episodes, episodes if population is None else population)
    with Stage(f"behaviour policy {args.policy}"):
        policy = _behaviour(game, args.policy)
    description = f"{args.policy}" + (f" mixed with uniform (epsilon {args.epsilon})" if float(args.epsilon) else "")
    with Stage(f"simulating {episodes} episodes"):
        dataset = collect_dataset(
            game,
            policy,
            episodes,
            seed=seed,
            population=population,
            epsilon=args.epsilon,
            description=f"{description}, {episodes} episodes",
        )
    with Stage(f"writing {args.out}"):
        args.written.append(dataset.save(args.out))
    _print_metrics(dataset_metrics(dataset))
    print(f"{'wrote':<{LABEL_WIDTH}} {args.out}")
    return 0


def run_dataset_mix(args) -> int:
    from mfgtools.offline import dataset_metrics, load_dataset, mix_datasets

    seed = as_seed(args.seed, "--seed")
    check_output(args.out, "--out", args.overwrite, input_paths({"dataset": args.paths}))
    claim_outputs(args, args.out)
    datasets = [load_dataset(path) for path in args.paths]
    counts = None
    if args.counts is not None:
        counts = [part for part in args.counts.split(",") if part.strip()]
    mixed = mix_datasets(datasets, counts, seed=seed)
    args.written.append(mixed.save(args.out))
    _print_metrics(dataset_metrics(mixed))
    print(f"{'wrote':<{LABEL_WIDTH}} {args.out}")
    return 0


def run_dataset_info(args) -> int:
    from mfgtools.offline import dataset_metrics, load_dataset

    dataset = load_dataset(args.path)
    print(f"{'game':<{LABEL_WIDTH}} {dataset.game} {_format_params(dataset.game_params)}")
    print(f"{'description':<{LABEL_WIDTH}} {dataset.description}")
    print(
        f"{'shape':<{LABEL_WIDTH}} {dataset.n_episodes} episodes x {dataset.horizon} steps, "
        f"{dataset.n_states} states, {dataset.n_actions} actions"
    )
    game = None
    references = None
    if args.quality:
        from mfgtools.games import make_game
        from mfgtools.offline import check_matches, reference_values

        game = make_game(dataset.game, **_rebuildable(dataset.game_params))
        check_matches(dataset, game)
        with Stage("reference returns (uniform policy; expert: 1000 OMD iterations)"):
            references = reference_values(game)
    metrics = dataset_metrics(dataset, references=references)
    if game is not None and dataset.behaviour_policy is not None:
        from mfgtools.finite.evaluation import exploitability

        with Stage("behaviour policy's exploitability"):
            metrics["behaviour_exploitability"] = exploitability(game, dataset.behaviour_policy)
    _print_metrics(metrics)
    return 0


def _rebuildable(params: dict) -> dict:
    return {key: (tuple(value) if isinstance(value, list) else value) for key, value in params.items()}


def _format_params(params: dict) -> str:
    from mfgtools.games.crowd import relevant_parameters

    return ", ".join(f"{key}={show_value(value)}" for key, value in sorted(relevant_parameters(params).items()))


def _print_metrics(metrics: dict) -> None:
    width = max([LABEL_WIDTH] + [len(name) for name in metrics])
    for name, value in metrics.items():
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        print(f"{name:<{width}} {shown}")


__all__ = ["add_dataset_parser", "Stage", "run_dataset_collect", "run_dataset_mix", "run_dataset_info"]
