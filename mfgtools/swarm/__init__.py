"""Swarms: mean-field control with N particles in continuous space.

- :mod:`~mfgtools.swarm.game`: :class:`SwarmGame`, the base of every swarm game;
- :mod:`~mfgtools.swarm.particles`: neighbour sums of particles (dense or cell lists);
- :mod:`~mfgtools.swarm.representations`: kernel and histogram bases of the mean field;
- :mod:`~mfgtools.swarm.policies`: decentralised policies (idle, uniform) and their check;
- :mod:`~mfgtools.swarm.rollouts`: decentralised episodes on one device or split over several.

Nothing here imports a game module, a solver or the engine.
"""
