"""raybus-cron: wiring only. What it does is in handlers.py and reconcile.py."""

from __future__ import annotations

from raybus_common.runner import run_service

from . import handlers
from .settings import CronSettings


def main() -> None:
    run_service(CronSettings, handlers.start)


if __name__ == "__main__":
    main()
