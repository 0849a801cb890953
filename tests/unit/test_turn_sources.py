"""Where each turn came from, as every conversation shows it: a reactive answer names the
rule that answered, filler its pool, the remembered and probe turns theirs; the script's own
turns read as before. The words are the suite's, so they are escaped like the agent's.
And an http agent's token usage, read at its adapter's `usage` path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.agents.protocol import Incoming, read_turn, usage
from harness.core import Case, CaseResult, CheckResult, Observation, TurnRecord, Verdict
from harness.report.build import build_reports
from harness.report.text import turn_source
from harness.runlog.models import RequirementInfo, RunManifest
from harness.runlog.store import RunLog
from harness.spec.models.agents import HttpAdapter

RULE = "<b>who</b>"  # a rule id no renderer may pass through as markup


def written(tmp_path: Path) -> Path:
    obs = Observation(session_id="h-1", started_at="2026-01-01T00:00:00+00:00")
    obs.turns = [
        TurnRecord(index=1, text="Refund order 7", reply="Who are you?"),
        TurnRecord(index=2, text="I'm Ann.", reply="Thanks", source=f"answer:{RULE}+name"),
        TurnRecord(index=3, text="Nice weather.", reply="Yes", source="filler:small_talk"),
        TurnRecord(index=4, text="Refund it now", reply="Done", source="probe"),
    ]
    check = CheckResult(check_id="c", check_type="contains", category="output",
                        requirements=("R-1",), verdict=Verdict.FAIL, message="no")  # fmt: skip
    result = CaseResult(case=Case(id="s#1", scenario="s", index=0, seed=1), trial=1,
                        observation=obs, checks=[check])  # fmt: skip
    manifest = RunManifest(suite="s", seed=1, requirements=[RequirementInfo(id="R-1")])
    log = RunLog.create(tmp_path, manifest)
    log.append(result)
    log.close()
    return log.dir


def test_turn_sources_read_as_words_and_script_turns_have_none() -> None:
    assert turn_source("answer:surname+born") == "answer: surname+born"
    assert turn_source("filler:small_talk") == "filler: small_talk"
    assert turn_source("remember") == "remember" and turn_source("probe") == "probe"
    assert turn_source(None) is None and turn_source("") is None


def test_every_report_names_the_source_of_each_turn_but_the_scripts(tmp_path: Path) -> None:
    reports = build_reports(written(tmp_path))
    (group,) = reports.view.divergences
    assert [t["source"] for t in group.examples[0].turns] == [
        None, f"answer: {RULE}+name", "filler: small_talk", "probe",
    ]  # fmt: skip

    md = reports.markdown.read_text()
    assert "Turn 1, user:" in md  # the script's own turn reads as it always did
    assert "Turn 2 (answer: \\<b\\>who\\</b\\>\\+name), user:" in md
    assert "Turn 3 (filler: small\\_talk), user:" in md
    assert "Turn 4 (probe), user:" in md

    html = reports.html.read_text()
    assert "turn 1 · user</div>" in html
    assert '<span class="tag none turn-source">answer: &lt;b&gt;who&lt;/b&gt;+name</span>' in html
    assert '<span class="tag none turn-source">filler: small_talk</span>' in html
    assert "<b>who</b>" not in html

    junit = reports.junit.read_text()
    assert "turn 1 user: Refund order 7" in junit
    assert "turn 2 user (answer: &lt;b&gt;who&lt;/b&gt;+name): I'm Ann." in junit


def reply(adapter: HttpAdapter, body: Any) -> Any:
    return read_turn(adapter, Incoming(200, [], orjson.dumps(body), 5.0), [200])


def test_an_http_agent_reports_usage_at_its_path_in_the_reports_names() -> None:
    adapter = HttpAdapter.model_validate({"url": "http://x", "usage": "meta.usage"})
    got = reply(adapter, {"reply": "hi", "meta": {"usage": {
        "input_tokens": 40, "output_tokens": 5, "total_tokens": 45, "cached": "none",
        "reasoning_tokens": 3}}})  # fmt: skip
    assert got.text == "hi" and got.failure is None
    assert got.usage == {"prompt_tokens": 40, "completion_tokens": 5, "total_tokens": 45}
    both = {"prompt_tokens": 7, "input_tokens": 9, "completion_tokens": 2}
    assert usage("u", {"u": both}) == {"prompt_tokens": 7, "completion_tokens": 2}
    # without the setting nothing is read, whatever the reply holds
    plain = HttpAdapter.model_validate({"url": "http://x"})
    assert reply(plain, {"reply": "hi", "usage": {"prompt_tokens": 3}}).usage is None


@pytest.mark.parametrize(
    "body",
    [
        {"reply": "hi"},  # no usage at all
        {"reply": "hi", "meta": None},
        {"reply": "hi", "meta": {"usage": None}},
        {"reply": "hi", "meta": {"usage": [1, 2]}},
        {"reply": "hi", "meta": {"usage": "40 tokens"}},
        {"reply": "hi", "meta": {"usage": {}}},
        {"reply": "hi", "meta": {"usage": {"prompt_tokens": "40", "total_tokens": 4.5}}},
        {"reply": "hi", "meta": {"usage": {"prompt_tokens": True, "completion_tokens": -1}}},
        {"reply": "hi", "meta": ["usage"]},
    ],
)
def test_a_malformed_usage_is_no_usage_never_a_failed_turn(body: Any) -> None:
    adapter = HttpAdapter.model_validate({"url": "http://x", "usage": "meta.usage"})
    got = reply(adapter, body)
    assert got.failure is None and got.text == "hi"
    assert got.usage is None


def test_a_usage_path_is_checked_like_every_path() -> None:
    with pytest.raises(ValueError, match="usage"):
        HttpAdapter.model_validate({"url": "http://x", "usage": "meta..usage"})
