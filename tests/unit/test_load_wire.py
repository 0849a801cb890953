"""What the load generator says about a failed request reads as `harness run` says it."""

from __future__ import annotations

from geventhttpclient.useragent import RetriesExceeded

from harness.core import FailureKind
from harness.load.wire import transport_error


def test_a_timeout_wrapped_by_the_http_client_reads_as_run_says_it() -> None:
    wrapped = RetriesExceeded("http://127.0.0.1:1/chat", 0, original=TimeoutError("timed out"))
    timeout = transport_error(wrapped, 2.0)
    assert timeout.kind is FailureKind.TIMEOUT
    assert timeout.message == "timeout: no reply within 2 s"  # as the http adapter says it
    refused = RetriesExceeded("http://x/chat", 0, original=ConnectionRefusedError(111, "refused"))
    failure = transport_error(refused, 2.0)
    assert failure.kind is FailureKind.CONNECTION
    assert failure.message.startswith("connection failed: ConnectionRefusedError")
