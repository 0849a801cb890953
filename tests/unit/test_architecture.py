"""The shape ARCHITECTURE.md promises, checked on the code: no import circle between modules,
imports pointing down the layers, nothing heavy where it is not used, small modules."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "harness"
MAX_LINES = 400

# third-party packages that only some paths may import
HEAVY = {
    "locust": ("harness.load.generator", "harness.load.roles"),
    "gevent": ("harness.load.generator", "harness.load.roles", "harness.load.transport"),
    "hypothesis": ("harness.generate.strategies",),
    "opentelemetry": ("harness.otel",),
    "google.protobuf": ("harness.otel",),
    "faker": ("harness.spec.fakers",),
    "pytest_httpserver": ("harness.stubs",),
    "werkzeug": ("harness.stubs",),
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


def layers() -> list[tuple[str, ...]]:
    """ARCHITECTURE.md's layer table, top row first: the modules and packages of each row."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    table = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in table.splitlines():
        if line.startswith("| `"):
            entries = re.findall(r"`([^`]+)`", line.split("|")[1])
            rows.append(tuple(_module_name(e) for e in entries))
    return rows


def _module_name(entry: str) -> str:
    """`spec/` -> harness.spec, `errors.py` -> harness.errors, `__init__.py` -> harness."""
    if entry == "__init__.py":
        return "harness"
    return "harness." + entry.removesuffix("/").removesuffix(".py").replace("/", ".")


def layer_of(module: str, rows: list[tuple[str, ...]]) -> int | None:
    """The row a module belongs to (the longest entry that holds it), or None."""
    best: tuple[int, int] | None = None  # (entry length, row)
    for row, entries in enumerate(rows):
        for entry in entries:
            holds = module == entry or (entry != "harness" and module.startswith(entry + "."))
            if holds and (best is None or len(entry) > best[0]):
                best = (len(entry), row)
    return None if best is None else best[1]


def upward(edges: Mapping[str, set[str]], rows: list[tuple[str, ...]]) -> list[str]:
    """Every import of a module from a row below its own."""
    bad = []
    for name, targets in sorted(edges.items()):
        mine = layer_of(name, rows)
        for target in sorted(targets):
            theirs = layer_of(target, rows)
            if mine is not None and theirs is not None and theirs > mine:
                bad.append(f"{name} (row {mine + 1}) -> {target} (row {theirs + 1})")
    return bad


def test_the_layer_table_lists_every_package_once_and_every_module_has_a_row() -> None:
    rows = layers()
    entries = [e for row in rows for e in row]
    assert len(entries) == len(set(entries)), f"listed twice: {entries}"
    packages = {n for n, p in modules().items() if p.name == "__init__.py" and n.count(".") == 1}
    assert packages <= set(entries), f"packages with no row: {packages - set(entries)}"
    homeless = [n for n in modules() if layer_of(n, rows) is None]
    assert not homeless, f"modules in no row of ARCHITECTURE.md's layer table: {homeless}"


def test_architecture_names_every_module() -> None:
    """One line per module (issue 10): every module's file is named in ARCHITECTURE.md (as
    `name.py`, or as `name` in a package's list such as models/'s)."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    missing = []
    for path in sorted((ROOT / "harness").rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        names = (f"`{path.name}`", f"`{path.stem}`", f"`{path.stem}.py", f"{path.stem}.py`",
                 f"{path.parent.name}/{path.stem}")  # fmt: skip
        if not any(name in text for name in names):
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"modules ARCHITECTURE.md does not name: {missing}"


def test_imports_point_up_the_layer_table() -> None:
    """Any import (lazy ones included) of a row below the importer's fails, whichever rows."""
    bad = upward(graph(module_level_only=False), layers())
    assert not bad, "imports from a lower row of ARCHITECTURE.md's table:\n" + "\n".join(bad)


def test_the_layer_check_catches_an_upward_import() -> None:
    """The rule is the table's order, not a list of pairs: the imports this table once let
    through (spec -> generate, modes above load) are caught."""
    rows = layers()
    assert upward({"harness.spec.references": {"harness.generate.values"}}, rows)
    assert upward({"harness.load.runner": {"harness.modes.load"}}, rows)
    assert upward({"harness.core.types": {"harness.cli.main"}}, rows)
    assert not upward({"harness.modes.load": {"harness.load.runner"}}, rows)


# names the harness gives its own words; a fact they state travels typed beside them
WORDS = {"why", "message", "msg", "reason", "detail", "hint", "note"}
# where text is read on purpose: pydantic's own prefix on its messages
READS_WORDS = {"harness.spec.loader"}


