"""docs/porting.md: the mfgtools halves of its side-by-side examples run as written and print the peers' figures.

The blocks set ``jax_enable_x64`` (the peers' precision), so they run in a fresh process, not in this one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "porting.md"
PEERS = ("pyspiel", "open_spiel", "mfglib", "torch")


def test_porting_examples_run_and_give_the_peers_figures():
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    ours = [
        block for block in blocks if not any(f"import {peer}" in block or f"from {peer}" in block for peer in PEERS)
    ]
    assert len(blocks) == 4 and len(ours) == 2, "the guide has one OpenSpiel, one MFGLib and two mfgtools examples"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
    outputs = []
    for block in ours:
        process = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=300, env=env)
        assert process.returncode == 0, process.stderr
        outputs.append([float(x) for x in process.stdout.split()[:2]])
    # OpenSpiel's NashConv after 10 MirrorDescent iterations (lr 0.01) and MFGLib's exploitability_score after 10
    # OnlineMirrorDescent iterations (alpha 1), float64, as the guide's comments state
    for (direct, logged), figure in zip(outputs, (2.2730324915546, 0.0760938380137)):
        assert abs(direct - figure) < 1e-12 and abs(logged - figure) < 1e-12, (direct, logged, figure)
