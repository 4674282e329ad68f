"""Which RayJobs and RayClusters this watcher replica polls: the Ray pollers' targets shared out
among the watcher's replicas, as the controllers share their roots.

Every replica watches everything (its watches are not partitioned: replicas publish the same
observations, deduplicated by `Nats-Msg-Id`), but a target's dashboard is asked by one replica
only: the one holding the lease of the target's partition (`controller.partitions.partition_of`
of `<namespace>/<name>`; 64 partitions) in the KV bucket `raybus_leases`, under the prefix
`watcher-poll` (`controller.leases.LeaseManager`, the controllers' own leases). So N replicas
make the dashboards' load of one, not N times it.

- A target whose partition another replica holds is looked at again an interval later
  (`DashboardPoller.run`); a partition gained makes its targets due at once
  (`DashboardPoller.gained`), so a replica that dies has its targets polled again by the others
  within the lease TTL (`RAYBUS_LEASE_TTL`, 6 s) plus one tick.
- Until the first tick succeeds a replica polls nothing; a failed tick is logged and tried
  again at the next one, and a replica that cannot renew loses its partitions (the others take
  them), so a replica cut off from NATS stops polling what it could not publish anyway.
- On shutdown the partitions are given back at once, so the others take over without waiting
  for the TTL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from raybus_common.controller.leases import LeaseManager
from raybus_common.controller.partitions import partition_of

from .plan import NameKey
from .raypoll import DashboardPoller

POLL_LEASES = "watcher-poll"  # the lease prefix of the watcher's Ray pollers


class PollShare:
    """The partitions of the Ray pollers' targets this replica holds (`owns`), kept by `run`."""

    def __init__(self, leases: LeaseManager) -> None:
        self.leases = leases
        self.pollers: Sequence[DashboardPoller[Any, Any]] = ()

    def owns(self, key: NameKey) -> bool:
        return self.leases.owns(partition_of(f"{key[0]}/{key[1]}", self.leases.partitions))

    def collector(self) -> Collector:
        """`raybus_watcher_ray_poll_targets{kind}`: how many targets each poller has and this
        replica polls, counted at scrape time (summed over replicas: the targets, each once)."""
        share = self

        class Targets(Collector):
            def collect(self) -> Iterator[GaugeMetricFamily]:
                family = GaugeMetricFamily("raybus_watcher_ray_poll_targets",
                                           "Targets of a Ray poller that this replica polls (its partitions').",
                                           labels=["kind"])
                for poller in share.pollers:
                    family.add_metric([poller.subject_kind], sum(1 for key in poller.plan.targets() if share.owns(key)))
                yield family

        return Targets()

    async def tick(self) -> None:
        """Renew, claim and release; the pollers poll what was gained at once."""
        changes = await self.leases.tick()
        if changes.gained:
            for poller in self.pollers:
                poller.gained()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick at once, then every `ttl/3` seconds until `stop`; then give every partition back."""
        try:
            await self.leases.renew(stop, self.tick, at_once=True)
        finally:
            await self.leases.give_back()
