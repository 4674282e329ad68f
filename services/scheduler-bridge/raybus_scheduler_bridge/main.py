"""raybus-scheduler-bridge: wiring only. What it does is in handlers.py and reconcile.py."""

from __future__ import annotations

from raybus_common.runner import Service, run

from . import handlers
from .settings import SchedulerBridgeSettings


async def serve(settings: SchedulerBridgeSettings) -> None:
    async with Service(settings) as svc:  # logging is set; NATS, streams, HTTP, signals here
        await handlers.start(svc, settings)
        await svc.wait()  # until SIGTERM/SIGINT; leaving the block drains


def main() -> None:
    run(serve, SchedulerBridgeSettings)


if __name__ == "__main__":
    main()
