"""OpenTelemetry for Raybus: one trace from a watch event to the applied action.

`setup_tracing` installs an SDK tracer provider for the process. With `otlp_endpoint` set,
spans are exported over OTLP/HTTP in batches; without it nothing is exported, but spans still
get real trace ids, so `trace_id` in the JSON logs correlates one object's story across
services even with no collector running (a pure no-op provider would leave every id blank).
Those spans are not recorded (sampled out: ids and propagation only), as nothing would read
them: a recorded span per bus message was ~4 % of a controller's CPU.

`inject(headers)` writes the W3C `traceparent` (and `tracestate`) of the current context into
a headers dict; `extract(headers)` turns received headers back into a context. The bus calls
these; handlers never touch headers. This module does not import nats.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator, Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger("raybus.tracing")
_propagator = TraceContextTextMapPropagator()  # W3C only, whatever OTEL_PROPAGATORS says
_ids = RandomIdGenerator()
TRACER_NAME = "raybus"


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
    """The current span while a received message is handled: a child of `parent` (the context
    `extract` made of its headers) or, without one, the root of a new trace.

    Recorded, it is an SDK span of kind CONSUMER with `attributes`. Not recorded (no collector),
    it is made here as the SDK would make a sampled-out span (the parent's trace id or a new one,
    a new span id, not sampled), without the SDK's work per span (sampler, limits, attributes):
    that was ~5 % of a controller's CPU, for ids only."""
    if recording():
        with tracer().start_as_current_span(name, context=parent, kind=trace.SpanKind.CONSUMER,
                                            attributes=attributes) as span:
            yield span
        return
    above = trace.get_current_span(parent).get_span_context()
    trace_id = above.trace_id if above.is_valid else _ids.generate_trace_id()
    span = trace.NonRecordingSpan(trace.SpanContext(trace_id, _ids.generate_span_id(), is_remote=False))
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    try:
        yield span
    finally:
        otel_context.detach(token)


def inject(headers: dict[str, str] | None = None) -> dict[str, str]:
    """The headers dict with the current context's `traceparent` added (if there is a span)."""
    carrier: dict[str, str] = dict(headers or {})
    _propagator.inject(carrier)
    return carrier


def extract(headers: Mapping[str, str] | None) -> otel_context.Context:
    """A context whose parent span is the one named by `traceparent` in the headers (if any)."""
    return _propagator.extract(dict(headers or {}))


def trace_id_of(ctx: otel_context.Context | None = None) -> str | None:
    """The 32-hex-digit trace id of the span in `ctx` (default: current), or None."""
    span_ctx = trace.get_current_span(ctx).get_span_context()
    return format(span_ctx.trace_id, "032x") if span_ctx.is_valid else None


def traceparent_of(headers: Mapping[str, str] | None) -> str | None:
    return None if not headers else headers.get("traceparent")

