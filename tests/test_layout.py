"""The tree's shape: no import cycle among the packages, a small core, the README's layout matching the tree,
tests that import helpers only from tests/helpers/."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.helpers.launching import REPO

PACKAGES = ("benchmark", "methods", "tasks")
TREE = ("benchmark", "methods", "tasks", "launch", "tests", "measurements", "docs", "leaderboards", "results")


def module_name(path: Path, root: Path) -> str:
    name = ".".join(path.relative_to(root).with_suffix("").parts)
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    """module -> the package modules it imports, from every import statement (lazy ones inside functions
    too); an import of a package's own __init__ by its children, or the reverse, is not an edge."""
    files = {module_name(p, root): p for pkg in packages for p in (root / pkg).rglob("*.py")}
    graph = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                while name and name not in files:
                    name = name.rpartition(".")[0]
                if name and name != module and not (name.startswith(module + ".") or module.startswith(name + ".")):
                    targets.add(name)
        graph[module] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (the first repeated at the end), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_among_the_packages():
    graph = import_graph(REPO)
    assert len(graph) > 100 and "benchmark.orchestration.pipeline" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_check_sees_a_cycle_added_to_the_tree(tmp_path):
    """The same check on a copy of two real modules where the lower one imports the upper one back."""
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "benchmark" / "registry.py").write_text((REPO / "benchmark" / "registry.py").read_text())
    (tmp_path / "benchmark" / "artifacts.py").write_text("def helper():\n    from benchmark.registry import METHODS\n")
    assert find_cycle(import_graph(tmp_path)) is None
    (tmp_path / "benchmark" / "registry.py").write_text(
        (REPO / "benchmark" / "registry.py").read_text() + "\nfrom benchmark import artifacts  # noqa\n")
    assert find_cycle(import_graph(tmp_path)) == ["benchmark.artifacts", "benchmark.registry", "benchmark.artifacts"]


def test_the_core_is_small_and_never_imports_an_evaluation_family():
    top_level = sorted(p.name for p in (REPO / "benchmark").glob("*.py"))
    assert len(top_level) <= 12, top_level
    graph = import_graph(REPO)
    reaching_tasks = {m: sorted(t for t in targets if t.split(".")[0] == "tasks")
                      for m, targets in graph.items() if m.startswith("benchmark")}
    assert not any(reaching_tasks.values()), {m: t for m, t in reaching_tasks.items() if t}


def layout_block() -> str:
    readme = (REPO / "README.md").read_text()
    return re.search(r"## Layout\n.*?```\n(.*?)```", readme, re.S).group(1)


def test_the_readme_layout_names_every_package_and_module_there_is():
    block = layout_block()
    named = set(re.findall(r"[\w.]+\.py\b", block))
    for pkg in ("benchmark", "tasks"):
        for sub in (REPO / pkg).rglob("__init__.py"):
            folder = sub.parent.relative_to(REPO / pkg)
            if folder.parts:
                assert f"{folder.parts[-1]}/" in block, f"README layout does not show {pkg}/{folder}/"
    for folder in ("benchmark", "benchmark/pretraining", "benchmark/reporting", "benchmark/orchestration",
                   "tasks", "tasks/linear", "tasks/dense"):
        for module in (REPO / folder).glob("*.py"):
            if not module.name.startswith("__"):
                assert module.name in named, f"README layout does not name {folder}/{module.name}"
    every_module = {p.name for p in REPO.rglob("*.py") if ".venv" not in p.parts}
    assert named <= every_module, f"README layout names modules that do not exist: {sorted(named - every_module)}"


def test_docs_name_only_files_that_exist():
    """Every backticked repository path in the README and docs/design.md exists (placeholders skipped)."""
    for doc in (REPO / "README.md", REPO / "docs" / "design.md"):
        for quoted in re.findall(r"`([^`\s]+)`", doc.read_text()):
            path = quoted.rstrip(".,:;")
            if path.split("/")[0] not in TREE or "/" not in path or any(c in path for c in "<>*{}|$"):
                continue
            assert (REPO / path).exists(), f"{doc.name} names {path}, which does not exist"


def test_tests_import_shared_helpers_only_from_tests_helpers():
    offenders = []
    for path in (REPO / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "conftest" or node.module.split(".")[-1].startswith("test_"):
                    offenders.append(f"{path.relative_to(REPO)}: from {node.module}")
            elif isinstance(node, ast.Import):
                offenders += [f"{path.relative_to(REPO)}: import {a.name}" for a in node.names
                              if a.name == "conftest" or a.name.split(".")[-1].startswith("test_")]
    assert not offenders, offenders
