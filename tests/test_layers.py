"""The package's layers: every import points to the same layer or an earlier one, and there is no cycle.

``analysis.LAYERS`` orders the subpackages: stats <- dataset <- figures <- chapter <- book <- commands.
A module may import modules of its own layer and of earlier layers only. Each layer may also use
only the third-party packages listed in ``ALLOWED`` (the engine never imports matplotlib, the
dataset layer never imports papermill, ...). Imports under ``if TYPE_CHECKING:`` are annotations,
not dependencies, and are ignored. The checker reads the source (``ast``), so a module that is
never imported by a test is checked too.
"""
from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

import pytest

from analysis import LAYERS

PACKAGE = Path(__file__).resolve().parents[1] / "analysis"

#: Third-party packages each layer may import, in addition to those of earlier layers.
ALLOWED = {
    "stats": {"numpy", "scipy", "pandas"},          # pandas: the frame views of results only
    "dataset": {"yaml"},
    "figures": {"matplotlib"},
    "chapter": set(),
    "book": {"papermill", "nbformat", "jupyter_book"},
    "commands": set(),
}
STDLIB = set(sys.stdlib_module_names)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    """The layer of ``analysis.<layer>...``; the package root re-exports the engine (stats) and
    ``analysis.__main__`` only dispatches to the commands."""
    parts = module.split(".")
    if len(parts) == 1:
        return "stats"
    if parts[1] == "__main__":
        return "commands"
    return parts[1]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def imports(path: Path, modules: set[str], root: Path) -> list[tuple[int, str]]:
    """(line, imported name) of every runtime import of ``path``; ``from a import b`` gives ``a.b``
    when ``a.b`` is a module of the package, else ``a``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    own = module_name(path, root)
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                package = own if path.name == "__init__.py" else own.rsplit(".", 1)[0]
                package = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
                base = f"{package}.{base}" if base else package
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.append((node.lineno, target if target in modules else base))
    return found


def violations(root: Path, layers=LAYERS) -> list[str]:
    """Every import that points to a later layer, every forbidden third-party import, every cycle."""
    files = sorted(root.rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    problems, graph = [], {}
    for path in files:
        own = module_name(path, root)
        mine = layer_of(own)
        if mine not in layers:
            problems.append(f"{path.relative_to(root.parent)}: {own} is in no layer of {layers}")
            continue
        allowed = set().union(*(ALLOWED[layer] for layer in layers[:layers.index(mine) + 1]))
        graph[own] = set()
        for line, name in imports(path, modules, root):
            where = f"{path.relative_to(root.parent)}:{line}"
            top = name.split(".")[0]
            if top == "analysis":
                target = layer_of(name)
                if target in layers and layers.index(target) > layers.index(mine):
                    problems.append(f"{where}: {own} ({mine}) imports {name} ({target}), a later layer")
                graph[own].add(name if name in modules else name.rsplit(".", 1)[0])
            elif top not in STDLIB and top not in allowed and top != "__future__":
                problems.append(f"{where}: {own} ({mine}) imports {top}, not allowed in layer {mine}")
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles of the module graph (depth-first search; one report per back edge)."""
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_layers_are_the_subpackages():
    subpackages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert sorted(LAYERS) == subpackages


def test_every_import_points_down_and_there_is_no_cycle():
    assert violations(PACKAGE) == []


@pytest.fixture
def package_copy(tmp_path) -> Path:
    target = tmp_path / "analysis"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_an_upward_import_is_reported(package_copy):
    probe = package_copy / "stats" / "probe.py"
    probe.write_text("from analysis.book import pages\n", encoding="utf-8")
    assert violations(package_copy) == [
        "analysis/stats/probe.py:1: analysis.stats.probe (stats) imports analysis.book.pages (book), a later layer"]


def test_a_lazy_upward_import_is_reported_too(package_copy):
    probe = package_copy / "dataset" / "probe.py"
    probe.write_text("def f():\n    from analysis import chapter\n    return chapter\n", encoding="utf-8")
    assert violations(package_copy) == [
        "analysis/dataset/probe.py:2: analysis.dataset.probe (dataset) imports analysis.chapter (chapter), "
        "a later layer"]


def test_a_cycle_within_a_layer_is_reported(package_copy):
    (package_copy / "book" / "probe_a.py").write_text("from analysis.book import probe_b\n", encoding="utf-8")
    (package_copy / "book" / "probe_b.py").write_text("from analysis.book import probe_a\n", encoding="utf-8")
    assert violations(package_copy) == [
        "import cycle: analysis.book.probe_a -> analysis.book.probe_b -> analysis.book.probe_a"]


def test_a_forbidden_third_party_import_is_reported(package_copy):
    (package_copy / "stats" / "probe.py").write_text("import matplotlib.pyplot as plt\n", encoding="utf-8")
    assert violations(package_copy) == [
        "analysis/stats/probe.py:1: analysis.stats.probe (stats) imports matplotlib, not allowed in layer stats"]


def test_type_checking_imports_are_not_dependencies(package_copy):
    (package_copy / "stats" / "probe.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from analysis.book import build\n", encoding="utf-8")
    assert violations(package_copy) == []


# ---------------------------------------------------------------------------------------------
# the notebooks use the package through its public names

ROOT = PACKAGE.parent
NOTEBOOKS = [ROOT / "chapters" / "_templates" / "domain.ipynb", *sorted((ROOT / "chapters" / "learn").glob("*.ipynb"))]


def private_imports(notebook: Path) -> list[str]:
    """Imports of ``analysis`` names in a notebook's code that are private (``_name``) or that a
    module with ``__all__`` does not export."""
    import importlib
    import importlib.util
    import json

    problems = []
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "analysis":
                module = importlib.import_module(node.module)
                exported = getattr(module, "__all__", None)
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    is_module = hasattr(module, "__path__") and importlib.util.find_spec(submodule) is not None
                    if alias.name.startswith("_") or any(part.startswith("_") for part in node.module.split(".")):
                        problems.append(f"{notebook.name}: from {node.module} import {alias.name}: private")
                    elif exported is not None and alias.name not in exported and not is_module:
                        problems.append(f"{notebook.name}: from {node.module} import {alias.name}: not in __all__")
            elif isinstance(node, ast.Import):
                problems += [f"{notebook.name}: import {a.name}: use 'from analysis... import name'"
                             for a in node.names if a.name.startswith("analysis.")]
    return problems


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_import_public_names_only(notebook):
    assert private_imports(notebook) == []


def test_a_private_import_in_a_notebook_is_reported(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from analysis.stats.meta import _upper\nfrom analysis import dataset, rma\nfrom analysis.chapter import menu\n"
        "from analysis.stats import Settings, bayes_meta\nfrom analysis.dataset import read_table")])
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    assert private_imports(path) == ["probe.ipynb: from analysis.stats.meta import _upper: private",
                                     "probe.ipynb: from analysis.dataset import read_table: not in __all__"]
