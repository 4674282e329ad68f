"""One NATS user per service, allowed exactly the subjects that service uses, rendered as the
`authorization { users: [...] }` block nats-server reads (`deploy/nats/accounts.conf`).

What each service may do, from what it does (bus/nats.py, controller/runtime.py, the handlers):

- every service ensures the streams at start (`runner.Service`): STREAM.INFO/CREATE/UPDATE of
  Raybus's five streams by name, never DELETE or PURGE; `STREAM.NAMES` (nats-py's
  find-stream-by-subject); replies on `_INBOX.>`; it may dead-letter what it cannot read
  (`raybus.dlq.>`, publish only).
- the watcher publishes `raybus.state.>` and replays RAYBUS_STATE (ephemeral ordered consumers:
  `CONSUMER.CREATE.RAYBUS_STATE`, whose flow control answers go to `$JS.FC.>`); its Ray pollers
  share the RayJobs and RayClusters they poll out among its replicas with leases in
  `raybus_leases`.
- the actuator owns the durable `actuator` on RAYBUS_ACT: create/info/next/ack of that durable
  only, the max-deliveries advisory of it, MSG.GET/DELETE on RAYBUS_ACT (dead-lettering what
  the advisory names); it publishes outcomes (`raybus.res.>`) and dead letters.
- a controller replays RAYBUS_STATE and RAYBUS_RES, holds leases in the KV bucket
  `raybus_leases`, and publishes actions (`raybus.act.<kind>.>`, `raybus.shadow.<kind>.>` in
  dry-run) only for the kinds it writes (`WRITES`). It may read, as a consumer filtered to
  them, the dead letters of those kinds (`raybus.dlq.<kind>.>`, through the durable
  `<service>-<kind>` only, `dead_letter_durable`): a dead letter keeps the failed
  subject's tokens (`subjects.dead_letter_for`), so a dead action on `raybus.act.pod.ns.x` is
  `raybus.dlq.pod.ns.x`, owned by the controllers that write pods. NATS checks the filter as a
  token of `$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>`; an unfiltered create on
  RAYBUS_DLQ is allowed to nobody. No user subscribes to `raybus.>` directly.

Not confined here: `_INBOX.>` is shared (a per-user inbox prefix would close it), and every
service may create the streams (any may start first). Pure: strings in, a string out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..kube.resources import OWNED
from . import subjects
from .streams import ACT, DLQ, RES, SHADOW, STATE

LEASES = "raybus_leases"  # controller/leases.py LEASE_BUCKET (not imported: this module stays pure)
API = "$JS.API"
RAY_JOB_INFO, RAY_SERVE_APPS = "rayjobinfo", "rayserveapplications"  # Ray-side kinds as subject tokens

# The kinds each controller writes: an action's subject kind is its target's kind, lowercased
# (runtime.py); a RecordEvent's target is the object the Event is about.
WRITES: Mapping[str, tuple[str, ...]] = {
    "cluster-ctl": ("raycluster", *(k.kind for k in OWNED)),
    "job-ctl": ("rayjob", "raycluster", "job", "service", RAY_JOB_INFO),
    "serve-ctl": ("rayservice", "raycluster", "service", "pod", "gateway", "httproute", RAY_SERVE_APPS),
    "cron": ("raycronjob", "rayjob"),
    "scheduler-bridge": ("podgroup", "schedulingpodgroup", "raycluster"),  # its PodGroups; Events on the cluster
}
SERVICES = ("watcher", "actuator", *WRITES)


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def _common() -> tuple[list[str], list[str]]:
    streams = (STATE, ACT, RES, DLQ, SHADOW)
    pub = [f"{API}.{op}.{s}" for s in streams for op in ("STREAM.INFO", "STREAM.CREATE", "STREAM.UPDATE")]
    pub += [f"{API}.STREAM.NAMES", subjects.all_of("dlq")]
    return pub, ["_INBOX.>"]


def _replays(*streams: str) -> list[str]:
    """Ephemeral ordered consumers (`last_per_subject`) on these streams."""
    out = [f"{API}.CONSUMER.CREATE.{s}" for s in streams]
    out += [f"{API}.CONSUMER.{op}.{s}.*" for s in streams for op in ("INFO", "DELETE")]
    return [*out, "$JS.FC.>"]


def dead_letter_durable(service: str, kind: str) -> str:
    """The one durable on RAYBUS_DLQ through which `service` may read `kind`'s dead letters."""
    return f"{service}-{kind}"


