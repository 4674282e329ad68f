"""The service runner: what every `main.py` wires together, so `main.py` is one call.

    def main() -> None:
        run_service(MySettings, handlers.start)  # settings, logging, exit code

which reads the settings, configures logging, and runs

    async with Service(settings) as svc:         # NATS, streams, HTTP, signals
        await handlers.start(svc, settings)      # consumers; svc.ready_when(sub.replayed)
        await svc.wait()                         # until SIGTERM/SIGINT (or a failure)

Entering `Service`: install the tracer provider, serve `/healthz`, `/readyz` and `/metrics`
on `http_port` (0 = any free port, logged), handle SIGTERM/SIGINT, connect to NATS (bounded
first-connect retries) and ensure the streams. Leaving it (after SIGTERM): `/readyz` turns
503, background tasks get `shutdown_grace` seconds to finish, the bus drains (consumers
take no new messages, in-flight handlers finish, NATS drains), the HTTP server stops.

`/healthz` is liveness (200 while the process serves); `/readyz` is 200 only when the bus is
connected, the service is not stopping and every readiness condition holds (e.g. the
initial replay of its view is done). Its JSON body says why not, one reason a line:

    {"ready": false, "stopping": false, "reasons": ["watch of pod in ns-7: 403 Forbidden: ..."]}

A condition is either a yes/no (`ready_when(event_or_callable, what=...)`: `what` is its
reason while it does not hold) or explains itself (`ready_unless(callable)`: not ready while
the callable returns any reasons). This module does no business logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, NoReturn, Self, TypeVar

from aiohttp import web
from pydantic import ValidationError

from . import metrics, tracing
from .bus.base import Bus
from .bus.streams import default_streams, ensure_streams
from .logging import configure_logging
from .settings import ServiceSettings

log = logging.getLogger("raybus.runner")
S = TypeVar("S", bound=ServiceSettings)
Connect = Callable[[ServiceSettings], Awaitable[Bus]]
Reasons = Callable[[], Iterable[str]]  # why a service is not ready; nothing = ready


async def _connect_nats(settings: ServiceSettings) -> Bus:
    from .bus.nats import connect  # the nats client is loaded only by processes that use it

    return await connect(settings)


class Service:
    def __init__(self, settings: ServiceSettings, *, connect: Connect = _connect_nats) -> None:
        self.settings = settings
        self._connect = connect
        self._stack = AsyncExitStack()
        self._stop = asyncio.Event()
        self._failure: BaseException | None = None
        self._conditions: list[Reasons] = []
        self._ready_marked = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bus: Bus | None = None
        self._after_drain: list[Callable[[], Awaitable[Any]]] = []
        self.stopping = False
        self.http_port: int | None = None

    # -- what handlers use -----------------------------------------------------------------

    @property
    def bus(self) -> Bus:
        if self._bus is None:
            raise RuntimeError("Service is not started: use `async with Service(settings) as svc`")
        return self._bus

    def mark_ready(self) -> None:
        """Ready once the bus is up (for services with nothing to replay)."""
        self._ready_marked = True

    def ready_when(self, condition: asyncio.Event | Callable[[], bool], *, what: str = "") -> None:
        """Add a readiness condition; the service is ready when all hold. While this one does
        not, `/readyz` gives `what` as the reason (a generic one if empty)."""
        holds = condition.is_set if isinstance(condition, asyncio.Event) else condition
        reason = what or "a readiness condition does not hold yet"
        self.ready_unless(lambda: () if holds() else (reason,))

    def ready_unless(self, reasons: Reasons) -> None:
        """Add a readiness condition that explains itself: the service is not ready while
        `reasons()` returns any; `/readyz` lists them."""
        self._ready_marked = True
        self._conditions.append(reasons)

    def not_ready_reasons(self) -> list[str]:
        """Why the service is not ready (empty: it is)."""
        if self.stopping:
            return ["stopping"]
        if not self._ready_marked:
            return ["starting"]
        if self._bus is None or not self._bus.connected:
            return ["not connected to NATS"]
        return [reason for condition in self._conditions for reason in condition()]

    @property
    def ready(self) -> bool:
        return not self.not_ready_reasons()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run a background task for the service's lifetime; if it fails, the service stops
        (and exits non-zero). At shutdown it gets the grace period, then is cancelled."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def after_drain(self, close: Callable[[], Awaitable[Any]]) -> None:
        """Run `close` (a client's close, say) at shutdown once the bus has drained, i.e. after
        the last in-flight handler that might use it has finished."""
        self._after_drain.append(close)

    @property
    def stop_requested(self) -> asyncio.Event:
        """Set when the service is asked to stop (signal, failure, `stop()`)."""
        return self._stop

    def stop(self) -> None:
        if self._stop.is_set():
            log.info("already stopping")
        self._stop.set()

    async def wait(self) -> None:
        """Until asked to stop; raises if a background task or the bus failed."""
        stop = asyncio.ensure_future(self._stop.wait())
        bus_failed = asyncio.ensure_future(self.bus.failed())
        try:
            await asyncio.wait([stop, bus_failed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (stop, bus_failed):
                waiter.cancel()
            await asyncio.gather(stop, bus_failed, return_exceptions=True)
        if bus_failed.done() and not bus_failed.cancelled():
            raise RuntimeError("the bus failed") from bus_failed.result()
        if self._failure is not None:
            raise RuntimeError("a background task failed") from self._failure

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or self.stopping:
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s failed: %r", task.get_name(), exc, exc_info=exc)
            self._failure = exc
            self._stop.set()

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        s = self.settings
        try:
            provider = tracing.setup_tracing(s.service_name, s.otlp_endpoint)
            if provider is not None:
                self._stack.callback(provider.shutdown)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._on_signal, sig)
                self._stack.callback(loop.remove_signal_handler, sig)
            await self._serve_http()
            self._bus = await self._connect(s)
            self._stack.push_async_callback(self._drain_bus)
            await ensure_streams(self._bus, default_streams(s))
        except BaseException:
            await self._stack.aclose()
            raise
        log.info("%s started (http port %s)", s.service_name, self.http_port)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.stopping = True
        metrics.READY.set(0)
        log.info("%s stopping", self.settings.service_name)
        await self._finish_tasks(self.settings.shutdown_grace)
        await self._stack.aclose()
        log.info("%s stopped", self.settings.service_name)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("received %s", sig.name)
        self.stop()

    async def _finish_tasks(self, grace: float) -> None:
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for t in pending:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for t, r in zip(tasks, results, strict=True):
            if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                log.error("task %s ended with %r", t.get_name(), r)

    async def _drain_bus(self) -> None:
        try:
            if self._bus is not None:
                await self._bus.drain(self.settings.shutdown_grace)
        finally:
            for close in reversed(self._after_drain):
                try:
                    await close()
                except Exception:
                    log.exception("closing after the drain failed")

    # -- HTTP: health and metrics ----------------------------------------------------------

    async def _serve_http(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, self.settings.http_host, self.settings.http_port)
        await site.start()
        sockets = [a for a in runner.addresses if isinstance(a, tuple)]
        self.http_port = sockets[0][1] if sockets else self.settings.http_port

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": self.settings.service_name,
                                  "nats_connected": self._bus is not None and self._bus.connected})

    async def _readyz(self, request: web.Request) -> web.Response:
        reasons = self.not_ready_reasons()
        metrics.READY.set(0 if reasons else 1)
        return web.json_response({"ready": not reasons, "stopping": self.stopping, "reasons": reasons},
                                 status=503 if reasons else 200)

    async def _metrics(self, request: web.Request) -> web.Response:
        metrics.READY.set(1 if self.ready else 0)
        body, content_type = metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type})


def run_service(settings_cls: type[S], start: Callable[[Service, S], Awaitable[object]]) -> NoReturn:
    """A service's whole life: settings, logging, `Service`, `start` (the handlers), wait,
    drain; the exit code says how it ended (see `run`)."""

    async def serve(settings: S) -> None:
        async with Service(settings) as svc:  # NATS, streams, HTTP, signals; leaving it drains
            await start(svc, settings)
            settle_gc()
            await svc.wait()  # until SIGTERM/SIGINT, or a failure

    run(serve, settings_cls)


# The collector's youngest-generation threshold (CPython's default is 700 allocations). A service
# parses, wraps and re-encodes every message it handles; each makes hundreds of short-lived
# containers, nearly all freed by reference counting, so the default runs the collector
# every few messages for nothing. Measured on the watcher's and a controller's work for one
# pod (parse the watch line, build the state envelope, encode it, decode it; 20,000 pods, a
# quarter kept as a view would keep them): 7 % less CPU with this threshold and `gc.freeze()`.
GC_THRESHOLD = (10_000, 20, 20)


def settle_gc() -> None:
    """Once a service has started: what it imported and set up is moved out of the collector's
    sight (`gc.freeze()`: never scanned again; it lives as long as the process anyway), and
    the collector runs less often (`GC_THRESHOLD`). Cycles are still collected."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop a service runs on: uvloop (libuv; the default), or the standard library's.

    Every service spends most of its CPU in the loop itself (callbacks, socket reads and writes,
    TLS) rather than in Raybus's code; uvloop does that part in C. `RAYBUS_EVENT_LOOP=asyncio`
    runs the standard loop (asyncio's debug mode, a profiler that does not follow C)."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(serve: Callable[[S], Awaitable[None]], settings_cls: type[S]) -> NoReturn:
    """Read settings, configure logging, run `serve` to completion, exit 0 (or 1 on failure,
    2 on invalid settings)."""
    try:
        settings = settings_cls()
    except ValidationError as e:
        print(f"invalid settings for {settings_cls.__name__}:\n{e}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level, settings.log_format, service=settings.service_name)

    async def main() -> None:
        await serve(settings)

    try:
        with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
            runner.run(main())
    except ConnectionError as e:
        log.error("%s", e)
        sys.exit(1)
    except Exception:
        log.exception("%s failed", settings.service_name)
        sys.exit(1)
    with contextlib.suppress(ValueError):  # stdout may already be closed by the supervisor
        sys.stdout.flush()
    sys.exit(0)