def _words(node: ast.expr) -> str | None:
    """The name of a variable or attribute that holds words, as `why` or `check.message`."""
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
    return name if name in WORDS else None


def decoded_words(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """`why.startswith(...)`, `"..." in message` and the like: a fact read back from text."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("startswith", "endswith", "find", "index", "split")
            and _words(node.func.value)
        ):
            yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.In | ast.NotIn) and _words(right):
                    yield node.lineno, ast.unparse(node)


def test_nothing_decodes_the_harness_own_words() -> None:
    bad = [
        f"{name}:{line}: {code}"
        for name, path in modules().items()
        if name not in READS_WORDS
        for line, code in decoded_words(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not bad, "facts read back from message text (carry them typed):\n" + "\n".join(bad)


def test_the_words_check_catches_a_decoded_message() -> None:
    tree = ast.parse(
        'older = sum(1 for x in left if x.why.startswith("another spec"))\n'
        'hopeless = "exited" in why\n'
    )
    assert sorted(line for line, _ in decoded_words(tree)) == [1, 2]


def test_severities_are_spelled_out_once() -> None:
    """`Severity` (spec/severity.py) is the one list of severities: no tuple, list, set or
    Literal elsewhere names them all again."""
    words = {"critical", "major", "minor"}
    bad = []
    for name, path in modules().items():
        if name == "harness.spec.severity":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else []
            found = {i.value for i in items if isinstance(i, ast.Constant)}
            if words <= found:
                bad.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert not bad, "severities spelled out again (use harness.spec.severity.Severity):\n" + (
        "\n".join(bad)
    )


def test_reports_read_the_run_log_through_its_types() -> None:
    """`getattr(manifest, "select", [])` guesses at a field; a reader narrows to the model
    that has it (`isinstance(manifest, RunManifest)`) so the type checker sees every read."""
    bad = [
        f"{name}:{node.lineno}: {ast.unparse(node)}"
        for name, path in modules().items()
        if name.startswith("harness.report.")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and len(node.args) > 1
        and isinstance(node.args[1], ast.Constant)
    ]
    assert not bad, "fields read by name:\n" + "\n".join(bad)


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


def test_help_lists_every_command_without_asyncio_or_a_model_library() -> None:
    """`harness --help` loads each command's module for its one-line help: none of them may
    start asyncio, pydantic or the YAML loader at import."""
    loaded = _loaded(
        "import contextlib, io, sys\n"
        "from harness.cli.main import main\n"
        "sys.argv = ['harness', '--help']\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main()"
    )
    assert "harness.cli.load" in loaded  # the commands' modules were loaded for their help
    for heavy in ("asyncio", "pydantic", "yaml", "jinja2", "aiohttp", "pandas"):
        assert heavy not in loaded, f"{heavy} is imported by harness --help"


def test_modules_of_pydantic_models_keep_their_annotations_evaluated() -> None:
    """Postponed annotations (`from __future__ import annotations`) make pydantic compile and
    evaluate every field's annotation string when the model class is built: about 1,200
    forward references and a tenth of the CPU of `harness validate`. A module that defines
    models writes them as Python evaluates them (a forward reference quoted)."""
    offenders = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        postponed = any(
            isinstance(node, ast.ImportFrom)
            and node.module == "__future__"
            and any(alias.name == "annotations" for alias in node.names)
            for node in tree.body
        )
        if postponed and _defines_models(tree):
            offenders.append(name)
    assert not offenders, f"modules of pydantic models with postponed annotations: {offenders}"


MODEL_BASES = {"BaseModel", "Model", "Record", "FileModel"}


def _defines_models(tree: ast.Module) -> bool:
    """A class whose bases include pydantic's BaseModel or one of our model bases, or another
    class of the module that does."""
    models: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases = {ast.unparse(b).rpartition(".")[2] for b in node.bases}
            if bases & (MODEL_BASES | models):
                models.add(node.name)
    return bool(models)


def test_no_field_names_a_builtin_container_as_its_default_factory() -> None:
    """pydantic asks each default factory for its signature (models, and the dataclasses they
    hold); for `list`, `dict` or `set` Python parses the type's text signature with tokenize,
    26 ms of a 1-case run's start-up in all. `harness.empty` has a function for each."""
    builtin = re.compile(r"default_factory\s*=\s*(list|dict|set|tuple|frozenset)\b")
    offenders = [
        f"{name}:{number}"
        for name, path in modules().items()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if builtin.search(line)
    ]
    assert not offenders, f"use harness.empty's factories: {offenders}"
