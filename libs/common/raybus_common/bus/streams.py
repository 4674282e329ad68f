"""The JetStream streams and consumers Raybus needs, as plain data, and `ensure_streams`.

| stream         | subjects          | retention                    | why                                       |
|----------------|-------------------|------------------------------|-------------------------------------------|
| RAYBUS_STATE   | raybus.state.>    | limits, 1 msg per subject    | the bus is the cache: last value per object |
| RAYBUS_ACT     | raybus.act.>      | work queue                   | each action applied once, removed on ack  |
| RAYBUS_RES     | raybus.res.>      | limits, 24 h                 | outcomes, for tailing and debugging       |
| RAYBUS_DLQ     | raybus.dlq.>      | limits, 7 days               | failed for good, kept for a person        |
| RAYBUS_SHADOW  | raybus.shadow.>   | limits, 1 h                  | dry-run actions, applied by nobody        |

All use file storage (they survive a NATS restart) and a 2-minute duplicate window for
`Nats-Msg-Id` dedupe. `ensure_streams` creates each stream or updates it to this config; it
is safe to run from every replica of every service at start-up, concurrently.

This module does not import nats: it describes, and `bus/nats.py` (`NatsBus.ensure_stream`)
translates the description into JetStream calls. `MemoryBus` implements the same method.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Protocol

from ..backoff import MAX_ATTEMPTS, Bounded
from . import subjects
from .config import NatsConfig

log = logging.getLogger("raybus.bus")

DUPLICATE_WINDOW = 120.0  # seconds: Nats-Msg-Id dedupe window of every stream
STATE, ACT, RES, DLQ, SHADOW = "RAYBUS_STATE", "RAYBUS_ACT", "RAYBUS_RES", "RAYBUS_DLQ", "RAYBUS_SHADOW"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    retention: Literal["limits", "workqueue"] = "limits"
    storage: Literal["file", "memory"] = "file"
    max_msgs_per_subject: int = -1  # -1 = unlimited
    max_age: float = 0.0  # seconds, 0 = forever
    duplicate_window: float = DUPLICATE_WINDOW
    replicas: int = 1
    allow_msg_ttl: bool = False  # lets a publisher give one message a TTL (tombstones)
    description: str = ""


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer with explicit acks and a bounded number of deliveries.

    `backoff` is the redelivery schedule JetStream uses when an ack times out (a crashed or
    stuck handler); naks carry their own delay. JetStream requires fewer backoff entries than
    `max_deliver`.
    """

    stream: str
    durable: str
    filter_subject: str
    ack_wait: float = 30.0
    max_deliver: int = MAX_ATTEMPTS
    backoff: tuple[float, ...] = ()
    max_ack_pending: int = 1000
    description: str = ""

    def __post_init__(self) -> None:
        if self.max_deliver < 1:
            raise ValueError("max_deliver must be >= 1: every retry is bounded")
        if self.backoff and len(self.backoff) >= self.max_deliver:
            raise ValueError(f"backoff has {len(self.backoff)} entries; JetStream needs fewer than "
                             f"max_deliver ({self.max_deliver})")


def default_streams(config: NatsConfig | None = None) -> tuple[StreamSpec, ...]:
    """The streams, with the replicas and ages a deployment set (`RAYBUS_STREAM_REPLICAS`, ...)."""
    s = config or NatsConfig()
    r = s.stream_replicas
    return (
        StreamSpec(STATE, (subjects.all_of("state"),), max_msgs_per_subject=1, replicas=r, allow_msg_ttl=True,
                   description="Objects as last observed (one message per object); the controllers' cache"),
        StreamSpec(ACT, (subjects.all_of("act"),), retention="workqueue", replicas=r,
                   description="Actions for the actuator; removed once applied or dead-lettered"),
        StreamSpec(RES, (subjects.all_of("res"),), max_age=s.res_max_age, replicas=r,
                   description="Outcome of each action"),
        StreamSpec(DLQ, (subjects.all_of("dlq"),), max_age=s.dlq_max_age, replicas=r,
                   description="Messages that failed for good, with the error"),
        StreamSpec(SHADOW, (subjects.all_of("shadow"),), max_age=s.shadow_max_age, replicas=r,
                   description="Actions from controllers in dry-run mode; nobody applies them"),
    )


def actuator_consumer(*, ack_wait: float = 30.0, max_deliver: int = MAX_ATTEMPTS,
                      policy: Bounded | None = None) -> ConsumerSpec:
    """The actuator's durable pull consumer over every action (the only consumer of RAYBUS_ACT:
    a work-queue stream allows one consumer per subject)."""
    p = policy or Bounded(max_attempts=max_deliver)
    # Ack-timeout redeliveries wait at least ack_wait, then back off like naks do.
    schedule = tuple(max(ack_wait, d) for d in p.schedule()[: max_deliver - 1])
    return ConsumerSpec(stream=ACT, durable="actuator", filter_subject=subjects.all_of("act"), ack_wait=ack_wait,
                        max_deliver=max_deliver, backoff=schedule,
                        description="raybus actuator: applies actions to Kubernetes")


class StreamAdmin(Protocol):
    async def ensure_stream(self, spec: StreamSpec) -> str:
        """Create or update the stream; return "created", "updated" or "unchanged"."""
        ...


async def ensure_streams(admin: StreamAdmin, specs: tuple[StreamSpec, ...] | None = None) -> dict[str, str]:
    """Create or update every stream, idempotently; returns {stream: outcome}."""
    out: dict[str, str] = {}
    for spec in specs if specs is not None else default_streams():
        out[spec.name] = await admin.ensure_stream(spec)
        if out[spec.name] != "unchanged":
            log.info("stream %s %s", spec.name, out[spec.name])
    return out
