"""The Ray job poller's bus glue (`raybus_watcher.raypoll`) on the in-memory bus and an in-memory
HTTP transport: what one poll makes of the dashboard's answer, what is published (only what
changed), the deletion that follows a RayJob's, and what a restarted poller learns from the bus.
The schedule is `test_raypoll_plan.py`; a real Ray head, tests/integration/test_ray_bus.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
import pytest

from raybus_common.bus.envelopes import Envelope, StateEnvelope
from raybus_common.bus.memory import MemoryBus
from raybus_common.kube.client import ApiError
from raybus_common.kube.resources import Resource
from raybus_common.ray.jobs import info_of
from raybus_watcher.handlers import BusSink
from raybus_watcher.raypoll import NO_ADDRESS, RayJobPoller, Tap
from raybus_watcher.raypoll_plan import PollTarget

SUBJECT = "raybus.state.rayjobinfo.ns.job"
RAYJOBS = Resource("rayjob", "RayJob", "ray.io", "v1", "rayjobs")
ANSWER = {"status": "RUNNING", "message": "Job is currently running.", "start_time": 1700000000000, "end_time": 0,
          "submission_id": "job-x1", "entrypoint": "python x.py"}


def rayjob(*, job_id: str = "job-x1", uid: str = "u1", state: str = "Running") -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": {"name": "job", "namespace": "ns", "uid": uid, "resourceVersion": "7"},
            "status": {"jobDeploymentStatus": state, "jobId": job_id, "rayClusterName": "job-rc",
                       "dashboardURL": "dash.example:8265"}}


def raycluster(*, auth: bool = False, ip: str = "10.244.0.7") -> dict[str, Any]:
    spec: dict[str, Any] = {"authOptions": {"mode": "token"}} if auth else {}
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "job-rc", "namespace": "ns"},
            "spec": spec, "status": {"head": {"podIP": ip}}}


class Dashboard:
    """What the dashboard answers (`answer`: a JSON body with 200, or a status code), and what it was asked."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] | int = ANSWER
        self.asked: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request)
        if isinstance(self.answer, int):
            return httpx.Response(self.answer, text="Job does not exist" if self.answer == 404 else "oops")
        return httpx.Response(200, json=self.answer)


async def no_secret(namespace: str, name: str) -> dict[str, Any] | None:
    return None


@pytest.fixture
async def http() -> AsyncIterator[tuple[httpx.AsyncClient, Dashboard]]:
    dashboard = Dashboard()
    async with httpx.AsyncClient(transport=httpx.MockTransport(dashboard)) as client:
        yield client, dashboard


def poller_on(bus: Recording, client: httpx.AsyncClient, *, access: str = "service",
              get_secret: Callable[[str, str], Any] = no_secret, interval: float = 3.0,
              owns: Callable[[tuple[str, str]], bool] | None = None) -> RayJobPoller:
    return RayJobPoller(bus, client, get_secret, access="pod" if access == "pod" else "service", timeout=2.0,
                        interval=interval, concurrency=4, tombstone_ttl=60.0, owns=owns)


def sees_job(poller: RayJobPoller, **job: Any) -> RayJobPoller:
    """`poller`, told of the RayCluster and of the RayJob (`rayjob(**job)`) running on it."""
    poller.observed("raycluster", raycluster())
    poller.observed("rayjob", rayjob(**job))
    return poller


def target_of(poller: RayJobPoller) -> PollTarget:
    target = poller.plan.target(("ns", "job"))
    assert target is not None
    return target


