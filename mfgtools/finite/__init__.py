"""Finite mean-field games: states ``S``, actions ``A``, horizon ``T`` (or stationary).

- :mod:`~mfgtools.finite.game`: :class:`FiniteGame`, the base of every finite game
  (the tables a game provides, the modes, the validation helpers);
- :mod:`~mfgtools.finite.kernels`: the pure, jit-able numerical core (mean field,
  backward induction, best response, exploitability, stationary fixed points);
- :mod:`~mfgtools.finite.evaluation`: validated, user-facing versions of the kernels;
- :mod:`~mfgtools.finite.simulate`: the N-agent simulator.

Nothing here imports a game module, a solver or the engine.
"""
