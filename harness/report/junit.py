"""JUnit XML for CI pages: one testcase per case x check, failures and errors with evidence."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pandas as pd

from harness.redact import redact
from harness.report.frame import loads
from harness.report.load import LoadSummary
from harness.report.loadrender import junit_suite
from harness.report.reliability import REGRESSION_ORIGIN

# XML 1.0 forbids most control characters even when escaped; agent text may hold them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
CAP = 4000


def xml_text(value: Any) -> str:
    text = redact("" if value is None else str(value))
    text = _INVALID_XML.sub("\ufffd", text)
    return text if len(text) <= CAP else text[:CAP] + f" … [{len(text) - CAP} more characters]"


def _details(row: pd.Series) -> str:
    lines = [f"requirements: {row['requirements']}", f"session: {row['session_id']}"]
    if row["case_error"]:
        lines.append(f"agent error: {row['case_error']}")
    for t in loads(row["turns"]) or []:
        lines.append(f"turn {t['index']} customer: {t['text']}")
        if t.get("reply") is not None:
            lines.append(f"turn {t['index']} agent: {t['reply']}")
        if t.get("error"):
            lines.append(f"turn {t['index']} error: {t['error']}")
    lines.append(f"expected: {row['expected']}")
    lines.append(f"found: {row['found']}")
    return "\n".join(lines)


def render_junit(
    frame: pd.DataFrame, manifest: dict[str, Any], load: LoadSummary | None = None
) -> bytes:
    suites = ET.Element("testsuites", name=f"harness {manifest.get('suite', '')}")
    # the run's own cases, then the replayed known regressions apart, as the reports show them
    regression = frame["origin"] == REGRESSION_ORIGIN
    own, known = frame[~regression], frame[regression]
    _testsuite(suites, own, manifest, str(manifest.get("suite", "")))
    if len(known):
        _testsuite(suites, known, manifest, f"{manifest.get('suite', '')} known regressions")
    if load is not None:  # a second testsuite: each level's pass rate and invariants
        junit_suite(load, suites, xml_text)
    ET.indent(suites)
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))


def _testsuite(
    suites: ET.Element, frame: pd.DataFrame, manifest: dict[str, Any], name: str
) -> None:
    """One testcase per case x check (x trial)."""
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=name,
        tests=str(len(frame)),
        failures=str(int((frame["verdict"] == "fail").sum())),
        errors=str(int((frame["verdict"] == "error").sum())),
        skipped="0",
        timestamp=str(manifest.get("started_at", "")),
    )
    props = ET.SubElement(suite, "properties")
    for key in ("run_id", "seed", "spec_hash", "spec_version", "harness_version"):
        ET.SubElement(props, "property", name=key, value=xml_text(manifest.get(key)))
    for _, row in frame.iterrows():
        trial = f" (trial {row['trial']})" if int(row["trial"]) > 1 else ""
        case = ET.SubElement(
            suite,
            "testcase",
            classname=xml_text(f"{manifest.get('suite')}.{row['scenario']}"),
            name=xml_text(f"{row['case_id']}{trial} :: {row['check_id']} [{row['requirements']}]"),
            time=f"{float(row['duration_ms']) / 1000:.3f}",
        )
        if row["verdict"] != "pass":
            tag = "failure" if row["verdict"] == "fail" else "error"
            el = ET.SubElement(case, tag, message=xml_text(row["message"]), type=row["check_type"])
            el.text = xml_text(_details(row))
