"""KubeRay's `ReplicaFailure` condition from the failed writes in view. Pure.

KubeRay sets `ReplicaFailure=True` when the pass's own pod write failed: its `reconcilePods`
returns `errors.Join(<marker>, <API error>)`, and `calculateStatus` writes the marker as the
condition's reason and the joined error (`"<marker>\\n<API message>"`) as its message; a pass
without an error removes the condition. Raybus's pass issues writes and learns their outcome
later, from the actuator's results (`Observed.failures`). So the pass's error is the failure of
the last attempt at a pod write this pass makes again: the first such write in the pass's order
(the head before the workers, as KubeRay stops at its first error). A failure whose write the
pass no longer makes (the group was scaled down) is no error of this pass; once the retried
write succeeds (the pod is observed), the failure leaves the view and the condition goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from raybus_common.actions import Action, Apply, Delete
from raybus_common.controller.view import Failure

from .calculate import ReconcileError

# KubeRay's Warning reason of the failed write → the error marker (`utils.ErrFailed*`).
MARKERS = {
    "FailedToCreateHeadPod": "FailedCreateHeadPod",
    "FailedToCreateWorkerPod": "FailedCreateWorkerPod",
    "FailedToDeleteHeadPod": "FailedDeleteHeadPod",
    "FailedToDeleteWorkerPod": "FailedDeleteWorkerPod",
    "FailedToDeleteWorkerPodCollection": "FailedDeleteWorkerPod",
    "FailedToDeletePodCollection": "FailedDeleteAllPods",
}


def replica_failure(failures: Iterable[Failure], writes: Sequence[Action]) -> ReconcileError | None:
    """The pass's error with a ReplicaFailure marker, or None (the condition is removed)."""
    failed = {f.target: f for f in failures if f.reason in MARKERS}
    if not failed:
        return None
    for action in writes:
        if not isinstance(action, (Apply, Delete)):
            continue
        ref = action.ref
        failure = failed.get((ref.kind.lower(), ref.namespace, ref.name))
        if failure is not None:
            marker = MARKERS[failure.reason]
            return ReconcileError(f"{marker}\n{failure.message}", marker)
    return None
