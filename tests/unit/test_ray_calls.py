"""The actuator's Ray calls (`raybus_actuator.ray_calls`): the outcome table (`judge`), and what
`RayCaller` sends and makes of the answers, against an in-memory HTTP transport (no server;
the real Ray head is tests/integration/test_ray_bus.py)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from raybus_actuator import ray_calls
from raybus_actuator.ray_calls import BUSY, NO_ADDRESS, RayCaller, judge
from raybus_common.actions import RayCall, RayDeleteJob, RayStopJob, RaySubmitJob, ray_job_ref
from raybus_common.kube.client import ApiError
from raybus_common.ray.dashboard import DashboardError, JobNotFound, SubmissionIdInUse
from raybus_common.ray.jobs import Dashboard, JobRequest

RAYJOB = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "job", "namespace": "ns", "uid": "u1"}}
DASH = Dashboard(namespace="ns", cluster="job-rc", url="dash.example:8265", head_pod_ip="10.244.0.7")
SUBMIT = RaySubmitJob(ref=ray_job_ref(RAYJOB), dashboard=DASH,
                      request=JobRequest(entrypoint="python -c 'print(1)'", submission_id="job-x1"))
STOP = RayStopJob(ref=ray_job_ref(RAYJOB), dashboard=DASH, submission_id="job-x1")
DELETE = RayDeleteJob(ref=ray_job_ref(RAYJOB), dashboard=DASH, submission_id="job-x1")

GONE = JobNotFound("job_info: 404: Job job-x1 does not exist", status=404)
IN_USE = SubmissionIdInUse("submit: the submission id is already used", status=500)
NO_ANSWER = DashboardError("submit (POST http://dash/api/jobs/): no answer within 2s", temporary=True)
BUSY_500 = DashboardError("submit: 503: starting", status=503, temporary=True)
BAD = DashboardError("submit: 400: bad runtime_env", status=400)
RUNNING = DashboardError("delete: 400: Attempted to delete job 'job-x1', but it is in a non-terminal state",
                         status=400)


@pytest.mark.parametrize(("action", "error", "changed", "outcome", "done"), [
    (SUBMIT, None, True, "ok", True),
    (SUBMIT, IN_USE, True, "ok", False),
    (STOP, None, True, "ok", True),
    (STOP, None, False, "ok", False),
    (DELETE, None, True, "ok", True),
    (STOP, GONE, True, "ok", False),
    (DELETE, GONE, True, "ok", False),
    (SUBMIT, GONE, True, "permanent", False),
    (SUBMIT, NO_ANSWER, True, "temporary", False),
    (STOP, BUSY_500, True, "temporary", False),
    (SUBMIT, BAD, True, "permanent", False),
    (DELETE, RUNNING, True, "permanent", False),
], ids=["submitted", "submission-id-in-use-is-done", "stopped", "stop-of-an-ended-job", "deleted",
        "stop-unknown-job", "delete-unknown-job", "submit-404-is-not-done", "no-answer-is-temporary",
        "5xx-is-temporary", "4xx-is-permanent", "delete-of-a-running-job-is-permanent"])
def test_the_outcome_of_a_ray_call(action: RayCall, error: DashboardError | None, changed: bool, outcome: str,
                                   done: bool) -> None:
    judged = judge(action, error, changed=changed)
    assert (judged.outcome, judged.done) == (outcome, done)
    if outcome != "ok":
        assert judged.error == str(error) and str(error) in judged.message
        assert judged.delay is None  # the backoff decides, as for an API error without Retry-After


Route = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
async def http_of() -> AsyncIterator[Callable[[Route], httpx.AsyncClient]]:
    made: list[httpx.AsyncClient] = []

    def make(route: Route) -> httpx.AsyncClient:
        made.append(httpx.AsyncClient(transport=httpx.MockTransport(route)))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


async def no_secret(namespace: str, name: str) -> dict[str, Any] | None:
    raise AssertionError("no Secret is read for a cluster without token auth")


async def test_a_submit_posts_the_request_to_the_dashboard(http_of: Callable[[Route], httpx.AsyncClient]) -> None:
    seen: list[httpx.Request] = []

    def route(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"job_id": "job-x1", "submission_id": "job-x1"})

    caller = RayCaller(http_of(route), no_secret, access="service", timeout=2.0, concurrency=1)
    judged, status = await caller.carry_out(SUBMIT)
    assert (judged.outcome, judged.done, status) == ("ok", True, None)
    [request] = seen
    assert (request.method, str(request.url)) == ("POST", "http://dash.example:8265/api/jobs/")
    assert json.loads(request.content) == {"entrypoint": "python -c 'print(1)'", "submission_id": "job-x1"}
    assert "x-ray-authorization" not in request.headers


async def test_the_token_of_the_clusters_secret_goes_with_every_call(
        http_of: Callable[[Route], httpx.AsyncClient]) -> None:
    seen: list[httpx.Request] = []

    def route(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"stopped": False})

    async def secret(namespace: str, name: str) -> dict[str, Any] | None:
        assert (namespace, name) == ("ns", "job-rc")
        return {"data": {"auth_token": base64.b64encode(b"s3cret").decode()}}

    stop = STOP.model_copy(update={"dashboard": DASH.model_copy(update={"auth_secret": "job-rc"})})
    caller = RayCaller(http_of(route), secret, access="pod", timeout=2.0, concurrency=1)
    judged, _ = await caller.carry_out(stop)
    assert (judged.outcome, judged.done) == ("ok", False)  # the job had ended: nothing stopped
    [request] = seen
    assert str(request.url) == "http://10.244.0.7:8265/api/jobs/job-x1/stop"
    assert request.headers["x-ray-authorization"] == "Bearer s3cret"


@pytest.mark.parametrize(("secret_error", "outcome"), [(None, "temporary"), (ApiError(503, "busy"), "temporary"),
                                                       (ApiError(403, "forbidden", "Forbidden"), "permanent")],
                         ids=["no-secret-yet", "api-unavailable", "no-right-to-read-it"])
async def test_a_token_that_cannot_be_read(secret_error: ApiError | None, outcome: str,
                                           http_of: Callable[[Route], httpx.AsyncClient]) -> None:
    async def secret(namespace: str, name: str) -> dict[str, Any] | None:
        if secret_error is not None:
            raise secret_error
        return None

    def route(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no call without the token")

    stop = STOP.model_copy(update={"dashboard": DASH.model_copy(update={"auth_secret": "job-rc"})})
    judged, _ = await RayCaller(http_of(route), secret, access="pod", timeout=2.0, concurrency=1).carry_out(stop)
    assert judged.outcome == outcome and "ns/job-rc" in judged.message


@pytest.mark.parametrize("access", ["service", "pod"])
async def test_a_dashboard_without_an_address_yet_is_temporary(access: str,
                                                               http_of: Callable[[Route], httpx.AsyncClient]) -> None:
    def route(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nowhere to send it")

    nowhere = SUBMIT.model_copy(update={"dashboard": Dashboard(namespace="ns", cluster="job-rc")})
    caller = RayCaller(http_of(route), no_secret, access="pod" if access == "pod" else "service", timeout=2.0,
                       concurrency=1)
    judged, status = await caller.carry_out(nowhere)
    assert (judged.outcome, status) == ("temporary", None) and NO_ADDRESS in judged.message


async def test_the_status_of_a_refusal_is_the_dashboards(http_of: Callable[[Route], httpx.AsyncClient]) -> None:
    def route(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="Job with submission_id job-x1 already exists. "
                                        "Please use a different submission_id.")

    judged, status = await RayCaller(http_of(route), no_secret, access="service", timeout=2.0,
                                     concurrency=1).carry_out(SUBMIT)
    assert (judged.outcome, judged.done, status) == ("ok", False, 500)  # as a create that found its object: 409

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="bad entrypoint")

    judged, status = await RayCaller(http_of(refuse), no_secret, access="service", timeout=2.0,
                                     concurrency=1).carry_out(SUBMIT)
    assert (judged.outcome, status) == ("permanent", 400) and "bad entrypoint" in judged.message


async def test_a_call_that_finds_every_ray_slot_busy_is_handed_back_unless_it_is_the_last_attempt(
        http_of: Callable[[Route], httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray_calls, "SLOT_WAIT", 0.01)
    monkeypatch.setattr(ray_calls, "DELETE_SETTLE", 0)
    release = asyncio.Event()

    async def route(request: httpx.Request) -> httpx.Response:
        await release.wait()  # a dashboard that does not answer (until told to)
        if request.method == "GET":  # the look after the delete: gone
            return httpx.Response(404, text="Job job-x1 does not exist")
        return httpx.Response(200, json={"deleted": True} if request.method == "DELETE" else {"stopped": True})

    caller = RayCaller(http_of(route), no_secret, access="service", timeout=5.0, concurrency=1)  # type: ignore[arg-type]
    hung = asyncio.create_task(caller.carry_out(STOP))
    await asyncio.sleep(0)
    judged, _ = await caller.carry_out(SUBMIT)
    assert (judged.outcome, judged.message, judged.delay) == ("temporary", BUSY, 5.0)
    last = asyncio.create_task(caller.carry_out(DELETE, last_attempt=True))
    for _ in range(50):
        await asyncio.sleep(0)
    assert not last.done()  # the last delivery waits its turn, however long
    release.set()
    assert (await hung)[0].outcome == "ok"
    assert (await last)[0].outcome == "ok"


@pytest.mark.parametrize(("after", "outcome", "done"), [
    (httpx.Response(404, text="Job job-x1 does not exist"), "ok", True),
    (httpx.Response(200, json={"submission_id": "job-x1", "status": "FAILED", "entrypoint": "Entrypoint not found.",
                               "message": "Job supervisor actor died"}), "temporary", False),
    (httpx.Response(503, text="starting"), "temporary", False),
], ids=["stayed-deleted", "written-again-by-rays-monitor", "no-answer-to-the-look"])
async def test_a_delete_is_done_only_once_the_job_stays_gone(
        after: httpx.Response, outcome: str, done: bool, http_of: Callable[[Route], httpx.AsyncClient],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray's job monitor writes a job again when its supervisor exits after the delete; the
    actuator looks `DELETE_SETTLE` later, and a job that is back is deleted again (temporary)."""
    monkeypatch.setattr(ray_calls, "DELETE_SETTLE", 0)
    seen: list[str] = []

    def route(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, json={"deleted": True}) if request.method == "DELETE" else after

    judged, _ = await RayCaller(http_of(route), no_secret, access="service", timeout=2.0,
                                concurrency=1).carry_out(DELETE)
    assert (judged.outcome, judged.done) == (outcome, done), judged.message
    assert seen == ["DELETE /api/jobs/job-x1", "GET /api/jobs/job-x1"]
    if outcome == "temporary":
        assert "delete job job-x1" in judged.message and judged.error


async def test_a_delete_that_found_no_job_is_not_looked_at_again(
        http_of: Callable[[Route], httpx.AsyncClient]) -> None:
    seen: list[str] = []

    def route(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(404, text="Job job-x1 does not exist")

    judged, _ = await RayCaller(http_of(route), no_secret, access="service", timeout=2.0,
                                concurrency=1).carry_out(DELETE)
    assert (judged.outcome, judged.done, seen) == ("ok", False, ["DELETE"])
