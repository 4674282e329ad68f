"""The Gateway API (`gateway.networking.k8s.io`) in the test control plane: its CRDs, and the
status a gateway controller would write, for there is no gateway controller here.

A RayService upgraded with NewClusterWithIncrementalUpgrade gets a Gateway and an HTTPRoute
(reference A.7); the control plane serves them once these CRDs are installed
(`controlplane.ControlPlane` does it at start, after Raybus's own).

| what | where it comes from |
|---|---|
| the CRDs | the standard channel's GatewayClass, Gateway and HTTPRoute YAMLs of the Go module `sigs.k8s.io/gateway-api` at `version()` (`RAYBUS_GATEWAY_API_VERSION`, else VERSION), fetched through the Go module proxy by `scripts/fetch-gateway-api.sh` into `~/.cache/raybus/gateway-api-<version>/` (`RAYBUS_CACHE`) |
| `crd_files()` | the cached YAMLs, through the script (at once when cached; fetched, with Go, otherwise); `NoGatewayAPI` says why when there are none (no Go, or the fetch failed) |
| `gateway_status` | a Gateway's status as a controller that accepted and programmed it writes it: `Accepted` and `Programmed` True at its generation |
| `route_status` | an HTTPRoute's status as that controller writes it: per parentRef, `Accepted` and `ResolvedRefs` True (what serve-ctl's `traffic.route_ready` waits for) |

Only those three kinds: what KubeRay's incremental upgrade creates and reads. The status
builders are pure (the time is passed in); writing them is the caller's (through the status
subresource, as a gateway controller does). Nothing here routes traffic.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from raybus_common.objects import wire_time

REPO_ROOT = Path(__file__).resolve().parents[3]
FETCH_SCRIPT = REPO_ROOT / "scripts" / "fetch-gateway-api.sh"
VERSION = "v1.6.3"  # the newest whose go.mod Go 1.26 accepts (v1.7.0 needs a newer Go)
PLURALS = ("gatewayclasses", "gateways", "httproutes")
CONTROLLER = "raybus.io/test-gateway-controller"  # the controllerName of the stand-in controller

Obj = dict[str, Any]


class NoGatewayAPI(RuntimeError):
    """The Gateway API's CRDs are not cached and cannot be fetched (no Go, or the fetch failed)."""


def version() -> str:
    return os.environ.get("RAYBUS_GATEWAY_API_VERSION") or VERSION


def file_names() -> list[str]:
    """The CRD files' names, as the module's config/crd/standard/ spells them."""
    return [f"gateway.networking.k8s.io_{plural}.yaml" for plural in PLURALS]


def crd_files(ver: str | None = None) -> list[Path]:
    """The CRD YAMLs of `ver` (default `version()`): `scripts/fetch-gateway-api.sh` keeps the
    cache (it returns at once, without Go, when they are cached, and fetches them otherwise)."""
    ver = ver or version()
    out = subprocess.run(["bash", str(FETCH_SCRIPT)], env={**os.environ, "RAYBUS_GATEWAY_API_VERSION": ver},
                         check=False, capture_output=True, text=True)
    if out.returncode != 0:
        said = "; ".join(line.strip() for line in out.stderr.splitlines() if line.strip())  # one log line
        raise NoGatewayAPI(f"scripts/fetch-gateway-api.sh failed ({out.returncode}): {said[-1000:]}")
    fetched = Path(out.stdout.strip().splitlines()[-1])
    return [fetched / name for name in file_names()]


def _condition(kind: str, generation: int, now: datetime, message: str) -> Obj:
    return {"type": kind, "status": "True", "reason": kind, "message": message,
            "observedGeneration": generation, "lastTransitionTime": wire_time(now)}


def _generation(obj: Mapping[str, Any]) -> int:
    return int((obj.get("metadata") or {}).get("generation") or 1)


def gateway_status(gateway: Mapping[str, Any], *, now: datetime) -> Obj:
    """The Gateway's status once a controller accepted and programmed it (the table's row)."""
    generation = _generation(gateway)
    return {"conditions": [_condition(kind, generation, now, f"{kind} by {CONTROLLER}")
                           for kind in ("Accepted", "Programmed")]}


def route_status(route: Mapping[str, Any], *, now: datetime) -> Obj:
    """The HTTPRoute's status once that controller accepted it under each of its parents, every
    backend resolved (the table's row). No parentRefs: no parents."""
    generation = _generation(route)
    refs = ((route.get("spec") or {}).get("parentRefs")) or []
    return {"parents": [{"parentRef": dict(ref), "controllerName": CONTROLLER,
                         "conditions": [_condition(kind, generation, now, f"{kind} by {CONTROLLER}")
                                        for kind in ("Accepted", "ResolvedRefs")]} for ref in refs]}
