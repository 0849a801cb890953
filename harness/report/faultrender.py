"""A faulted run's section in every report: Markdown, HTML and JUnit (a testcase per
requirement, with R_fault in its output; failed when it degrades beyond noise under the
profile or fails in the clean phase; skipped when no faulted trial judged it). A faulted
phase that met no fault is said first, as a warning, in each.

Link names, toxics and profile names come from the suite (validated slugs), yet everything
placed here is escaped for its format all the same.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from harness.report.faults import FaultNumbers, FaultsSummary, RequirementFaults
from harness.report.faultstats import Comparison
from harness.report.reliability import Rate, interval, percent
from harness.report.text import cell, code, num


def ratio(rate: Rate) -> str:
    """R_fault as reports show it: two decimals, or — when it was not measured."""
    return "—" if rate.value is None else f"{rate.value:.2f}"


def ratio_interval(rate: Rate) -> str:
    if rate.low is None or rate.high is None:
        return "—"
    return f"{rate.low:.2f}–{rate.high:.2f}"


def passed(n: Comparison, phase: str) -> str:
    if phase == "clean":
        return f"{n.clean_passes}/{n.clean_trials}"
    return f"{n.faulted_passes}/{n.faulted_trials}"


def share(f: FaultNumbers) -> str:
    """The connections its toxicity drew and hit while it was active."""
    if f.toxic == "down":
        return "every connection refused while it was active"
    if not f.connections:
        return "0/0: no connection opened while it was active"
    text = f"{f.affected}/{f.connections} ({percent(f.share)})"
    return text + (f" at toxicity {f.toxicity:g}" if f.samples else "")


def recovery(f: FaultNumbers) -> str:
    never = f"{f.not_within} in {f.not_recovered} trial(s)" if f.not_recovered else ""
    if not f.recovered_ms:
        return never or "—"
    return (
        f"{num(f.recovery_median, ',.0f')} ms median, {num(f.recovery_max, ',.0f')} ms max "
        f"({len(f.recovered_ms)} measured)" + (f"; {never}" if never else "")
    )


def _where(s: FaultsSummary) -> list[str]:
    out = []
    if s.from_records:
        out.append(
            "The run's manifest does not record a fault profile; the profile was found from "
            "the cases its records name."
        )
    if s.clean_with_faults:
        out.append(
            f"{s.clean_with_faults} clean trial(s) had their scenario's own faults (a "
            "scenario's faults apply in both phases): R_fault compares the profile's on top."
        )
    if s.other_profiles:
        out.append(
            f"Left out: the trials of other profile(s) {', '.join(s.other_profiles)} (one "
            "profile a run)."
        )
    return out


def markdown_section(s: FaultsSummary) -> list[str]:
    out = ["## Faults", ""]
    if s.warning is not None:  # said apart too, in a block no reader skips
        out += [f"> ⚠️ **{cell(s.warning)}.**", ""]
    out += [f"**{cell(s.headline)}**", ""]
    if s.profile is not None:
        out += [
            f"Profile {code(s.profile)}: {s.clean_trials} clean and {s.faulted_trials} faulted "
            f"trial(s), in alternating phases. {s.methods}",
            "",
            *[line + "\n" for line in _where(s)],
            "| requirement | severity | clean passed | clean rate (95%) | faulted passed "
            "| faulted rate (95%) | R_fault | 95% interval | p (one-sided) | Holm p | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in s.requirements:
            n = r.numbers
            mark = "❌ " if n.degraded or r.fails_clean else ("⏭ " if r.unjudged else "")
            out.append(
                f"| {mark}{cell(r.requirement)} | {cell(r.severity)} | {passed(n, 'clean')} | "
                f"{percent(n.clean.value)} ({interval(n.clean)}) | {passed(n, 'faulted')} | "
                f"{percent(n.faulted.value)} ({interval(n.faulted)}) | {ratio(n.r_fault)} | "
                f"{ratio_interval(n.r_fault)} | {num(n.p, '.3g')} | {num(n.p_holm, '.3g')} | "
                f"{cell(r.verdict)} |"
            )
        out.append("")
    if s.faults:
        out += [
            f"Faults applied (the proxies are seeded from the run's seed {s.seed} and the "
            "link's name; the share is the connections a toxicity drew among those opened "
            "while it was active):",
            "",
            "| fault | source | stream | trials (hit) | connections hit | recovery |",
            "|---|---|---|---|---|---|",
        ]
        for f in s.faults:
            out.append(
                f"| {cell(f.key)} | {cell(f.source)} | {cell(f.stream)} | "
                f"{f.trials} ({f.hit_trials}) | {cell(share(f))} | {cell(recovery(f))} |"
            )
        out.append("")
    several = [f for f in s.faults if f.by_requirement]
    if several:
        out += [
            "Per fault, over the faulted trials it hit (Holm across every fault and requirement):",
            "",
            "| fault | requirement | passed | rate (95%) | R_fault (95%) | Holm p |",
            "|---|---|---|---|---|---|",
        ]
        for f in several:
            for rid, n in f.by_requirement.items():
                out.append(
                    f"| {cell(f.key)} | {cell(rid)} | {passed(n, 'faulted')} | "
                    f"{percent(n.faulted.value)} ({interval(n.faulted)}) | {ratio(n.r_fault)} "
                    f"({ratio_interval(n.r_fault)}) | {num(n.p_holm, '.3g')} |"
                )
        out.append("")
    out += ["Every number is in `faults.parquet`.", ""]
    return out


def html_context(s: FaultsSummary) -> dict[str, Any]:
    return {
        "summary": s,
        "notes": _where(s),
        "ratio": ratio,
        "ratio_interval": ratio_interval,
        "passed": passed,
        "share": share,
        "recovery": recovery,
        "num": num,
    }


def junit_skipped(r: RequirementFaults) -> str | None:
    """Why the requirement's testcase is skipped: no faulted trial judged it (its checks apply
    only without faults), so it neither holds nor fails under the profile."""
    if not r.unjudged:
        return None
    n = r.numbers
    return f"{r.requirement} {r.verdict} (clean {passed(n, 'clean')} passed)"


def junit_failure(r: RequirementFaults) -> str | None:
    """Why the requirement's testcase fails, or None: it degrades beyond noise under the
    profile, fails in the clean phase (the exit rule of a run with --faults), or any of its
    faulted trials failed or errored (its cases' own testcases failed: this suite's count
    must say so too, whatever the noise)."""
    n = r.numbers
    if n.degraded or r.fails_clean:
        return f"{r.requirement} {r.verdict}"
    if n.faulted_passes < n.faulted_trials:
        return (
            f"{r.requirement}: {n.faulted_trials - n.faulted_passes} of {n.faulted_trials} "
            f"faulted trial(s) did not pass ({r.verdict})"
        )
    return None


def junit_suite(s: FaultsSummary, parent: ET.Element, text: Callable[[Any], str]) -> None:
    """A testcase per requirement judged in both phases, R_fault in its output."""
    if s.profile is None:
        return
    rows = [(r, junit_failure(r)) for r in s.requirements]
    suite = ET.SubElement(
        parent,
        "testsuite",
        name=text(f"{s.manifest.suite}.faults"),
        tests=str(len(rows)),
        failures=str(sum(1 for _, f in rows if f)),
        errors="0",
        skipped=str(sum(1 for r, f in rows if not f and r.unjudged)),
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="profile", value=text(s.profile))
    ET.SubElement(props, "property", name="seed", value=text(s.seed))
    if s.warning is not None:  # the faulted phase met no fault: CI pages show properties
        ET.SubElement(props, "property", name="warning", value=text(s.warning))
    for r, _ in rows:
        ET.SubElement(
            props, "property", name=text(f"r_fault.{r.requirement}"),
            value=text(r.numbers.r_fault.value),
        )  # fmt: skip
    for r, failure in rows:
        n = r.numbers
        case = ET.SubElement(
            suite,
            "testcase",
            classname=text(f"{s.manifest.suite}.faults.{r.requirement}"),
            name=text(f"{r.requirement} holds under fault profile {s.profile}"),
            time="0",
        )
        out = (
            f"R_fault {ratio(n.r_fault)} (95% interval {ratio_interval(n.r_fault)}); clean "
            f"{passed(n, 'clean')} ({percent(n.clean.value)}), faulted {passed(n, 'faulted')} "
            f"({percent(n.faulted.value)}); one-sided Fisher p {num(n.p, '.3g')}, Holm "
            f"{num(n.p_holm, '.3g')}: {r.verdict}"
        )
        if s.warning is not None:
            out = f"{s.warning}. {out}"
        ET.SubElement(case, "system-out").text = text(out)
        if failure:
            ET.SubElement(case, "failure", message=text(failure), type="faults").text = text(out)
        elif (skipped := junit_skipped(r)) is not None:
            ET.SubElement(case, "skipped", message=text(skipped))
