"""Several devices and several processes.

- :mod:`~mfgtools.parallel.devices`: device lists, meshes and array placement (no engine: every layer may use it);
- :mod:`~mfgtools.parallel.sharding`: one finite-game run with its state space split over devices
  (:class:`SpaceRun`, built on the engine's programs);
- :mod:`~mfgtools.parallel.distributed`: multi-process (multi-host) start-up from environment variables.
"""
