"""Bus glue of raybus-cluster-ctl: rebuild the view of RayClusters from the bus, report ready.

For now it only replays the last state of every RayCluster (so readiness means "the view
is rebuilt", as it will once reconciling starts) and logs what it sees; it publishes nothing.
"""

from __future__ import annotations

import logging

from raybus_common.bus import Message, StateEnvelope, subjects
from raybus_common.runner import Service

from .settings import ClusterCtlSettings

log = logging.getLogger("raybus.cluster-ctl")
ROOT_KIND = "raycluster"


async def on_state(msg: Message[StateEnvelope]) -> None:
    env = msg.envelope
    log.debug("%s %s rv=%s", env.type, env.ref.key, env.resource_version)


async def start(svc: Service, settings: ClusterCtlSettings) -> None:
    sub = await svc.bus.last_per_subject(subjects.of_kind("state", ROOT_KIND), StateEnvelope, on_state)
    svc.ready_when(sub.replayed)
