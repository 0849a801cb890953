"""What no single suite file can know: ids that must exist, be unique or agree across files,
paths that must exist, and regression files that must still fit their scenarios."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import Problem
from harness.spec.faultrefs import check_faults
from harness.spec.load import check_load
from harness.spec.loader import PathKey, Source, did_you_mean
from harness.spec.models import (
    Check,
    ContainerDependency,
    Invariant,
    JsonSchemaCheck,
    PostgresDependency,
    RegressionFile,
    Scenario,
    SpecFile,
    SuiteFile,
)
from harness.spec.references import check_references
from harness.spec.salvage import Unloaded
from harness.spec.stubrefs import check_stubs


def check_regressions(
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
        if scenario.drift is None and (reg.length is not None or reg.position is not None):
            key = "length" if reg.length is not None else "position"
            yield src.problem(
                (key,),
                f"scenario {reg.scenario} is not a drift scenario (it has no drift:), so its "
                f"cases have no {key}; delete length and position, or this regression case",
            )
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


def cross_check(
    root: Path,
    manifest: SuiteFile | None,
    manifest_src: Source | None,
    spec: SpecFile,
    spec_src: Source,
    scenarios: list[tuple[Scenario, Source, int]],
    invariants: list[Invariant],
    inv_src: Source | None,
    *,
    partial: bool = False,
    unloaded: tuple[Unloaded, ...] = (),
    unread: bool = False,
) -> Iterator[Problem]:
    """What no single file can know: ids that must exist, be unique or agree across files.
    `partial`: a scenario file failed to load (its own problems said), so what the suite
    file says of every scenario (names the scenarios declare, a scenario to drive a load
    profile) is not judged against the ones that loaded: no spurious problem follows a typo;
    `unloaded`, what is known of the scenarios that failed (their ids, their valid faults), and
    `unread`, a scenario file could not even be read, serve the fault checks."""
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
        and manifest.environment.agent.python is not None
    ):
        yield manifest_src.problem(
            ("load",),
            "load profiles need an agent reached over HTTP (harness load drives it from "
            "separate processes), but this suite's agent is a python callable; give the agent "
            "an http: or openai: section, or move the profiles to a suite that has one",
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
            if isinstance(check, JsonSchemaCheck):
                yield from _check_json_schema(check.json_schema, src, (*loc, "schema"))
        for name, row in scenario.setup.items():
            yield from database(row.database, "postgres", src, (*base, "setup", name))
        for k, item in enumerate(scenario.redis_setup):
            yield from database(item.database, "redis", src, (*base, "redis_setup", k))
    for u in unloaded:  # its shape was refused; the requirements its checks name still count
        for j, rids in u.requirements:
            loc = ("scenarios", u.index, "checks", j, "requirements")
            yield from known(list(rids), u.source, loc)
    for k, inv in enumerate(invariants):
        assert inv_src is not None
        loc = ("invariants", k)
        yield from known(inv.requirements, inv_src, (*loc, "requirements"))
        yield from database(inv.database, "postgres", inv_src, loc)
    yield from check_references(manifest, manifest_src, spec, scenarios, invariants, inv_src)
    yield from check_stubs(
        manifest, manifest_src, spec.parameter_values(), scenarios, every_scenario=not partial
    )
    yield from check_faults(manifest, manifest_src, scenarios, unloaded, unread=unread)
    if manifest is not None and manifest_src is not None and not partial:
        yield from check_load(
            manifest.load,
            manifest_src,
            [s for s, _, _ in scenarios],
            dependencies=list(manifest.environment.dependencies),
        )


def _check_database(check: Check, src: Source, loc: PathKey, database: Any) -> Iterator[Problem]:
    if check.database_kind is not None:  # the check type's own (spec/models)
        yield from database(getattr(check, "database", None), check.database_kind, src, loc)


def _check_json_schema(schema: Any, src: Source, loc: PathKey) -> Iterator[Problem]:
    """A json_schema check's schema is valid against its metaschema (its `$schema`, else
    draft 2020-12), or every case would error on it instead of judging the agent."""
    import jsonschema  # loaded by the suites that have such a check

    declared = schema.get("$schema") if isinstance(schema, dict) else None
    known = {_metaschema_id(v): v for v in _validators(jsonschema)}
    cls = known.get(str(declared).rstrip("#")) if declared is not None else None
    if declared is not None and cls is None:
        yield src.problem(
            (*loc, "$schema"),
            f"unknown metaschema {declared!r}; use one of {', '.join(known)}, or leave $schema "
            "out (draft 2020-12)",
        )
        return
    cls = cls or jsonschema.Draft202012Validator
    for top in cls(cls.META_SCHEMA).iter_errors(schema):
        error = jsonschema.exceptions.best_match([top])
        yield src.problem(
            (*loc, *error.absolute_path),
            f"not a valid JSON Schema ({_metaschema_id(cls)}): {error.message[:300]}",
        )


def _validators(jsonschema: Any) -> list[Any]:
    return [
        jsonschema.Draft202012Validator,
        jsonschema.Draft201909Validator,
        jsonschema.Draft7Validator,
        jsonschema.Draft6Validator,
        jsonschema.Draft4Validator,
        jsonschema.Draft3Validator,
    ]


def _metaschema_id(cls: Any) -> str:
    return str(cls.META_SCHEMA.get("$id") or cls.META_SCHEMA.get("id", "")).rstrip("#")
