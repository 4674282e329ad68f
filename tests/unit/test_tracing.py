"""The tracer provider each service installs: what it records, and that trace ids flow anyway."""

from __future__ import annotations

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
