"""KubeRay's Event texts, to the letter: what Go's `fmt` prints for the values KubeRay formats
into its notes (v1.7 `raycluster_controller.go`). Pure.

- `pod_state`: `Pod status: %s; Pod restart policy: %s; Ray container terminated status: %v`,
  where the last is the Ray container's `*ContainerStateTerminated` as its generated `String()`
  prints it (`&ContainerStateTerminated{ExitCode:1,...,}`, or `nil`);
- `unhealthy_reason`: `shouldDeletePod`'s reason, which multi-host deletions put in their note;
- `go_quote`: Go's `%q` of a string (`%v` of a `time.Duration` is `gotext.duration`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from raybus_common import objects

Obj = dict[str, Any]


def _go_time(value: Any) -> str:
    """`time.Time.String()` of a metav1.Time read from JSON (UTC): `2006-01-02 15:04:05.999999999 +0000 UTC`."""
    if not value:
        return "0001-01-01 00:00:00 +0000 UTC"
    t = datetime.fromisoformat(str(value))
    fraction = f".{t.microsecond:06d}".rstrip("0") if t.microsecond else ""
    return f"{t:%Y-%m-%d %H:%M:%S}{fraction} +0000 UTC"


def terminated(pod: Obj) -> str:
    """The Ray container's (the first container's) terminated state as Go's `%v` prints it."""
    containers = (pod.get("spec") or {}).get("containers") or []
    ray = containers[0].get("name") if containers else None
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == ray:
            t = (cs.get("state") or {}).get("terminated")
            if t is None:
                return "nil"
            return (f"&ContainerStateTerminated{{ExitCode:{t.get('exitCode', 0)},Signal:{t.get('signal', 0)},"
                    f"Reason:{t.get('reason', '')},Message:{t.get('message', '')},"
                    f"StartedAt:{_go_time(t.get('startedAt'))},FinishedAt:{_go_time(t.get('finishedAt'))},"
                    f"ContainerID:{t.get('containerID', '')},}}")
    return "nil"


def pod_state(pod: Obj) -> str:
    status, spec = pod.get("status") or {}, pod.get("spec") or {}
    return (f"Pod status: {status.get('phase', '')}; Pod restart policy: {spec.get('restartPolicy', '')}; "
            f"Ray container terminated status: {terminated(pod)}")


def unhealthy_reason(pod: Obj, node_type: str) -> str:
    """Why `shouldDeletePod` deletes `pod` (KubeRay's text; only asked of a pod it deletes)."""
    phase = (pod.get("status") or {}).get("phase", "")
    name = objects.name(pod)
    if phase in ("Failed", "Succeeded"):
        return (f"The {node_type} Pod {name} status is {phase} which is a terminal state. "
                "KubeRay will delete the Pod and create new Pods in the next reconciliation if necessary.")
    return (f"The Pod status of the {node_type} Pod {name} is {phase}, and the Ray container terminated status "
            f"is {terminated(pod)}. The container is unable to restart due to its restart policy "
            f"{(pod.get('spec') or {}).get('restartPolicy', '')}, so KubeRay will delete it.")


def go_quote(text: str) -> str:
    """Go's `%q` of a plain string (JSON's quoting, which agrees for printable text)."""
    return json.dumps(text, ensure_ascii=False)
