"""OpenTelemetry traces in, per case: what the agent did on the way, observed as production
would (issue 14, "Traces in, per case").

- `receiver.py`: an OTLP/HTTP receiver on loopback (`POST /v1/traces`, protobuf and JSON,
  the official `opentelemetry-proto` messages; 200/400/413/415 as OTLP asks).
- `decode.py`: requests into typed `core.spans.Span`s, capped (`Limits`) and masked through
  `harness.redact`; OTLP/JSON's hex ids fixed up for protobuf's JSON mapping.
- `store.py`: spans kept by trace id for the traces the harness expects, with a bounded
  settle wait for late spans.
- `context.py`: a trace id per case and trial, a `traceparent` per turn, spans attributed
  to their turn by ancestry, and the OTLP environment for an agent the harness starts.

Wired into runs (issue 14): `session/traces.py` starts a `TraceReceiver` only when the run
traces (`run/tracing.traces`), gives a started agent `otlp_environment(receiver.endpoint)`
(said in the run header) and `{{ otel.endpoint }}` to one it does not start;
`run/tracing.TraceWatcher` expects each conversation's `CaseTrace` before its first turn,
`traceparent(i)` goes with turn i (0-based: `TurnRecord.index - 1`) as a request header,
and at its end `settle()` and `forget()` put the spans into the `Observation`.

What comes next (the rest of issue 14), on this foundation:
2. Trace checks in `check/` (a registered kind): a span by name or by GenAI conventions
   (`gen_ai.tool.name`) occurred / did not, how many times, before or after another, with
   attributes and status; a case with no spans at all is an error with a hint about the
   exporter (`TraceStore.unexpected` says whether spans came under other traces).
3. Reports: a compact span tree per turn (`CaseTrace.by_turn`), events and exceptions as
   evidence.
4. Stubbed third-party services (a dependency kind in `deps/`), whose requests belong to a
   case by the `traceparent` they carry (`parse_traceparent`) or a `match:` rule.
"""
