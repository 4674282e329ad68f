"""The watcher's publish window against a real kube-apiserver and a real nats-server: an
observation the bus did not take makes the watch list again, even while the watch is idle, so
nothing is lost.

The module runs its own nats-server (`module_nats`, see conftest.py): the test deletes RAYBUS_STATE to make JetStream refuse
every state message (no stream holds the subject), and losing what the stream held is part of
the point (only a relist publishes it again).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from raybus_common.bus import subjects
from raybus_common.bus.envelopes import StateEnvelope, decode
from raybus_common.bus.nats import NatsBus
from raybus_common.bus.streams import STATE, ensure_streams
from raybus_common.kube.client import KubeClient
from raybus_common.kube.discovery import fetch
from raybus_common.kube.resources import parse_watch_spec
from raybus_testbed.kube import Kube
from raybus_testbed.waiting import eventually
from raybus_watcher.handlers import BusSink
from raybus_watcher.watching import ResourceWatch

pytestmark = pytest.mark.integration

LABEL = {"raybus.io/test": "true"}


async def stored(bus: NatsBus, namespace: str, name: str) -> StateEnvelope:
    """The ConfigMap's last state on the bus (raises while there is none: "not yet")."""
    raw = await bus.js.get_last_msg(STATE, subjects.state("configmap", namespace, name))
    return decode(StateEnvelope, raw.data or b"")


async def test_a_refused_observation_while_the_watch_is_idle_makes_it_list_again(
        module_bus: NatsBus, kubeconfig: Path, control_plane: Kube, namespace: str) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    control_plane.create(cms, {"metadata": {"name": "before", "labels": LABEL}})
    kube = await KubeClient.connect(kubeconfig=str(kubeconfig))
    stop = asyncio.Event()
    try:
        res = (await fetch(kube)).resolve(parse_watch_spec("configmap=raybus.io/test=true"))
        assert res is not None
        watch = ResourceWatch(kube, res, namespace, BusSink(module_bus, window=16))
        task = asyncio.create_task(watch.run(stop), name="test-resource-watch")
        try:
            await eventually(lambda: stored(module_bus, namespace, "before"), what="the first list on the bus")
            assert watch.lists == 1

            # From now on JetStream refuses every state message, and what it held is gone.
            await module_bus.js.delete_stream(STATE)
            during = control_plane.create(cms, {"metadata": {"name": "during", "labels": LABEL}})
            # The watch sent the observation and went back to waiting for events: only the
            # failed ack, arriving later, can tell it that the observation was lost.
            await eventually(lambda: watch.error is not None and "no stream holds the subject" in watch.error,
                             what="the watch to learn of the refused observation")

            await ensure_streams(module_bus)
            env = await eventually(lambda: stored(module_bus, namespace, "during"), timeout=60,
                                   what="the refused observation, published again by a relist")
            assert env.uid == during["metadata"]["uid"] and not env.gone
            await eventually(lambda: stored(module_bus, namespace, "before"),
                             what="the object the lost stream held, published again by the same relist")
            assert watch.lists >= 2
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
    finally:
        await kube.close()
