"""What every exact finite-game solver shares: compatibility check and final metrics."""

from __future__ import annotations

from mfgtools import kernels
from mfgtools.errors import MFGError
from mfgtools.games.base import FiniteGame


class FiniteSolver:
    """Mixin for solvers of finite games; subclasses are frozen dataclasses."""

    def check(self, game) -> None:
        if not isinstance(game, FiniteGame):
            raise MFGError(f"solver {type(self).__name__} needs a finite game, got {type(game).__name__}")

    def evaluate(self, game, policy):
        """Metrics of the final policy (same names as those of :meth:`step`)."""
        return {"exploitability": kernels.exploitability(game, policy)}
