"""The dashboard edge (`raybus_common.ray.dashboard`) against a real Ray head (`ray_head`, one
per session): jobs submitted, polled to their end, stopped, deleted, refused; a dashboard that
is not there, or does not answer, is a temporary error within the timeout; with the pod network
routed, the head answers at a kwok pod IP.

Requests here get 10 s instead of KubeRay's 2 s (`DIRECT_TIMEOUT`): Ray shares 2 cores with the
rest of the suite, and a slow answer is not what these tests are about; the tests of dead and
silent dashboards use the real 2 s.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from raybus_common.ray.address import DIRECT_TIMEOUT, base_url
from raybus_common.ray.dashboard import (
    DashboardClient,
    DashboardError,
    JobNotFound,
    SubmissionIdInUse,
    new_http,
)
from raybus_common.ray.jobs import Dashboard, JobInfo, JobRequest
from raybus_testbed.procs import free_port
from raybus_testbed.rayhead import NoRay, RayHead
from raybus_testbed.waiting import eventually

pytestmark = pytest.mark.integration

TIMEOUT = 10.0
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


@pytest.fixture
async def client(ray_head: RayHead) -> AsyncIterator[DashboardClient]:
    async with new_http() as http:
        yield DashboardClient(http, ray_head.url, timeout=TIMEOUT)


def new_id(what: str) -> str:
    return f"raybus-{what}-{secrets.token_hex(4)}"


async def final(client: DashboardClient, submission_id: str, timeout: float = 90) -> JobInfo:
    """Poll the job, as the watcher does, until its status is terminal."""
    async def ended() -> JobInfo | None:
        info = JobInfo.from_dashboard(await client.job_info(submission_id))
        return info if info.job_status in TERMINAL else None
    return await eventually(ended, timeout=timeout, interval=0.5, what=f"job {submission_id} to end")


async def test_a_job_runs_to_succeeded(client: DashboardClient) -> None:
    sid = new_id("ok")
    got = await client.submit(JobRequest(entrypoint="python -c \"print('hi')\"", submission_id=sid,
                                         metadata={"raybus.io/test": "ok"}))
    assert got == sid
    info = await final(client, sid)
    assert (info.found, info.job_status, info.error_type) == (True, "SUCCEEDED", None)
    assert info.start_time is not None and info.end_time is not None and info.end_time >= info.start_time
    answer = await client.job_info(sid)
    assert (answer["submission_id"], answer["metadata"]) == (sid, {"raybus.io/test": "ok"})


async def test_a_failing_entrypoint_ends_failed_with_rays_message(client: DashboardClient) -> None:
    sid = new_id("fail")
    await client.submit(JobRequest(entrypoint="python -c \"import sys; sys.exit(3)\"", submission_id=sid))
    info = await final(client, sid)
    assert info.job_status == "FAILED"
    assert "exit code 3" in info.message, info.message
    assert info.error_type, info


async def test_a_second_submit_of_the_same_id_is_refused_and_makes_no_second_job(client: DashboardClient) -> None:
    sid = new_id("twice")
    request = JobRequest(entrypoint="python -c \"print('once')\"", submission_id=sid)
    assert await client.submit(request) == sid
    with pytest.raises(SubmissionIdInUse) as refused:
        await client.submit(request)
    assert (refused.value.status, refused.value.temporary) == (500, False)
    assert [j["submission_id"] for j in await client.list_jobs() if j.get("submission_id") == sid] == [sid]
    assert (await final(client, sid)).job_status == "SUCCEEDED"


async def test_a_stopped_job_ends_stopped_and_can_then_be_deleted(client: DashboardClient) -> None:
    sid = new_id("stop")
    await client.submit(JobRequest(entrypoint="sleep 600", submission_id=sid))
    await eventually(lambda: _status_is(client, sid, "RUNNING"), timeout=90, interval=0.5, what=f"{sid} running")
    assert await client.stop(sid) is True
    assert (await final(client, sid, timeout=60)).job_status == "STOPPED"
    assert await client.stop(sid) is False  # it had ended already
    assert await client.delete(sid) is True
    with pytest.raises(JobNotFound):
        await client.job_info(sid)


async def _status_is(client: DashboardClient, sid: str, status: str) -> bool:
    return (await client.job_info(sid)).get("status") == status


@pytest.mark.parametrize("call", ["job_info", "stop", "delete"])
async def test_an_unknown_job_is_not_found(client: DashboardClient, call: str) -> None:
    with pytest.raises(JobNotFound) as missing:
        await getattr(client, call)(new_id("unknown"))
    assert (missing.value.status, missing.value.temporary) == (404, False)
    assert "does not exist" in str(missing.value)


async def test_a_dashboard_that_is_not_there_is_a_temporary_error_within_the_timeout() -> None:
    async with new_http() as http:
        client = DashboardClient(http, f"http://127.0.0.1:{free_port()}")  # nothing listens there
        started = time.monotonic()
        with pytest.raises(DashboardError) as failed:
            await client.job_info("any")
    assert time.monotonic() - started < DIRECT_TIMEOUT + 1
    assert (failed.value.status, failed.value.temporary, type(failed.value)) == (None, True, DashboardError)
    assert "ConnectError" in str(failed.value), failed.value


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


async def test_a_dashboard_that_never_answers_is_a_temporary_error_after_the_timeout(silent_server: int) -> None:
    async with new_http() as http:
        client = DashboardClient(http, f"http://127.0.0.1:{silent_server}")
        started = time.monotonic()
        with pytest.raises(DashboardError) as failed:
            await client.submit(JobRequest(entrypoint="true", submission_id="never"))
    elapsed = time.monotonic() - started
    assert DIRECT_TIMEOUT - 0.1 <= elapsed < DIRECT_TIMEOUT + 1.5, elapsed
    assert (failed.value.status, failed.value.temporary) == (None, True)
    assert "no answer within 2s" in str(failed.value), failed.value


@pytest.mark.usefixtures("ray_head")  # Ray is installed (else: skipped)
def test_a_head_is_not_started_on_a_taken_dashboard_port(silent_server: int, tmp_path: Path) -> None:
    with pytest.raises(NoRay, match=f"the dashboard port 0.0.0.0:{silent_server} is taken"):
        RayHead(tmp_path, dashboard_port=silent_server).start()


@pytest.mark.usefixtures("pod_network")
async def test_the_head_answers_at_a_pod_ip(ray_head: RayHead, client: DashboardClient) -> None:
    sid = new_id("pod")
    await client.submit(JobRequest(entrypoint="python -c \"print('pod')\"", submission_id=sid))
    where = Dashboard(namespace="ns", cluster="c", head_pod_ip="10.244.3.7", port=ray_head.dashboard_port)
    url = base_url(where, "pod")
    assert url == f"http://10.244.3.7:{ray_head.dashboard_port}"
    async with new_http() as http:
        by_pod = DashboardClient(http, url, timeout=TIMEOUT)
        assert (await by_pod.job_info(sid))["submission_id"] == sid
        assert (await final(by_pod, sid)).job_status == "SUCCEEDED"


async def test_a_token_head_wants_the_token(tmp_path: Path) -> None:
    """Ray's token authentication (`RAY_AUTH_MODE=token`), as KubeRay's `authOptions.mode: token`
    turns it on: no token is refused (401), a wrong one forbidden (403), both not temporary;
    the token in `x-ray-authorization` is let in. It needs a second head, so it runs only when
    asked (RAYBUS_TEST_RAY_TOKEN=1): the suite runs one head at a time on 2 cores."""
    if os.environ.get("RAYBUS_TEST_RAY_TOKEN") != "1":
        pytest.skip("a second Ray head (token auth) runs only with RAYBUS_TEST_RAY_TOKEN=1")
    token = secrets.token_hex(16)
    head = RayHead(tmp_path, dashboard_port=free_port(), token=token)
    await asyncio.to_thread(head.start)
    try:
        async with new_http() as http:
            for given, status in (("", 401), ("wrong", 403)):
                with pytest.raises(DashboardError) as refused:
                    await DashboardClient(http, head.url, token=given, timeout=TIMEOUT).list_jobs()
                assert (refused.value.status, refused.value.temporary) == (status, False)
            client = DashboardClient(http, head.url, token=token, timeout=TIMEOUT)
            sid = await client.submit(JobRequest(entrypoint="python -c \"print('token')\"", submission_id=new_id("tok")))
            assert (await final(client, sid)).job_status == "SUCCEEDED"
    finally:
        await asyncio.to_thread(head.stop)
