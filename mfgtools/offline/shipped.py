"""The offline datasets shipped with mfgtools, read as package data.

The files live in ``mfgtools/offline/data/`` inside the installed package
(declared as package data in ``setup.cfg``, so a wheel carries them) and are
found through :mod:`importlib.resources`, wherever the package is installed.
``data/make_datasets.py`` in the source tree regenerates them. The
environment variable ``MFGTOOLS_DATA`` points :func:`data_dir` at another folder.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from mfgtools.errors import MFGError
from mfgtools.offline.dataset import OfflineDataset, check_matches, load_dataset

QUALITIES = ("random", "intermediate", "expert")
# the package-data folder that holds the shipped datasets (override with MFGTOOLS_DATA)
DATA_PACKAGE = "mfgtools.offline"
DATA_FOLDER = "data"


def data_dir() -> Path:
    """The folder of the shipped datasets: ``$MFGTOOLS_DATA``, else the package's ``data/``."""
    if os.environ.get("MFGTOOLS_DATA"):
        return Path(os.environ["MFGTOOLS_DATA"])
    # a regular (not zipped) install: the traversable is a real folder
    return Path(str(resources.files(DATA_PACKAGE) / DATA_FOLDER))


def shipped_files() -> list[str]:
    """Names of the shipped dataset files, sorted."""
    folder = data_dir()
    return sorted(p.name for p in folder.glob("*.nc")) if folder.is_dir() else []


def shipped_name(game, quality: str) -> str:
    """File name of the shipped dataset of ``quality`` for ``game`` (crowd, four rooms)."""
    params = game.parameters
    return f"{game.name}-{params.get('map', 'map')}-{params.get('task', 'task')}-{quality}.nc"


def shipped_dataset(game, quality: str = "expert") -> OfflineDataset:
    """The dataset shipped with the package for ``game`` at ``quality`` (random, intermediate, expert)."""
    if quality not in QUALITIES:
        raise MFGError(f"unknown dataset quality {quality!r}: choose one of {', '.join(QUALITIES)} or give a file")
    path = data_dir() / shipped_name(game, quality)
    if not path.is_file():
        available = shipped_files()
        raise MFGError(
            f"no shipped {quality} dataset for this game ({path.name} not in {data_dir()}; shipped: "
            f"{', '.join(available) or 'none'}); collect one with `mfgtools dataset collect` and pass "
            "its path as --dataset"
        )
    return load_dataset(path, game)


def resolve_dataset(game, dataset) -> OfflineDataset:
    """An :class:`OfflineDataset`, a shipped quality name or a file path, checked against ``game``."""
    if isinstance(dataset, OfflineDataset):
        check_matches(dataset, game)
        return dataset
    text = str(dataset)
    if text in QUALITIES:
        return shipped_dataset(game, text)
    return load_dataset(text, game)


__all__ = ["QUALITIES", "data_dir", "shipped_files", "shipped_name", "shipped_dataset", "resolve_dataset"]
