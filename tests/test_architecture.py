"""Structural facts of the code base, checked by reading the source with `ast` (nothing is imported).

- no import cycles among our modules (lakehouse/, modes/, flows/); for `lakehouse` a function-local
  import counts like a module-level one, so a cycle cannot hide behind a local import (imports
  under `if TYPE_CHECKING:` never run and do not count);
- layering (DESIGN "Layers"): `lakehouse` imports neither Prefect, `modes` nor `flows`; `modes` never
  imports Prefect or `flows`; inside `lakehouse` the wings only import downward;
- `lakehouse/` has at most 8 top-level modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lakehouse", "modes", "flows")

# Wings from the bottom up (DESIGN "Layers"): a wing may import itself and the wings listed before it.
WING_ORDER = ("common", "data", "observe", "search", "learning")
# Wings off that ladder: what each may import besides itself; every ladder wing above common may use them.
SIDE_WINGS = {"llm": {"common"}}
# Top-level modules of `lakehouse` that any wing may import.
ANYWHERE = {"lakehouse", "lakehouse.core", "lakehouse.config", "lakehouse.errors"}
MAX_TOP_LEVEL_MODULES = 8


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                found[_module_name(path)] = path
    return found


MODULES = _modules()


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The absolute names an `import` or `from … import …` statement may refer to."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    # `from pkg import name` imports pkg, and pkg.name when that is a module
    return [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]


def _is_type_checking(node: ast.stmt) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(module: str, path: Path, *, typing_only: bool = True) -> list[tuple[str, int, bool]]:
    """(imported name, line, module level?) for every import statement in the file; imports under
    `if TYPE_CHECKING:` (never run) only when `typing_only`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top_level = set(map(id, tree.body))
    skipped: set[int] = set()
    for statement in tree.body:  # `if TYPE_CHECKING:` / `try:` blocks at module level are module level too
        if isinstance(statement, (ast.If, ast.Try)):
            top_level |= {id(n) for n in ast.walk(statement)}
        if not typing_only and _is_type_checking(statement):
            skipped |= {id(n) for n in ast.walk(statement)}
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = _resolve(module, is_package, node)
        else:
            continue
        found += [(name, node.lineno, id(node) in top_level) for name in names]
    return found


def _ours(name: str) -> str | None:
    """The module of ours that `name` names (a symbol's name maps to its module), if any."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _graph(*, local_too: set[str]) -> nx.DiGraph:
    """Module -> module it imports; function-local imports count for packages in `local_too`."""
    graph = nx.DiGraph()
    for module, path in MODULES.items():
        graph.add_node(module)
        for name, line, module_level in _imports(module, path, typing_only=False):  # what runs
            if not module_level and module.split(".")[0] not in local_too:
                continue
            target = _ours(name)
            if target and target != module and not module.startswith(target + "."):
                # a package's own __init__ is not a dependency of its submodules' cycle
                graph.add_edge(module, target, line=line)
    return graph


def _describe_cycle(graph: nx.DiGraph, cycle: list[tuple[str, str]]) -> str:
    return " -> ".join(f"{a} (line {graph.edges[a, b]['line']})" for a, b in cycle) + f" -> {cycle[0][0]}"


def test_no_import_cycles():
    graph = _graph(local_too={"lakehouse"})
    cycles = []
    for group in nx.strongly_connected_components(graph):
        if len(group) > 1:  # one cycle per tangle is enough to show where to cut
            cycles.append(_describe_cycle(graph, nx.find_cycle(graph.subgraph(group))))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles))


def test_the_cycle_finder_sees_function_local_imports(tmp_path):
    """The check is only worth something if it would catch the lift harness/report cycle of old."""
    graph = nx.DiGraph()
    graph.add_edge("lakehouse.learning.lift.harness", "lakehouse.learning.lift.report", line=1)
    graph.add_edge("lakehouse.learning.lift.report", "lakehouse.learning.lift.harness", line=2)
    cycle = nx.find_cycle(graph)
    assert "harness (line 1) -> lakehouse.learning.lift.report (line 2)" in _describe_cycle(graph, cycle)
    source = tmp_path / "m.py"
    source.write_text("import os\n\ndef f():\n    from lakehouse.learning.lift import report\n")
    assert ("lakehouse.learning.lift.report", 4, False) in _imports("lakehouse.x", source)


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for module, path in MODULES.items():
        if module.split(".")[0] != package:
            continue
        for name, line, _ in _imports(module, path):
            if name.split(".")[0] in forbidden:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return sorted(set(bad))


def test_lakehouse_imports_neither_prefect_modes_nor_flows():
    assert _violations("lakehouse", ("prefect", "modes", "flows")) == []


def test_modes_never_import_prefect_or_flows():
    assert _violations("modes", ("prefect", "flows")) == []


def _wing(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "lakehouse" or module in ANYWHERE:
        return None
    return parts[1]


def _allowed(wing: str) -> set[str]:
    if wing in SIDE_WINGS:
        return SIDE_WINGS[wing] | {wing}
    below = set(WING_ORDER[: WING_ORDER.index(wing) + 1])
    return below if wing == WING_ORDER[0] else below | set(SIDE_WINGS)


def test_every_lakehouse_package_is_a_known_wing():
    wings = {p.name for p in (ROOT / "lakehouse").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert wings == set(WING_ORDER) | set(SIDE_WINGS)


def test_lakehouse_wings_only_import_downward():
    bad = []
    for module, path in MODULES.items():
        wing = _wing(module)
        if wing is None:
            continue
        for name, line, _ in _imports(module, path):
            target = _ours(name)
            if target is None:
                continue
            other = _wing(target)
            if other is not None and other not in _allowed(wing):
                bad.append(f"{path.relative_to(ROOT)}:{line}: wing {wing} imports {target} (wing {other})")
    assert sorted(set(bad)) == []


def test_lakehouse_has_at_most_eight_top_level_modules():
    top = sorted(p.name for p in (ROOT / "lakehouse").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
