"""The Gateway API on the test control plane and on the bus: what a RayService's
NewClusterWithIncrementalUpgrade needs under serve-ctl (reference A.7).

- The control plane serves `gateway.networking.k8s.io/v1` Gateways and HTTPRoutes (and
  GatewayClasses): the standard channel's CRDs of the Go module `sigs.k8s.io/gateway-api`
  (`raybus_testbed.gatewayapi`), installed at start.
- raybus-watcher watches them (optional kinds, found by discovery) and publishes Raybus's own
  (`app.kubernetes.io/created-by=kuberay-operator`) on `raybus.state.gateway.<ns>.<name>` and
  `raybus.state.httproute.<ns>.<name>`; an unlabelled one never reaches the bus.
- raybus-actuator server-side applies serve-ctl's Gateway and HTTPRoute (built by serve-ctl's
  own `gateway.gateway_for` / `httproute_for`, owned by a real RayService), applies the route
  again with the weights stepped, and writes both objects' status subresource; the watcher shows
  each change.

There is no gateway controller here: where a Gateway needs a status, the test writes the one
`gatewayapi.gateway_status` builds, as a controller would.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from nats.js.errors import NotFoundError

from raybus_common.actions import Action, Apply, ApplyStatus, ObjectRef
from raybus_common.bus import subjects
from raybus_common.bus.envelopes import ActionEnvelope, Envelope, ResultEnvelope, StateEnvelope, decode
from raybus_common.bus.nats import NatsBus
from raybus_common.bus.streams import RES, STATE
from raybus_common.crds.raycluster import RayCluster
from raybus_common.kube.client import KubeClient
from raybus_common.kube.discovery import fetch
from raybus_serve_ctl.gateway import gateway_for, httproute_for
from raybus_testbed import gatewayapi
from raybus_testbed.controlplane import crds_in, install_crds
from raybus_testbed.kube import Kube
from raybus_testbed.services import Services
from raybus_testbed.waiting import eventually

pytestmark = pytest.mark.integration

GROUP = "gateway.networking.k8s.io"
V1 = f"/apis/{GROUP}/v1"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
OURS = {"app.kubernetes.io/created-by": "kuberay-operator"}
RAYSERVICE = Path(__file__).resolve().parents[1] / "fixtures" / "valid" / "rayservice-incremental-upgrade.yaml"
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
E = TypeVar("E", bound=Envelope)


@pytest.fixture(scope="module")
def gateway_crds(control_plane: Kube) -> Kube:
    """The control plane, with the Gateway API's CRDs: the local one installed them at start; an
    existing cluster (RAYBUS_TEST_KUBECONFIG) gets them here."""
    if os.environ.get("RAYBUS_TEST_KUBECONFIG"):
        install_crds(control_plane, crds_in(gatewayapi.crd_files()))
    return control_plane


async def last(bus: NatsBus, stream: str, subject: str, model: type[E]) -> E | None:
    """The last message of `subject` in `stream` (RAYBUS_STATE, RAYBUS_RES), if any."""
    try:
        msg = await bus.js.get_last_msg(stream, subject)
    except NotFoundError:
        return None
    return decode(model, msg.data or b"")


async def wait_state(bus: NatsBus, subject: str, check: Callable[[dict[str, Any]], bool],
                     *, what: str) -> dict[str, Any]:
    """The object last published on `subject`, once `check` holds for it."""
    async def holds() -> dict[str, Any] | None:
        env = await last(bus, STATE, subject, StateEnvelope)
        return env.object if env is not None and env.object is not None and check(env.object) else None

    return await eventually(holds, timeout=30, what=f"{what} on {subject}")


def weights(route: dict[str, Any]) -> list[tuple[str, int]]:
    return [(b["name"], b["weight"]) for rule in route["spec"]["rules"] for b in rule["backendRefs"]]


def conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}


async def test_the_control_plane_serves_the_gateway_api(gateway_crds: Kube, kubeconfig: Path) -> None:
    client = await KubeClient.connect(kubeconfig=kubeconfig)
    try:
        catalog = await fetch(client)
    finally:
        await client.close()
    assert catalog.lookup(f"{GROUP}/v1", "Gateway") is not None
    assert catalog.lookup(f"{GROUP}/v1", "HTTPRoute") is not None
    gateway_class = catalog.lookup(f"{GROUP}/v1", "GatewayClass")
    assert gateway_class is not None and not gateway_class.namespaced
    for plural in gatewayapi.PLURALS:
        crd = gateway_crds.get(f"{CRDS}/{plural}.{GROUP}")
        annotations = crd["metadata"]["annotations"]
        assert annotations[f"{GROUP}/bundle-version"] == gatewayapi.version()
        assert annotations[f"{GROUP}/channel"] == "standard"


def gateway(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Gateway", "metadata": {"name": name, "labels": labels},
            "spec": {"gatewayClassName": "istio", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}}


def route(name: str, labels: dict[str, str], parent: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "HTTPRoute", "metadata": {"name": name, "labels": labels},
            "spec": {"parentRefs": [{"name": parent}], "rules": [{"backendRefs": [
                {"name": "rs-aaaaa-serve-svc", "port": 8000, "weight": 100}]}]}}


async def test_the_watcher_publishes_raybus_s_gateways_and_httproutes(
        gateway_crds: Kube, services: Services, bus: NatsBus, namespace: str) -> None:
    services.start("watcher", "raybus-watcher")
    api = gateway_crds
    gateways, routes = f"{V1}/namespaces/{namespace}/gateways", f"{V1}/namespaces/{namespace}/httproutes"
    # Not Raybus's, and made first: were they published, it would be before the others.
    api.create(gateways, gateway("foreign.gw", {}))
    api.create(routes, route("foreign.route", {}, "foreign.gw"))
    made = api.create(gateways, gateway("rs.v1-gateway", OURS))
    api.create(routes, route("rs.v1-httproute", OURS, "rs.v1-gateway"))

    gw_subject = subjects.state("gateway", namespace, "rs.v1-gateway")
    assert gw_subject == f"raybus.state.gateway.{namespace}.rs_v1-gateway"
    seen = await wait_state(bus, gw_subject, lambda o: o["metadata"]["uid"] == made["metadata"]["uid"],
                            what="Raybus's Gateway")
    assert seen["apiVersion"] == f"{GROUP}/v1" and seen["spec"]["gatewayClassName"] == "istio"
    assert conditions(seen) == {"Accepted": "Unknown", "Programmed": "Unknown"}  # the CRD's default: no controller
    seen_route = await wait_state(bus, subjects.state("httproute", namespace, "rs.v1-httproute"), lambda o: True,
                                  what="Raybus's HTTPRoute")
    assert weights(seen_route) == [("rs-aaaaa-serve-svc", 100)]
    for kind, name in (("gateway", "foreign.gw"), ("httproute", "foreign.route")):
        assert await last(bus, STATE, subjects.state(kind, namespace, name), StateEnvelope) is None

    # A gateway controller accepts and programs it: the status reaches the bus.
    api.merge_patch(f"{gateways}/rs.v1-gateway/status", {"status": gatewayapi.gateway_status(made, now=NOW)})
    await wait_state(bus, gw_subject, lambda o: conditions(o) == {"Accepted": "True", "Programmed": "True"},
                     what="the Gateway's status")

    api.delete(f"{routes}/rs.v1-httproute")
    env = await eventually(lambda: gone(bus, subjects.state("httproute", namespace, "rs.v1-httproute")),
                           what="the HTTPRoute's deletion")
    assert env.type == "DELETED" and env.object is not None and env.object["metadata"]["name"] == "rs.v1-httproute"


async def gone(bus: NatsBus, subject: str) -> StateEnvelope | None:
    env = await last(bus, STATE, subject, StateEnvelope)
    return env if env is not None and env.gone else None


async def act(bus: NatsBus, root: ObjectRef, action: Action, kind: str, name: str,
              namespace: str, *, salt: str = "") -> ResultEnvelope:
    """Publish `action` as serve-ctl would; its result once the actuator reported it."""
    env = ActionEnvelope.build("test-gateway", root, action, salt=salt)
    await bus.publish(subjects.act(kind, namespace, name), env, msg_id=env.action_id)

    async def result() -> ResultEnvelope | None:
        got = await last(bus, RES, subjects.res(kind, namespace, name), ResultEnvelope)
        return got if got is not None and got.action_id == env.action_id else None

    return await eventually(result, timeout=30, what=f"the result of {action.op} {kind} {name}")


def cluster(name: str, rs: dict[str, Any]) -> RayCluster:
    return RayCluster.model_validate({"apiVersion": "ray.io/v1", "kind": "RayCluster",
                                      "metadata": {"name": name, "namespace": rs["metadata"]["namespace"]},
                                      "spec": copy.deepcopy(rs["spec"]["rayClusterConfig"])})


async def test_the_actuator_applies_serve_ctl_s_gateway_and_httproute_and_writes_their_status(
        gateway_crds: Kube, services: Services, bus: NatsBus, namespace: str) -> None:
    api = gateway_crds
    services.start("watcher", "raybus-watcher")
    services.start("actuator", "raybus-actuator")
    rs = api.create(f"/apis/ray.io/v1/namespaces/{namespace}/rayservices", yaml.safe_load(RAYSERVICE.read_text()))
    root = ObjectRef.of(rs)
    active, pending = cluster("gradual-rollout-aaaaa", rs), cluster("gradual-rollout-bbbbb", rs)
    desired_gateway = gateway_for(rs, gateway_class="istio")
    first = httproute_for(rs, active=active, pending=pending, weights=(100, 0))
    stepped = httproute_for(rs, active=active, pending=pending, weights=(80, 20))
    assert first is not None and stepped is not None

    for obj, kind in ((desired_gateway, "gateway"), (first, "httproute")):
        res = await act(bus, root, Apply(object=obj), kind, obj["metadata"]["name"], namespace)
        assert res.outcome == "ok", res.message
    gw = api.get(f"{V1}/namespaces/{namespace}/gateways/gradual-rollout-gateway")
    assert [f["manager"] for f in gw["metadata"]["managedFields"]] == ["raybus"]
    assert gw["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
    route_subject = subjects.state("httproute", namespace, "gradual-rollout-httproute")
    seen = await wait_state(bus, route_subject, lambda o: True, what="serve-ctl's HTTPRoute (its label)")
    assert weights(seen) == [("gradual-rollout-aaaaa-serve-svc", 100), ("gradual-rollout-bbbbb-serve-svc", 0)]

    # The weights stepped, as serve-ctl does each interval.
    res = await act(bus, root, Apply(object=stepped), "httproute", "gradual-rollout-httproute", namespace)
    assert res.outcome == "ok", res.message
    got = api.get(f"{V1}/namespaces/{namespace}/httproutes/gradual-rollout-httproute")
    assert weights(got) == [("gradual-rollout-aaaaa-serve-svc", 80), ("gradual-rollout-bbbbb-serve-svc", 20)]
    await wait_state(bus, route_subject, lambda o: weights(o)[1] == ("gradual-rollout-bbbbb-serve-svc", 20),
                     what="the stepped weights")

    # The status subresource of both, written through the actuator (uid tested first).
    for obj, kind, status in ((gw, "gateway", gatewayapi.gateway_status(gw, now=NOW)),
                              (got, "httproute", gatewayapi.route_status(got, now=NOW))):
        res = await act(bus, root, ApplyStatus(ref=ObjectRef.of(obj), status=status), kind,
                        obj["metadata"]["name"], namespace)
        assert res.outcome == "ok", res.message
    gw = api.get(f"{V1}/namespaces/{namespace}/gateways/gradual-rollout-gateway")
    assert conditions(gw) == {"Accepted": "True", "Programmed": "True"}
    got = api.get(f"{V1}/namespaces/{namespace}/httproutes/gradual-rollout-httproute")
    [parent] = got["status"]["parents"]
    assert parent["parentRef"]["name"] == "gradual-rollout-gateway"
    assert {c["type"]: c["status"] for c in parent["conditions"]} == {"Accepted": "True", "ResolvedRefs": "True"}
    await wait_state(bus, route_subject, lambda o: bool((o.get("status") or {}).get("parents")),
                     what="the HTTPRoute's status")
