"""Helpers shared by the benchmark scripts (timing, memory, machine description).

Not part of the package and not a test helper: the scripts in this folder are
run by hand (``python benchmarks/bench_*.py``) and print their tables.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

# the scripts run from a checkout: make ``import mfgtools`` work without installing
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "results"  # git-ignored: where scripts write unless told otherwise


def add_output_arguments(parser, name: str, docs: str, allow_none: bool = False) -> None:
    """``--out FOLDER`` (default ``results/NAME``, git-ignored) and ``--docs`` (write into
    ``docs/DOCS``, the figures and tables the documentation shows: only when asked)."""
    none = " ('' for none)" if allow_none else ""
    parser.add_argument("--out", default=None, help=f"output folder (default: results/{name}, git-ignored){none}")
    parser.add_argument(
        "--docs", action="store_true", help=f"write into docs/{docs}, replacing the documented figures and tables"
    )
    parser.set_defaults(output_name=name, output_docs=docs)


def output_folder(args) -> str:
    """The folder chosen by :func:`add_output_arguments` (created; ``""`` when ``--out ''``)."""
    if args.docs and args.out is not None:
        raise SystemExit("give --out or --docs, not both")
    if args.docs:
        folder = ROOT / "docs" / args.output_docs
    elif args.out is None:
        folder = RESULTS / args.output_name
    elif args.out == "":
        return ""
    else:
        folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"writing into {folder}", file=sys.stderr)
    return str(folder)


def machine() -> str:
    """One line: CPU model, cores, RAM, Python, JAX versions."""
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                ram = f", {int(line.split()[1]) / 2**20:.1f} GiB RAM"
                break
    except OSError:
        pass
    import jax

    return (
        f"{model}, {os.cpu_count()} cores{ram}; Python {platform.python_version()}, "
        f"jax {jax.__version__}, backend {jax.default_backend()}"
    )


def load_average() -> str:
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def block(tree):
    import jax

    return jax.block_until_ready(tree)


def median_time(fn, repeats: int) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` over ``repeats`` calls (``fn`` must block)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def time_solve(game, iterations: int, repeats: int, solver: str = "omd", **params):
    """A compiled ``mfgtools.solve(game, solver, iterations=...)``, timed.

    Returns ``(median, first, result)``: the median wall time of ``repeats``
    calls after a first call (which compiles; its time is ``first``), and the
    last call's Result (its ``metrics["exploitability"][k]`` is that of the
    k-th iterate, entry 0 the initial policy).
    """
    import mfgtools

    call = lambda: mfgtools.solve(game, solver, iterations=iterations, progress=False, **params)
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    result = None

    def timed():
        nonlocal result
        result = call()

    median, _ = median_time(timed, repeats)
    return median, first, result


def openspiel_available() -> bool:
    """Whether OpenSpiel's C++ module and its Python mean-field algorithms import."""
    try:
        import pyspiel  # noqa: F401
        from open_spiel.python.mfg.algorithms import mirror_descent, nash_conv  # noqa: F401
    except ImportError:
        return False
    return True


def openspiel_mirror_descent(game, iterations: int, learning_rate: float) -> tuple[list[float], list[float]]:
    """OpenSpiel's ``MirrorDescent.iteration()`` + ``NashConv`` of the new policy, ``iterations`` times.

    ``game`` is a loaded OpenSpiel game. Returns the seconds of each iteration
    (iteration and NashConv together) and the NashConv after each (entry
    ``k - 1``: after ``k`` iterations). Building ``MirrorDescent`` (OpenSpiel
    computes the uniform policy's distribution there) is not timed.
    """
    from open_spiel.python.mfg.algorithms import mirror_descent, nash_conv

    md = mirror_descent.MirrorDescent(game, lr=learning_rate)
    times, values = [], []
    for _ in range(iterations):
        start = time.perf_counter()
        md.iteration()
        values.append(nash_conv.NashConv(game, md.get_policy()).nash_conv())
        times.append(time.perf_counter() - start)
    return times, values


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table (pasted as is into docs/benchmarks.md)."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) for c, w in zip(cells, widths)) + " |"
    rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(headers), rule] + [line(r) for r in rows])


def seconds(x: float) -> str:
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.2f} ms"
    return f"{x * 1e6:.0f} us"


class SolverRunner:
    """One iteration of a solver exactly as :func:`mfgtools.solve` runs it.

    The run engine's advance program (``mfgtools.engine.PROGRAMS.advance``, the
    program ``solve`` runs between progress reports) with one iteration per
    call, compiled ahead of time so that compile time and run time are measured
    separately. Each call returns the new state and the exploitability of the
    policy it started from (computed in the same pass).
    """

    def __init__(self, game, solver_name: str = "omd", **solver_params):
        import jax
        import numpy as np

        from mfgtools.engine import PROGRAMS
        from mfgtools.solvers import make_solver

        self.game = game
        self.solver = make_solver(solver_name, **solver_params).prepare(game)
        self.key = jax.random.PRNGKey(0)
        self.carry = block(PROGRAMS.init(self.solver, game, self.key))
        self.done = 0
        start = time.perf_counter()
        self.compiled = PROGRAMS.advance.lower(
            self.solver, game, self.carry, self.key, np.int32(0), np.int32(1), cap=1
        ).compile()
        self.compile_time = time.perf_counter() - start
        self.exploitability = float("nan")

    @property
    def state(self):
        """The solver's state (the carry also holds the best iterate)."""
        return self.carry.state

    def whole_array_copies(self) -> int:
        """Copies of whole ``(T, S, A)`` arrays in the compiled program (0 when updates are in place)."""
        import re

        g = self.game
        shape = rf"\[{g.horizon},{g.n_states},{g.n_actions}\]\{{[0-9,]+\}} copy\("
        return len(re.findall(shape, self.compiled.as_text()))

    def step(self):
        import numpy as np

        self.carry, metrics = self.compiled(
            self.solver, self.game, self.carry, self.key, np.int32(self.done), np.int32(1)
        )
        block(self.carry)
        self.done += 1
        self.exploitability = float(metrics["exploitability"][0])
        return self.exploitability
