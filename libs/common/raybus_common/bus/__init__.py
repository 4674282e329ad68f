"""The bus protocol: subjects, envelopes, streams, the `Bus` interface and its two implementations.

Services import from here. `NatsBus`/`connect` come from `bus.nats` (the one module that
imports nats-py; imported lazily below so unit tests of pure code never load it);
`MemoryBus` is for unit tests of handlers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import subjects
from .base import Bus, Handler, Message, Subscription, Verdict, dispatch
from .envelopes import (
    SCHEMA_VERSION,
    Action,
    ActionEnvelope,
    AddFinalizer,
    Apply,
    ApplyStatus,
    DeadLetter,
    Delete,
    Envelope,
    ObjectRef,
    Patch,
    RecordEvent,
    RemoveFinalizer,
    ResultEnvelope,
    StateEnvelope,
    action_id,
    decode,
    encode,
    owner_reference,
)
from .memory import MemoryBus
from .streams import ConsumerSpec, StreamSpec, actuator_consumer, default_streams, ensure_streams
from .subjects import SubjectParts

if TYPE_CHECKING:
    from .nats import NatsBus, connect


def __getattr__(name: str) -> Any:
    if name in ("NatsBus", "connect"):
        from . import nats as _nats

        return getattr(_nats, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SCHEMA_VERSION", "Action", "ActionEnvelope", "AddFinalizer", "Apply", "ApplyStatus", "Bus", "ConsumerSpec",
    "DeadLetter", "Delete", "Envelope", "Handler", "MemoryBus", "Message", "NatsBus", "ObjectRef", "Patch", "RecordEvent",
    "RemoveFinalizer", "ResultEnvelope", "StateEnvelope", "StreamSpec", "SubjectParts", "Subscription", "Verdict",
    "action_id", "actuator_consumer", "connect", "decode", "default_streams", "dispatch", "encode",
    "ensure_streams", "owner_reference", "subjects",
]
