"""A suite folder loaded, validated as a whole, and ready to plan cases from."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, Problem
from harness.spec.load import check_load
from harness.spec.loader import PathKey, Source, did_you_mean, load_yaml, validate_model
from harness.spec.models import (
    Check,
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
from harness.spec.references import check_references

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

    def read(p: Path, model: type[Any]) -> tuple[Any, Source | None]:
        source, errs = load_yaml(p)
        problems.extend(errs)
        if source is None or errs:
            return None, source
        obj, errs = validate_model(source, model)
        problems.extend(errs)
        return obj, source

    manifest, manifest_src = read(root / SUITE_FILE, SuiteFile)
    spec, spec_src = (None, None)
    if (root / SPEC_FILE).is_file():
        spec, spec_src = read(root / SPEC_FILE, SpecFile)
    else:
        problems.append(
            Problem(str(root / SPEC_FILE), 1, 1, "", "missing: every suite needs a spec")
        )
    invariants: list[Invariant] = []
    inv_src = None
    if (root / INVARIANTS_FILE).is_file():
        inv_file, inv_src = read(root / INVARIANTS_FILE, InvariantsFile)
        invariants = list(inv_file.invariants) if inv_file else []
    scenarios: list[tuple[Scenario, Source, int]] = []
    files = scenario_files(root)
    if not files:
        problems.append(
            Problem(
                str(root / SCENARIOS_DIR), 1, 1, "", "no scenarios/*.yaml: a suite needs scenarios"
            )
        )
    for f in files:
        sf, src = read(f, ScenariosFile)
        if sf is not None and src is not None:
            scenarios.extend((s, src, i) for i, s in enumerate(sf.scenarios))
    regressions: list[tuple[RegressionFile, Source]] = []
    reg_files = regression_files(root)
    for f in reg_files:
        reg, src = read(f, RegressionFile)
        if reg is not None and src is not None:
            regressions.append((reg, src))
    if spec is None:
        raise ConfigError(problems)  # requirement ids and parameters are unknown without it
    assert spec_src is not None
    # every problem at once: the cross-file checks run on whatever files are valid
    valid_manifest = manifest if manifest is not None and manifest_src is not None else None
    problems.extend(
        _cross_check(
            root, valid_manifest, manifest_src, spec, spec_src, scenarios, invariants, inv_src
        )
    )
    problems.extend(_check_regressions(regressions, scenarios, spec, invariants))
    if problems or manifest is None:
        raise ConfigError(problems)
    return Suite(
        root=root.resolve(),
        manifest=manifest,
        spec=spec,
        scenarios=tuple(s for s, _, _ in scenarios),
        invariants=tuple(invariants),
        regressions=tuple(r for r, _ in regressions),
        scenario_sources={s.id: src.display for s, src, _ in scenarios},
        # the spec file's own sha256, so `sha256sum spec.yaml` shows the same
        spec_hash=hashlib.sha256((root / SPEC_FILE).read_bytes()).hexdigest(),
        suite_hash=_hash(
            [root / SUITE_FILE, root / SPEC_FILE, root / INVARIANTS_FILE, *files, *reg_files]
        ),
    )


def regression_files(root: Path) -> list[Path]:
    folder = root / REGRESSIONS_DIR
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []


def _check_regressions(
    regressions: list[tuple[RegressionFile, Source]],
    scenarios: list[tuple[Scenario, Source, int]],
    spec: SpecFile,
    invariants: list[Invariant],
) -> Iterator[Problem]:
    """A regression case must still name a scenario, a check and requirements that exist."""
    by_id = {s.id: s for s, _, _ in scenarios}
    req_ids = [r.id for r in spec.requirements]
    seen: dict[str, str] = {}
    for reg, src in regressions:
        if reg.id in seen:
            yield src.problem(("id",), f"duplicate regression id {reg.id} (also in {seen[reg.id]})")
        seen[reg.id] = src.display
        scenario = by_id.get(reg.scenario)
        if scenario is None:
            yield src.problem(
                ("scenario",),
                f"scenario {reg.scenario!r} no longer exists{did_you_mean(reg.scenario, by_id)}; "
                "delete this regression case or point it at the scenario's new id",
            )
            continue
        targets = [c.id or f"{c.type}-{i + 1}" for i, c in enumerate(scenario.checks)]
        targets += [inv.id for inv in invariants]  # invariants are judged on every case too
        if reg.check not in targets:
            yield src.problem(
                ("check",),
                f"scenario {reg.scenario} has no check or invariant {reg.check!r}"
                f"{did_you_mean(reg.check, targets)}",
            )
        for j, rid in enumerate(reg.requirements):
            if rid not in req_ids:
                yield src.problem(("requirements", j), f"unknown requirement {rid}")
        for name in reg.vars:
            if name not in scenario.vars:
                yield src.problem(
                    ("vars", name), f"scenario {reg.scenario} declares no var {name!r}"
                )


def _hash(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        if p.is_file():
            h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _cross_check(
    root: Path,
    manifest: SuiteFile | None,
    manifest_src: Source | None,
    spec: SpecFile,
    spec_src: Source,
    scenarios: list[tuple[Scenario, Source, int]],
    invariants: list[Invariant],
    inv_src: Source | None,
) -> Iterator[Problem]:
    """What no single file can know: ids that must exist, be unique or agree across files."""
    req_ids = [r.id for r in spec.requirements]
    seen: set[str] = set()
    for i, r in enumerate(spec.requirements):
        if r.id in seen:
            yield spec_src.problem(("requirements", i, "id"), f"duplicate requirement id {r.id}")
        seen.add(r.id)
        for j, p in enumerate(r.parameters):
            if p not in spec.parameters:
                yield spec_src.problem(
                    ("requirements", i, "parameters", j),
                    f"unknown parameter {p!r}{did_you_mean(p, spec.parameters)}",
                )

    def known(ids: list[str], src: Source, loc: PathKey) -> Iterator[Problem]:
        for j, rid in enumerate(ids):
            if rid not in seen:
                yield src.problem(
                    (*loc, j),
                    f"unknown requirement {rid}{did_you_mean(rid, req_ids)}; see spec.yaml",
                )

    if (
        manifest is not None
        and manifest_src is not None
        and manifest.load is not None
        and manifest.environment.agent.http is None
    ):
        yield manifest_src.problem(
            ("load",),
            "load profiles need an agent reached over HTTP (harness load drives it from "
            "separate processes), but this suite's agent is a python callable; give the agent "
            "an http: section, or move the profiles to a suite that has one",
            key=True,
        )
    deps = manifest.environment.dependencies if manifest is not None else None
    for name, dep in (deps or {}).items():
        if isinstance(dep, PostgresDependency):
            for j, schema in enumerate(dep.schema_files):
                if not (root / schema).is_file():
                    assert manifest_src is not None
                    yield manifest_src.problem(
                        ("environment", "dependencies", name, "schema", j),
                        f"schema file {schema} not found (paths are relative to {root})",
                    )
        if isinstance(dep, ContainerDependency):
            for j, volume in enumerate(dep.volumes):
                if not (root / volume.host).exists():
                    assert manifest_src is not None
                    yield manifest_src.problem(
                        ("environment", "dependencies", name, "volumes", j, "host"),
                        f"volume {volume.host} does not exist (host paths are relative to {root})",
                    )

    def database(name: str | None, kind: str, src: Source, loc: PathKey) -> Iterator[Problem]:
        if deps is None:
            return  # suite.yaml is invalid itself; its problems are reported already
        of_kind = [n for n, d in deps.items() if d.kind == kind]
        if name is None:
            if len(of_kind) != 1:
                yield src.problem(
                    loc,
                    f"needs a {kind} dependency to talk to, but the suite declares "
                    f"{len(of_kind)}; name one with 'database:'",
                )
        elif name not in of_kind:
            yield src.problem(
                (*loc, "database"),
                f"{name!r} is not a {kind} dependency of this suite{did_you_mean(name, of_kind)}",
            )

    ids: dict[str, str] = {}
    for scenario, src, index in scenarios:
        base: PathKey = ("scenarios", index)
        if scenario.id in ids:
            yield src.problem(
                (*base, "id"), f"duplicate scenario id {scenario.id} (also in {ids[scenario.id]})"
            )
        ids[scenario.id] = src.display
        check_ids: set[str] = set()
        for j, check in enumerate(scenario.checks):
            loc = (*base, "checks", j)
            yield from known(check.requirements, src, (*loc, "requirements"))
            cid = check.id or f"{check.type}-{j + 1}"
            if cid in check_ids:
                yield src.problem(
                    (*loc, "id"), f"duplicate check id {cid} in scenario {scenario.id}"
                )
            check_ids.add(cid)
            yield from _check_database(check, src, loc, database)
        for name, row in scenario.setup.items():
            yield from database(row.database, "postgres", src, (*base, "setup", name))
        for k, item in enumerate(scenario.redis_setup):
            yield from database(item.database, "redis", src, (*base, "redis_setup", k))
    for k, inv in enumerate(invariants):
        assert inv_src is not None
        loc = ("invariants", k)
        yield from known(inv.requirements, inv_src, (*loc, "requirements"))
        yield from database(inv.database, "postgres", inv_src, loc)
    yield from check_references(manifest, manifest_src, spec, scenarios, invariants, inv_src)
    if manifest is not None and manifest_src is not None:
        yield from check_load(manifest.load, manifest_src, [s for s, _, _ in scenarios])


def _check_database(check: Check, src: Source, loc: PathKey, database: Any) -> Iterator[Problem]:
    if check.type in ("sql", "same_state"):
        yield from database(check.database, "postgres", src, loc)
    elif check.type == "redis":
        yield from database(check.database, "redis", src, loc)
