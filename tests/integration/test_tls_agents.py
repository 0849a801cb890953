"""An https agent, its certificate from a CA of the test's own (trustme): `harness run` and
`harness load` both verify it, both fail every turn naming why when the CA is not trusted, and
both pass with the CA in SSL_CERT_FILE (locust's client did not verify: a load passed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme
import yaml

from harness.procs import free_port
from tests.helpers import ROOT, environ, harness, only_run, read_manifest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SPEC = {
    "title": "TLS",
    "requirements": [{"id": "S-001", "title": "Echoes", "severity": "major", "text": "It echoes."}],
}


def _suite(root: Path, cert: Path, key: Path) -> Path:
    suite, health = root / "suite", free_port()
    (suite / "scenarios").mkdir(parents=True)
    agent = {
        "process": {
            "command": ["{{ python }}", str(ROOT / "tests" / "agents" / "tls_agent.py")],
            "env": {
                "PORT": "{{ agent.port }}",
                "HEALTH_PORT": str(health),
                "CERT": str(cert),
                "KEY": str(key),
            },
            "health": {"url": f"http://127.0.0.1:{health}/health", "timeout": 15},
        },
        "http": {
            "url": "https://127.0.0.1:{{ agent.port }}/chat",
            "body": {"message": "{{ turn.text }}"},
            "reply": "reply",
            "timeout": 5,
        },
    }
    profile = {"quick": {"shape": "stages", "stages": [{"duration": "2s", "users": 2}]}}
    suite_yaml = {
        "name": "tls",
        "defaults": {"seed": 1, "concurrency": 2, "case_timeout": 10},
        "environment": {"agent": agent},
        "load": {"profiles": profile},
    }
    (suite / "suite.yaml").write_text(yaml.safe_dump(suite_yaml, sort_keys=False))
    (suite / "spec.yaml").write_text(yaml.safe_dump(SPEC, sort_keys=False))
    scenario = {
        "id": "echo",
        "title": "Echo",
        "repeat": 2,
        "turns": ["hello {{ case.id }}"],
        "checks": [{"type": "contains", "requirements": ["S-001"], "value": "you said"}],
    }
    (suite / "scenarios" / "s.yaml").write_text(yaml.safe_dump({"scenarios": [scenario]}))
    return suite


def test_run_and_load_verify_an_https_agents_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    suite = _suite(tmp_path, cert, key)
    untrusted = environ(drop=["SSL_CERT_FILE"])
    for command, extra in (("run", ()), ("load", ("--profile", "quick"))):
        reports = tmp_path / command
        done = harness(command, str(suite), *extra, "--no-progress", "--reports-dir",
                       str(reports), env=untrusted, timeout=240)  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr
        cases = (only_run(reports, done.stderr) / "cases.jsonl").read_text()
        assert "CERTIFICATE_VERIFY_FAILED" in cases, (command, cases[:2000])
        reports, trusted = tmp_path / f"{command}-trusted", environ(SSL_CERT_FILE=str(ca_file))
        done = harness(command, str(suite), *extra, "--no-progress", "--reports-dir",
                       str(reports), env=trusted, timeout=240)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    counts = read_manifest(only_run(reports))["load"]["counts"]
    assert counts["judged"] > 0 and counts["passed"] == counts["judged"], counts
