"""raybus-job-ctl: wiring only. What it does is in handlers.py and reconcile.py."""

from __future__ import annotations

from raybus_common.runner import Service, run

from . import handlers
from .settings import JobCtlSettings


async def serve(settings: JobCtlSettings) -> None:
    async with Service(settings) as svc:  # logging is set; NATS, streams, HTTP, signals here
        await handlers.start(svc, settings)
        await svc.wait()  # until SIGTERM/SIGINT; leaving the block drains


def main() -> None:
    run(serve, JobCtlSettings)


if __name__ == "__main__":
    main()
