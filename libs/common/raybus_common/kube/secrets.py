"""Secrets read through the Kubernetes client and kept a short while: the dashboard token of a
RayCluster with `authOptions.mode: token`, which the watcher's Ray job poller and the
actuator's Ray calls send on every request (`ray.dashboard.read_token`).

A Secret found is kept `ttl` seconds (30), so polling a thousand jobs every 3 s reads each
cluster's Secret twice a minute, not a thousand times, and a rotated token is used within
`ttl`. A Secret not found (404) is not kept: it is created after the cluster, and the next
call asks again. Other API errors are raised (`ApiError`): the caller judges them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .client import ApiError, KubeClient

Obj = dict[str, Any]
DEFAULT_TTL = 30.0  # seconds a Secret read is used before it is read again
TIMEOUT = 10.0  # seconds one read may take


class SecretCache:
    """`get(namespace, name)`: the Secret, or None if there is none; read at most every `ttl`."""

    def __init__(self, kube: KubeClient, *, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kube, self.ttl, self.clock = kube, ttl, clock
        self._kept: dict[tuple[str, str], tuple[float, Obj]] = {}  # → (read at, the Secret)

    async def get(self, namespace: str, name: str) -> Obj | None:
        key = (namespace, name)
        now = self.clock()
        kept = self._kept.get(key)
        if kept is not None and now - kept[0] < self.ttl:
            return kept[1]
        try:
            secret = await self.kube.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}", timeout=TIMEOUT)
        except ApiError as e:
            if e.status == 404:
                self._kept.pop(key, None)
                return None
            raise
        self._kept[key] = (now, secret)
        for stale in [k for k, (at, _) in self._kept.items() if now - at >= self.ttl]:
            del self._kept[stale]  # tokens of clusters no longer asked about do not linger
        return secret
