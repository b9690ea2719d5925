"""The package's shape: imports point one way, no private names cross modules, the wheel carries the data.

The import graph is read from the source (AST), not from a running
interpreter, so function-level imports count as much as module-level ones:
an import inside a function that goes "up" a layer is a cycle waiting for the
day someone moves it to the top of the file.

Conventions of the graph (docs/architecture.md):

- ``from pkg import name`` is an edge to the submodule ``pkg.name`` when that
  is a module, else to ``pkg``;
- importing ``pkg.sub`` runs ``pkg/__init__.py`` first; that implicit edge is
  not counted: a package may load its own submodules (``mfgtools.games``
  and ``mfgtools.solvers`` load their built-in modules lazily), as long as
  those never import the package name itself;
- an alias module (an old path kept working: its body replaces itself in
  ``sys.modules``) stands for its target: an import of the alias is an
  import of the target.
"""

from __future__ import annotations

import ast
import configparser
import fnmatch
import importlib
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "mfgtools"

# old module paths kept as aliases of their new homes (the README, notebooks, benchmarks and users import them)
ALIASES = {
    "mfgtools.kernels": "mfgtools.finite.kernels",
    "mfgtools.evaluation": "mfgtools.finite.evaluation",
    "mfgtools.games.base": "mfgtools.finite.game",
    "mfgtools.games.swarm": "mfgtools.swarm.game",
    "mfgtools.particles": "mfgtools.swarm.particles",
    "mfgtools.representations": "mfgtools.swarm.representations",
    "mfgtools.swarm_policies": "mfgtools.swarm.policies",
    "mfgtools.sharding": "mfgtools.parallel.sharding",
    "mfgtools.distributed": "mfgtools.parallel.distributed",
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _alias_target(tree: ast.Module) -> str | None:
    """The module an alias module stands for (``sys.modules[__name__] = target``), else None."""
    replaces = any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Subscript) and ast.unparse(t) == "sys.modules[__name__]" for t in node.targets)
        for node in tree.body
    )
    if not replaces:
        return None
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and len(node.names) == 1:
            return f"{node.module}.{node.names[0].name}"
    return None


