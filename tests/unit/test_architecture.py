"""The shape ARCHITECTURE.md promises, checked on the code: no import circle between modules,
imports pointing down the layers, nothing heavy where it is not used, small modules."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "harness"
MAX_LINES = 400

# package -> packages it must never import (at any depth of the module, lazily included)
FORBIDDEN = {
    "harness.core": ("harness.run", "harness.session", "harness.report", "harness.cli",
                     "harness.deps", "harness.agents", "harness.load", "harness.modes"),
    "harness.runlog": ("harness.run", "harness.session", "harness.report", "harness.cli",
                       "harness.deps", "harness.agents", "harness.load", "harness.modes",
                       "harness.check"),
    "harness.spec": ("harness.run", "harness.session", "harness.report", "harness.cli",
                     "harness.deps", "harness.agents", "harness.load", "harness.modes",
                     "harness.check", "harness.runlog"),
    "harness.check": ("harness.run", "harness.session", "harness.report", "harness.cli",
                      "harness.deps", "harness.load", "harness.modes"),
    "harness.run": ("harness.session", "harness.report", "harness.cli", "harness.modes",
                    "harness.load"),
    "harness.session": ("harness.report", "harness.cli", "harness.modes", "harness.load"),
    "harness.modes": ("harness.report", "harness.cli"),
    "harness.report": ("harness.run", "harness.session", "harness.cli", "harness.deps",
                       "harness.agents", "harness.load", "harness.modes"),
}  # fmt: skip
# third-party packages that only some paths may import
HEAVY = {
    "locust": ("harness.load.generator", "harness.load.roles"),
    "gevent": ("harness.load.generator", "harness.load.roles", "harness.load.transport"),
    "docker": ("harness.deps",),
    "testcontainers": ("harness.deps",),
    "pandas": ("harness.report", "harness.runlog.frame", "harness.cli"),
    "pyarrow": ("harness.report", "harness.runlog.frame"),
}


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(path: Path, name: str) -> Iterator[tuple[str, bool]]:
    """(module imported, at module level?) for every import statement of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top = set(map(id, tree.body))
    guarded = set()
    for node in tree.body:  # `if TYPE_CHECKING:` imports are for the type checker only
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            guarded |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            yield base, id(node) in top
            for alias in node.names:  # `from harness.x import module`
                yield f"{base}.{alias.name}", id(node) in top


def graph(module_level_only: bool) -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, at_top in imports(path, name):
            if module_level_only and not at_top:
                continue
            if target in known and target != name:
                edges[name].add(target)
    return edges


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _without_packages(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's __init__ re-exporting its modules is no circle of the code's own."""
    packages = {n for n, p in modules().items() if p.name == "__init__.py"}
    return {
        n: {t for t in targets if t not in packages}
        for n, targets in edges.items()
        if n not in packages
    }


def test_no_import_circle_between_modules() -> None:
    cycles = _cycles(_without_packages(graph(module_level_only=False)))
    assert not cycles, f"import circles: {cycles}"


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_point_down_the_layers(layer: str) -> None:
    edges = graph(module_level_only=False)
    bad = [
        f"{name} -> {target}"
        for name, targets in edges.items()
        if name == layer or name.startswith(layer + ".")
        for target in targets
        if any(target == f or target.startswith(f + ".") for f in FORBIDDEN[layer])
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("library", sorted(HEAVY))
def test_heavy_libraries_only_where_they_are_used(library: str) -> None:
    allowed = HEAVY[library]
    bad = [
        name
        for name, path in modules().items()
        for target, _ in imports(path, name)
        if (target == library or target.startswith(library + "."))
        and not any(name == a or name.startswith(a + ".") for a in allowed)
    ]
    assert not bad, f"{library} imported by {bad}"


def _loaded(code: str) -> set[str]:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return set(done.stdout.split())


def test_the_run_path_of_a_suite_without_dependencies_loads_no_client_of_them() -> None:
    loaded = _loaded(
        "import harness.cli.main, harness.modes.run, harness.session.environment, "
        "harness.session.lifecycle"
    )
    for heavy in ("docker", "testcontainers", "psycopg", "redis", "pandas", "pyarrow",
                  "hypothesis", "locust", "aiohttp", "faker", "jsonschema"):  # fmt: skip
        assert heavy not in loaded, f"{heavy} is imported before a run needs it"


def test_help_and_version_load_no_model_library() -> None:
    loaded = _loaded("import harness.cli.main")
    assert "pydantic" not in loaded and "yaml" not in loaded
