"""The package structure: imports only point down the layers of docs/architecture.md, no
module imports itself back through others, and shared words have one definition."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "custrisk"

#: The layers, lowest first: a package may import from its own layer and those below.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "lazy"}),
    frozenset({"vocab", "config", "expr", "estimators", "privacy"}),
    frozenset({"io"}),
    frozenset({"protect"}),
    frozenset({"data", "registry", "results", "sample"}),
    frozenset({"indicators"}),
    frozenset({"policy", "report", "monitoring"}),
    frozenset({"notify"}),
    frozenset({"scoring", "review"}),
    frozenset({"batch", "serve", "engine"}),
    frozenset({"cli"}),
    frozenset({"entry"}),
    frozenset({"__main__"}),
)
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every custrisk module imported anywhere in ``path`` (function bodies and
    TYPE_CHECKING blocks included), with its line."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("custrisk"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    yield node.lineno, full if full in MODULES else node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("custrisk"):
                    yield node.lineno, alias.name


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for _line, target in _imports(path):
            while target not in MODULES and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def test_every_package_has_a_layer() -> None:
    packages = {_package(m) for m in MODULES} - {""}
    assert packages <= set(RANK), f"add {sorted(packages - set(RANK))} to LAYERS"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_point_down(module: str) -> None:
    package = _package(module)
    if not package:
        return
    upward = [
        f"line {line}: {target}"
        for line, target in _imports(MODULES[module])
        if (other := _package(target)) and other != package and RANK[other] > RANK[package]
    ]
    assert not upward, f"{module} ({package}) imports from a higher layer: {upward}"


def test_no_module_imports_itself_back() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize(
    ("pattern", "owner"),
    [
        (r"^LANGUAGES\s*=", "vocab.py"),
        (r"^LEVELS\s*=", "vocab.py"),
        (r'"alerts\.csv"', "results/layout.py"),
        (r'"\.details\.parquet"', "results/layout.py"),
        (r'"\.run\.json"', "results/layout.py"),
        (r'"ind__"', "results/layout.py"),
        (r"^REPORTS_DIR\s*=", "results/layout.py"),  # a run folder's reports/
    ],
)
def test_shared_words_and_file_names_have_one_definition(pattern: str, owner: str) -> None:
    found = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if re.search(pattern, path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert found == [owner], f"{pattern} is defined in {found}; it belongs in {owner} only"


TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("module", sorted(p.name for p in TESTS.glob("*.py")))
def test_test_modules_share_code_only_through_support_modules(module: str) -> None:
    """Builders shared by tests live in ``tests/_*.py``; a test module importing
    conftest.py or another test module runs that module's fixtures and tests twice."""
    tree = ast.parse((TESTS / module).read_text(encoding="utf-8"))
    bad = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            last = name.rsplit(".", 1)[-1]
            if name.startswith("tests") and (last == "conftest" or last.startswith("test_")):
                bad.append(name)
            elif name in ("conftest",) or name.startswith("test_"):
                bad.append(name)
    assert not bad, f"tests/{module} imports {bad}: move what it needs into tests/_support.py"


#: The length past which a module is split along its seams (docs/architecture.md): the
#: aim is about 800 lines, a little over while a seam is not yet clear.
MAX_MODULE_LINES = 900


def test_no_module_outgrows_a_split() -> None:
    long = {
        name: lines
        for name, path in MODULES.items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, (
        f"modules over {MAX_MODULE_LINES:,} lines: {long}; split each along its seams "
        "(a package of modules, each holding one part)"
    )


#: Libraries of data work: a command leaves it to the library below it (it parses
#: options, calls one library function and prints; issue 11).
DATA_LIBRARIES = frozenset({"pandas", "numpy", "pyarrow"})


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _package(m) == "cli"))
def test_cli_modules_leave_data_work_to_the_library(module: str) -> None:
    found = []
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found += [f"line {node.lineno}: {n}" for n in names if n.split(".")[0] in DATA_LIBRARIES]
    assert not found, (
        f"{module} imports {found}: what it does with the data belongs in the library "
        "(a function the command calls)"
    )