def _dead_letter_reader(service: str, kinds: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for k in kinds:
        d = dead_letter_durable(service, k)
        out += [f"{API}.CONSUMER.CREATE.{DLQ}.{d}.{subjects.of_kind('dlq', k)}", f"{API}.CONSUMER.INFO.{DLQ}.{d}",
                f"{API}.CONSUMER.DELETE.{DLQ}.{d}", f"{API}.CONSUMER.MSG.NEXT.{DLQ}.{d}", f"$JS.ACK.{DLQ}.{d}.>"]
    return out


def _leases() -> list[str]:
    """Read and write the lease bucket (any key: each service's leases have their own prefix)."""
    kv = f"KV_{LEASES}"
    return [f"$KV.{LEASES}.>", f"{API}.STREAM.INFO.{kv}", f"{API}.STREAM.CREATE.{kv}",
            f"{API}.STREAM.MSG.GET.{kv}", f"{API}.DIRECT.GET.{kv}.>", f"{API}.DIRECT.GET.{kv}"]


def permissions(service: str) -> Permissions:
    pub, sub = _common()
    if service == "watcher":
        pub += [subjects.all_of("state"), *_replays(STATE), *_leases()]
        sub += [f"$KV.{LEASES}.>"]
    elif service == "actuator":
        durable = "actuator"
        pub += [subjects.all_of("res"),
                f"{API}.CONSUMER.CREATE.{ACT}.{durable}.{subjects.all_of('act')}",
                f"{API}.CONSUMER.DURABLE.CREATE.{ACT}.{durable}",
                f"{API}.CONSUMER.INFO.{ACT}.{durable}", f"{API}.CONSUMER.MSG.NEXT.{ACT}.{durable}",
                f"$JS.ACK.{ACT}.{durable}.>", f"{API}.STREAM.MSG.GET.{ACT}", f"{API}.STREAM.MSG.DELETE.{ACT}",
                f"{API}.DIRECT.GET.{ACT}"]
        sub += [f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{ACT}.{durable}"]
    elif service in WRITES:
        kinds = WRITES[service]
        pub += [*(subjects.of_kind(stage, k) for stage in ("act", "shadow") for k in kinds),
                *_replays(STATE, RES),
                *_dead_letter_reader(service, kinds),
                *_leases()]
        sub += [f"$KV.{LEASES}.>"]
    else:
        raise KeyError(f"unknown service {service!r}; known: {', '.join(SERVICES)}")
    return Permissions(tuple(dict.fromkeys(pub)), tuple(dict.fromkeys(sub)))


def password_variable(service: str) -> str:
    """The environment variable nats-server reads a user's password from (`$VAR` in its config)."""
    return "RAYBUS_NATS_PASSWORD_" + service.upper().replace("-", "_")


def _quoted(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{s}"' for s in items) + "]"


def render(passwords: Mapping[str, str] | None = None) -> str:
    """The authorization block: each service a user named after it, its password given here (a
    test) or read by nats-server from `$RAYBUS_NATS_PASSWORD_<SERVICE>` (the checked-in file)."""
    lines = ["# Generated by raybus_common.bus.permissions.render(); do not edit by hand",
             "# (tests/unit/test_nats_users.py checks it is current).",
             "authorization {", "  users: ["]
    for service in SERVICES:
        p = permissions(service)
        password = f'"{passwords[service]}"' if passwords is not None else f"${password_variable(service)}"
        lines += [f'    {{user: "{service}", password: {password}, permissions: {{',
                  f"      publish: {{allow: {_quoted(p.publish)}}},",
                  f"      subscribe: {{allow: {_quoted(p.subscribe)}}}",
                  "    }}"]
    return "\n".join([*lines, "  ]", "}", ""])
