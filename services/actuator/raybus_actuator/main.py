"""raybus-actuator: wiring only. The consumer is in handlers.py, the API calls in actions.py."""

from __future__ import annotations

from raybus_common.runner import Service, run

from . import handlers
from .settings import ActuatorSettings


async def serve(settings: ActuatorSettings) -> None:
    async with Service(settings) as svc:  # logging is set; NATS, streams, HTTP, signals here
        await handlers.start(svc, settings)
        await svc.wait()  # until SIGTERM/SIGINT; leaving the block drains


def main() -> None:
    run(serve, ActuatorSettings)


if __name__ == "__main__":
    main()
