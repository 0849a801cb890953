"""A stubbed service among a suite's dependencies, in the harness's process: up in well under a
second (said like every dependency), `{{ deps.NAME.url }}` its base URL, its watcher offered to
the engine, run by the harness whatever the provider (never asked of docker or external), and
its port closed on every way out of the dependency set, while the harness goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.core.events import DependencyReady, Note
from harness.deps.manager import DependencySet
from harness.deps.select import DepsOptions, select_provider
from harness.redact import redact
from harness.spec.suite import load_suite
from harness.stubs.watcher import StubWatcher
from tests.integration.test_stub_leaks import make_suite
from tests.procs import listening


def test_a_stub_up_answering_and_gone_with_its_set(tmp_path: Path) -> None:
    suite = load_suite(make_suite(tmp_path / "suite"))
    events: list[Any] = []

    async def go() -> int:
        selection = await select_provider(suite, DepsOptions(mode="docker"))
        # a suite of stubs only asks no provider for anything: no engine is needed for docker
        assert selection.mode == "none" and "only stubbed services" in selection.why
        async with DependencySet(
            suite, selection.provider, run_id="t", emit=events.append, redactor=redact
        ) as deps:
            url = deps.context()["compliance"]["url"]
            port = deps.endpoints["compliance"].port
            assert url == f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient() as http:
                answer = await http.post(f"{url}/v1/approvals", json={})
            assert answer.json() == {"decision": "approved"}
            [watcher] = deps.watchers(concurrency=1)
            assert isinstance(watcher, StubWatcher)
            assert deps.watchers(concurrency=4)[0].services[0].registry.sole is False
            assert listening(port)
        return port

    port = asyncio.run(go())
    assert not listening(port), "the stub outlived its dependency set"
    [ready] = [e.info for e in events if isinstance(e, DependencyReady)]
    assert (ready.kind, ready.provider) == ("http_service", "embedded")
    assert ready.ready_seconds < 1.0 and "every provider" in ready.extra["why"]
    # the request of no case is counted, recorded with the dependency and said at the end
    assert ready.extra["requests_of_no_case"] == 1 and ready.extra["template_errors"] == 0
    [said] = [e.text for e in events if isinstance(e, Note) and e.level == "warning"]
    assert said.startswith("stub compliance: 1 request(s) belonged to no case in flight")


def test_a_failure_inside_the_set_still_closes_the_stub(tmp_path: Path) -> None:
    suite = load_suite(make_suite(tmp_path / "suite"))
    ports: list[int] = []

    async def go() -> None:
        selection = await select_provider(suite, DepsOptions(mode="embedded"))
        async with DependencySet(
            suite, selection.provider, run_id="t", emit=lambda e: None, redactor=redact
        ) as deps:
            ports.append(deps.endpoints["compliance"].port)
            raise RuntimeError("the run broke")

    with pytest.raises(RuntimeError):
        asyncio.run(go())
    assert ports and not listening(ports[0])


def test_external_never_asks_for_a_stubs_url(tmp_path: Path) -> None:
    root = make_suite(tmp_path / "suite")
    text = (root / "suite.yaml").read_text()
    (root / "suite.yaml").write_text(
        text.replace("    compliance:\n", "    cache: {kind: redis}\n    compliance:\n", 1)
    )
    suite = load_suite(root)
    options = DepsOptions(mode="external", externals=("cache=redis://127.0.0.1:1/0",))
    selection = asyncio.run(select_provider(suite, options, env={}))
    assert selection.mode == "external"
