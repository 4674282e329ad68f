"""Where the edge reaches a RayCluster's dashboard (`ray.address.base_url`): by the head
Service's DNS name (`status.dashboardURL`, KubeRay's way) or by the head pod's IP."""

from __future__ import annotations

import pytest

from raybus_common.ray.address import ACCESS_MODES, DEFAULT_ACCESS, DIRECT_TIMEOUT, Access, base_url
from raybus_common.ray.jobs import Dashboard


def dash(**fields: object) -> Dashboard:
    return Dashboard.model_validate({"namespace": "ns", "cluster": "c", **fields})


SVC = "c-head-svc.ns.svc.cluster.local:8265"


@pytest.mark.parametrize(("access", "fields", "expected"), [
    ("service", {"url": SVC}, f"http://{SVC}"),
    ("service", {"url": f"http://{SVC}"}, f"http://{SVC}"),
    ("service", {"url": f"https://{SVC}/"}, f"https://{SVC}"),
    ("service", {"url": f"{SVC}/"}, f"http://{SVC}"),
    ("service", {"url": "", "head_pod_ip": "10.244.0.5"}, None),
    ("pod", {"url": SVC, "head_pod_ip": "10.244.0.5"}, "http://10.244.0.5:8265"),
    ("pod", {"head_pod_ip": "10.244.0.5", "port": 9000}, "http://10.244.0.5:9000"),
    ("pod", {"head_pod_ip": "fd00:10:244::5"}, "http://[fd00:10:244::5]:8265"),
    ("pod", {"url": SVC, "head_pod_ip": ""}, None),
], ids=["service", "service-with-scheme", "service-https-trailing-slash", "service-trailing-slash",
        "service-no-url-yet", "pod", "pod-named-port", "pod-ipv6", "pod-no-ip-yet"])
def test_base_url(access: Access, fields: dict[str, object], expected: str | None) -> None:
    assert base_url(dash(**fields), access) == expected


def test_an_unknown_access_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown dashboard access 'proxy': one of service, pod"):
        base_url(dash(url=SVC), "proxy")  # type: ignore[arg-type]


def test_the_modes_and_kuberays_defaults() -> None:
    assert (ACCESS_MODES, DEFAULT_ACCESS, DIRECT_TIMEOUT) == (("service", "pod"), "service", 2.0)
