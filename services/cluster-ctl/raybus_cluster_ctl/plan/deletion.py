"""Deletion of a RayCluster and the GCS fault-tolerance finalizer, as KubeRay
v1.7 does it: the finalizer is added while a Redis-backed cluster lives; once it is deleted,
its pods go (head first), the Redis cleanup Job runs, and the finalizer is removed when the Job
finished or the deletion timeout passed. Without the finalizer garbage collection removes the
children. Events as KubeRay's: none for these pod deletions (KubeRay's DeleteAllOf records
none), the Job's creation, and `ForceDeletedStuckCluster` once the finalizer was forcibly removed.
Pure.
"""

from __future__ import annotations

from datetime import datetime

from raybus_common import objects
from raybus_common.actions import AddFinalizer, RemoveFinalizer, WriteEvent
from raybus_common.crds.raycluster import STORAGE_NS_ANNOTATION, RayNodeType
from raybus_common.gotext import duration as go_duration

from ..children.cleanup_job import redis_cleanup_job
from ..constants import FT_DELETION_TIMEOUT, FT_DELETION_TIMEOUT_ANNOTATION, FT_FINALIZER, NODE_TYPE_LABEL
from ..pods.build import head_pod
from .collector import Pass
from .podnames import head_prefix
from .texts import go_quote


def needs_finalizer(p: Pass) -> bool:
    """A live Redis-backed cluster without the finalizer, unless ENABLE_GCS_FT_REDIS_CLEANUP is off."""
    return (p.cluster.redis_gcs_ft and p.settings.gcs_ft_redis_cleanup
            and FT_FINALIZER not in objects.finalizers(p.root))


def add_finalizer(p: Pass) -> None:
    p.actions.append(AddFinalizer(ref=p.ref, finalizer=FT_FINALIZER))
    p.soon()  # KubeRay stops this pass and comes back in 2 s


def deleting(p: Pass) -> None:
    """The pass of a cluster being deleted."""
    if FT_FINALIZER not in objects.finalizers(p.root):
        return  # garbage collection removes the children
    cluster = p.cluster
    if not cluster.redis_gcs_ft:  # a stale finalizer (rocksdb backend): just remove it
        p.actions.append(RemoveFinalizer(ref=p.ref, finalizer=FT_FINALIZER))
        return
    pods = [pod for pod in p.pods if objects.labels(pod).get(NODE_TYPE_LABEL) in (RayNodeType.HEAD, RayNodeType.WORKER)]
    for pod in sorted(pods, key=lambda x: objects.labels(x).get(NODE_TYPE_LABEL) != RayNodeType.HEAD):
        p.delete(pod)
    timeout = _timeout(cluster.annotations.get(FT_DELETION_TIMEOUT_ANNOTATION))
    elapsed = (p.now - datetime.fromisoformat(str(p.root["metadata"]["deletionTimestamp"]))).total_seconds()
    if elapsed >= timeout:
        storage = go_quote(cluster.annotations.get(STORAGE_NS_ANNOTATION, ""))
        forced = WriteEvent(reason="ForceDeletedStuckCluster", action="Cleanup",
                            message=f"Force-removed GCS FT finalizer after {go_duration(elapsed)} due to Redis "
                                    f"cleanup timeout; Redis storage namespace {storage} may need manual cleanup")
        p.actions.append(RemoveFinalizer(ref=p.ref, finalizer=FT_FINALIZER, success_event=forced))
        return
    if any(objects.labels(pod).get(NODE_TYPE_LABEL) == RayNodeType.HEAD for pod in pods):
        p.soon(10.0)
        return
    jobs = [j for j in p.observed.of("job") if objects.labels(j).get(NODE_TYPE_LABEL) == RayNodeType.REDIS_CLEANUP]
    if not jobs:
        job = redis_cleanup_job(cluster, head_pod(cluster, head_prefix(cluster.name) + "x", p.settings))
        if job is not None:
            where = f"{objects.namespace(job)}/{objects.name(job)}"
            p.create(job, "CreatedRedisCleanupJob", f"Created Redis cleanup Job {where}",
                     f"Failed to create Redis cleanup Job {where}")
        p.soon(timeout - elapsed)
        return
    finished = any(c.get("type") in ("Complete", "Failed", "FailureTarget") and c.get("status") == "True"
                   for j in jobs for c in (j.get("status") or {}).get("conditions") or [])
    if finished:
        p.actions.append(RemoveFinalizer(ref=p.ref, finalizer=FT_FINALIZER))
    else:
        p.soon()


def _timeout(annotation: str | None) -> float:
    """Annotation `ray.io/gcs-ft-deletion-timeout` in seconds when a positive number, else 300."""
    try:
        value = float(annotation) if annotation is not None else FT_DELETION_TIMEOUT
    except ValueError:
        return FT_DELETION_TIMEOUT
    return value if value > 0 else FT_DELETION_TIMEOUT
