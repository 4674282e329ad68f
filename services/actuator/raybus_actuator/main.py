"""raybus-actuator: wiring only. What it does is in handlers.py (the consumer) and actions.py (the API calls)."""

from __future__ import annotations

from raybus_common.runner import run_service

from . import handlers
from .settings import ActuatorSettings


def main() -> None:
    run_service(ActuatorSettings, handlers.start)


if __name__ == "__main__":
    main()
