#!/usr/bin/env python
"""Evaluate Off-MMD across dataset quality and size; write a table, curves and a plot.

Two studies (both on four-rooms crowd games, Off-MMD conventions):

``--shipped`` (default)
    Off-MMD on each dataset shipped in data/ (exploration and navigation x
    random, intermediate, expert), with the exploitability of every iteration,
    and as reference lines the online OMD solution (1000 OMD iterations, the
    exact equilibrium) and each behaviour policy's own exploitability.
``--sweep``
    Datasets collected with the recipe of data/make_datasets.py at every
    quality and at several sizes (``--sizes``), Off-MMD on each.

For every run the table gives the dataset's state and state-action coverage,
trajectory quality, the behaviour's exploitability, Off-MMD's final and best
exploitability, the behaviour's and the final policy's paper score (the official
code's scoring: discount 0.99, greedy value at t = 0;
:func:`mfgtools.solvers.off_mmd.paper_score`) and the wall time. Results go to ``--out`` (default
``results/evaluate_offline/``, git-ignored; ``--docs``: docs/offline): a markdown table, a CSV, the curves as
netCDF and a PNG figure.

    python benchmarks/evaluate_offline.py --shipped --iterations 100
    python benchmarks/evaluate_offline.py --sweep --sizes 200,1000,5000 --iterations 30 -p model=tabular
    python benchmarks/evaluate_offline.py --quick      # 2 iterations, tiny network: a smoke run

``--convergence``
    What makes the iteration settle (issue 15): on exploration/expert and
    navigation/intermediate (shipped data), the last iterate against the
    flow-weighted averages, the default learner (alpha 0.9, tau 10) against
    the official one (alpha 0.99, tau 20) and the variants between them, a
    stronger CQL weight, or a smaller step (tau 40), for the network and the tabular learner
    (``--models``). Writes ``convergence.{md,nc,png}``: final, best and the
    range of the last ten iterations of every curve.

    python benchmarks/evaluate_offline.py --convergence --iterations 100 --out docs/offline

``--mixtures``
    The paper's dataset study (issue 15): ``--count`` random mixtures of the
    task's random, intermediate and expert datasets drawn as the official
    ``mix_datasets`` draws them (from each base dataset a uniformly random
    fraction of its episodes, without replacement; then a size drawn from
    200 ... 50,000 episodes, capped at what was drawn, again without
    replacement), each learned with every CQL weight of ``--cql`` (one
    vmapped program per mixture: :func:`mfgtools.sweep`). Writes
    ``mixtures.{md,csv,nc,png}``: per mixture its counts, coverage and
    trajectory quality, per CQL weight the final and best exploitability,
    and the CQL weight x coverage figure.

    python benchmarks/evaluate_offline.py --mixtures --tasks navigation --count 100 --cql 0,1,3,10 --iterations 100
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import _common  # puts the checkout on sys.path; output folders
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
QUICK = dict(steps=20, batch_size=64, hidden="32,32")


def recipe():
    """data/make_datasets.py as a module (the shipped datasets' recipe)."""
    spec = importlib.util.spec_from_file_location("make_datasets", ROOT / "data" / "make_datasets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_one(game, dataset, behaviour, references, iterations, seed, params):
    import mfgtools
    from mfgtools.offline import dataset_metrics

    metrics = dataset_metrics(dataset, references=references)
    started = time.perf_counter()
    result = mfgtools.solve(game, "off-mmd", iterations=iterations, seed=seed, dataset=dataset, **params)
    seconds = time.perf_counter() - started
    from mfgtools.solvers.off_mmd import PAPER_METRIC, paper_score

    curve = result.metrics["exploitability"]
    row = {
        "task": game.parameters["task"],
        "episodes": dataset.n_episodes,
        "state_coverage": metrics["state_coverage"],
        "state_action_coverage": metrics["state_action_coverage"],
        "trajectory_quality": metrics["trajectory_quality"],
        "behaviour_exploitability": mfgtools.exploitability(game, behaviour),
        "behaviour_paper_score": float(paper_score(game, np.asarray(behaviour, np.float32))),
        "final_exploitability": float(curve[-1]),
        "final_paper_score": float(result.metrics[PAPER_METRIC][-1]),
        "best_exploitability": float(np.nanmin(curve)),
        "best_iteration": int(np.nanargmin(curve)),
        "seconds": seconds,
        "seconds_per_iteration": seconds / max(iterations, 1),
    }
    return row, curve, result.metrics.get("mis_error")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--shipped", action="store_true", help="the shipped datasets (default)")
    mode.add_argument("--sweep", action="store_true", help="collected datasets of several sizes")
    mode.add_argument("--convergence", action="store_true", help="last iterate against averages (issue 15)")
    mode.add_argument("--mixtures", action="store_true", help="random mixtures x CQL weight (the paper's study)")
    parser.add_argument("--count", type=int, default=100, help="mixtures: how many to draw")
    parser.add_argument("--cql", default="0,1,3,10", help="mixtures: CQL weights (official scale)")
    parser.add_argument("--models", default="mlp,tabular", help="convergence: learners to compare")
    parser.add_argument("--sizes", default="200,1000,5000", help="sweep: episodes per dataset")
    parser.add_argument("--tasks", default="exploration,navigation")
    parser.add_argument("--qualities", default="random,intermediate,expert")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Off-MMD parameter (default: the paper's settings)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny network, 2 iterations (smoke run)")
    _common.add_output_arguments(parser, "evaluate_offline", "offline")
    args = parser.parse_args(argv)

    import mfgtools
    from mfgtools.offline import reference_values, shipped_dataset

    params = dict(QUICK) if args.quick else {}
    for item in args.param:
        key, _, value = item.partition("=")
        params[key.strip()] = value
    iterations = 2 if args.quick else args.iterations
    if args.convergence:
        return convergence(args, params, iterations)
    if args.mixtures:
        return mixtures(args, params, iterations)
    tasks = [t for t in args.tasks.split(",") if t]
    qualities = [q for q in args.qualities.split(",") if q]
    study = "sweep" if args.sweep else "shipped"
    make = recipe()
    out = Path(_common.output_folder(args))
    print(f"# Off-MMD {study} study: {iterations} iterations, params {params or 'paper defaults'}")
    print(f"# machine: {_common.machine()}")

    rows, curves, errors = [], {}, {}
    online = {}
    for task in tasks:
        game = mfgtools.make_game("crowd", map="four_rooms", task=task)
        expert = make.behaviour_policy(game, "expert")
        online[task] = mfgtools.exploitability(game, expert)
        references = reference_values(game, expert_policy=expert)
        sizes = [int(s) for s in args.sizes.split(",")] if args.sweep else [None]
        for quality in qualities:
            for size in sizes:
                if size is None:
                    dataset = shipped_dataset(game, quality)
                else:
                    _, dataset = make.build(task, quality, seed=args.seed + 100, episodes=size, expert=expert)
                behaviour = np.asarray(dataset.behaviour_policy)
                row, curve, error = run_one(game, dataset, behaviour, references, iterations, args.seed, params)
                row["quality"] = quality
                rows.append(row)
                label = f"{task}/{quality}" + (f"/{size}" if size else "")
                curves[label], errors[label] = curve, error
                print(
                    f"{label:<28} coverage {row['state_coverage']:.3f}/{row['state_action_coverage']:.3f} "
                    f"quality {row['trajectory_quality']:.2f} behaviour {row['behaviour_exploitability']:.4g} "
                    f"final {row['final_exploitability']:.4g} (paper score {row['final_paper_score']:.4g}) "
                    f"best {row['best_exploitability']:.4g} "
                    f"({row['seconds_per_iteration']:.2f} s/it)",
                    flush=True,
                )

    write_outputs(out, study, rows, curves, errors, online, iterations, params)
    return 0


COLUMNS = (
    "task",
    "quality",
    "episodes",
    "state_coverage",
    "state_action_coverage",
    "trajectory_quality",
    "behaviour_exploitability",
    "behaviour_paper_score",
    "final_exploitability",
    "final_paper_score",
    "best_exploitability",
    "best_iteration",
    "seconds_per_iteration",
)


def write_outputs(out, study, rows, curves, errors, online, iterations, params):
    import xarray as xr

    from mfgtools.results import atomic_write, save_dataset

    def cell(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    table = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    table += ["| " + " | ".join(cell(row[c]) for c in COLUMNS) + " |" for row in rows]
    table += [
        "",
        "online OMD solution (1000 iterations): " + ", ".join(f"{task} {value:.3g}" for task, value in online.items()),
    ]
    text = "\n".join(table) + "\n"
    print(text)
    atomic_write(out / f"offline_{study}.md", lambda p: Path(p).write_text(text))
    csv = ",".join(COLUMNS) + "\n" + "".join(",".join(cell(r[c]) for c in COLUMNS) + "\n" for r in rows)
    atomic_write(out / f"offline_{study}.csv", lambda p: Path(p).write_text(csv))
    labels = list(curves)
    data = xr.Dataset(
        {"exploitability": (("run", "iteration"), np.stack([curves[k] for k in labels]))},
        coords={"run": labels, "iteration": np.arange(iterations + 1)},
        attrs={"study": study, "params": repr(params)},
    )
    if all(errors[k] is not None for k in labels):
        data["mis_error"] = (("run", "iteration"), np.stack([errors[k] for k in labels]))
    save_dataset(data, str(out / f"offline_{study}.nc"))
    plot(out / f"offline_{study}.png", rows, curves, online, study)
    print(f"wrote {out}/offline_{study}.{{md,csv,nc,png}}")


def plot(path, rows, curves, online, study):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mfgtools.results import atomic_write

    tasks = list(dict.fromkeys(row["task"] for row in rows))
    figure, axes = plt.subplots(1, len(tasks), figsize=(6.5 * len(tasks), 4.5), squeeze=False)
    colours = {"random": "tab:red", "intermediate": "tab:orange", "expert": "tab:green"}
    for axis, task in zip(axes[0], tasks):
        for (label, curve), row in zip(curves.items(), rows):
            if row["task"] != task:
                continue
            colour = colours.get(row["quality"])
            style = (
                "-"
                if study == "shipped"
                else ["-", "--", ":", "-."][sorted({r["episodes"] for r in rows}).index(row["episodes"]) % 4]
            )
            axis.plot(curve, style, color=colour, label=label.split("/", 1)[1])
            if study == "shipped":
                axis.axhline(row["behaviour_exploitability"], color=colour, lw=0.8, ls=":")
        axis.axhline(online[task], color="black", lw=1.0, ls="--", label="online OMD solution")
        axis.set_yscale("log")
        axis.set_title(f"four rooms {task}" + (" (dotted: behaviour policies)" if study == "shipped" else ""))
        axis.set_xlabel("Off-MMD iteration")
        axis.set_ylabel("exploitability")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    atomic_write(str(path), lambda p: figure.savefig(p, dpi=110, format="png"))
    plt.close(figure)


def style_axis(axis, title: str, xlabel: str, ylabel: str, legend_size: int) -> None:
    """Log-scale exploitability axis with a grid and a legend (the studies' figures)."""
    axis.set_yscale("log")
    axis.set_title(title, fontsize=10)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=legend_size)


def save_figure(figure, path) -> None:
    """Write the figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    from mfgtools.results import atomic_write

    figure.tight_layout()
    atomic_write(str(path), lambda p: figure.savefig(p, dpi=110, format="png"))
    plt.close(figure)


CONVERGENCE_CASES = (("exploration", "expert"), ("navigation", "intermediate"))
CONVERGENCE_VARIANTS = {  # label: Off-MMD parameters
    "last iterate (paper: alpha 0.99, tau 20)": {"average": "none", "alpha": 0.99, "tau": 20.0},
    "average, alpha 0.99, tau 20 (official learner)": {"alpha": 0.99, "tau": 20.0},
    "average, alpha 0.95, tau 20": {"alpha": 0.95, "tau": 20.0},
    "average, alpha 0.9, tau 20": {"alpha": 0.9, "tau": 20.0},
    "average, alpha 0.9, tau 10 (default)": {},
    "average, alpha 0.99, cql 6": {"alpha": 0.99, "tau": 20.0, "cql": 6.0},
    "average, alpha 0.99, pairing=all": {"alpha": 0.99, "tau": 20.0, "pairing": "all"},
    "last iterate, tau 40": {"average": "none", "alpha": 0.99, "tau": 40.0},
}


def convergence(args, params, iterations) -> int:
    """The convergence study: one curve per case, learner and variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    import mfgtools
    from mfgtools.offline import shipped_dataset
    from mfgtools.results import atomic_write, save_dataset

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    models = [m for m in args.models.split(",") if m]
    print(f"# Off-MMD convergence study: {iterations} iterations, models {models}, extra params {params or 'none'}")
    print(f"# machine: {_common.machine()}")
    curves, rows = {}, []
    for task, quality in CONVERGENCE_CASES:
        game = mfgtools.make_game("crowd", map="four_rooms", task=task)
        dataset = shipped_dataset(game, quality)
        for model in models:
            for variant, extra in CONVERGENCE_VARIANTS.items():
                if model == "mlp" and variant.startswith("last iterate,"):
                    continue  # the network runs are the expensive ones: skip the tabular-only variant
                started = time.perf_counter()
                result = mfgtools.solve(
                    game,
                    "off-mmd",
                    iterations=iterations,
                    seed=args.seed,
                    dataset=dataset,
                    model=model,
                    **{**params, **extra},
                )
                curve = result.metrics["exploitability"]
                label = f"{task}/{quality}/{model}/{variant}"
                curves[label] = curve
                tail = curve[-10:]
                rows.append(
                    (
                        label,
                        float(curve[-1]),
                        float(result.metrics["paper_exploitability"][-1]),
                        float(np.nanmin(curve)),
                        int(np.nanargmin(curve)),
                        float(tail.min()),
                        float(tail.max()),
                    )
                )
                print(
                    f"{label:<70} final {curve[-1]:.4g} (paper {rows[-1][2]:.4g}) best {rows[-1][3]:.4g} "
                    f"(it {rows[-1][4]}) last 10 {tail.min():.4g}-{tail.max():.4g} "
                    f"[{time.perf_counter() - started:.0f} s]",
                    flush=True,
                )
    table = ["| run | final | paper score | best (iteration) | last 10 |", "|---|---|---|---|---|"]
    table += [f"| {r[0]} | {r[1]:.4g} | {r[2]:.4g} | {r[3]:.4g} ({r[4]}) | {r[5]:.4g}-{r[6]:.4g} |" for r in rows]
    text = "\n".join(table) + "\n"
    atomic_write(out / "convergence.md", lambda p: Path(p).write_text(text))
    labels = list(curves)
    data = xr.Dataset(
        {"exploitability": (("run", "iteration"), np.stack([curves[k] for k in labels]))},
        coords={"run": labels, "iteration": np.arange(iterations + 1)},
        attrs={"study": "convergence", "params": repr(params)},
    )
    save_dataset(data, str(out / "convergence.nc"))
    panels = [(task, quality, model) for task, quality in CONVERGENCE_CASES for model in models]
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for axis, (task, quality, model) in zip(axes[0], panels):
        for label, curve in curves.items():
            if label.startswith(f"{task}/{quality}/{model}/"):
                variant = label.rsplit("/", 1)[1]
                axis.plot(curve, lw=2.0 if "average" in variant else 1.2, label=f"{variant}: final {curve[-1]:.3g}")
        style_axis(axis, f"{task}, {quality} data, {model}", "Off-MMD iteration", "exact exploitability (clean)", 7)
    save_figure(figure, out / "convergence.png")
    print(text + f"wrote {out}/convergence.{{md,nc,png}}")
    return 0


MIXTURE_SIZES = (200, 400, 500, 750, 1000, 2000, 3000, 5000, 10000, 20000, 50000)  # the official draw's sizes


def draw_mixtures(bases, count: int, seed: int):
    """``count`` mixtures of the ``bases`` as the official ``mix_datasets`` draws them.

    Each takes from every base dataset ``floor(u * n)`` of its ``n`` episodes (``u`` uniform on [0, 1),
    without replacement), then keeps ``min(size, drawn)`` of them, ``size`` uniform among
    :data:`MIXTURE_SIZES`. Returns ``[(counts per base, episodes kept, OfflineDataset), ...]``; the episodes kept
    come from each base in proportion to its count (a draw without replacement from the pool).
    """
    from mfgtools.offline import mix_datasets

    rng = np.random.default_rng(seed)
    drawn = []
    for index in range(count):
        counts = [int(rng.uniform() * base.n_episodes) for base in bases]
        if sum(counts) == 0:  # the official draw would give an empty dataset; keep one episode of the first
            counts[0] = 1
        pool = mix_datasets(bases, counts, seed=int(rng.integers(2**31)))
        size = min(int(rng.choice(MIXTURE_SIZES)), pool.n_episodes)
        text = f"mixture {index}: " + " + ".join(f"{c} x {b.description}" for c, b in zip(counts, bases))
        mixture = mix_datasets([pool], [size], seed=int(rng.integers(2**31)), description=f"{text}; {size} kept")
        drawn.append((counts, size, mixture))
    return drawn


def mixtures(args, params, iterations) -> int:
    """The mixture study: every drawn mixture learned with every CQL weight (one sweep per mixture)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    import mfgtools
    from mfgtools.offline import dataset_metrics, reference_values, shipped_dataset
    from mfgtools.results import atomic_write, save_dataset

    out = Path(_common.output_folder(args))
    weights = [float(w) for w in args.cql.split(",") if w]
    count = 2 if args.quick else args.count
    qualities = ("random", "intermediate", "expert")
    print(f"# Off-MMD mixture study: {count} mixtures, CQL {weights}, {iterations} iterations, params {params}")
    print(f"# machine: {_common.machine()}")
    rows, curves = [], []
    for task in [t for t in args.tasks.split(",") if t]:
        game = mfgtools.make_game("crowd", map="four_rooms", task=task)
        bases = [shipped_dataset(game, quality) for quality in qualities]
        references = reference_values(game, expert_policy=np.asarray(bases[-1].behaviour_policy))
        for index, (counts, size, dataset) in enumerate(draw_mixtures(bases, count, args.seed)):
            metrics = dataset_metrics(dataset, references=references)
            started = time.perf_counter()
            swept = mfgtools.sweep(
                game,
                "off-mmd",
                grid={"cql": weights},
                seeds=args.seed,
                iterations=iterations,
                progress=False,
                solver_params={**params, "dataset": dataset},
            )
            seconds = time.perf_counter() - started
            curve = np.asarray(swept["exploitability"]).reshape(len(weights), iterations + 1)
            paper = np.asarray(swept["paper_exploitability"]).reshape(len(weights), iterations + 1)
            for weight, run, score in zip(weights, curve, paper):
                rows.append(
                    {
                        "task": task,
                        "mixture": index,
                        "random": counts[0],
                        "intermediate": counts[1],
                        "expert": counts[2],
                        "episodes": size,
                        "state_coverage": metrics["state_coverage"],
                        "state_action_coverage": metrics["state_action_coverage"],
                        "trajectory_quality": metrics["trajectory_quality"],
                        "cql": weight,
                        "final_exploitability": float(run[-1]),
                        "final_paper_score": float(score[-1]),
                        "best_exploitability": float(np.nanmin(run)),
                    }
                )
                curves.append(run)
            finals = ", ".join(f"cql {w:g}: {r[-1]:.4g}" for w, r in zip(weights, curve))
            print(
                f"{task} mixture {index:3d} counts {counts} kept {size:5d} coverage "
                f"{metrics['state_action_coverage']:.3f} quality {metrics['trajectory_quality']:.2f} | {finals} "
                f"[{seconds:.0f} s]",
                flush=True,
            )
    columns = list(rows[0])

    def cell(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    table = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    table += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    text = "\n".join(table) + "\n"
    atomic_write(out / "mixtures.md", lambda p: Path(p).write_text(text))
    csv = ",".join(columns) + "\n" + "".join(",".join(cell(r[c]) for c in columns) + "\n" for r in rows)
    atomic_write(out / "mixtures.csv", lambda p: Path(p).write_text(csv))
    data = xr.Dataset(
        {"exploitability": (("run", "iteration"), np.stack(curves))},
        coords={
            "run": np.arange(len(rows)),
            "iteration": np.arange(iterations + 1),
            **{c: ("run", np.asarray([row[c] for row in rows])) for c in columns},
        },
        attrs={"study": "mixtures", "params": repr(params)},
    )
    save_dataset(data, str(out / "mixtures.nc"))
    tasks = list(dict.fromkeys(row["task"] for row in rows))
    figure, axes = plt.subplots(1, len(tasks), figsize=(6.5 * len(tasks), 4.5), squeeze=False)
    for axis, task in zip(axes[0], tasks):
        for weight in weights:
            chosen = sorted(
                (row["state_action_coverage"], row["final_exploitability"])
                for row in rows
                if row["task"] == task and row["cql"] == weight
            )
            axis.plot(*zip(*chosen), "o-", ms=4, label=f"CQL weight {weight:g}")
        style_axis(
            axis,
            f"four rooms {task}: {count} random mixtures",
            "state-action coverage of the mixture",
            f"exploitability after {iterations} iterations",
            8,
        )
    save_figure(figure, out / "mixtures.png")
    print(text + f"wrote {out}/mixtures.{{md,csv,nc,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
