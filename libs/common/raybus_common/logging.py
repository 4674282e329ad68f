"""Logging for every service: one JSON object per line (or a readable console line).

Each record carries `time` (RFC 3339, UTC), `level`, `logger`, `msg`, and, when set for the
current task, `object` (the `kind/namespace/name` key being worked on) and `trace_id` (the
W3C trace id of the message being handled). Those two come from context variables, so a
handler sets them once with `log_context(...)` and every line it logs, from any module,
carries them; asyncio copies the context into tasks, so concurrent handlers never mix keys.

`configure_logging` replaces the root logger's handlers; of third-party loggers it only
quiets aiohttp's access log (one line per health probe or scrape is noise).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

current_object: contextvars.ContextVar[str | None] = contextvars.ContextVar("raybus_object_key", default=None)
current_trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("raybus_trace_id", default=None)

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged too.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


@contextmanager
def log_context(*, object_key: str | None = None, trace_id: str | None = None) -> Iterator[None]:
    """Within the block, log lines carry this object key and trace id (None leaves one as is)."""
    tokens: list[tuple[contextvars.ContextVar[str | None], contextvars.Token[str | None]]] = []
    for var, value in ((current_object, object_key), (current_trace_id, trace_id)):
        if value is not None:
            tokens.append((var, var.set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    if (key := current_object.get()) is not None:
        out["object"] = key
    if (tid := current_trace_id.get()) is not None:
        out["trace_id"] = tid
    for k, v in vars(record).items():
        if k not in _STANDARD and not k.startswith("_"):
            out[k] = v
    return out


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str = "") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out = _fields(record)
        if self.service:
            out["service"] = self.service
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        f = _fields(record)
        line = f"{f.pop('time')} {f.pop('level').upper():7} {f.pop('logger')}: {f.pop('msg')}"
        if f:
            line += "  " + " ".join(f"{k}={v}" for k, v in f.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO", fmt: str = "json", *, service: str = "",
                      stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's access log would print a line per /metrics scrape.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
