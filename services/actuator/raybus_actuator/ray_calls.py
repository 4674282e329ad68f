"""The actuator's calls to Ray: `RaySubmitJob`, `RayStopJob`, `RayDeleteJob` and
`RayPutServeConfig` carried out against the RayCluster's dashboard, and judged.

| action              | request (`ray.dashboard.DashboardClient`)  |
|---------------------|--------------------------------------------|
| `RaySubmitJob`      | `POST /api/jobs/` with the `JobRequest` (its submission id set) |
| `RayStopJob`        | `POST /api/jobs/<id>/stop`                 |
| `RayDeleteJob`      | `DELETE /api/jobs/<id>`                    |
| `RayPutServeConfig` | `PUT /api/serve/applications/` with the serve config as JSON |

The dashboard is reached as `RAYBUS_RAY_DASHBOARD_ACCESS` says (`ray.address.base_url`); a
cluster with token auth gets the token of its auth Secret, read through the actuator's
Kubernetes client and kept 30 s (`kube.secrets.SecretCache`). Each request has
`RAYBUS_RAY_TIMEOUT_SECONDS` (2 s, KubeRay's); at most `RAYBUS_RAY_CONCURRENCY` calls run at
once per replica, always fewer than the actuator's `RAYBUS_CONCURRENCY`, so dashboards that do
not answer never hold every action slot and Kubernetes writes go on. A Ray call that finds
every Ray slot busy waits half a second at most (a burst to answering dashboards goes through)
and is then handed back to JetStream (temporary: it comes back after a timeout's delay, behind
the actions queued meanwhile) rather than wait on in an action slot; on its last delivery it
waits its turn, so no call is given up for want of a slot.

Exactly once: a submit carries its submission id, and a dashboard that already has it answers
so (`SubmissionIdInUse`): the job exists, the action is done, nothing is submitted twice, however
often the action is delivered or re-sent. Stops and deletes of a job the dashboard does not
know are done too.

A delete Ray may undo: Ray's job monitor, when it sees a job's supervisor actor exit and finds
the job's record gone, writes the record again (FAILED, "Job supervisor actor died"), so a
delete made in the second or so between a job's end and its supervisor's exit comes undone.
After a delete, the actuator looks again `DELETE_SETTLE` later (its Ray slot given back
meanwhile); a job that is back makes the outcome temporary, and the redelivered action
deletes it again (bounded as every retry). A job is written again once at most.

A serve config is applied declaratively by Ray, so putting it again is harmless. `judge` is
the table of outcomes. Ray calls record no Kubernetes Events (KubeRay records none for them)
and have no `failure_reason`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from raybus_common.actions import RayCall, RayDeleteJob, RayPutServeConfig, RayStopJob, RaySubmitJob
from raybus_common.errors import retryable
from raybus_common.kube.client import ApiError
from raybus_common.ray.address import Access, base_url
from raybus_common.ray.dashboard import (
    DashboardClient,
    DashboardError,
    JobNotFound,
    SubmissionIdInUse,
    read_token,
)
from raybus_common.ray.serve import as_deployed

from .actions import Judgement

if TYPE_CHECKING:
    import httpx

GetSecret = Callable[[str, str], Awaitable[dict[str, Any] | None]]
NO_ADDRESS = "the head's address is not known yet"
BUSY = "every Ray call slot of this actuator is busy"
SLOT_WAIT = 0.5  # seconds a Ray call waits for a Ray slot (in an action slot) before it is handed back
DELETE_SETTLE = 3.0  # seconds after a delete before looking whether Ray wrote the job again (its monitor: 1 s)


def judge(action: RayCall, error: DashboardError | None, *, changed: bool = True, said: str = "") -> Judgement:
    """The outcome of a Ray call: `error` None when the dashboard answered 2xx (`changed`: the
    call did something — False for a stop of a job that had already ended; `said`: what it
    answered, for the result's message), else the `DashboardError` it raised.

    | call           | the dashboard                                   | outcome                                      |
    |----------------|-------------------------------------------------|----------------------------------------------|
    | any            | 2xx                                             | ok (done unless it changed nothing)          |
    | submit         | the submission id is in use                     | ok, not done: the job exists (exactly once)  |
    | stop, delete   | 404: no such job                                | ok, not done: nothing to stop or delete      |
    | delete         | 2xx, but the job is back `DELETE_SETTLE` later  | temporary: deleted again (`RayCaller`)       |
    | any            | no answer, timeout, 5xx, 408, 429, no token yet | temporary: retried with backoff, bounded     |
    | any            | another 4xx (a bad request, 401/403 a token refused, a delete of a running job, a serve config Ray refuses: 400) | permanent, the dashboard's message |
    """
    what = _what(action)
    if error is None:
        return Judgement("ok", said or what, done=changed)
    if isinstance(error, SubmissionIdInUse) and isinstance(action, RaySubmitJob):
        return Judgement("ok", f"{what}: the job exists already (submission id in use); not submitted again")
    if isinstance(error, JobNotFound) and isinstance(action, (RayStopJob, RayDeleteJob)):
        return Judgement("ok", f"{what}: the dashboard knows no such job; nothing to do")
    if error.temporary:
        return Judgement("temporary", f"{what}: {error}", error=str(error))
    return Judgement("permanent", f"{what}: {error}", error=str(error))


def _what(action: RayCall) -> str:
    if isinstance(action, RaySubmitJob):
        return f"submit job {action.request.submission_id}"
    if isinstance(action, RayPutServeConfig):
        return f"put the serve config of {action.dashboard.namespace}/{action.dashboard.cluster}"
    return f"{'stop' if isinstance(action, RayStopJob) else 'delete'} job {action.submission_id}"


class RayCaller:
    """Carries out Ray calls on a shared HTTP client, `concurrency` at most at once."""

    def __init__(self, http: httpx.AsyncClient, get_secret: GetSecret, *, access: Access, timeout: float,
                 concurrency: int) -> None:
        self.http, self.get_secret = http, get_secret
        self.access, self.timeout = access, timeout
        self._slots = asyncio.Semaphore(concurrency)

    async def carry_out(self, action: RayCall, *, last_attempt: bool = False) -> tuple[Judgement, int | None]:
        """The call's `Judgement` and the dashboard's HTTP status (None: no answer). Waits at most
        `SLOT_WAIT` for a Ray slot (for ever on the last attempt), else hands the action back."""
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=None if last_attempt else SLOT_WAIT)
        except TimeoutError:
            return Judgement("temporary", BUSY, delay=self.timeout), None
        try:
            judged, status = await self._call(action)
        finally:
            self._slots.release()
        if isinstance(action, RayDeleteJob) and judged.outcome == "ok" and judged.done:
            return await self._stayed_deleted(action, judged), status
        return judged, status

    async def _stayed_deleted(self, action: RayDeleteJob, deleted: Judgement) -> Judgement:
        """`deleted` if the job is still gone `DELETE_SETTLE` after its delete; temporary if Ray
        wrote it again (or did not say), so the action comes back and deletes it again."""
        await asyncio.sleep(DELETE_SETTLE)
        what = _what(action)
        async with self._slots:
            try:
                client = await self._client(action)
                if client is None:
                    return deleted
                await client.job_info(action.submission_id)
            except JobNotFound:
                return deleted
            except (DashboardError, ApiError) as e:
                return Judgement("temporary", f"{what}: deleted, but looking whether it stayed deleted: {e}",
                                 error=str(e))
        return Judgement("temporary", f"{what}: Ray wrote the job again after its delete (its job monitor saw "
                                      f"the supervisor exit later); deleting it again", error="written again")

    async def _client(self, action: RayCall) -> DashboardClient | None:
        """A client of the action's dashboard (None: its address is not known yet); reads the
        token of a cluster with auth (raises `DashboardError`, `ApiError`)."""
        dashboard = action.dashboard
        base = base_url(dashboard, self.access)
        if base is None:
            return None
        token = ""
        if dashboard.auth_secret:
            token = await read_token(self.get_secret, dashboard.namespace, dashboard.auth_secret)
        return DashboardClient(self.http, base, token=token, timeout=self.timeout)

    async def _call(self, action: RayCall) -> tuple[Judgement, int | None]:
        dashboard = action.dashboard
        try:
            client = await self._client(action)
            if client is None:
                return Judgement("temporary",
                                 f"{_what(action)}: {NO_ADDRESS} (dashboard access {self.access!r})"), None
            if isinstance(action, RaySubmitJob):
                job_id = await client.submit(action.request)
                return judge(action, None, said=f"submitted job {job_id}"), None
            if isinstance(action, RayPutServeConfig):
                await client.put_serve_config(action.config)
                apps = ", ".join(as_deployed(action.config))
                return judge(action, None, said=f"put the serve config ({apps or 'no applications'})"), None
            if isinstance(action, RayStopJob):
                stopped = await client.stop(action.submission_id)
                return judge(action, None, changed=stopped, said=f"stopped job {action.submission_id}" if stopped
                             else f"job {action.submission_id} had ended already"), None
            deleted = await client.delete(action.submission_id)
            return judge(action, None, changed=deleted, said=f"deleted job {action.submission_id}" if deleted
                         else f"job {action.submission_id} was not deleted (the dashboard says so)"), None
        except DashboardError as e:
            return judge(action, e), e.status
        except ApiError as e:  # reading the token's Secret
            text = f"{_what(action)}: reading the auth Secret {dashboard.namespace}/{dashboard.auth_secret}: {e}"
            return Judgement("temporary" if retryable(e.status) else "permanent", text, e.retry_after,
                             error=e.message), e.status or None
