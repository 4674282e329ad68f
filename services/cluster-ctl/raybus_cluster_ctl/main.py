"""raybus-cluster-ctl: wiring only. What it does is in handlers.py (what it watches) and reconcile.py (what it decides)."""

from __future__ import annotations

from raybus_common.runner import run_service

from . import handlers
from .settings import ClusterCtlSettings


def main() -> None:
    run_service(ClusterCtlSettings, handlers.start)


if __name__ == "__main__":
    main()