def _imports(tree: ast.Module, module: str, is_package: bool):
    """``(target, imported name or None, line)`` for every import anywhere in the module, absolute."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                yield source, alias.name, node.lineno


def import_graph(root: Path, package: str = PACKAGE) -> tuple[nx.DiGraph, list[str]]:
    """The import graph of every module under ``root / package`` and the list of private-name imports.

    Returns ``(graph, problems)``: nodes are module names (aliases replaced by
    their targets), an edge ``a -> b`` for every import of ``b`` in ``a``;
    ``problems`` lists ``from x import _name`` of a private name of another module.
    """
    trees, packages = {}, set()
    for path in sorted((root / package).rglob("*.py")):
        name = _module_name(path, root)
        trees[name] = ast.parse(path.read_text(encoding="utf-8"), str(path))
        if path.name == "__init__.py":
            packages.add(name)
    aliases = {name: target for name, tree in trees.items() if (target := _alias_target(tree))}

    def resolve(name: str) -> str | None:
        while name not in trees and "." in name:
            name = name.rsplit(".", 1)[0]
        if name not in trees:
            return None
        return aliases.get(name, name)

    graph, problems = nx.DiGraph(), []
    for module, tree in trees.items():
        if module in aliases:
            continue
        graph.add_node(module)
        for source, name, line in _imports(tree, module, module in packages):
            if not (source == package or source.startswith(package + ".")):
                continue
            submodule = f"{source}.{name}" if name else None
            if submodule in trees:
                target = resolve(submodule)
            else:
                target = resolve(source)
                if name and name.startswith("_") and not name.startswith("__") and target != module:
                    problems.append(f"{module}:{line} imports the private name {name} of {source}")
            if target and target != module:
                graph.add_edge(module, target, line=line)
    return graph, problems


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    """The import cycles: strongly connected components of more than one module, each with one cycle shown."""
    found = []
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            loop = nx.find_cycle(graph.subgraph(component))
            found.append(sorted(component) + ["cycle: " + " -> ".join([a for a, _ in loop] + [loop[0][0]])])
    return found


# ----- the package ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def package_graph():
    return import_graph(ROOT)


def test_no_import_cycles(package_graph):
    graph, _ = package_graph
    assert graph.number_of_nodes() > 50  # the whole package was read
    found = cycles(graph)
    assert not found, "import cycles (function-level imports included):\n" + "\n".join(map(str, found))


def test_no_private_names_across_modules(package_graph):
    _, problems = package_graph
    assert not problems, "\n".join(problems)


def test_layers_point_down(package_graph):
    """The bottom and the families import nothing of the layers above them."""
    graph, _ = package_graph
    above_families = (
        "mfgtools.engine",
        "mfgtools.solvers",
        "mfgtools.sweeps",
        "mfgtools.cli",
        "mfgtools.plotting",
        "mfgtools.parallel.sharding",
        "mfgtools.dry_run",
        "mfgtools.games",
    )
    lower = [
        m
        for m in graph
        if m.startswith(
            (
                "mfgtools.finite",
                "mfgtools.swarm",
                "mfgtools.graphex",
                "mfgtools.errors",
                "mfgtools.files",
                "mfgtools.registry",
                "mfgtools.resources",
                "mfgtools.parallel.devices",
            )
        )
    ]
    assert len(lower) > 10
    wrong = [
        f"{module} -> {target}"
        for module in lower
        for target in nx.descendants(graph, module)
        if target.startswith(above_families) and target != "mfgtools.games.registry"
    ]
    assert not wrong, "imports going up a layer:\n" + "\n".join(sorted(wrong))


# ----- the checker itself ---------------------------------------------------------------
def _fake_package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "fake" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_checker_finds_a_function_level_cycle_and_a_private_import(tmp_path):
    root = _fake_package(
        tmp_path,
        {
            "__init__.py": "",
            "low.py": "def f():\n    from fake.high import g\n    return g\n",
            "high.py": "from fake import low\nfrom fake.mid import _hidden\n",
            "mid.py": "_hidden = 1\n",
        },
    )
    graph, problems = import_graph(root, "fake")
    assert cycles(graph) and set(cycles(graph)[0][:2]) == {"fake.high", "fake.low"}
    assert problems == ["fake.high:2 imports the private name _hidden of fake.mid"]


def test_checker_resolves_aliases_and_ignores_the_package_loading_its_submodules(tmp_path):
    root = _fake_package(
        tmp_path,
        {
            "__init__.py": "def load():\n    from fake import mod\n",
            "mod.py": "from fake.registry import REGISTRY\nfrom fake import old\n",
            "registry.py": "REGISTRY = {}\n",
            "new.py": "import fake.registry\n",
            "old.py": (
                '"""Alias."""\nimport sys\n\nfrom fake import new as _module\n\nsys.modules[__name__] = _module\n'
            ),
        },
    )
    graph, problems = import_graph(root, "fake")
    assert not cycles(graph) and not problems
    assert graph.has_edge("fake.mod", "fake.new") and "fake.old" not in graph
    # the same package whose module imports the package name back: a cycle
    (root / "fake" / "registry.py").write_text("def f():\n    from fake import load\n")
    graph, _ = import_graph(root, "fake")
    assert cycles(graph)


# ----- old paths and the README's names ----------------------------------------------------
@pytest.mark.parametrize("old, new", sorted(ALIASES.items()))
def test_old_module_paths_are_the_new_modules(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)


def test_every_alias_module_is_listed():
    graph_aliases = {}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        target = _alias_target(ast.parse(path.read_text(encoding="utf-8")))
        if target:
            graph_aliases[_module_name(path, ROOT)] = target
    assert graph_aliases == ALIASES


def test_simulate_keeps_every_simulator():
    from mfgtools import simulate
    from mfgtools.finite import simulate as finite
    from mfgtools.graphex import simulate as graphex
    from mfgtools.swarm import rollouts

    for module in (finite, graphex, rollouts):
        for name in module.__all__:
            if name != "simulate_swarm_split":
                assert getattr(simulate, name) is getattr(module, name), name


# ----- the wheel's data ----------------------------------------------------------------------
def test_package_data_covers_every_shipped_dataset(monkeypatch):
    from mfgtools.offline import shipped

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert config.has_section("options.package_data"), "setup.cfg declares no package data"
    patterns = {
        package.strip(): [p.strip() for p in value.replace(",", "\n").split() if p.strip()]
        for package, value in config["options.package_data"].items()
    }
    folder = ROOT / "mfgtools" / "offline" / shipped.DATA_FOLDER
    files = sorted(folder.glob("*.nc"))
    assert len(files) == 6, files
    package_dir = ROOT / shipped.DATA_PACKAGE.replace(".", "/")
    missing = [
        f.name
        for f in files
        if not any(
            fnmatch.fnmatch(f.relative_to(package_dir).as_posix(), pattern)
            for pattern in patterns.get(shipped.DATA_PACKAGE, []) + patterns.get("*", [])
        )
    ]
    assert not missing, f"setup.cfg [options.package_data] leaves out {missing}: a wheel would not carry them"
    # and the reader looks where the files are
    monkeypatch.delenv("MFGTOOLS_DATA", raising=False)
    assert shipped.data_dir().resolve() == folder.resolve()
    assert shipped.shipped_files() == [f.name for f in files]
