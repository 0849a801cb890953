"""Nothing unmasked is ever written to a run folder: canary secrets in the agent's environment,
the suite's headers, an external database's URL and the agent's own output appear in no file
of the run, in plain, JSON-escaped or URL-encoded form, parquet included."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pyarrow.parquet as pq
import pytest

from harness.deps.embedded import EmbeddedDependency, EmbeddedProvider
from harness.spec.models import PostgresDependency
from tests.helpers import ROOT, environ, harness, only_run

# each has a quote, a backslash, a slash and an @: its JSON and URL forms differ from it
ENV_TOKEN = 'canary-env"tok\\en/1@a'
HEADER_TOKEN = "canary-bearer/2@b"
API_KEY = 'canary-apikey"3'
FROM_ENV = "canary-fromenv/4@d"  # a secret-named variable of the harness's own environment
MARKED = "canary-marked 5"  # a plain variable the suite marks secret (environment.secrets)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedDependency]:
    """An 'external' PostgreSQL with a password, as a staging database would be."""
    workdir = tmp_path_factory.mktemp("external")
    dep = asyncio.run(
        EmbeddedProvider().start(
            "db", PostgresDependency(kind="postgres", database="stage"), run_id="sec",
            workdir=workdir,
        )
    )  # fmt: skip
    try:
        yield dep
    finally:
        dep.stop_sync()


def forms(secret: str) -> set[str]:
    return {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}


def texts(run: Path) -> Iterator[tuple[str, str]]:
    """Every file of the run folder as text; parquet files decoded, every cell."""
    for path in sorted(p for p in run.rglob("*") if p.is_file()):
        yield path.name, path.read_bytes().decode("utf-8", errors="replace")
        if path.suffix == ".parquet":
            yield path.name + " (decoded)", json.dumps(pq.read_table(path).to_pylist(), default=str)


def test_no_canary_reaches_any_file_of_the_run(
    database: EmbeddedDependency, tmp_path: Path
) -> None:
    suite = tmp_path / "suite"
    (suite / "scenarios").mkdir(parents=True)
    (suite / "suite.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: leaky
            defaults: {{seed: 1, concurrency: 2, case_timeout: 20}}
            environment:
              secrets: ["{{{{ env.PARTNER_REF }}}}"]
              dependencies:
                db: {{kind: postgres, database: stage}}
              agent:
                process:
                  command: ["{{{{ python }}}}", "{ROOT}/tests/agents/leaky_agent.py"]
                  env:
                    PORT: "{{{{ agent.port }}}}"
                    API_TOKEN: {json.dumps(ENV_TOKEN)}
                    PLAIN_VALUE: "{{{{ env.CANARY_SECRET }}}}"
                    MARKED_VALUE: "{{{{ env.PARTNER_REF }}}}"
                    DATABASE_URL: "{{{{ deps.db.url }}}}"
                  health: {{url: "http://127.0.0.1:{{{{ agent.port }}}}/health", timeout: 20}}
                http:
                  url: "http://127.0.0.1:{{{{ agent.port }}}}/chat"
                  headers:
                    Authorization: "Bearer {HEADER_TOKEN}"
                    X-Api-Key: {json.dumps(API_KEY)}
            """
        )
    )
    (suite / "spec.yaml").write_text(
        "title: t\nrequirements:\n  - {id: S-001, title: t, severity: critical, text: t}\n"
    )
    (suite / "scenarios" / "s.yaml").write_text(
        "scenarios:\n  - id: leak\n    title: t\n    repeat: 3\n    turns: [hello, again]\n"
        "    checks:\n      - {type: not_contains, requirements: [S-001], value: issued}\n"
    )
    reports = tmp_path / "reports"
    done = harness(
        "run", str(suite), "--deps", "external", "--external", f"db={database.endpoint.url}",
        "--disposable", "db", "--reports-dir", str(reports), "--no-progress",
        env=environ(CANARY_SECRET=FROM_ENV, PARTNER_REF=MARKED), timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # the replies say "issued": divergences
    run = only_run(reports, done.stderr)
    password = database.endpoint.password
    assert password
    canaries = [ENV_TOKEN, HEADER_TOKEN, API_KEY, FROM_ENV, MARKED, password]
    seen = dict(texts(run))
    assert {"cases.jsonl", "manifest.json", "agent.log", "summary.md", "report.html",
            "junit.xml", "results.parquet"} <= set(seen)  # fmt: skip
    leaked = [
        (name, secret, form)
        for name, text in seen.items()
        for secret in canaries
        for form in forms(secret)
        if form in text
    ]
    assert not leaked, leaked
    # masked, not dropped: the evidence still shows where each secret was
    assert "***" in seen["cases.jsonl"] and "***" in seen["summary.md"]
    # ids the evidence must show stay readable
    assert "h-" in seen["cases.jsonl"]  # the conversation's session id
