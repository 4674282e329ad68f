"""Bus glue of raybus-watcher.

Watching Kubernetes and publishing state comes next (see watching.py);
for now the service only reports ready once connected.
"""

from __future__ import annotations

from raybus_common.runner import Service

from .settings import WatcherSettings


async def start(svc: Service, settings: WatcherSettings) -> None:
    svc.mark_ready()
