"""Shared fixtures: float64 on demand, OpenSpiel when installed, the shared data folder."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

# One persistent compilation cache for the whole test session: xdist workers, and every command-line
# subprocess a test starts (they inherit the environment), reuse the XLA programs another process compiled
# (the suite's cost is compiling: each CLI test, notebook and fault test starts a fresh interpreter). Set
# before JAX is imported; an existing JAX_COMPILATION_CACHE_DIR is respected. Results do not depend on it.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="mfgtools-tests-jax-cache-")
    os.environ["MFGTOOLS_TEST_CACHE_OWNER"] = str(os.getpid())  # the process that removes it at the end
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# The suite's time is XLA compiling hundreds of tiny programs, most of it in LLVM's optimisation passes: the
# tests (and their subprocesses) compile at LLVM level 0 unless XLA_FLAGS already chooses a level. The HLO
# passes are the same; LLVM's level changes only how loops are vectorised, so values agree to float rounding
# (every recorded reference and bit-for-bit comparison in the suite passes either way; a float32 sweep differs
# by one ulp between batch sizes). No test times anything. This cut the suite from 930 s to 607 s on the 2-core
# test machine. XLA_FLAGS=--xla_backend_optimization_level=3 runs it as users' programs compile.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()

import jax
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def pytest_sessionfinish(session, exitstatus):
    """The session's compilation cache goes with the process that made it (the xdist controller)."""
    if os.environ.get("MFGTOOLS_TEST_CACHE_OWNER") == str(os.getpid()):
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after every test module.

    Every XLA CPU executable keeps its own memory mappings; the whole suite in one
    process compiles thousands of programs, and past the kernel's limit on
    mappings (``vm.max_map_count``, 65530 by default) the next compilation
    crashes the interpreter. Modules reuse their own programs, not each other's.
    """
    yield
    jax.clear_caches()
    gc.collect()


@contextmanager
def float64():
    """Compute in float64 inside the block; restores the previous setting after."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


@pytest.fixture
def x64():
    """Run a test in float64 (games must be built inside it); restores float32 after."""
    with float64():
        yield


@pytest.fixture(scope="module")
def x64_module():
    """Float64 for a whole module: ``pytestmark = pytest.mark.usefixtures("x64_module")``."""
    with float64():
        yield


@pytest.fixture(scope="session")
def pyspiel():
    """OpenSpiel's Python module; tests that need it skip cleanly when it is absent."""
    return pytest.importorskip("pyspiel", reason="open_spiel not installed (pip install '.[openspiel]')")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = Path(os.environ.get("MFGTOOLS_SHARED", SHARED)) / "data"
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} not present")
    return path
