"""The solver registry: the one object every solver module registers itself in.

Solver modules import :func:`register_solver` from here (never the package
``mfgtools.solvers``); the package sets the loader that imports the built-in
solver modules on first lookup (:meth:`mfgtools.registry.Registry.set_loader`),
so imports point one way: package -> solver modules -> this registry.
"""

from __future__ import annotations

from mfgtools.registry import Entry, Parameter, Registry

SOLVERS = Registry("solver")
SolverSpec = Entry

DEFAULT_ITERATIONS = 100


def register_solver(
    name: str,
    description: str,
    parameters: dict[str, Parameter] | None = None,
    requires: str = "finite",
    modes: tuple = ("finite-horizon",),
    iterations: int = DEFAULT_ITERATIONS,
):
    """Decorator registering ``factory(**params) -> solver``, called with every parameter validated.

    ``parameters``: the declared parameters (:class:`~mfgtools.registry.Parameter`); None when the decorated
    factory is the solver class itself, whose fields declare them (:func:`mfgtools.solvers.base.setting`
    with a ``help``). ``requires``: the game family it needs; ``modes``: the game modes it solves
    (finite-horizon, stationary); ``iterations``: the default length of a run (``solve``, the CLI)."""
    return SOLVERS.register(name, description, parameters, kind=requires, modes=modes, iterations=iterations)


__all__ = ["SOLVERS", "SolverSpec", "DEFAULT_ITERATIONS", "register_solver"]
