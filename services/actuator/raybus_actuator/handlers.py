"""Bus glue of raybus-actuator.

Consuming RAYBUS_ACT comes next: until a handler applies actions, the actuator
must not consume (a no-op handler would ack, i.e. drop, every action);
for now the service only reports ready once connected.
"""

from __future__ import annotations

from raybus_common.runner import Service

from .settings import ActuatorSettings


async def start(svc: Service, settings: ActuatorSettings) -> None:
    svc.mark_ready()
