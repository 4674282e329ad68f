"""How the edge reaches a RayCluster's dashboard: the base URL of its HTTP API.

Controllers say *which* dashboard (`jobs.Dashboard`); the watcher's poller and the actuator
say *how* it is reached, by their setting `RAYBUS_RAY_DASHBOARD_ACCESS`:

| access | base URL | None (cannot be reached yet) when |
|---|---|---|
| `service` (default) | `http://` + `status.dashboardURL` (the head Service's DNS name and port; a URL that already has a scheme is kept as it is) | the RayJob has no `dashboardURL` yet |
| `pod` | `http://<head pod IP>:<dashboard port>` (an IPv6 address in brackets) | the RayCluster has no `status.head.podIP` yet |

`service` is KubeRay's default (`http://<status.dashboardURL>`). `pod` reaches the head pod
directly: for an operator outside the cluster's DNS (a laptop, the test substrate, where
kwok's pod IPs are routed to a local Ray head). KubeRay's third way, the API server's service
proxy (`--use-kubernetes-proxy`), is not offered: it needs the API server's credentials in
the HTTP client, which this edge does not hold.

`DIRECT_TIMEOUT` is KubeRay's `RayHTTPClientDirectTimeoutSeconds`, every request's timeout.
Pure: no I/O, no environment.
"""

from __future__ import annotations

from typing import Literal, get_args

from .jobs import Dashboard

Access = Literal["service", "pod"]
ACCESS_MODES: tuple[str, ...] = get_args(Access)
DEFAULT_ACCESS: Access = "service"
DIRECT_TIMEOUT = 2.0  # seconds; KubeRay's RayHTTPClientDirectTimeoutSeconds


def base_url(d: Dashboard, access: Access) -> str | None:
    """The URL the dashboard's API paths (`/api/jobs/`) are appended to, without a trailing
    slash; None while the address is not known yet (see the table above)."""
    if access == "service":
        if not d.url:
            return None
        url = d.url if "://" in d.url else f"http://{d.url}"
        return url.rstrip("/")
    if access == "pod":
        if not d.head_pod_ip:
            return None
        host = f"[{d.head_pod_ip}]" if ":" in d.head_pod_ip else d.head_pod_ip
        return f"http://{host}:{d.port}"
    raise ValueError(f"unknown dashboard access {access!r}: one of {', '.join(ACCESS_MODES)}")
