"""The tracer provider each service installs: what it records, and that trace ids flow anyway."""

from __future__ import annotations

import pytest

from raybus_common import tracing


def test_without_a_collector_spans_record_nothing_yet_carry_one_trace_id_across_hops() -> None:
    tracer = tracing.make_provider("test").get_tracer("test")
    with tracer.start_as_current_span("watch event") as root:
        assert not root.is_recording(), "nothing would read a recorded span"
        sent = tracing.trace_id_of()
        headers = tracing.inject()
    assert sent is not None and int(sent, 16) != 0
    assert headers["traceparent"].split("-")[1] == sent
    # The next service picks the trace up from the message's headers.
    with tracer.start_as_current_span("reconcile", context=tracing.extract(headers)) as child:
        assert not child.is_recording()
        assert tracing.trace_id_of() == sent
        assert child.get_span_context().span_id != root.get_span_context().span_id
    with tracer.start_as_current_span("another event"):
        assert tracing.trace_id_of() not in (None, sent), "a new story gets a trace id of its own"


def test_with_a_collector_spans_are_recorded() -> None:
    provider = tracing.make_provider("test", "http://127.0.0.1:1/v1/traces")
    try:
        span = provider.get_tracer("test").start_span("reconcile")  # (never ended: nothing to export)
        assert span.is_recording() and span.get_span_context().trace_flags.sampled
    finally:
        provider.shutdown()


def test_a_message_handled_without_a_collector_continues_its_trace_with_a_span_of_its_own() -> None:
    assert not tracing.recording(), "no SDK provider installed in this process: nothing recorded"
    with tracing.make_provider("test").get_tracer("test").start_as_current_span("watch event") as upstream:
        headers = tracing.inject()
    sent = upstream.get_span_context()
    with tracing.consumer_span("state pod", tracing.extract(headers), {"messaging.destination.name": "s"}) as span:
        got = span.get_span_context()
        assert not span.is_recording() and not got.trace_flags.sampled
        assert (got.trace_id, tracing.trace_id_of()) == (sent.trace_id, format(sent.trace_id, "032x"))
        assert got.span_id not in (0, sent.span_id), "a span id of its own"
        assert tracing.inject()["traceparent"].split("-")[2] == format(got.span_id, "016x"), "what it publishes"
    assert tracing.trace_id_of() is None, "the span ends with the message"
    with tracing.consumer_span("state pod", tracing.extract({}), {}) as fresh:
        assert fresh.get_span_context().is_valid and fresh.get_span_context().trace_id != sent.trace_id


def test_spans_are_recorded_exactly_when_a_collector_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    silent, exporting = tracing.make_provider("test"), tracing.make_provider("test", "http://127.0.0.1:1/v1/traces")
    try:
        monkeypatch.setattr(tracing.trace, "get_tracer_provider", lambda: silent)
        assert not tracing.recording()
        monkeypatch.setattr(tracing.trace, "get_tracer_provider", lambda: exporting)
        assert tracing.recording()
    finally:
        exporting.shutdown()
