"""What solvers share: :class:`SolverBase` (settings, prepare), the finite and swarm bases, parameters.

A solver is a ``flax.struct`` dataclass: its hyperparameters are static fields
(``struct.field(pytree_node=False)``: part of the compiled program's identity),
its data (an offline dataset, for instance) are array leaves that the jitted
iteration receives as arguments, never as baked-in constants.
"""

from __future__ import annotations

import dataclasses

from mfgtools.errors import MFGError
from mfgtools.finite import kernels
from mfgtools.finite.game import FiniteGame
from mfgtools.registry import Parameter, family_of


def setting(default=dataclasses.MISSING, help: str | None = None, check=None, traced: bool | None = None):
    """A static solver hyperparameter (a ``flax.struct`` field that is not a leaf).

    With ``help`` it is also a parameter of the solver, declared here once
    (:class:`mfgtools.registry.Parameter`: ``default``, ``help``, ``check``, ``traced``): a solver class
    registered without a parameter table takes its parameters from its fields
    (:func:`mfgtools.registry.parameters_of`).
    """
    from flax import struct

    metadata = {}
    if help is not None:
        if default is dataclasses.MISSING:
            raise TypeError("a solver parameter (a setting with help) needs a default")
        metadata["parameter"] = Parameter(default, help, check, traced)
    return struct.field(pytree_node=False, default=default, metadata=metadata)


class SolverBase:
    """What every solver shares (:class:`mfgtools.protocols.Solver`); subclasses are ``flax.struct``
    dataclasses, each family's base (:class:`FiniteSolver`, :class:`SwarmSolver`) adds ``check`` and
    ``evaluate``, each solver ``init``, ``step`` and ``policy``.

    ``iterations_per_chunk``: how many iterations :func:`mfgtools.solvers.solve`
    compiles into one program (None: its default rule). Solvers whose single
    iteration is long (thousands of gradient steps) use 1, so that progress and
    checkpoints come after every iteration.
    """

    iterations_per_chunk: int | None = None

    def prepare(self, game):
        """The solver ready for ``game`` (loads and checks data); default: itself."""
        return self

    def settings(self) -> dict:
        """The static hyperparameters, by name (what results and checkpoints record)."""
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.metadata.get("pytree_node", True)
        }


class FiniteSolver(SolverBase):
    """Base of the solvers of finite games (finite, graphex, joint families): tabular policies, metrics
    of exploitability."""

    def check(self, game) -> None:
        if not isinstance(game, FiniteGame):
            raise MFGError(f"solver {type(self).__name__} needs a finite game, got {type(game).__name__}")

    def evaluate(self, game, policy):
        """Metrics of the final policy (same names as those of :meth:`step`)."""
        return {"exploitability": kernels.exploitability(game, policy)}


# Settings that do nothing under another setting's value: the tabular Munchausen learner
# minimises its loss exactly, without the network and its optimiser.
_UNUSED_UNDER = {("model", "tabular"): ("hidden", "learning_rate", "steps", "batch_size")}


def shown_settings(solver: str, settings: dict) -> dict:
    """The settings of a run worth showing a person: the solver's declared parameters
    (``mfgtools list``) that act under the others' values.

    ``settings`` (``Result.solver_params``) also records internal fields (``fp`` is
    the fixed-point solver with ``damping=None``, so it carries ``damping``,
    ``soft`` and ``temperature`` without declaring them), and the network's
    settings of a tabular Off-MMD or D-MOMD run; both are left out here, kept in
    the result file.
    """
    from mfgtools.solvers.registry import SOLVERS

    entry = SOLVERS.entries().get(solver)
    declared = settings if entry is None else {k: v for k, v in settings.items() if k in entry.parameters}
    unused = {name for (key, value), names in _UNUSED_UNDER.items() if declared.get(key) == value for name in names}
    return {k: v for k, v in declared.items() if k not in unused}


class SwarmSolver(SolverBase):
    """Base of the solvers of swarm games (kind ``"swarm"``: mean-field control with particles).

    Same protocol as finite-game solvers (``init``, ``step``, ``policy``,
    ``evaluate``), except that ``policy(game, state)`` returns a decentralised
    swarm policy (:mod:`mfgtools.swarm.policies`: ``probabilities(t, observations)``)
    and the metrics describe returns, not exploitability: ``step`` reports
    ``return`` (the mean discounted shared return of its training episodes) and
    ``order_parameter`` (mean over their last step), and :meth:`evaluate` the same
    two for the final policy, executed decentralised by ``game.n_agents`` agents
    over ``evaluation_episodes`` fixed seeds.
    """

    evaluation_episodes: int = 16

    def check(self, game) -> None:
        if not family_of(game).particles:
            raise MFGError(
                f"solver {type(self).__name__} needs a swarm game, got {getattr(game, 'name', type(game).__name__)!r}"
            )

    def evaluate(self, game, policy):
        import jax

        from mfgtools.swarm.rollouts import swarm_rollout

        keys = jax.random.split(jax.random.PRNGKey(0), self.evaluation_episodes)
        play = jax.vmap(lambda k: swarm_rollout(game, policy, k, game.n_agents))(keys)
        return {"return": play.returns(game.discount).mean(), "order_parameter": play.order[:, -1].mean()}
