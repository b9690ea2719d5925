"""Offline datasets of mean-field play: collect, mix, measure, save, load, and MIS.

An :class:`OfflineDataset` holds ``E`` episodes of the game's horizon ``T``
played by a population whose agents all follow one behaviour policy (schema:
:mod:`mfgtools.offline.dataset`, docs/datasets.md). The package is split by job:

- :mod:`~mfgtools.offline.dataset`: the dataset type, its file schema, loading and checks;
- :mod:`~mfgtools.offline.collection`: collection with the N-agent simulator, mixing;
- :mod:`~mfgtools.offline.metrics`: coverage, returns and trajectory quality;
- :mod:`~mfgtools.offline.mis`: the marginalised importance-sampling mean field;
- :mod:`~mfgtools.offline.shipped`: the datasets shipped as package data (``data/``).

Every public name of the submodules is importable from ``mfgtools.offline``.
"""

from __future__ import annotations

from mfgtools.offline.collection import check_collection, collect_dataset, mix_datasets, mixed_policy
from mfgtools.offline.dataset import (
    DATASET_FORMAT,
    FIELDS,
    OfflineDataset,
    check_matches,
    dynamics_fingerprint,
    from_xarray,
    load_dataset,
    plain_json,
    require_finite_horizon,
    state_frequency,
)
from mfgtools.offline.metrics import coverage, dataset_metrics, reference_values
from mfgtools.offline.mis import mis_mean_field
from mfgtools.offline.shipped import QUALITIES, data_dir, resolve_dataset, shipped_dataset, shipped_files, shipped_name

__all__ = [
    "OfflineDataset",
    "collect_dataset",
    "mix_datasets",
    "load_dataset",
    "dataset_metrics",
    "coverage",
    "reference_values",
    "mis_mean_field",
    "shipped_dataset",
    "resolve_dataset",
    "dynamics_fingerprint",
    "mixed_policy",
    "state_frequency",
    "QUALITIES",
    "DATASET_FORMAT",
    "FIELDS",
    "check_collection",
    "check_matches",
    "from_xarray",
    "plain_json",
    "require_finite_horizon",
    "data_dir",
    "shipped_files",
    "shipped_name",
]
