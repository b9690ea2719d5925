"""Packaging habits: one version string, read without importing JAX; py.typed shipped; --version."""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

import mfgtools
from mfgtools.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def test_the_version_is_written_once_as_a_literal_that_setuptools_reads_without_importing():
    assert _setup_cfg()["metadata"]["version"].strip() == "attr: mfgtools.__version__"
    tree = ast.parse((ROOT / "mfgtools" / "__init__.py").read_text())
    literals = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["__version__"]
        and isinstance(node.value, ast.Constant)
    ]
    assert literals == [mfgtools.__version__]
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?(a|b|rc|dev|post)\d*)?", mfgtools.__version__)
    assert f"## {mfgtools.__version__}" in (ROOT / "CHANGELOG.md").read_text()
    assert f"version: {mfgtools.__version__}" in (ROOT / "CITATION.cff").read_text()


def test_the_command_line_prints_the_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"mfgtools {mfgtools.__version__}"


def test_py_typed_ships_as_package_data():
    assert (ROOT / "mfgtools" / "py.typed").is_file()
    package_data = _setup_cfg()["options.package_data"]["mfgtools"]
    assert "py.typed" in [item.strip() for item in re.split(r"[,\s]+", package_data)]
