"""The house rules of docs/architecture.md, read from the source: layers, cycles, sizes.

- Layers: core ← audit ← lending ← evidence ← demo ← wsgi (demo: the demonstration office, which fills them
  all). A package imports only packages to its left, also inside functions (a lazy import is still a
  dependency).
- No import cycle between modules, counting the imports inside functions too: a pair that needs each
  other is one module, or shares a third.
- No module over 600 lines and no folder with more than 12 modules (migrations and tests aside): a
  reader finds a sub-area by its folder, not by a file-name prefix.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("core", "audit", "lending", "evidence", "demo")
MAX_LINES = 600
MAX_MODULES = 12


@cache
def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the four packages."""
    found = {}
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _ours(name: str) -> str | None:
    """The module of ours that `import name` loads last (a package's name is its __init__)."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


@cache
def imports_of(module: str) -> frozenset[str]:
    """Every module of ours that `module` imports, at its top or inside a function."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(filter(None, (_ours(alias.name) for alias in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in modules() else _ours(base) or "")
    found.discard("")
    found.discard(module)
    return frozenset(found)


def test_no_package_imports_a_package_above_it():
    upward = [
        f"{module} imports {target}"
        for module in modules()
        for target in imports_of(module)
        if LAYERS.index(target.split(".")[0]) > LAYERS.index(module.split(".")[0])
    ]
    assert not upward, f"layers are {' <- '.join(LAYERS)} <- wsgi: {upward}"


def test_the_scan_sees_imports_inside_functions_and_relative_ones():
    tree = modules()
    assert "core.db" in imports_of("core.files")
    assert "lending" in imports_of(next(m for m in tree if m.startswith("lending.") and m.endswith("views")))


def _cycles() -> list[list[str]]:
    """The strongly connected groups of the import graph with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in imports_of(module):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(modules()):
        if module not in index:
            visit(module)
    return groups


def test_no_two_modules_import_each_other():
    assert not _cycles()


def test_no_module_is_longer_than_the_house_allows():
    long = {
        str(path.relative_to(ROOT)): n
        for path in modules().values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split by what each part does (at most {MAX_LINES} lines): {long}"


def test_no_folder_holds_more_modules_than_a_reader_can_take_in():
    folders: dict[Path, int] = {}
    for path in modules().values():
        folders[path.parent] = folders.get(path.parent, 0) + 1
    crowded = {str(d.relative_to(ROOT)): n for d, n in folders.items() if n > MAX_MODULES}
    assert not crowded, f"group by sub-area into sub-packages (at most {MAX_MODULES} modules each): {crowded}"


def test_every_package_says_what_lives_there_and_what_it_may_import():
    silent = [
        str(path.relative_to(ROOT))
        for path in modules().values()
        if path.name == "__init__.py" and not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not silent
