"""What a hunt keeps of the failures it sees: one group per root cause (a FailureShape)
across scenarios, with one representative saved as a regression case and the other
cases that failed the same way listed as its members, and a failure that did not come
back on every replay kept as *flaky* with its observed rate, never dropped."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.core import CaseResult, CheckResult
from harness.empty import empty_list
from harness.run import regressions
from harness.runlog.models import Finding
from harness.spec import models as m
from harness.spec.suite import Suite

MEMBERS_CAP = 50  # other cases listed per root cause (one per scenario)


@dataclass
class Group:
    """One root cause found by this hunt: its representative and the cases like it."""

    result: CaseResult
    check: CheckResult
    finding: Finding
    shrunk: bool
    flaky: m.Flaky | None = None
    members: list[m.RegressionMember] = field(default_factory=empty_list)
    lengths: dict[str, int | None] | None = None  # a drift case: how its length was shrunk

    def add(self, result: CaseResult, check: CheckResult) -> bool:
        """A case of another scenario that failed the same way; False if one is listed."""
        scenario = result.case.scenario
        if scenario == self.result.case.scenario or len(self.members) >= MEMBERS_CAP:
            return False
        if any(x.scenario == scenario for x in self.members):
            return False
        self.members.append(
            m.RegressionMember(scenario=scenario, case=result.case.id, check=check.check_id)
        )
        self.finding.members = [f"{x.scenario}: {x.case} ({x.check})" for x in self.members]
        return True


class Findings:
    """The hunt's groups by shape (text), and the shapes known before it started."""

    def __init__(self, suite: Suite, *, run_id: str, plain: bool) -> None:
        self.suite = suite
        self.run_id = run_id
        self.plain = plain
        # saved by earlier hunts: each file's root cause and those of the other checks its
        # case broke, as this hunt aliases them (Findings.add)
        self.known = regressions.known_shapes(suite)
        self.legacy = regressions.known_signatures(suite)  # files saved without them
        self.groups: dict[str, Group] = {}  # shape -> its group (aliases: a case's others)
        self.found: list[Finding] = []
        self.covered: set[str] = set()  # the known root causes this hunt saw fail again

    def is_known(self, result: CaseResult, check: CheckResult) -> bool:
        """Known before this hunt (a saved regression case covers it), or found by it already
        (then listed as a member)."""
        shape = str(result.shape(check))
        if str(check.key(result.case.scenario)) in self.legacy:
            self.covered.add(shape)
            return True
        group = self.groups.get(shape)
        if group is not None:
            if group.add(result, check):
                self.save(group)
            return True
        if shape in self.known:
            self.covered.add(shape)
            return True
        return False

    @staticmethod
    def flaky(failures: int, replays: int) -> m.Flaky | None:
        """None when the failure came back every time; else its rate and later trials."""
        if failures >= replays:
            return None
        trials = regressions.flaky_trials(failures, replays)
        return m.Flaky(failures=failures, replays=replays, trials=trials)

    def add(
        self,
        shape: str,
        result: CaseResult,
        check: CheckResult,
        *,
        tried: int,
        shrunk: bool,
        confirmed: tuple[int, int] | None,
        lengths: dict[str, int | None] | None = None,
    ) -> Finding:
        """A new root cause: saved (unless plain) and recorded; every other shape the same
        case broke is covered by it from now on."""
        flaky = self.flaky(*confirmed) if confirmed else None
        finding = Finding(
            signature=str(check.key(result.case.scenario)),
            shape=shape,
            case_id=result.case.id,
            scenario=result.case.scenario,
            requirement=check.requirements[0],
            check=check.check_id,
            message=check.message,
            tried=tried,
            shrunk=shrunk,
            failures=confirmed[0] if confirmed else None,
            replays=confirmed[1] if confirmed else None,
            trials=flaky.trials if flaky else None,
            length=result.case.length,
            position=result.case.position,
            found_length=(lengths or {}).get("found_at_length"),
            passing_length=(lengths or {}).get("longest_passing_length"),
        )
        group = Group(result, check, finding, shrunk, flaky, lengths=lengths)
        for other in (shape, *(str(s) for s in result.failing_shapes())):
            self.groups.setdefault(other, group)
        self.save(group)
        self.found.append(finding)
        return finding

    def save(self, group: Group) -> None:
        if self.plain:
            return
        path = regressions.save(
            self.suite,
            group.result,
            group.check,
            run_id=self.run_id,
            tried=group.finding.tried,
            shrunk=group.shrunk,
            members=group.members,
            flaky=group.flaky,
            lengths=group.lengths,
        )
        group.finding.path = str(path)
        group.finding.regression_id = regressions.PREFIX + path.stem
