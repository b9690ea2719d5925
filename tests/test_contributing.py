"""The recipes of CONTRIBUTING.md ("how to add a game", "how to add a solver") run as written.

The game module, the solver module and the usage snippet are taken from the guide's Python blocks, written
into a temporary folder and run in a fresh process (registering them here would add a game and a solver to
the registries that other test files of this worker walk).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[1] / "CONTRIBUTING.md"

CHECK = """
import json
import numpy as np
import line_crowd, damped_br  # registers the game and the solver
import mfgtools

{usage}

by_name = mfgtools.solve(game, "damped-br", iterations=20, damping=0.3, progress=False)
refused = []
for build in (lambda: mfgtools.make_game("line-crowd", size=1), lambda: make_solver("damped-br", damping=0)):
    try:
        build()
    except mfgtools.MFGError as error:
        refused.append(str(error))
curve = np.asarray(result.metrics["exploitability"])
print(json.dumps({{
    "games": "line-crowd" in mfgtools.list_games(), "solvers": "damped-br" in mfgtools.list_solvers(),
    "curve": curve.tolist(), "policy": list(result.policy.shape), "flow": list(result.mean_field.shape),
    "same": bool(np.array_equal(np.asarray(by_name.policy), np.asarray(result.policy))),
    "rows": bool(np.allclose(np.asarray(result.policy).sum(-1), 1.0, atol=1e-5)),
    "mass": bool(np.allclose(np.asarray(result.mean_field).sum(-1), 1.0, atol=1e-5)),
    "refused": refused, "damping": mfgtools.list_solvers()["damped-br"].parameters["damping"].default,
}}))
"""


def _python_blocks(section: str) -> list[str]:
    text = GUIDE.read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], flags=re.S)


def test_the_recipes_add_a_game_and_a_solver_that_solve_it(tmp_path):
    game_blocks, solver_blocks = _python_blocks("How to add a game"), _python_blocks("How to add a solver")
    assert len(game_blocks) == 1 and len(solver_blocks) == 2
    (tmp_path / "line_crowd.py").write_text(game_blocks[0])
    (tmp_path / "damped_br.py").write_text(solver_blocks[0])
    (tmp_path / "check.py").write_text(CHECK.format(usage=solver_blocks[1]))
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        PYTHONPATH=os.pathsep.join([str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    done = subprocess.run(
        [sys.executable, str(tmp_path / "check.py")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["games"] and out["solvers"]
    assert out["policy"] == [10, 8, 3] and out["flow"] == [11, 8]  # (T, S, A), (T+1, S)
    assert out["rows"] and out["mass"]
    assert out["same"]  # a solver object runs exactly as its registry name
    # the declarations validate (the registry runs the declared checks) and are what the registry lists
    assert out["refused"] == ["size must be at least 2, got 1", "damping must be > 0.0, got 0.0"]
    assert out["damping"] == 0.5
    curve = out["curve"]
    assert len(curve) == 21  # the uniform policy, then one entry per iteration
    assert curve[0] > 10.0 and curve[-1] < 0.5 * curve[0]  # everybody starts in cell 0: damping spreads them
