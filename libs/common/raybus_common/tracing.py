"""OpenTelemetry for Raybus: one trace from a watch event to the applied action.

`setup_tracing` installs an SDK tracer provider for the process. With `otlp_endpoint` set,
spans are exported over OTLP/HTTP in batches; without it nothing is exported, but spans still
get real trace ids, so `trace_id` in the JSON logs correlates one object's story across
services even with no collector running (a pure no-op provider would leave every id blank).
Those spans are not recorded (sampled out: ids and propagation only), as nothing would read
them: a recorded span per bus message was ~4 % of a controller's CPU.

`message_span(name, headers, attributes)` is the span a received message is handled in: with a
collector, an SDK span of kind CONSUMER, child of the `traceparent` in the headers; without one,
just the ids (the sender's trace id, or a new one, and a span id of its own) in a context
variable, with no OpenTelemetry context at all: extracting the headers into a context and
attaching a span to it cost ~25 µs per message, a few percent of a controller, for ids only.
`inject(headers)` writes the W3C `traceparent` (and `tracestate`) of the message being handled,
or of the current OpenTelemetry span, into a headers dict; `extract(headers)` turns received
headers back into a context. The bus calls these; handlers never touch headers. This module
does not import nats.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger("raybus.tracing")
_propagator = TraceContextTextMapPropagator()  # W3C only, whatever OTEL_PROPAGATORS says
_ids = RandomIdGenerator()
TRACER_NAME = "raybus"
# W3C traceparent, as OpenTelemetry's propagator reads it: version, trace id, parent id, flags;
# a version other than 00 may carry more fields after them. Version ff and all-zero ids are invalid.
_TRACEPARENT = re.compile(r"^\s*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?\s*$")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
# The message being handled, when spans are not recorded: (trace id, span id, tracestate).
_handled: contextvars.ContextVar[tuple[str, str, str] | None] = contextvars.ContextVar("raybus_handled", default=None)


def setup_tracing(service: str, otlp_endpoint: str = "") -> TracerProvider | None:
    """Install the process's tracer provider; returns it so the runner can flush it at exit.

    Returns None (and changes nothing) if a provider was already installed: OpenTelemetry
    allows one per process.
    """
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return None
    provider = make_provider(service, otlp_endpoint)
    trace.set_tracer_provider(provider)
    return provider


def make_provider(service: str, otlp_endpoint: str = "") -> TracerProvider:
    """The provider `setup_tracing` installs: exporting to `otlp_endpoint`, or, without one,
    recording nothing while still giving every span a real trace id (the sampler drops them all;
    a dropped span keeps its parent's trace id, or gets a new one, and propagates it)."""
    resource = Resource.create({"service.name": service})
    if not otlp_endpoint:
        return TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    provider = TracerProvider(resource=resource)
    # Imported here: the exporter pulls in requests/protobuf, needed only when exporting.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    log.info("tracing: exporting spans to %s", otlp_endpoint)
    return provider


@functools.cache
def tracer() -> trace.Tracer:
    """Raybus's tracer, made once (a fresh one per message was 3% of a controller's CPU). Made
    before `setup_tracing`, it is OpenTelemetry's proxy, which follows the provider set later."""
    return trace.get_tracer(TRACER_NAME)


def recording() -> bool:
    """Whether spans are recorded: False under the provider `make_provider` installs without an
    endpoint (its sampler drops every span), True under any other SDK provider."""
    provider = trace.get_tracer_provider()
    return isinstance(provider, TracerProvider) and provider.sampler is not ALWAYS_OFF


@contextlib.contextmanager
def consumer_span(name: str, parent: otel_context.Context,
                  attributes: Mapping[str, str | int]) -> Iterator[trace.Span]:
    """A recorded span of kind CONSUMER while a received message is handled, with `attributes`:
    a child of `parent` (the context `extract` made of its headers) or, without one, the root of
    a new trace. (Unrecorded, `message_span` makes only the ids.)"""
    with tracer().start_as_current_span(name, context=parent, kind=trace.SpanKind.CONSUMER,
                                        attributes=attributes) as span:
        yield span


@dataclass(frozen=True)
class MessageSpan:
    """What `message_span` yields: the trace id of the message's story (32 hex digits), and the
    SDK span when spans are recorded."""

    trace_id: str
    span: trace.Span | None = None

    def fail(self, error: str) -> None:
        """Mark the span as failed (recorded spans only: an unrecorded span has nowhere to say it)."""
        if self.span is not None:
            self.span.set_status(Status(StatusCode.ERROR, error))


def _sender(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """The trace id and the tracestate of a valid `traceparent` in `headers`, else None."""
    m = _TRACEPARENT.match(headers.get("traceparent") or "")
    if m is None or m.group(1) == "ff" or (m.group(1) == "00" and m.group(5)):
        return None
    if m.group(2) == _ZERO_TRACE or m.group(3) == _ZERO_SPAN:
        return None
    return m.group(2), headers.get("tracestate") or ""


@contextlib.contextmanager
def message_span(name: str, headers: Mapping[str, str],
                 attributes: Mapping[str, str | int]) -> Iterator[MessageSpan]:
    """The span a received message is handled in (see the module's text): the sender's trace
    continued, or a new one when the headers name none (or a malformed one)."""
    if recording():
        with consumer_span(name, extract(headers), attributes) as span:
            yield MessageSpan(format(span.get_span_context().trace_id, "032x"), span)
        return
    sender = _sender(headers)
    trace_id, state = sender if sender is not None else (format(_ids.generate_trace_id(), "032x"), "")
    token = _handled.set((trace_id, format(_ids.generate_span_id(), "016x"), state))
    try:
        yield MessageSpan(trace_id)
    finally:
        _handled.reset(token)


def inject(headers: dict[str, str] | None = None) -> dict[str, str]:
    """The headers dict with the `traceparent` of the message being handled (not sampled: nothing
    records it), else of the current OpenTelemetry span (if there is one), added."""
    carrier: dict[str, str] = dict(headers or {})
    handled = _handled.get()
    if handled is not None:
        trace_id, span_id, state = handled
        carrier["traceparent"] = f"00-{trace_id}-{span_id}-00"
        if state:
            carrier["tracestate"] = state
        return carrier
    _propagator.inject(carrier)
    return carrier


def extract(headers: Mapping[str, str] | None) -> otel_context.Context:
    """A context whose parent span is the one named by `traceparent` in the headers (if any)."""
    return _propagator.extract(dict(headers or {}))


def trace_id_of(ctx: otel_context.Context | None = None) -> str | None:
    """The 32-hex-digit trace id of the span in `ctx` (default: the message being handled, else
    the current span), or None."""
    if ctx is None and (handled := _handled.get()) is not None:
        return handled[0]
    span_ctx = trace.get_current_span(ctx).get_span_context()
    return format(span_ctx.trace_id, "032x") if span_ctx.is_valid else None


def traceparent_of(headers: Mapping[str, str] | None) -> str | None:
    return None if not headers else headers.get("traceparent")

