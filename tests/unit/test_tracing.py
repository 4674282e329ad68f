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
        headers = tracing.inject({"tracestate": "ignored: the span's own state is sent"})
    sent = upstream.get_span_context()
    with tracing.message_span("state pod", {**headers, "tracestate": "vendor=1"}, {"a": "b"}) as span:
        assert span.span is None, "nothing recorded, no SDK span made"
        assert span.trace_id == tracing.trace_id_of() == format(sent.trace_id, "032x")
        version, trace_id, span_id, flags = tracing.inject({"x": "y"})["traceparent"].split("-")
        assert (version, trace_id, flags) == ("00", span.trace_id, "00"), "what it publishes: not sampled"
        assert span_id not in ("0" * 16, format(sent.span_id, "016x")), "a span id of its own"
        assert tracing.inject()["tracestate"] == "vendor=1", "the sender's tracestate goes on"
        with tracing.message_span("res pod", {}, {}) as inner:
            assert tracing.trace_id_of() == inner.trace_id != span.trace_id
        assert tracing.trace_id_of() == span.trace_id, "the outer message again once the inner ends"
        span.fail("nowhere to say it, and no error either")
    assert tracing.trace_id_of() is None, "the span ends with the message"
    assert "traceparent" not in tracing.inject(), "outside a message nothing is sent"


@pytest.mark.parametrize("traceparent", [
    "", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01",
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"])
def test_a_message_without_a_valid_traceparent_starts_a_story_of_its_own(traceparent: str) -> None:
    with tracing.message_span("state pod", {"traceparent": traceparent}, {}) as span:
        assert len(span.trace_id) == 32 and int(span.trace_id, 16) != 0
        assert span.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736"
        assert "tracestate" not in tracing.inject()


def test_a_later_version_of_traceparent_is_read_for_its_first_four_fields() -> None:
    parent = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"
    with tracing.message_span("state pod", {"traceparent": parent}, {}) as span:
        assert span.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert tracing.extract({"traceparent": parent}), "(as OpenTelemetry's propagator reads it)"


def test_a_message_handled_with_a_collector_gets_a_recorded_consumer_span(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = tracing.make_provider("test", "http://127.0.0.1:1/v1/traces")
    try:
        monkeypatch.setattr(tracing, "recording", lambda: True)
        monkeypatch.setattr(tracing, "tracer", lambda: provider.get_tracer("test"))
        parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        with tracing.message_span("state pod", {"traceparent": parent}, {"k": "v"}) as span:
            assert span.span is not None and span.span.is_recording()
            assert span.trace_id == tracing.trace_id_of() == "4bf92f3577b34da6a3ce929d0e0e4736"
            assert span.span.kind is tracing.trace.SpanKind.CONSUMER
            assert tracing.inject()["traceparent"].split("-")[2] == format(span.span.get_span_context().span_id, "016x")
            span.fail("403 Forbidden")
        assert span.span.status.status_code is tracing.StatusCode.ERROR
        assert span.span.status.description == "403 Forbidden"
    finally:
        provider.shutdown()


def test_spans_are_recorded_exactly_when_a_collector_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    silent, exporting = tracing.make_provider("test"), tracing.make_provider("test", "http://127.0.0.1:1/v1/traces")
    try:
        monkeypatch.setattr(tracing.trace, "get_tracer_provider", lambda: silent)
        assert not tracing.recording()
        monkeypatch.setattr(tracing.trace, "get_tracer_provider", lambda: exporting)
        assert tracing.recording()
    finally:
        exporting.shutdown()
