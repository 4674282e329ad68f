"""raybus-watcher: wiring only. What it does is in handlers.py."""

from __future__ import annotations

from raybus_common.runner import Service, run

from . import handlers
from .settings import WatcherSettings


async def serve(settings: WatcherSettings) -> None:
    async with Service(settings) as svc:  # logging is set; NATS, streams, HTTP, signals here
        await handlers.start(svc, settings)
        await svc.wait()  # until SIGTERM/SIGINT; leaving the block drains


def main() -> None:
    run(serve, WatcherSettings)


if __name__ == "__main__":
    main()
