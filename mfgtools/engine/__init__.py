"""How a run executes, knowing no registry names and no command line.

- :mod:`mfgtools.engine.programs`: the pure programs of a run (init, advance a
  chunk, finish, a whole run) and their jitted, cached versions;
- :mod:`mfgtools.engine.loop`: the ways of executing a batch of runs (one run,
  vmapped seeds or sweep points; :class:`mfgtools.sharding.SpaceRun` splits one
  run over devices) and the one host loop with its hooks (progress,
  checkpoints, callbacks);
- :mod:`mfgtools.engine.progress`: progress reports for terminals, notebooks and logs.

:func:`mfgtools.solve`, :func:`mfgtools.solve_seeds` and :func:`mfgtools.sweep`
are thin compositions of these.
"""

from mfgtools.engine.loop import BatchRuns, Hooks, OneRun, execute, merge_metrics, seed_keys, split_keys
from mfgtools.engine.programs import (
    PROGRAMS,
    TRACE_COUNT,
    Carry,
    Final,
    advance,
    finish,
    headline_metric,
    init,
    seed_key,
    whole_run,
)

__all__ = [
    "BatchRuns",
    "Hooks",
    "OneRun",
    "execute",
    "merge_metrics",
    "seed_keys",
    "split_keys",
    "seed_key",
    "PROGRAMS",
    "TRACE_COUNT",
    "Carry",
    "Final",
    "advance",
    "finish",
    "headline_metric",
    "init",
    "whole_run",
]
