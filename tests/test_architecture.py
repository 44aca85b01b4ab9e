"""The house's shape, checked: one-way layers, no import circles, no function too tangled, no outside references.

Imports are read from the source (every import statement, at any depth, except under `if TYPE_CHECKING:`), so a
circle broken by an import inside a function still counts as a circle.
"""

from __future__ import annotations

import ast
import subprocess
from collections.abc import Iterator
from pathlib import Path

from radon.complexity import cc_visit

ROOT = Path(__file__).resolve().parents[1]
APPS = ("awsmcp", "mcp_gateway", "docs_proxy", "ops", "oauth", "conformance_fixtures")
MAX_COMPLEXITY = 15
# Documents outside the repository (the team's shared folder); spelled in pieces so this file names none of them.
OUTSIDE = ("../" + "shared", "ENGINEERING" + "-NOTES", "DESIGN" + ".md")


def modules() -> Iterator[tuple[str, Path]]:
    for app in APPS:
        if not (ROOT / app).is_dir():  # an app not (yet) in this tree
            continue
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(path: Path, known: set[str]) -> set[str]:
    """The project modules a file imports (the longest known prefix of each imported name)."""
    found: set[str] = set()

    def resolve(name: str) -> None:
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in known:
                found.add(candidate)
                return

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                resolve(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                resolve(f"{node.module}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


def graph() -> dict[str, set[str]]:
    paths = dict(modules())
    known = set(paths)
    return {name: imported(path, known) - {name} for name, path in paths.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def package_of(module: str) -> str:
    return module.split(".")[0]


def test_the_gateway_imports_neither_ops_nor_oauth_nor_the_docs_app() -> None:
    """The gateway states its questions (mcp_gateway.gate); the apps that answer them are named by settings."""
    edges = graph()
    wrong = sorted(
        f"{source} -> {target}"
        for source, targets in edges.items()
        if package_of(source) == "mcp_gateway"
        for target in targets
        if package_of(target) in ("ops", "oauth", "docs_proxy")
    )
    assert wrong == []


def test_an_import_of_oauth_would_be_seen(tmp_path: Path) -> None:
    """The import reader resolves oauth modules too, so the rule above can fail when oauth/ exists."""
    source = tmp_path / "m.py"
    source.write_text("from oauth.gate import OAuthGate\nimport oauth\n")
    assert imported(source, {"oauth", "oauth.gate"}) == {"oauth", "oauth.gate"}


def test_the_docs_app_does_not_import_ops() -> None:
    edges = graph()
    wrong = sorted(
        f"{s} -> {t}" for s, ts in edges.items() if package_of(s) == "docs_proxy" for t in ts if package_of(t) == "ops"
    )
    assert wrong == []


def test_no_import_circles() -> None:
    assert cycles(graph()) == []


def test_the_circle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_function_above_the_complexity_bound() -> None:
    tangled = []
    for name, path in modules():
        for block in cc_visit(path.read_text()):
            if block.complexity > MAX_COMPLEXITY:
                tangled.append(f"{name}:{block.lineno} {block.fullname} ({block.complexity})")
    assert tangled == []


def test_nothing_refers_outside_the_repository() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    outside = []
    for name in tracked.split():
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".txt", ".toml", ".cfg", ".sh", ".yml", ".conf", ".service", ""}:
            continue
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for needle in OUTSIDE:
            if needle in text:
                outside.append(f"{name}: {needle}")
    assert outside == []
