"""Metrics computed at scrape time from a controller's view: KubeRay's `kuberay_<kind>_*` families
over the roots whose partition this replica holds, so N replicas never report a root twice and
no figure is kept in memory that the view does not hold already.

A controller's `metrics` module writes the pure `families(roots)`; its `handlers.start` calls
`export(svc, ctl, families)` once the controller is served. The collector is registered in the
process's default registry and unregistered once the service has drained.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ..runner import Service
from .runtime import Controller

Obj = dict[str, Any]
Families = Callable[[list[Obj]], Iterable[Metric]]


class ViewCollector(Collector):
    """`families` of what `roots` returns, at every scrape."""

    def __init__(self, families: Families, roots: Callable[[], list[Obj]]) -> None:
        self.families = families
        self.roots = roots

    def collect(self) -> Iterator[Metric]:
        yield from self.families(self.roots())


def held_roots(ctl: Controller[Any]) -> list[Obj]:
    """The root objects in `ctl`'s view whose partition it holds, as observed."""
    found = (ctl.view.get(ctl.spec.root, k.namespace, k.name) for k in ctl.view.roots() if ctl.owns(k))
    return [obj for obj in found if obj is not None]


def export(svc: Service, ctl: Controller[Any], families: Families) -> ViewCollector:
    """Serve `families` over `ctl`'s held roots on `/metrics` for the service's lifetime."""
    collector = ViewCollector(families, lambda: held_roots(ctl))
    REGISTRY.register(collector)

    async def unregister() -> None:
        REGISTRY.unregister(collector)

    svc.after_drain(unregister)
    return collector
