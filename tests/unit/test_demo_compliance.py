"""The demo desk's compliance client reading answers, its settings, and when it traces
(the calls and spans themselves: tests/integration/test_refund_desk_chain.py)."""

from __future__ import annotations

import pytest

from fixtures.refund_desk import telemetry
from fixtures.refund_desk.compliance import (
    MAX_REFERENCE_CHARS,
    UNAVAILABLE,
    Answer,
    ComplianceService,
    _decision,
)
from fixtures.refund_desk.config import COMPLIANCE_TIMEOUT_SECONDS, ConfigError, Settings
from fixtures.refund_desk.defects import Defect, Defects

ENV = {"DATABASE_URL": "postgresql://x", "REDIS_URL": "redis://x"}


@pytest.mark.parametrize("decision", ["pending", "approved", "rejected"])
def test_a_known_decision_is_taken_with_its_reference(decision: str) -> None:
    raw = f'{{"decision": "{decision}", "reference": "APR-7"}}'.encode()
    assert _decision(raw, 200) == Answer(decision, "APR-7", status=200)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"<html>oops</html>", "the answer is not JSON"),
        (b"\xff\xfe", "the answer is not JSON"),
        (b'["approved"]', "the answer has no known decision"),
        (b"{}", "the answer has no known decision"),
        (b'{"decision": "APPROVED"}', "the answer has no known decision"),
        (b'{"decision": "maybe"}', "the answer has no known decision"),
    ],
)
def test_an_answer_without_a_known_decision_is_no_decision(raw: bytes, problem: str) -> None:
    answer = _decision(raw, 200)
    assert answer.decision == UNAVAILABLE and answer.problem == problem


def test_a_reference_is_text_and_capped() -> None:
    assert _decision(b'{"decision": "pending", "reference": 12}', 200).reference is None
    long = "R" * 1000
    answer = _decision(f'{{"decision": "pending", "reference": "{long}"}}'.encode(), 200)
    assert answer.reference == "R" * MAX_REFERENCE_CHARS
    assert answer.as_detail() == {
        "decision": "pending",
        "reference": "R" * MAX_REFERENCE_CHARS,
        "status": 200,
    }


def test_without_a_url_there_is_no_service() -> None:
    assert ComplianceService(None, 3).url is None
    assert ComplianceService("http://127.0.0.1:9/", 3).url == "http://127.0.0.1:9/v1/approvals"


def test_compliance_settings() -> None:
    settings = Settings.from_env(ENV)
    assert settings.compliance_url is None
    assert settings.compliance_timeout == COMPLIANCE_TIMEOUT_SECONDS
    given = Settings.from_env(
        ENV
        | {
            "COMPLIANCE_URL": " http://127.0.0.1:8181 ",
            "REFUND_DESK_COMPLIANCE_TIMEOUT_SECONDS": "0.5",
        }
    )
    assert given.compliance_url == "http://127.0.0.1:8181" and given.compliance_timeout == 0.5
    with pytest.raises(ConfigError, match="COMPLIANCE_URL"):
        Settings.from_env(ENV | {"COMPLIANCE_URL": "127.0.0.1:8181"})
    for bad in ("0", "-1", "soon", "601"):
        with pytest.raises(ConfigError, match="REFUND_DESK_COMPLIANCE_TIMEOUT_SECONDS"):
            Settings.from_env(ENV | {"REFUND_DESK_COMPLIANCE_TIMEOUT_SECONDS": bad})


def test_fail_open_is_a_deterministic_defect() -> None:
    assert Defect.FAIL_OPEN in Defects.parse("all")
    assert Defects.parse("fail_open").names() == ["fail_open"]


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": ""},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"},
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x/v1/traces",
            "OTEL_TRACES_EXPORTER": "none",
        },
    ],
)
def test_no_exporter_unless_the_environment_names_an_endpoint(env: dict[str, str]) -> None:
    assert telemetry.setup(env) is False
    assert telemetry._provider is None
