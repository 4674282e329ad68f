"""`raybus tail` against a real NATS server: replay, object filter, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from raybus_common.actions import ObjectRef
from raybus_common.bus import subjects
from raybus_common.bus.envelopes import ResultEnvelope, StateEnvelope
from raybus_common.bus.nats import connect
from raybus_common.bus.streams import default_streams, ensure_streams
from raybus_common.settings import ServiceSettings

pytestmark = pytest.mark.integration
RAYBUS = str(Path(sys.executable).parent / "raybus")


def tail(nats_url: str, *args: str) -> list[str]:
    out = subprocess.run([RAYBUS, "tail", "--nats-url", nats_url, "--no-follow", *args],
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.splitlines()


async def test_tail_replays_filters_and_prints_json(nats_url: str) -> None:
    bus = await connect(ServiceSettings(nats_url=nats_url, service_name="tail-test"))
    try:
        await ensure_streams(bus, default_streams())
        rc = {"apiVersion": "ray.io/v1", "kind": "RayCluster",
              "metadata": {"name": "tail-rc", "namespace": "tailns", "uid": "u-rc", "resourceVersion": "11"}}
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "tail-rc-head", "namespace": "tailns", "uid": "u-pod", "resourceVersion": "12",
                            "labels": {"ray.io/cluster": "tail-rc"}}}
        other = {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "unrelated", "namespace": "tailns", "uid": "u-x", "resourceVersion": "13"}}
        for obj, kind in ((rc, "raycluster"), (pod, "pod"), (other, "pod")):
            m = obj["metadata"]
            await bus.publish(subjects.state(kind, m["namespace"], m["name"]), StateEnvelope.observed("ADDED", obj),
                              msg_id=f"{m['uid']}:{m['resourceVersion']}")
        await bus.publish(subjects.res("raycluster", "tailns", "tail-rc"),
                          ResultEnvelope(action_id="a1", controller="cluster-ctl", op="apply_status", outcome="ok",
                                         http_status=200, root=ObjectRef.of(rc)), msg_id="res:a1:ok")
    finally:
        await bus.drain(1)

    everything = tail(nats_url, "raybus.state.>", "--since", "10m")
    assert any("raycluster/tailns/tail-rc" in line and "ADDED" in line for line in everything)
    assert any("pod/tailns/unrelated" in line for line in everything)

    about = tail(nats_url, "--object", "raycluster/tailns/tail-rc")
    assert any("pod/tailns/tail-rc-head" in line for line in about), about
    assert any("apply_status → ok" in line for line in about), about
    assert not any("unrelated" in line for line in about)

    raw = [json.loads(line) for line in tail(nats_url, "raybus.res.>", "--json", "--since", "1h")]
    assert any(r["payload"]["action_id"] == "a1" for r in raw)
