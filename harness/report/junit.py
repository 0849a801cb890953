"""JUnit XML for CI pages: one testcase per case x check, failures and errors with evidence."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from harness.core import dumps
from harness.redact import redact
from harness.report.chain import request_lines, trace_evidence
from harness.report.faultturns import during
from harness.report.frame import Row, as_rows
from harness.report.reliability import REGRESSION_ORIGIN
from harness.report.text import num, pct, probes_left_out, turn_error, turn_source
from harness.report.view import NEGATED, evidence_turns
from harness.runlog.models import AnyManifest

if TYPE_CHECKING:
    import pandas as pd

    from harness.report.drift import DriftSummary
    from harness.report.faults import FaultsSummary
    from harness.report.load import LoadSummary

# XML 1.0 forbids most control characters even when escaped; agent text may hold them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
CAP = 4000
JUNIT_SPANS, JUNIT_REQUESTS = 15, 10


def xml_text(value: Any) -> str:
    text = redact("" if value is None else str(value))
    text = _INVALID_XML.sub("\ufffd", text)
    return text if len(text) <= CAP else text[:CAP] + f" … [{len(text) - CAP} more characters]"


def _details(row: Mapping[Any, Any], chains: dict[tuple[int, int], list[str]] | None = None) -> str:
    lines = [f"requirements: {row['requirements']}", f"session: {row['session_id']}"]
    if row["case_error"]:
        lines.append(f"agent error: {row['case_error']}")
    shown = evidence_turns(row)
    for t in shown:
        source = turn_source(t.get("source"))
        fault = during(t, row.get("faults"))
        said = f"turn {t['index']} user" + (f" ({source})" if source else "")
        said += f" ({fault})" if fault else ""
        lines.append(f"{said}: {t['text']}")
        if t.get("reply") is not None:
            lines.append(f"turn {t['index']} agent: {t['reply']}")
        if t.get("error"):
            lines.append(f"turn {t['index']} error: {turn_error(t)}")
    if (probes := probes_left_out(row["turns"], shown)) is not None:
        lines.append(f"({probes})")  # as summary.md says it under the same evidence
    label = NEGATED.get(str(row.get("check_type")), "expected")  # a forbidden text is not wanted
    lines.append(f"{label}: {dumps(row['expected']).decode()}")
    lines.append(f"found: {dumps(row['found']).decode()}")
    key = id(row.get("trace")), id(row.get("requests"))  # a trial's rows share them
    chain = (chains or {}).get(key)
    if chain is None:
        chain = []
        # the failure text is capped at CAP characters: a short tree, the report has more
        trace = trace_evidence(row.get("trace"), len(row["turns"] or []), JUNIT_SPANS)
        if trace is not None:
            chain += ["spans the agent sent:", trace.text]
        if requests := request_lines(row.get("requests"), JUNIT_REQUESTS):
            chain += ["requests stubbed services received:", *requests]
        if chains is not None:
            chains[key] = chain
    return "\n".join(lines + chain)


def render_junit(
    results: list[Row] | pd.DataFrame,
    manifest: AnyManifest,
    load: LoadSummary | None = None,
    drift: DriftSummary | None = None,
    faults: FaultsSummary | None = None,
) -> bytes:
    suites = ET.Element("testsuites", name=f"harness {manifest.suite}")
    # the run's own cases, then the replayed known regressions apart, as the reports show them
    rows = as_rows(results)
    own = [r for r in rows if r["origin"] != REGRESSION_ORIGIN]
    known = [r for r in rows if r["origin"] == REGRESSION_ORIGIN]
    _testsuite(suites, own, manifest, manifest.suite)
    if len(known):
        _testsuite(suites, known, manifest, f"{manifest.suite} known regressions")
    if load is not None:  # a second testsuite: each level's pass rate and invariants
        junit_suite(load, suites, xml_text)
    if drift is not None:  # a testcase per requirement and length
        from harness.report.driftrender import junit_suite as drift_suite

        drift_suite(drift, suites, xml_text)
    if faults is not None:  # a testcase per requirement with its R_fault
        from harness.report.faultrender import junit_suite as faults_suite

        faults_suite(faults, suites, xml_text)
    return serialize(suites)


def serialize(root: ET.Element) -> bytes:
    """The document as `ET.indent` then `ET.tostring(encoding="utf-8", xml_declaration=True)`
    write it, byte for byte (a test holds to it), for the elements a report builds (plain tags,
    text attributes, no mixed content), in one pass: the 2,000 testcases of a 1,000-case run in
    3.5 ms against ElementTree's 7.7 (medians of 9 in one process; ElementTree walks the tree
    for namespaces first, then writes piece by piece)."""
    out = ["<?xml version='1.0' encoding='utf-8'?>\n"]
    _element(root, "\n", out)
    return "".join(out).encode("utf-8", "xmlcharrefreplace")


def _element(elem: ET.Element, pad: str, out: list[str]) -> None:
    """One element and what it holds; `pad` the newline and indent of its own level."""
    tag = elem.tag
    out.append(f"<{tag}")
    for key, value in elem.items():
        out.append(f' {key}="{_attribute(value)}"')
    text = elem.text
    if len(elem):
        inner = pad + "  "
        out.append(">" + (_cdata(text) if text and text.strip() else inner))
        last = len(elem) - 1
        for i, child in enumerate(elem):
            _element(child, inner, out)
            tail = child.tail
            if tail and tail.strip():
                out.append(_cdata(tail))
            else:
                out.append(pad if i == last else inner)
        out.append(f"</{tag}>")
    elif text:
        out.append(f">{_cdata(text)}</{tag}>")
    else:
        out.append(" />")


def _cdata(text: str) -> str:
    """Text escaped as ElementTree escapes it (`in` first: most text has none of them)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


