"""The contracts of games and solvers, as :class:`typing.Protocol` classes: what the run engine, the
evaluation kernels, results and the command line rely on, declared once here.

They are structural (runtime-checkable: ``isinstance(game, FiniteGameProtocol)`` checks that the
attributes and methods are there, not their signatures), so a game or solver needs no base class to
satisfy them; :class:`mfgtools.finite.game.FiniteGame`, :class:`mfgtools.swarm.game.SwarmGame` and
:class:`mfgtools.solvers.base.SolverBase` are the implementations the built-in ones share.
``tests/test_conformance.py`` checks every registered game and solver against them.

Shapes: ``S`` states, ``A`` actions, ``K`` successors of a state-action pair, ``T`` the horizon,
``N`` agents, ``D`` the state dimension of an agent, ``O`` that of an observation.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax


@runtime_checkable
class Game(Protocol):
    """What every game has, whatever its family (:data:`mfgtools.registry.FAMILIES`).

    Attributes:
      name: its registry name (what results and messages call it).
      kind: its family (``"finite"``, ``"graphex"``, ``"joint"``, ``"swarm"``).
      horizon: decision steps ``T`` (stationary games: the default length of a sample path).
      discount: the discount ``gamma`` in ``(0, 1]``.
      stationary: played in stationary mode (discounted, infinite horizon).
    """

    name: str
    horizon: int
    discount: float

    @property
    def kind(self) -> str: ...

    @property
    def stationary(self) -> bool: ...

    @property
    def mode(self) -> str:
        """``"finite-horizon"`` or ``"stationary"``."""
        ...

    @property
    def n_actions(self) -> int: ...

    @property
    def parameters(self) -> dict[str, Any]:
        """The validated parameters it was built with (what results record)."""
        ...

    def describe(self) -> str:
        """One line for people."""
        ...


@runtime_checkable
class FiniteGameProtocol(Game, Protocol):
    """A finite mean-field game (finite, graphex and joint families): tabular dynamics over ``S`` states.

    Attributes:
      initial_distribution: ``(S,)`` the population at ``t = 0``.
      next_state: ``(S, A, K)`` int successors; transition_prob: ``(S, A, K)`` their probabilities (the
        mean-field-independent ones; :meth:`transition` gives those at ``mu``).
      incoming: the inverse of ``next_state`` (flows are pushed through it).
      action_mask: ``(S, A)`` bool, the legal actions.
    """

    initial_distribution: jax.Array
    next_state: jax.Array
    transition_prob: jax.Array
    incoming: jax.Array
    action_mask: jax.Array

    @property
    def n_states(self) -> int: ...

    @property
    def policy_shape(self) -> tuple:
        """``(T, S, A)`` (stationary: ``(S, A)``)."""
        ...

    def reward(self, t: jax.Array, mu: jax.Array, *joint: jax.Array) -> jax.Array:
        """``(S, A)`` rewards at time ``t`` under the mean field ``mu`` ``(S,)`` (a joint game also gets the
        joint state-action distribution ``(S, A)``)."""
        ...

    def transition(self, t: jax.Array, mu: jax.Array, *joint: jax.Array) -> jax.Array:
        """``(S, A, K)`` probabilities of the successors ``next_state`` at time ``t`` under ``mu``."""
        ...

    def terminal_reward(self, mu: jax.Array) -> jax.Array:
        """``(S,)`` reward at the end of the horizon."""
        ...


@runtime_checkable
class SwarmGameProtocol(Game, Protocol):
    """A swarm game (mean-field control of ``N`` particles, decentralised policies of observations)."""

    n_agents: int

    @property
    def observation_dim(self) -> int: ...

    def initial_states(self, key: jax.Array, n: int) -> jax.Array:
        """``(n, D)`` states of a fresh swarm."""
        ...

    def observe(self, states: jax.Array) -> jax.Array:
        """``(N, O)`` what each agent sees of the ``(N, D)`` swarm."""
        ...

    def move(self, states: jax.Array, actions: jax.Array, key: jax.Array) -> jax.Array:
        """``(N, D)`` the next states under the ``(N,)`` actions."""
        ...

    def reward(self, states: jax.Array, actions: jax.Array) -> jax.Array:
        """The shared scalar reward of a step."""
        ...

    def order_parameter(self, states: jax.Array) -> jax.Array:
        """The task's scalar measure of order (what plots and metrics report)."""
        ...

    def histogram(self, states: jax.Array) -> jax.Array:
        """The swarm's empirical distribution on the histogram grid (its mean field, for plots)."""
        ...


@runtime_checkable
class Solver(Protocol):
    """A solver: a pytree (``flax.struct`` dataclass; hyperparameters static, data as leaves) that the run
    engine (:mod:`mfgtools.engine`) drives, one compiled program for many iterations.

    Attributes:
      iterations_per_chunk: how many iterations one compiled program runs between progress reports and
        checkpoints (None: the engine's rule; 1 for solvers whose iteration is long).
    """

    iterations_per_chunk: int | None

    def init(self, game: Any, key: jax.Array) -> Any:
        """The state before the first iteration (a pytree; the built-in solvers' are typed
        ``flax.struct`` dataclasses declared in their modules)."""
        ...

    def step(self, game: Any, state: Any, key: jax.Array) -> tuple[Any, dict[str, jax.Array]]:
        """One iteration: the next state, and scalar metrics of the policy *before* the update."""
        ...

    def policy(self, game: Any, state: Any) -> Any:
        """The state's policy: ``(T, S, A)`` on a finite game, a decentralised swarm policy on a swarm game."""
        ...

    def evaluate(self, game: Any, policy: Any) -> dict[str, jax.Array]:
        """Metrics of the final policy (the same names as those of :meth:`step`)."""
        ...

    def check(self, game: Any) -> None:
        """Raise :class:`~mfgtools.errors.MFGError` when it cannot run on ``game``."""
        ...

    def prepare(self, game: Any) -> Solver:
        """The solver ready for ``game`` (data loaded and checked)."""
        ...

    def settings(self) -> dict[str, Any]:
        """Its static hyperparameters by name (what results and checkpoints record)."""
        ...


__all__ = ["Game", "FiniteGameProtocol", "SwarmGameProtocol", "Solver"]
