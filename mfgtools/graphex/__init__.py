"""Graphex games: contagion on the classes of a large sparse graph.

- :mod:`~mfgtools.graphex.contagion`: the one-step contagion law (the probability
  of staying in a state given the contacts), shared by the mean-field game
  (:class:`mfgtools.games.contagion.ContagionGame`) and the N-agent simulation;
- :mod:`~mfgtools.graphex.simulate`: the N-agent game played on the graph itself.

The graphs, their sampling from a graphex and the population classes live in
:mod:`mfgtools.graphs`; the games are registered in :mod:`mfgtools.games.contagion`.
"""