#: what an attribute's value escapes beyond text's, as ElementTree writes them
_ATTRIBUTE = (('"', "&quot;"), ("\r", "&#13;"), ("\n", "&#10;"), ("\t", "&#09;"))


def _attribute(text: str) -> str:
    text = _cdata(text)
    for char, entity in _ATTRIBUTE:
        if char in text:
            text = text.replace(char, entity)
    return text


#: a suite of more testcases than this is summarised (a CI page of 200,000 testcases does not
#: open): passing cases as one testcase per check, divergences beyond the first
#: JUNIT_REPRODUCERS of a check and verdict as one testcase naming up to JUNIT_NAMED more
JUNIT_CASES, JUNIT_REPRODUCERS, JUNIT_NAMED = 10_000, 20, 50


def _case(row: Row) -> str:
    """A case as a testcase names it: its id, and its trial past the first."""
    return f"{row['case_id']}" + (f" (trial {row['trial']})" if int(row["trial"]) > 1 else "")


def _testcase(suite: ET.Element, classname: str, name: str, ms: float) -> ET.Element:
    return ET.SubElement(
        suite, "testcase", classname=classname, name=xml_text(name), time=f"{ms / 1000:.3f}"
    )


def _testsuite(suites: ET.Element, rows: list[Row], manifest: AnyManifest, name: str) -> None:
    """One testcase per case x check (x trial); summarised past JUNIT_CASES."""
    summarised = len(rows) > JUNIT_CASES
    suite = ET.SubElement(suites, "testsuite", name=name)
    props = ET.SubElement(suite, "properties")
    for key in ("run_id", "seed", "spec_hash", "spec_version", "harness_version"):
        ET.SubElement(props, "property", name=key, value=xml_text(getattr(manifest, key)))
    for warning in manifest.suite_warnings:  # a likely mistake in the suite, found by running
        ET.SubElement(props, "property", name="warning", value=xml_text(warning))
    chains: dict[tuple[int, int], list[str]] = {}
    classnames: dict[str, str] = {}  # per scenario, masked once (a run has a few)

    def classname(scenario: str) -> str:
        text = classnames.get(scenario)
        if text is None:
            text = classnames[scenario] = xml_text(f"{manifest.suite}.{scenario}")
        return text

    passed: dict[tuple[str, str, str], list[float]] = {}  # per check: its passes' durations
    beyond: dict[tuple[str, str, str, str], list[Row]] = {}  # per check and verdict
    shown: dict[tuple[str, str, str, str], int] = {}
    for row in rows:
        check = (str(row["scenario"]), str(row["check_id"]), str(row["requirements"]))
        if summarised and row["verdict"] == "pass":
            passed.setdefault(check, []).append(float(row["duration_ms"]))
            continue
        group = (*check, str(row["verdict"]))
        if summarised and shown.get(group, 0) >= JUNIT_REPRODUCERS:
            beyond.setdefault(group, []).append(row)
            continue
        shown[group] = shown.get(group, 0) + 1
        name = f"{_case(row)} :: {row['check_id']} [{row['requirements']}]"
        case = _testcase(suite, classname(check[0]), name, float(row["duration_ms"]))
        if row["verdict"] != "pass":
            tag = "failure" if row["verdict"] == "fail" else "error"
            el = ET.SubElement(case, tag, message=xml_text(row["message"]), type=row["check_type"])
            el.text = xml_text(_details(row, chains))
    for (scenario, check_id, reqs), durations in passed.items():
        name = f"{len(durations)} case(s) passed :: {check_id} [{reqs}]"
        _testcase(suite, classname(scenario), name, sum(durations))
    for (scenario, check_id, reqs, verdict), more in beyond.items():
        name = f"{len(more)} more case(s) :: {check_id} [{reqs}]"
        ms = sum(float(r["duration_ms"]) for r in more)
        case = _testcase(suite, classname(scenario), name, ms)
        said = "failed" if verdict == "fail" else "could not be judged (error)"
        tag = "failure" if verdict == "fail" else "error"
        el = ET.SubElement(
            case, tag, message=xml_text(f"{len(more)} more case(s) {said} like the ones above"),
            type=more[0]["check_type"],
        )  # fmt: skip
        named = [f"{_case(r)}: {r['message']}" for r in more[:JUNIT_NAMED]]
        rest = len(more) - len(named)
        el.text = xml_text("\n".join(named + ([f"… and {rest} more"] if rest else [])))
    testcases = suite.findall("testcase")
    suite.set("tests", str(len(testcases)))
    suite.set("failures", str(sum(c.find("failure") is not None for c in testcases)))
    suite.set("errors", str(sum(c.find("error") is not None for c in testcases)))
    suite.set("skipped", "0")
    suite.set("timestamp", manifest.started_at)
    if summarised:  # every check verdict, as the other reports count them
        for verdict in ("pass", "fail", "error"):
            count = sum(r["verdict"] == verdict for r in rows)
            ET.SubElement(props, "property", name=f"checks_{verdict}", value=str(count))


