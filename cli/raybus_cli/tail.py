"""`raybus tail`: the bus as a person wants to read it. Pure formatting and filtering here;
reading the streams is `raybus_common.bus.follow`.

One line per message: time, subject, kind/namespace/name, what happened (the state event,
the action, the result, the dead letter), the reason or error, and the trace id.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from raybus_common.bus import subjects
from raybus_common.bus.follow import Received

# Kinds about an object of another kind, on subjects named like it: a RayJob's Ray job is
# observed (`raybus.state.rayjobinfo.<ns>.<rayjob>`), called and answered under the RayJob's name.
COMPANIONS: dict[str, tuple[str, ...]] = {"rayjob": ("rayjobinfo",)}
DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime) -> datetime:
    """`10m`, `2h`, `30s`, `1d` before now, or an ISO 8601 time."""
    m = DURATION.match(text.strip())
    if m:
        return now - timedelta(**{UNITS[m.group(2)]: float(m.group(1))})
    when = datetime.fromisoformat(text.strip())
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_object(text: str) -> tuple[str, str, str]:
    """`raycluster/default/my-cluster` → (kind, namespace, name)."""
    parts = text.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"--object wants kind/namespace/name, got {text!r}")
    return parts[0].lower(), parts[1], parts[2]


def trace_id(headers: dict[str, str]) -> str:
    tp = headers.get("traceparent", "")
    fields = tp.split("-")
    return fields[1] if len(fields) == 4 else ""


def concerns(obj: tuple[str, str, str], r: Received, payload: dict[str, Any] | None) -> bool:
    """Whether a message is about the object: its own subjects (and its companions', e.g. a
    RayJob's `rayjobinfo`, tombstones included), actions and results for it as root, and state
    of its children (owner reference or `ray.io/cluster` label)."""
    kind, ns, name = obj
    if any(subjects.matches(subjects.about(k, ns, name), r.subject) for k in (kind, *COMPANIONS.get(kind, ()))):
        return True
    if not payload:
        return False
    root = payload.get("root") or {}
    if root.get("kind", "").lower() == kind and root.get("namespace") == ns and root.get("name") == name:
        return True
    meta = (payload.get("object") or {}).get("metadata") or {}
    if meta.get("namespace") != ns:
        return False
    if any(o.get("kind", "").lower() == kind and o.get("name") == name for o in meta.get("ownerReferences") or []):
        return True
    return kind == "raycluster" and (meta.get("labels") or {}).get("ray.io/cluster") == name


def describe(stage: str, p: dict[str, Any]) -> tuple[str, str]:
    """(what happened, why) for one payload."""
    if stage == "state":
        return str(p.get("type", "")), f"rv={p.get('resource_version', '')}"
    if stage in ("act", "shadow"):
        a = p.get("action") or {}
        op = str(a.get("op", ""))
        why = a.get("reason") or a.get("finalizer") or ""
        return op + (" (dry-run)" if p.get("dry_run") else ""), f"{p.get('controller', '')} {why}".strip()
    if stage == "res":
        code = p.get("http_status")
        return f"{p.get('op', '')} → {p.get('outcome', '')}", (f"{code} " if code else "") + str(p.get("message", ""))
    if stage == "dlq":
        return "dead-letter", f"after {p.get('attempts', '?')} attempts: {p.get('error', '')}"
    return "", ""


def format_line(r: Received, *, as_json: bool = False) -> str:
    try:
        payload = json.loads(r.data)
    except ValueError:
        payload = None
    if as_json:
        return json.dumps({"subject": r.subject, "time": r.time.isoformat() if r.time else None,
                           "stream": r.stream, "seq": r.seq, "headers": r.headers,
                           "payload": payload if payload is not None else r.data.decode(errors="replace")})
    when = (r.time or datetime.now(UTC)).astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]
    stage: str
    try:
        parts = subjects.parse(r.subject)
        stage, who = parts.stage, parts.key
    except ValueError:
        stage, who = "?", r.subject
    what, why = describe(stage, payload) if isinstance(payload, dict) else ("undecodable", r.data[:80].decode(errors="replace"))
    tid = trace_id(r.headers)
    return f"{when}  {stage:<6} {who:<48} {what:<26} {why}" + (f"  trace={tid}" if tid else "")