class Recording(MemoryBus):
    """The in-memory bus (which keeps the last state message per subject), with every publish
    recorded in order: (subject, envelope, msg id, ttl)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, Envelope, str, float | None]] = []

    async def publish(self, subject: str, envelope: Envelope, *, msg_id: str,
                      headers: Mapping[str, str] | None = None, ttl: float | None = None) -> bool:
        self.sent.append((subject, envelope, msg_id, ttl))
        return await super().publish(subject, envelope, msg_id=msg_id, headers=headers, ttl=ttl)


def published(bus: Recording) -> list[tuple[StateEnvelope, str]]:
    return [(e, msg_id) for subject, e, msg_id, _ in bus.sent if subject == SUBJECT and isinstance(e, StateEnvelope)]


async def poll_once(poller: RayJobPoller) -> bool:
    target = target_of(poller)
    return await poller.publish(target, await poller.poll(target))


async def test_a_running_rayjobs_job_is_published_once_per_change(
        http: tuple[httpx.AsyncClient, Dashboard]) -> None:
    client, dashboard = http
    bus = Recording()
    poller = sees_job(poller_on(bus, client))
    assert await poll_once(poller)
    [(env, msg_id)] = published(bus)
    assert str(dashboard.asked[0].url) == "http://dash.example:8265/api/jobs/job-x1"
    assert env.type == "ADDED" and env.object is not None
    assert msg_id == f"u1/job-x1:{env.resource_version}"
    found = info_of(env.object)
    assert found is not None and found[:2] == ("job-x1", "job-rc")
    assert (found[2].found, found[2].job_status, found[2].start_time, found[2].end_time) == (
        True, "RUNNING", 1700000000000, None)

    assert not await poll_once(poller)  # the same answer: nothing new on the bus
    dashboard.answer = {**ANSWER, "status": "SUCCEEDED", "end_time": 1700000005000}
    assert await poll_once(poller)
    assert [e.type for e, _ in published(bus)] == ["ADDED", "MODIFIED"]
    latest = published(bus)[-1][0]
    assert int(latest.resource_version) > int(env.resource_version)


async def test_what_a_poll_finds(http: tuple[httpx.AsyncClient, Dashboard]) -> None:
    client, dashboard = http
    poller = sees_job(poller_on(Recording(), client))
    dashboard.answer = 404
    info = await poller.poll(target_of(poller))
    assert (info.found, info.error) == (False, "")
    dashboard.answer = 503
    info = await poller.poll(target_of(poller))
    assert not info.found and "503" in info.error


async def test_an_error_keeps_what_the_last_answer_said(http: tuple[httpx.AsyncClient, Dashboard]) -> None:
    client, dashboard = http
    bus = Recording()
    poller = sees_job(poller_on(bus, client))
    await poll_once(poller)
    dashboard.answer = 500
    assert await poll_once(poller)
    assert await poll_once(poller) is False  # the same error again: nothing new
    env = published(bus)[-1][0]
    found = info_of(env.object)
    assert found is not None
    assert (found[2].found, found[2].job_status, found[2].message) == (True, "RUNNING", "Job is currently running.")
    assert "500" in found[2].error
    dashboard.answer = ANSWER
    assert await poll_once(poller)  # answering again clears the error
    found = info_of(published(bus)[-1][0].object)
    assert found is not None and found[2].error == ""


async def test_no_address_and_no_token_yet_are_errors_not_calls(http: tuple[httpx.AsyncClient, Dashboard]) -> None:
    client, dashboard = http
    poller = poller_on(Recording(), client, access="pod")
    poller.observed("raycluster", raycluster(ip=""))
    poller.observed("rayjob", rayjob())
    info = await poller.poll(target_of(poller))
    assert NO_ADDRESS in info.error and not dashboard.asked

    async def forbidden(namespace: str, name: str) -> dict[str, Any] | None:
        raise ApiError(403, "secrets is forbidden", "Forbidden")

    for get_secret, said in ((no_secret, "does not exist"), (forbidden, "forbidden")):
        poller = poller_on(Recording(), client, access="pod", get_secret=get_secret)
        poller.observed("raycluster", raycluster(auth=True))
        poller.observed("rayjob", rayjob())
        info = await poller.poll(target_of(poller))
        assert said in info.error and "ns/job-rc" in info.error and not dashboard.asked


async def test_an_answer_for_a_rayjob_that_moved_on_is_dropped(http: tuple[httpx.AsyncClient, Dashboard]) -> None:
    client, _ = http
    bus = Recording()
    poller = sees_job(poller_on(bus, client))
    asked = target_of(poller)
    info = await poller.poll(asked)
    poller.observed("rayjob", rayjob(job_id="job-x2"))  # a retry meanwhile: another Ray job
    assert not await poller.publish(asked, info)
    poller.observed("rayjob", rayjob(state="Complete"))
    assert not await poller.publish(asked, info)
    assert published(bus) == []


async def test_a_deleted_rayjobs_info_is_deleted_before_the_rayjob(http: tuple[httpx.AsyncClient, Dashboard]) -> None:
    client, _ = http
    bus = Recording()
    poller = poller_on(bus, client)
    tap = Tap(BusSink(bus), poller)
    poller.observed("raycluster", raycluster())
    await tap.observed(RAYJOBS, "ADDED", rayjob())
    await poll_once(poller)
    await tap.vanished(RAYJOBS, "ns", "job", "u1", rayjob())
    await tap.flush()
    assert [(subject, e.type) for subject, e, _, _ in bus.sent if isinstance(e, StateEnvelope)] == [
        ("raybus.state.rayjob.ns.job", "ADDED"), (SUBJECT, "ADDED"), (SUBJECT, "DELETED"),
        ("raybus.state.rayjob.ns.job", "DELETED")]
    env, msg_id = published(bus)[-1]
    assert env.type == "DELETED" and msg_id == "u1/job-x1:gone" and env.object is not None
    assert bus.sent[-2][3] == 60.0  # the tombstone TTL
    assert poller.plan.target(("ns", "job")) is None and ("ns", "job") not in poller.shown
    await tap.vanished(RAYJOBS, "ns", "job", "u1", None)  # a relist's tombstone later: nothing more
    assert len(published(bus)) == 2


async def test_an_info_of_another_rayjob_of_that_name_stays(http: tuple[httpx.AsyncClient, Dashboard]) -> None:
    client, _ = http
    bus = Recording()
    poller = sees_job(poller_on(bus, client), uid="u2")
    await poll_once(poller)
    await poller.vanished("rayjob", "ns", "job", "u1")  # an older RayJob of that name, reported late
    assert [e.type for e, _ in published(bus)] == ["ADDED"]


async def test_a_restarted_poller_learns_from_the_bus(http: tuple[httpx.AsyncClient, Dashboard]) -> None:
    client, _ = http
    bus = Recording()
    first = sees_job(poller_on(bus, client))
    await poll_once(first)

    second = poller_on(bus, client)
    await second.learn()
    sees_job(second)
    assert not await poll_once(second)  # what the bus shows already
    await second.vanished("rayjob", "ns", "job", "u1")  # deleted while it was down: the relist says so
    assert [e.type for e, _ in published(bus)] == ["ADDED", "DELETED"]

    third = poller_on(bus, client)
    await third.learn()
    assert third.shown == {}


async def test_a_poller_follows_what_every_replica_publishes(http: tuple[httpx.AsyncClient, Dashboard]) -> None:
    client, dashboard = http
    bus = Recording()
    mine, theirs = poller_on(bus, client), poller_on(bus, client)
    await mine.learn()
    sees_job(mine)
    sees_job(theirs)
    assert await poll_once(theirs)  # the replica that holds the job's partition polls it
    await bus.settle()
    assert mine.shown[("ns", "job")] == theirs.shown[("ns", "job")]
    assert not await poll_once(mine)  # after a handover: what the bus shows already is not sent again
    older = theirs.shown[("ns", "job")]
    dashboard.answer = {**ANSWER, "status": "SUCCEEDED", "end_time": 1700000005000}
    assert await poll_once(mine)
    newer = mine.shown[("ns", "job")]
    await bus.settle()
    # An older observation that comes late (another replica's, or this one's own echo) does not
    # replace a newer one; a deletion of another object of that name removes nothing.
    await bus.publish(SUBJECT, StateEnvelope.observed("MODIFIED", older), msg_id="late")
    await bus.settle()
    assert mine.shown[("ns", "job")] == newer
    other = {**older, "metadata": {**older["metadata"], "uid": "u0/job-x0"}}
    await bus.publish(SUBJECT, StateEnvelope.observed("DELETED", other), msg_id="u0/job-x0:gone")
    await bus.settle()
    assert mine.shown[("ns", "job")] == newer
    await theirs.vanished("rayjob", "ns", "job", "u1")  # its deletion reaches every replica
    await bus.settle()
    assert ("ns", "job") not in mine.shown


async def wait_for(condition: Callable[[], object], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_replica_polls_only_the_targets_of_its_partitions(http: tuple[httpx.AsyncClient, Dashboard]) -> None:
    client, dashboard = http
    owned: set[tuple[str, str]] = set()
    poller = sees_job(poller_on(Recording(), client, interval=3600.0, owns=lambda key: key in owned))
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        await wait_for(lambda: poller.plan.due(poller.clock()) == [])  # another replica's: put off an interval
        assert not dashboard.asked
        owned.add(("ns", "job"))
        poller.gained()  # its partition came to this replica: polled at once, not an hour on
        await wait_for(lambda: dashboard.asked)
        assert str(dashboard.asked[0].url) == "http://dash.example:8265/api/jobs/job-x1"
    finally:
        stop.set()
        await task