def junit_suite(s: LoadSummary, parent: ET.Element, text: Callable[[Any], str]) -> None:
    """Per level: invariants held and (above the lowest) pass rate held against the lowest."""
    cases: list[tuple[str, str | None]] = []
    low = s.low
    for lv in s.levels:
        if low is not None and lv is not low:  # the baseline against itself always passes
            worse = (
                lv.p_value is not None
                and lv.p_value < 0.05
                and (lv.pass_rate or 0) < (low.pass_rate or 0)
            )
            cases.append(
                (
                    f"pass rate at {lv.users} users >= at {low.users} users",
                    f"{pct(lv.pass_rate)} vs {pct(low.pass_rate)} (Fisher p = "
                    f"{num(lv.p_value, '.3g')})"
                    if worse
                    else None,
                )
            )
        cases.append(
            (
                f"invariants hold at {lv.users} users",
                f"{lv.violations} invariant violation(s), {lv.sampled} new violating row(s)"
                if lv.violations or lv.sampled
                else None,
            )
        )
    suite = ET.SubElement(
        parent,
        "testsuite",
        name=text(f"{s.manifest.suite}.load"),
        tests=str(len(cases)),
        failures=str(sum(1 for _, f in cases if f)),
        errors="0",
        skipped="0",
    )
    props = ET.SubElement(suite, "properties")
    for key in ("profile", "shape", "peak_users", "length_s"):
        ET.SubElement(props, "property", name=key, value=text(getattr(s.load, key, None)))
    ET.SubElement(props, "property", name="degraded_at_users", value=text(s.degraded_at))
    for name, failure in cases:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=text(f"{s.manifest.suite}.load"),
            name=text(name),
            time="0",
        )
        if failure:
            ET.SubElement(case, "failure", message=text(failure), type="load").text = text(
                s.verdict
            )
