"""A suite folder loaded, validated as a whole, and ready to plan cases from."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.empty import empty_dict
from harness.errors import ConfigError, Problem
from harness.spec.crosscheck import check_regressions, cross_check
from harness.spec.limits import file_limit
from harness.spec.loader import Source, load_yaml, validate_model
from harness.spec.models import (
    ContainerDependency,
    Invariant,
    InvariantsFile,
    PostgresDependency,
    RegressionFile,
    Requirement,
    Scenario,
    ScenariosFile,
    SpecFile,
    SuiteFile,
)
from harness.spec.positions import Located
from harness.spec.salvage import Unloaded, hidden, salvage_scenarios, salvage_suite

SUITE_FILE = "suite.yaml"
SPEC_FILE = "spec.yaml"
INVARIANTS_FILE = "invariants.yaml"
SCENARIOS_DIR = "scenarios"
REGRESSIONS_DIR = "regressions"


@dataclass(frozen=True)
class Suite:
    """Everything a run needs to know about one agent, validated."""

    root: Path
    manifest: SuiteFile
    spec: SpecFile
    scenarios: tuple[Scenario, ...]
    invariants: tuple[Invariant, ...]
    regressions: tuple[RegressionFile, ...]
    scenario_sources: dict[str, str]
    spec_hash: str
    suite_hash: str
    #: the hash of what a drift run plays: the suite's files without its regression files
    cases_hash: str = ""
    #: where scenarios and invariants are written, for problems found later (the real schema)
    located: Located = field(default_factory=Located, compare=False, repr=False)
    #: each regression file's text with positions, for problems found when it is replayed
    regression_sources: dict[str, Source] = field(default_factory=empty_dict)
    #: regression files that cannot be read or no longer fit the suite: left out, reported
    broken_regressions: tuple[Problem, ...] = ()

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def params(self) -> dict[str, Any]:
        return self.spec.parameter_values()

    @property
    def param_kinds(self) -> dict[str, str | None]:
        return {k: v.kind for k, v in self.spec.parameters.items()}

    @property
    def requirements(self) -> dict[str, Requirement]:
        return {r.id: r for r in self.spec.requirements}

    def check_id(self, scenario: Scenario, index: int) -> str:
        check = scenario.checks[index]
        return check.id or f"{check.type}-{index + 1}"

    def scenario(self, scenario_id: str) -> Scenario:
        for s in self.scenarios:
            if s.id == scenario_id:
                return s
        raise KeyError(scenario_id)

    def database_for(self, name: str | None, kind: str) -> str:
        """The dependency a check or setup row talks to (validated to exist at load time)."""
        if name is not None:
            return name
        deps = [n for n, d in self.manifest.environment.dependencies.items() if d.kind == kind]
        return deps[0]


def scenario_files(root: Path) -> list[Path]:
    folder = root / SCENARIOS_DIR
    return sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")) if folder.is_dir() else []


def load_suite(path: str | Path) -> Suite:
    """Load and validate every file of a suite; raise ConfigError listing every problem."""
    root = Path(path)
    if root.is_file() and root.name == SUITE_FILE:
        root = root.parent
    if not (root / SUITE_FILE).is_file():
        raise ConfigError(
            f"{root}: no {SUITE_FILE} here, so this is not a suite folder",
            hint="pass a folder such as scenarios/refund_desk (harness list shows the suites)",
        )
    problems: list[Problem] = []
    limit = file_limit()  # suite.yaml's own max_file_size counts from the files after it

    def read(p: Path, model: type[Any]) -> tuple[Any, Source | None]:
        source, errs = load_yaml(p, limit)
        problems.extend(errs)
        if source is None or errs:
            return None, source
        obj, errs = validate_model(source, model)
        problems.extend(errs)
        return obj, source

    lineage = _lineage(root, read, problems)
    manifest, manifest_src, homes = lineage.manifest, lineage.source, lineage.homes
    if manifest is not None and manifest.max_file_size is not None:
        limit = file_limit(manifest.max_file_size)
    spec, spec_src = (None, None)
    spec_path = next((h / SPEC_FILE for h in homes if (h / SPEC_FILE).is_file()), None)
    if spec_path is not None:
        spec, spec_src = read(spec_path, SpecFile)
    elif lineage.whole:
        problems.append(
            Problem(str(root / SPEC_FILE), 1, 1, "", "missing: every suite needs a spec")
        )
    invariants: list[Invariant] = []
    inv_src = None
    inv_path = next((h / INVARIANTS_FILE for h in homes if (h / INVARIANTS_FILE).is_file()), None)
    if inv_path is not None:
        inv_file, inv_src = read(inv_path, InvariantsFile)
        invariants = list(inv_file.invariants) if inv_file else []
    scenarios: list[tuple[Scenario, Source, int]] = []
    files = [f for h in reversed(homes) for f in scenario_files(h)]  # the base's first
    if not files and lineage.whole:
        problems.append(
            Problem(
                str(root / SCENARIOS_DIR), 1, 1, "", "no scenarios/*.yaml: a suite needs scenarios"
            )
        )
    partial = False  # a scenario file failed to load (its problems are said)
    unloaded: list[Unloaded] = []  # its scenarios that are invalid, as far as they are known
    unread = False  # a scenario file that could not even be read
    for f in files:
        sf, src = read(f, ScenariosFile)
        if sf is not None and src is not None:
            scenarios.extend((s, src, i) for i, s in enumerate(sf.scenarios))
        else:
            partial = True
            # every problem at once: its valid scenarios are checked against the suite still
            valid, invalid = salvage_scenarios(src) if src is not None else ([], [])
            scenarios.extend(valid)
            unloaded.extend(invalid)
            unread = unread or src is None or not (valid or invalid)
    # a broken regression file is reported and left out, never a reason not to run the suite
    regressions: list[tuple[RegressionFile, Source]] = []
    broken: list[Problem] = []
    reg_files = regression_files(root)
    for f in reg_files:
        source, errs = load_yaml(f)
        reg, more = validate_model(source, RegressionFile) if source and not errs else (None, [])
        broken.extend(errs + more)
        if reg is not None and source is not None:
            regressions.append((reg, source))
    if spec is None:
        raise ConfigError(problems)  # requirement ids and parameters are unknown without it
    assert spec_src is not None
    if lineage.whole:  # every problem at once: the cross-file checks run on the valid files
        valid_manifest = manifest if manifest is not None and manifest_src is not None else None
        masked: set[str] = set()  # suite.yaml's faults stood in for (salvage.py)
        if valid_manifest is None and manifest_src is not None and len(homes) == 1:
            valid_manifest, more, masked = salvage_suite(manifest_src, problems)
            problems.extend(more)
        problems.extend(
            p
            for p in cross_check(
                root,
                valid_manifest,
                manifest_src,
                spec,
                spec_src,
                scenarios,
                invariants,
                inv_src,
                partial=partial,
                unloaded=tuple(unloaded),
                unread=unread,
            )
            if not (
                manifest_src is not None and p.path == manifest_src.display and hidden(p, masked)
            )
        )
        wrong = list(check_regressions(regressions, scenarios, spec, invariants))
        broken.extend(wrong)
        unfit = {p.path for p in wrong}
        regressions = [(r, src) for r, src in regressions if src.display not in unfit]
    if problems or manifest is None:
        raise ConfigError(problems)
    return Suite(
        root=root.resolve(),
        manifest=manifest,
        spec=spec,
        scenarios=tuple(s for s, _, _ in scenarios),
        invariants=tuple(invariants),
        regressions=tuple(r for r, _ in regressions),
        regression_sources={r.id: src for r, src in regressions},
        broken_regressions=tuple(sorted(broken, key=lambda p: (p.path, p.line, p.col))),
        scenario_sources={s.id: src.display for s, src, _ in scenarios},
        # the spec file's own sha256, so `sha256sum spec.yaml` shows the same
        spec_hash=hashlib.sha256(spec_path.read_bytes()).hexdigest() if spec_path else "",
        suite_hash=_hash(
            [*(h / SUITE_FILE for h in homes), spec_path, inv_path, *files, *reg_files]
        ),
        cases_hash=_hash([*(h / SUITE_FILE for h in homes), spec_path, inv_path, *files]),
        located=Located({s.id: (src, i) for s, src, i in scenarios}, inv_src),
    )


def regression_files(root: Path) -> list[Path]:
    folder = root / REGRESSIONS_DIR
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []


def _hash(paths: Iterable[Path | None]) -> str:
    h = hashlib.sha256()
    for p in paths:
        if p is not None and p.is_file():
            h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


Reader = Callable[[Path, type[Any]], tuple[Any, Source | None]]


@dataclass(frozen=True)
class _Lineage:
    """Where a suite's files come from, and its suite.yaml merged with its base's."""

    homes: list[Path]  # this suite, then the suite it extends
    whole: bool  # every home is known: a file none of them has is missing, not inherited
    manifest: SuiteFile | None  # None when this suite.yaml or its base's is invalid
    source: Source | None  # this suite.yaml as parsed


def _lineage(root: Path, read: Reader, problems: list[Problem]) -> _Lineage:
    """This suite's suite.yaml and the suite it extends, even when either file is invalid: a
    child with a typo still takes its spec and scenarios from its base, so that no file is
    called missing that the base holds. When the base cannot be known (an unreadable file,
    an extends that names no suite or a suite that extends another), nothing is called missing
    and no cross-file check runs: the suite is not whole, and the reason is listed already."""
    manifest, src = read(root / SUITE_FILE, SuiteFile)
    if src is None:
        return _Lineage([root], False, None, None)  # unparsed: whether it extends is unknown
    extends = manifest.extends if manifest is not None else _raw(src.data, "extends")
    if extends is None:
        return _Lineage([root], True, manifest, src)
    if not isinstance(extends, str):
        return _Lineage([root], False, None, src)  # its own problem is listed
    base = (root / extends).resolve()
    if base == root.resolve() or not (base / SUITE_FILE).is_file():
        problems.append(
            src.problem(
                ("extends",), f"{extends} is not a suite folder (no {SUITE_FILE} in {base})"
            )
        )
        return _Lineage([root], False, None, src)
    base_manifest, base_src = read(base / SUITE_FILE, SuiteFile)
    if base_manifest is None:  # its own problems are listed
        based = base_src is not None and _raw(base_src.data, "extends") is None
        return _Lineage([root, base] if based else [root], based, None, src)
    if base_manifest.extends:
        problems.append(
            src.problem(
                ("extends",),
                f"{extends} extends {base_manifest.extends} itself: a suite extends a suite "
                "that extends none",
            )
        )
        return _Lineage([root], False, None, src)
    merged = _merged(manifest, base_manifest, base) if manifest is not None else None
    return _Lineage([root, base], True, merged, src)


def _raw(data: Any, key: str) -> Any:
    """A key of a file that failed validation, as written: None when absent, `...` (unknown)
    when the file is not a mapping."""
    return data.get(key) if isinstance(data, dict) else ...


def _merged(own: SuiteFile, base: SuiteFile, base_root: Path) -> SuiteFile:
    """This suite's own agent (and what it declares), the base's for the rest; the base's
    files (schema, volumes) found where the base keeps them."""
    env = own.environment
    update: dict[str, Any] = {"secrets": [*env.secrets, *base.environment.secrets]}
    if "dependencies" not in env.model_fields_set:
        update["dependencies"] = {
            name: _rooted(dep, base_root) for name, dep in base.environment.dependencies.items()
        }
    if "provider" not in env.model_fields_set:
        update["provider"] = base.environment.provider
    top: dict[str, Any] = {"environment": env.model_copy(update=update)}
    if "defaults" not in own.model_fields_set:
        top["defaults"] = base.defaults
    if "load" not in own.model_fields_set:
        top["load"] = base.load
    if "max_file_size" not in own.model_fields_set:
        top["max_file_size"] = base.max_file_size
    return own.model_copy(update=top)


def _rooted(dep: Any, base_root: Path) -> Any:
    if isinstance(dep, PostgresDependency):
        return dep.model_copy(
            update={"schema_files": [str(base_root / f) for f in dep.schema_files]}
        )
    if isinstance(dep, ContainerDependency):
        volumes = [v.model_copy(update={"host": str(base_root / v.host)}) for v in dep.volumes]
        return dep.model_copy(update={"volumes": volumes})
    return dep
