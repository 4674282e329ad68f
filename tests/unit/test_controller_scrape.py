"""Metrics over a controller's view at scrape time: only the roots whose partition the replica holds,
registered for the service's lifetime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily

from raybus_common.bus.memory import MemoryBus
from raybus_common.controller import scrape
from raybus_common.controller.config import ControllerConfig, RuntimeConfig
from raybus_common.controller.runtime import Controller, ControllerSpec
from raybus_common.controller.view import Observed
from raybus_common.decision import NOTHING, Decision
from raybus_common.kv import MemoryKV


def nothing(observed: Observed, *, now: datetime, settings: ControllerConfig) -> Decision:
    return NOTHING


def root(name: str) -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}", "resourceVersion": "1"}}


def names(objs: list[dict[str, Any]]) -> list[GaugeMetricFamily]:
    family = GaugeMetricFamily("scrape_test_roots", "roots seen", labels=["name"])
    for obj in objs:
        family.add_metric([obj["metadata"]["name"]], 1)
    return [family]


class Svc:
    def __init__(self) -> None:
        self.closers: list[Callable[[], Awaitable[Any]]] = []

    def after_drain(self, close: Callable[[], Awaitable[Any]]) -> None:
        self.closers.append(close)


async def test_only_held_roots_are_reported_while_the_service_runs() -> None:
    ctl = Controller(ControllerSpec[ControllerConfig]("scrape-ctl", "rayjob", nothing, partitions=4), MemoryBus(),
                     RuntimeConfig(), ControllerConfig(), MemoryKV(), replica="r1")
    ctl.view.upsert("rayjob", root("a"))
    ctl.view.upsert("rayjob", root("b"))
    assert scrape.held_roots(ctl) == [], "no partition held yet"
    svc = Svc()
    collector = scrape.export(svc, ctl, names)  # type: ignore[arg-type]
    await ctl.tick_leases()
    assert sorted(o["metadata"]["name"] for o in scrape.held_roots(ctl)) == ["a", "b"]
    assert REGISTRY.get_sample_value("scrape_test_roots", {"name": "a"}) == 1
    assert [s.labels["name"] for f in collector.collect() for s in f.samples] in (["a", "b"], ["b", "a"])
    for close in svc.closers:
        await close()
    assert REGISTRY.get_sample_value("scrape_test_roots", {"name": "a"}) is None
