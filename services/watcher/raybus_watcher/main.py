"""raybus-watcher: wiring only. What it does is in handlers.py."""

from __future__ import annotations

from raybus_common.runner import run_service

from . import handlers
from .settings import WatcherSettings


def main() -> None:
    run_service(WatcherSettings, handlers.start)


if __name__ == "__main__":
    main()
