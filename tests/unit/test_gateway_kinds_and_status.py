"""The Gateway API's kinds as the watcher resolves them (optional, Raybus's own, `v1` then
`v1beta1`), and the status the testbed's stand-in gateway controller writes (`gatewayapi`),
judged by serve-ctl's own readiness checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from raybus_common.kube.discovery import Catalog, Served
from raybus_common.kube.resources import OPTIONAL, OWNED, RAY, SCHEDULERS, Resource, spec_of
from raybus_serve_ctl.traffic import gateway_ready, route_ready
from raybus_testbed import gatewayapi
from raybus_watcher.handlers import resolve, watched_specs

GROUP = "gateway.networking.k8s.io"
OURS = "app.kubernetes.io/created-by=kuberay-operator"
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def served(*extra: Served) -> Catalog:
    """Every Ray and owned kind at v1, and `extra` (in the server's order of preference)."""
    return Catalog([*(Served(s.group, "v1", s.api_kind, s.api_kind.lower() + "s", True) for s in (*RAY, *OWNED)),
                    *extra])


def gateway_api(*versions: str) -> list[Served]:
    return [Served(GROUP, v, kind, plural, True) for v in versions
            for kind, plural in (("Gateway", "gateways"), ("HTTPRoute", "httproutes"))]


def test_the_gateway_kinds_are_optional_and_narrowed_to_raybus_s_own() -> None:
    assert {s.kind for s in OPTIONAL} == {s.kind for s in SCHEDULERS} | {"gateway", "httproute"}
    for kind in ("gateway", "httproute"):
        assert spec_of(kind).label_selector == OURS
        assert spec_of(kind).group == GROUP


@pytest.mark.parametrize(("catalog", "expected"), [
    (served(*gateway_api("v1", "v1beta1")), "v1"),
    (served(*gateway_api("v1beta1", "v1")), "v1"),  # the server prefers v1beta1: v1 all the same
    (served(*gateway_api("v1beta1")), "v1beta1"),
    (served(*gateway_api("v1alpha2")), None),  # an experimental version Raybus does not read
    (served(), None),  # the CRDs are not installed
], ids=["v1-preferred", "v1beta1-preferred", "v1beta1-only", "v1alpha2-only", "not-served"])
def test_the_watcher_watches_the_gateway_kinds_only_when_served(catalog: Catalog, expected: str | None) -> None:
    required, optional = resolve(catalog, watched_specs(()), OPTIONAL)
    assert not {r.kind for r in required} & {"gateway", "httproute"}
    found = {r.kind: r for r in optional}
    if expected is None:
        assert found == {}
    else:
        assert found == {"gateway": Resource("gateway", "Gateway", GROUP, expected, "gateways", True, OURS),
                         "httproute": Resource("httproute", "HTTPRoute", GROUP, expected, "httproutes", True, OURS)}


def gateway(generation: int | None = 3) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "rs-gateway", "namespace": "ns"}
    if generation is not None:
        meta["generation"] = generation
    return {"apiVersion": f"{GROUP}/v1", "kind": "Gateway", "metadata": meta,
            "spec": {"gatewayClassName": "istio", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}}


def route(*parents: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "HTTPRoute",
            "metadata": {"name": "rs-httproute", "namespace": "ns", "generation": 2},
            "spec": {"parentRefs": list(parents), "rules": []}}


def test_gateway_status_is_accepted_and_programmed_at_the_gateway_s_generation() -> None:
    status = gatewayapi.gateway_status(gateway(), now=NOW)
    assert status == {"conditions": [
        {"type": "Accepted", "status": "True", "reason": "Accepted", "observedGeneration": 3,
         "lastTransitionTime": "2026-03-01T12:00:00Z", "message": "Accepted by raybus.io/test-gateway-controller"},
        {"type": "Programmed", "status": "True", "reason": "Programmed", "observedGeneration": 3,
         "lastTransitionTime": "2026-03-01T12:00:00Z", "message": "Programmed by raybus.io/test-gateway-controller"}]}
    assert gatewayapi.gateway_status(gateway(None), now=NOW)["conditions"][0]["observedGeneration"] == 1


def test_a_gateway_is_ready_for_serve_ctl_only_once_it_has_that_status() -> None:
    assert not gateway_ready(gateway())
    assert gateway_ready({**gateway(), "status": gatewayapi.gateway_status(gateway(), now=NOW)})


@pytest.mark.parametrize(("parents", "ready"), [
    (({"name": "rs-gateway", "namespace": "ns"},), True),
    (({"name": "rs-gateway"},), True),
    (({"name": "other-gateway", "namespace": "ns"},), False),
    ((), False),
], ids=["named-with-namespace", "named-without-namespace", "another-gateway", "no-parents"])
def test_route_status_accepts_the_route_under_each_parent(parents: tuple[dict[str, str], ...], ready: bool) -> None:
    r = route(*parents)
    status = gatewayapi.route_status(r, now=NOW)
    assert [p["parentRef"] for p in status["parents"]] == list(parents)
    assert all(p["controllerName"] == gatewayapi.CONTROLLER for p in status["parents"])
    assert all([c["type"] for c in p["conditions"]] == ["Accepted", "ResolvedRefs"]
               and all(c["status"] == "True" and c["observedGeneration"] == 2 for c in p["conditions"])
               for p in status["parents"])
    assert not route_ready(gateway(), r)
    assert route_ready(gateway(), {**r, "status": status}) is ready


def test_the_crd_files_are_the_standard_channel_s_three() -> None:
    assert gatewayapi.file_names() == ["gateway.networking.k8s.io_gatewayclasses.yaml",
                                       "gateway.networking.k8s.io_gateways.yaml",
                                       "gateway.networking.k8s.io_httproutes.yaml"]


@pytest.mark.parametrize(("env", "expected"), [({}, "v1.6.3"), ({"RAYBUS_GATEWAY_API_VERSION": "v1.5.1"}, "v1.5.1")],
                         ids=["default", "setting"])
def test_the_version_is_a_setting(env: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAYBUS_GATEWAY_API_VERSION", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert gatewayapi.version() == expected
