"""What a RayJob's submitter says, read from the view: whether it failed (and KubeRay's text for
it), and when it finished. Pure.

K8sJobMode's submitter is a batch/v1 Job named like the RayJob (KubeRay `checkK8sJobStatus`,
`getJobFinishedCondition`): a `Failed=True` condition fails the submission; it finished when
its `Complete` or `Failed` condition turned True. SidecarMode's is the `ray-job-submitter`
container of the cluster's head pod (`checkSidecarContainerStatus`,
`getSubmitterContainerFinishedTime`): it failed when it terminated with a non-zero exit code,
or, with the `SidecarSubmitterRestart` gate, once it has restarted `submitterConfig.backoffLimit`
(2) times after a failure; it finished when its current state is terminated.

Not here: what to do about it (`machine.running`); building the submitters (`submitter`,
`children`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .constants import SUBMITTER_BACKOFF_LIMIT, SUBMITTER_CONTAINER
from .timers import read_time


@dataclass(frozen=True)
class Submitter:
    """`failure`: KubeRay's message for a failed submission (None: not failed);
    `finished_at`: when the submitter finished (None: still running)."""

    failure: str | None = None
    finished_at: datetime | None = None


def _true(conditions: list[Mapping[str, Any]], *kinds: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") in kinds and c.get("status") == "True"), None)


def of_job(job: Mapping[str, Any]) -> Submitter:
    """K8sJobMode: the submitter Job's conditions."""
    conditions = list((job.get("status") or {}).get("conditions") or [])
    failed = _true(conditions, "Failed")
    failure = None
    if failed is not None:
        failure = (f"Job submission has failed. Reason: {failed.get('reason') or ''}. "
                   f"Message: {failed.get('message') or ''}")
    finished = _true(conditions, "Complete", "Failed")
    return Submitter(failure, read_time(finished.get("lastTransitionTime")) if finished is not None else None)


def of_head_pod(pod: Mapping[str, Any], *, restart_gate: bool, restart_limit: int | None) -> Submitter:
    """SidecarMode: the head pod's `ray-job-submitter` container status."""
    found = next((s for s in (pod.get("status") or {}).get("containerStatuses") or []
                  if s.get("name") == SUBMITTER_CONTAINER), None)
    if found is None:
        return Submitter()
    terminated = (found.get("state") or {}).get("terminated")
    finished_at = read_time(terminated.get("finishedAt")) if terminated else None
    failure = None
    if not restart_gate:
        if terminated and int(terminated.get("exitCode") or 0) != 0:
            failure = _container_failure(found, terminated)
    else:
        last = (found.get("lastTerminationState") or {}).get("terminated")
        succeeded = terminated is not None and int(terminated.get("exitCode") or 0) == 0
        limit = SUBMITTER_BACKOFF_LIMIT if restart_limit is None else restart_limit
        if last and not succeeded and int(found.get("restartCount") or 0) >= limit:
            failure = _container_failure(found, terminated if terminated else last)
    return Submitter(failure, finished_at)


def _container_failure(status: Mapping[str, Any], terminated: Mapping[str, Any]) -> str:
    return (f"Ray head pod container {status.get('name')} terminated with exit code "
            f"{int(terminated.get('exitCode') or 0)}: {terminated.get('reason') or ''}")
