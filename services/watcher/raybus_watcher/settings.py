"""Settings of raybus-watcher: the common `RAYBUS_*` ones, the Kubernetes client's, the watched
namespaces (`RAYBUS_WATCH_NAMESPACES`), and its own.

    RAYBUS_KUBECONFIG=/path/to/kubeconfig           # empty: $KUBECONFIG, ~/.kube/config, in-cluster
    RAYBUS_WATCH_NAMESPACES=team-a,team-b           # empty: every namespace
    RAYBUS_WATCH_CLUSTER_WIDE_ABOVE=4               # more namespaces than this: watch cluster-wide
    RAYBUS_WATCH_TIMEOUT_SECONDS=300                # server-side timeout of one watch request
    RAYBUS_WATCH_EXTRA=configmap=raybus.io/demo=true
    RAYBUS_TOMBSTONE_TTL_SECONDS=86400              # 0: tombstones stay until the subject is reused
    RAYBUS_PUBLISH_WINDOW=256                       # unacknowledged state messages per watch
    RAYBUS_RAY_DASHBOARD_ACCESS=service             # or pod: how dashboards are reached (ray.address)
    RAYBUS_RAY_TIMEOUT_SECONDS=2                    # one request to a dashboard (KubeRay's 2 s)
    RAYBUS_RAY_POLL_SECONDS=3                       # a running RayJob's Ray job is polled this often
    RAYBUS_RAY_POLL_CONCURRENCY=16                  # polls under way at once
    RAYBUS_LEASE_TTL=6                              # a dead replica's Ray polls move within this (+ 2 s)

`watch_extra` lists extra kinds to watch as `kube.resources.parse_watch_spec` specs
(`kind` or `kind=<label selector>`, `kind` a token of `kube.resources.SPECS`; the version
watched is found by discovery), separated by commas. A label selector may itself hold
commas (`a=b,c=d`); then separate the specs with `;` instead.

`watch_cluster_wide_above`: with up to this many watched namespaces, each kind is watched once
per namespace (one HTTP/1.1 connection per watch; RBAC in those namespaces suffices); with more,
each kind is watched once cluster-wide and objects of other namespaces are dropped (needs
list/watch in all namespaces, e.g. `deploy/rbac/watcher.yaml`; a kind the watcher may not list
cluster-wide is still watched per namespace). 0: always cluster-wide. See `plan.py`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from raybus_common.kube.resources import KindSpec, parse_watch_spec
from raybus_common.ray.address import DEFAULT_ACCESS, DIRECT_TIMEOUT, Access
from raybus_common.scope import WatchScope
from raybus_common.settings import KubeClientSettings, ServiceSettings


def split_specs(value: str) -> list[str]:
    """`a,b` or `a;b` (when a selector holds commas) → the non-empty specs."""
    sep = ";" if ";" in value else ","
    return [part.strip() for part in value.split(sep) if part.strip()]


class WatcherSettings(ServiceSettings, KubeClientSettings, WatchScope):
    service_name: str = "watcher"

    watch_timeout_seconds: int = Field(300, ge=1)  # server-side timeout of one watch request
    watch_cluster_wide_above: int = Field(4, ge=0)  # more watched namespaces: one cluster-wide watch a kind
    watch_extra: Annotated[list[str], NoDecode] = Field(default_factory=list)
    tombstone_ttl_seconds: float = Field(24 * 3600.0, ge=0)  # 0 = tombstones never expire
    publish_window: int = Field(256, ge=1)  # unacknowledged observations per watch (1: each one awaited)
    # The Ray job poller (`raypoll.py`)
    ray_dashboard_access: Access = DEFAULT_ACCESS
    ray_timeout_seconds: float = Field(DIRECT_TIMEOUT, gt=0)
    ray_poll_seconds: float = Field(3.0, gt=0)  # KubeRay's requeue of a running RayJob
    ray_poll_concurrency: int = Field(16, ge=1)
    lease_ttl: float = Field(6.0, gt=0)  # the pollers' partition leases (`pollshare.py`), as the controllers'

    @field_validator("watch_extra", mode="before")
    @classmethod
    def _extra(cls, value: Any) -> Any:
        specs = split_specs(value) if isinstance(value, str) else value
        if isinstance(specs, list):
            for spec in specs:
                try:
                    parse_watch_spec(str(spec))
                except KeyError as e:
                    raise ValueError(str(e.args[0]) if e.args else str(e)) from None
        return specs

    @property
    def extra_resources(self) -> tuple[KindSpec, ...]:
        return tuple(parse_watch_spec(spec) for spec in self.watch_extra)
