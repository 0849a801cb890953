"""What every report shows, computed once from the results' rows; renderers only format it.

All text that came from the agent or the systems under test is capped and
redacted here; each renderer escapes it for its own format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.core import SWEEP_CASE, Category, FailureKey, FailureKind, Severity
from harness.empty import empty_list
from harness.report.examples import Example as Example
from harness.report.examples import _example as _example  # tests build one alone
from harness.report.frame import Row, as_rows, divergences, per_requirement
from harness.report.known import KnownRegression as KnownRegression
from harness.report.known import known_regressions
from harness.report.reliability import Reliability, compute
from harness.report.text import TEXT_CAP as TEXT_CAP
from harness.report.text import cap as cap
from harness.report.text import evidence_turns as evidence_turns
from harness.report.text import show as show
from harness.report.traffic import Tally, Traffic, traffic
from harness.runlog.history import run_status
from harness.runlog.models import AnyManifest, HuntManifest, RunManifest

if TYPE_CHECKING:
    import pandas as pd

FULL_EXAMPLES = 2
#: the other cases of a divergence group listed by name; the rest are counted (`more`), so a
#: run of 100,000 failing cases reads as a few groups (results.parquet lists every one)
OTHERS_SHOWN = 50


NEGATED = {"not_contains": "must not contain", "not_regex": "must not match"}


@dataclass
class Divergence:
    requirements: list[str]
    severity: str
    titles: list[str]
    scenario: str
    check_id: str
    check_type: str
    category: str
    verdict: str
    examples: list[Example] = field(default_factory=empty_list)
    others: list[tuple[str, str]] = field(default_factory=empty_list)
    more: int = 0  # cases beyond those listed
    suite: bool = False  # errors of a check that could not run: the suite's, not the agent's

    @property
    def count(self) -> int:
        return len(self.examples) + len(self.others) + self.more

    @property
    def expected_label(self) -> str:
        """What the expected value is to the check: a forbidden text is no wanted one."""
        return NEGATED.get(self.check_type, "expected")


@dataclass
class ReportView:
    manifest: AnyManifest
    requirements: list[dict[str, Any]]
    divergences: list[Divergence]
    totals: dict[str, int]
    cases: int
    regressions: list[KnownRegression] = field(default_factory=empty_list)
    #: pass@1 and pass^k per requirement and case, flaky cases (see report/reliability.py)
    reliability: Reliability | None = None
    #: turns, latency, time to first byte, tokens and cost (None: no turn was sent)
    traffic: Traffic | None = None
    #: requirements the agent failed; None: as `requirements` count them (a view built by hand)
    diverging: list[str] | None = None
    #: errored checks that raised while they were judged (failure kind `check`): the suite's
    #: errors, never a pass, and no divergence of the agent's
    suite_errors: int = 0

    @property
    def regressions_failing(self) -> int:
        """Not passing: still failing, or could not be judged (an error is never a pass)."""
        return sum(r.verdict != "pass" for r in self.regressions)

    @property
    def regressions_with_others(self) -> int:
        """Passing their own check while other checks of the replayed case failed."""
        return sum(r.verdict == "pass" and bool(r.others) for r in self.regressions)

    @property
    def regressions_errored(self) -> int:
        return sum(r.verdict == "error" for r in self.regressions)

    @property
    def unreadable_regressions(self) -> list[str]:
        """Regression files the run could not replay (`path:line:col: why`): known failures
        not checked, so never counted as passing."""
        return self.manifest.unreadable_regressions

    @property
    def regressions_headline(self) -> str:
        errored = self.regressions_errored
        unreadable = len(self.unreadable_regressions)
        return (
            f"{self.regressions_failing - errored} still failing, "
            + (f"{errored} could not be judged (error), " if errored else "")
            + f"{self.regressions_passing} now passing"
            + (
                f" ({self.regressions_with_others} of them with other checks failing)"
                if self.regressions_with_others
                else ""
            )
            + (f", {unreadable} file(s) cannot be replayed" if unreadable else "")
        )

    @property
    def regression_findings(self) -> list[str]:
        """What the known regressions show that is not a pass: cases still failing (or not
        judged) and files that cannot be replayed; empty when they all pass."""
        found = []
        errored = self.regressions_errored
        if self.regressions_failing - errored:
            found.append(f"{self.regressions_failing - errored} known regression(s) still failing")
        if errored:
            found.append(f"{errored} known regression(s) could not be judged (error)")
        if self.regressions_with_others:
            found.append(
                f"{self.regressions_with_others} known regression case(s) pass their own check "
                "but failed other checks"
            )
        if self.unreadable_regressions:
            unreadable = len(self.unreadable_regressions)
            found.append(f"{unreadable} regression file(s) cannot be replayed")
        return found

    @property
    def regressions_passing(self) -> int:
        return sum(r.verdict == "pass" for r in self.regressions)

    @property
    def diverged(self) -> bool:
        """Any divergence (in this run's cases or a known regression still failing), or a
        check that could not run: never a pass."""
        return (
            self.divergence_count > 0
            or self.suite_errors > 0
            or self.regressions_failing > 0
            or self.regressions_with_others > 0
            or bool(self.unreadable_regressions)
        )

    @property
    def divergence_count(self) -> int:
        """Failed and errored checks, but for the suite's own errors (`suite_errors`)."""
        return self.totals.get("fail", 0) + self.totals.get("error", 0) - self.suite_errors

    @property
    def status(self) -> str:
        """The run's status; a run still marked running whose harness is gone is killed."""
        return run_status(self.manifest)

    @property
    def complete(self) -> bool:
        """The run finished every planned case (an interrupted or failed run did not)."""
        return self.manifest.finished

    @property
    def trials(self) -> int:
        return self.manifest.trials or 1

    @property
    def unit(self) -> str:
        """What `cases` counts: (case, trial) pairs, so trials when cases ran more than once."""
        return "case(s)" if self.trials == 1 else f"trial(s) ({self.trials} per case)"

    @property
    def headline(self) -> str:
        """One sentence on what the run shows, never claiming more than was measured."""
        planned = self.manifest.planned if isinstance(self.manifest, RunManifest) else None
        of = f" of {planned * self.trials}" if planned else ""
        if self.diverged:
            found = []
            if self.divergence_count:
                found.append(
                    f"{self.divergence_count} divergence(s) from the spec in "
                    f"{len(self.failing_requirements)} requirement(s): "
                    f"{', '.join(self.failing_requirements)}"
                )
            if self.suite_errors:
                found.append(f"{self.suite_errors} check(s) could not run (the suite's error)")
            text = "; ".join(found + self.regression_findings)
        elif self.cases == 0 and isinstance(self.manifest, HuntManifest):
            but = " (but see the warnings about the suite)" * bool(self.manifest.suite_warnings)
            text = f"No divergence found in the {self.manifest.tried} case(s) it tried{but}"
        elif self.cases == 0:
            text = "No case finished, so nothing was judged"
        elif self.complete:
            text = "No divergence from the spec"
        else:
            text = f"No divergence in the {self.cases}{of} {self.unit} that finished"
        if not self.complete:
            text += f" (incomplete run: status {self.status}, "
            text += f"{self.cases}{of} {self.unit} finished)"
        return text + "."

    @property
    def failing_requirements(self) -> list[str]:
        """Requirements the agent failed (a check of theirs that raised is no failure)."""
        if self.diverging is not None:
            return self.diverging
        return [r["requirement"] for r in self.requirements if r["fail"] or r["error"]]

    @property
    def uncovered(self) -> list[str]:
        """Requirements no check of the suite names (of the run's, before inventories)."""
        named = {r for c in self.manifest.checks or () for r in c.requirements}
        return [r for r in self.unjudged if r not in named]

    @property
    def unjudged(self) -> list[str]:
        """Requirements no check of this run judged (-k, a load profile, a hunt's finds)."""
        return [r["requirement"] for r in self.requirements if r["checks"] == 0]


def could_not_run(row: Row) -> bool:
    """An error of a check that raised while judged: the suite's, no divergence of the agent."""
    return row["verdict"] == "error" and row.get("failure_kind") == FailureKind.CHECK.value


def build_view(
    results: list[Row] | pd.DataFrame, manifest: AnyManifest, tally: Tally | None = None
) -> ReportView:
    """The view of a run's results (plain rows, or a frame of them); `tally`: the traffic
    counted as they were read (report/collect.py: passing rows without their turns)."""
    reqs_meta = manifest.requirements
    meta = {r.id: r for r in reqs_meta}
    everything = as_rows(results)
    # known regressions are reported apart; the requirements and divergences are this run's
    rows = [r for r in everything if r["origin"] != "regression"]
    requirements = per_requirement(rows, reqs_meta)
    if manifest.kind == "drift":  # a drift run judges what its drift scenarios judge: the
        # rest of the spec is not uncovered, only left to harness run
        requirements = [r for r in requirements if r["checks"]]
    groups: dict[FailureKey, Divergence] = {}
    for row in divergences(rows):
        ids = row["requirements"].split(",")
        # identical failures across cases group by their one identity (as a hunt dedupes)
        key = FailureKey(ids[0], row["scenario"], row["check_id"], row["verdict"])
        group = groups.get(key)
        if group is None:
            severities = [meta[i].severity if i in meta else "minor" for i in ids]
            group = groups[key] = Divergence(
                requirements=ids,
                severity=min(severities, key=Severity.rank_of),
                titles=[meta[i].title if i in meta else "" for i in ids],
                scenario=row["scenario"],
                check_id=row["check_id"],
                check_type=row["check_type"],
                category=row["category"],
                verdict=row["verdict"],
                suite=True,  # until a row of it is no check that could not run
            )
        group.suite = group.suite and could_not_run(row)
        if len(group.examples) < FULL_EXAMPLES:
            group.examples.append(_example(row))
        elif len(group.others) >= OTHERS_SHOWN:
            group.more += 1
        else:
            first = int(row["trial"]) == 1
            label = row["case_id"] if first else f"{row['case_id']} (trial {row['trial']})"
            group.others.append((label, cap(row["message"], 200)))
    ordered = sorted(
        groups.values(),
        key=lambda d: (
            Severity.rank_of(d.severity),
            d.requirements,
            Category.rank_of(d.category),
            d.scenario,
            d.check_id,
        ),
    )
    totals, suite_errors = dict.fromkeys(("pass", "fail", "error"), 0), 0
    diverging: set[str] = set()  # requirements the agent failed, not the suite's checks
    for row in rows:
        verdict = row["verdict"]
        if verdict in totals:
            totals[verdict] += 1
        if could_not_run(row):
            suite_errors += 1  # a check that raised: the suite's error, no divergence
        elif verdict in ("fail", "error"):
            diverging.update(str(row["requirements"]).split(","))
    known = known_regressions(everything)
    cases = len({(r["case_id"], r["trial"]) for r in rows if r["case_id"] != SWEEP_CASE})
    return ReportView(
        manifest,
        requirements,
        ordered,
        totals,
        cases,
        known,
        reliability=compute(rows, manifest),
        diverging=[r["requirement"] for r in requirements if r["requirement"] in diverging],
        suite_errors=suite_errors,
        traffic=traffic(everything, manifest) if tally is None else tally.traffic(manifest),
    )
