"""The Ray side of the bus against real servers: a real Ray head (`ray_head`), the control plane,
NATS, and raybus-actuator and raybus-watcher as processes.

- The actuator carries out `RaySubmitJob`, `RayStopJob` and `RayDeleteJob` from
  `raybus.act.rayjobinfo.<ns>.<rayjob>` against the head's dashboard and answers each on
  `raybus.res.rayjobinfo.<ns>.<rayjob>`; a submit sent again under a new action id makes no
  second job (counted on the head).
- The watcher's poller publishes the `RayJobInfo` of a RayJob the test puts in `Running` by a
  status write (no controller runs here), follows its Ray job to SUCCEEDED, and deletes it
  with the RayJob; a dashboard that never answers delays only its own RayJob.
- Two watcher replicas share the RayJobs out (each polled by one, each change published once);
  when one is killed, the other takes its share over and polls it.

Every dashboard is reached with access `pod` at 127.0.0.1 (a RayCluster's `status.head.podIP`
as the test writes it), so no route to the pod network is needed.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from raybus_actuator import ray_calls
from raybus_common.actions import Action, ObjectRef, RayDeleteJob, RayStopJob, RaySubmitJob, ray_job_ref
from raybus_common.bus import subjects
from raybus_common.bus.base import Message
from raybus_common.bus.envelopes import ActionEnvelope, ResultEnvelope, StateEnvelope
from raybus_common.bus.nats import NatsBus
from raybus_common.ray.dashboard import DashboardClient, new_http
from raybus_common.ray.jobs import Dashboard, JobInfo, JobRequest, info_of
from raybus_testbed.kube import Kube
from raybus_testbed.rayhead import RayHead
from raybus_testbed.services import Services
from raybus_testbed.waiting import eventually

pytestmark = pytest.mark.integration

# The head shares 2 cores with everything else here: its answers get 10 s, not KubeRay's 2 s
# (the dead dashboard's test counts on the timeout, and sets its own).
RAY_ENV = {"RAYBUS_RAY_DASHBOARD_ACCESS": "pod", "RAYBUS_RAY_TIMEOUT_SECONDS": "10"}
RAYJOBS = "/apis/ray.io/v1/namespaces/{ns}/rayjobs"
RAYCLUSTERS = "/apis/ray.io/v1/namespaces/{ns}/rayclusters"


def new_id(what: str) -> str:
    return f"raybus-{what}-{secrets.token_hex(4)}"


class Collected:
    """Every message on one subject filter (the last one stored, then each live one), in order."""

    def __init__(self) -> None:
        self.results: list[ResultEnvelope] = []
        self.states: list[tuple[StateEnvelope, str, float]] = []  # (envelope, Nats-Msg-Id, when it came)

    async def on_result(self, msg: Message[ResultEnvelope]) -> None:
        self.results.append(msg.envelope)

    async def on_state(self, msg: Message[StateEnvelope]) -> None:
        self.states.append((msg.envelope, msg.headers.get("Nats-Msg-Id", ""), time.monotonic()))

    def result(self, action_id: str) -> ResultEnvelope | None:
        return next((r for r in self.results if r.action_id == action_id), None)

    def infos(self, name: str) -> list[tuple[JobInfo, float]]:
        """The `RayJobInfo` observations of rayjob `name`, with when each came."""
        out = []
        for env, _, at in self.states:
            found = info_of(env.object) if env.ref.name == name and not env.gone else None
            if found is not None:
                out.append((found[2], at))
        return out


@pytest.fixture
async def collected(bus: NatsBus, namespace: str) -> AsyncIterator[Collected]:
    c = Collected()
    subs = [await bus.last_per_subject(subjects.in_namespace("res", "rayjobinfo", namespace), ResultEnvelope,
                                       c.on_result),
            await bus.last_per_subject(subjects.in_namespace("state", "rayjobinfo", namespace), StateEnvelope,
                                       c.on_state)]
    try:
        yield c
    finally:
        for sub in subs:
            sub.stop()


def rayjob_obj(namespace: str, name: str, uid: str = "") -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name, "namespace": namespace, "uid": uid}}


async def send(bus: NatsBus, action: Action, root: ObjectRef, *, salt: str = "") -> str:
    env = ActionEnvelope.build("job-ctl", root, action, salt=salt)
    t = action.ref
    await bus.publish(subjects.act(t.kind.lower(), t.namespace, t.name), env, msg_id=env.action_id)
    return env.action_id


async def outcome(c: Collected, action_id: str, timeout: float = 60.0) -> ResultEnvelope:
    return await eventually(lambda: c.result(action_id), timeout=timeout, what=f"the result of {action_id}")


@pytest.fixture
async def head(ray_head: RayHead) -> AsyncIterator[DashboardClient]:
    """The test's own client of the head's dashboard (to submit jobs, count them)."""
    async with new_http() as http:
        yield DashboardClient(http, ray_head.url, timeout=30)


async def jobs_named(head: DashboardClient, submission_id: str) -> list[dict[str, Any]]:
    return [j for j in await head.list_jobs() if j.get("submission_id") == submission_id]


async def job_status(head: DashboardClient, submission_id: str) -> str:
    return str((await head.job_info(submission_id)).get("status"))


async def test_the_actuator_submits_exactly_once_then_stops_and_deletes(
        services: Services, bus: NatsBus, collected: Collected, namespace: str, ray_head: RayHead,
        head: DashboardClient) -> None:
    services.start("actuator", "raybus-actuator", **RAY_ENV)
    rayjob = rayjob_obj(namespace, "job-a", uid="11111111-aaaa")
    root = ObjectRef(api_version="ray.io/v1", kind="RayJob", namespace=namespace, name="job-a", uid="11111111-aaaa")
    dashboard = Dashboard(namespace=namespace, cluster="job-a-rc", head_pod_ip="127.0.0.1",
                          port=ray_head.dashboard_port)
    sid = new_id("submit")
    submit = RaySubmitJob(ref=ray_job_ref(rayjob), dashboard=dashboard,
                          request=JobRequest(entrypoint="python -c \"import time; time.sleep(120)\"",
                                             submission_id=sid, metadata={"raybus.io/test": namespace}))

    res = await outcome(collected, await send(bus, submit, root))
    assert (res.outcome, res.op, res.changed, res.failure_reason, res.error) == ("ok", "ray_submit_job", True, "", "")
    assert res.target is not None and (res.target.kind, res.target.name) == ("RayJobInfo", "job-a")
    assert [j["metadata"] for j in await jobs_named(head, sid)] == [{"raybus.io/test": namespace}]

    # The same submit again, as a controller that lost track would send it (a new action id):
    # done, and still one job on the head.
    again = await outcome(collected, await send(bus, submit, root, salt="again"))
    assert (again.outcome, again.changed) == ("ok", False), again.message
    assert len(await jobs_named(head, sid)) == 1

    stop = RayStopJob(ref=ray_job_ref(rayjob), dashboard=dashboard, submission_id=sid)
    res = await outcome(collected, await send(bus, stop, root))
    assert (res.outcome, res.changed) == ("ok", True), res.message
    async def stopped() -> bool:
        return await job_status(head, sid) == "STOPPED"

    await eventually(stopped, timeout=60, what=f"job {sid} stopped on the head")

    delete = RayDeleteJob(ref=ray_job_ref(rayjob), dashboard=dashboard, submission_id=sid)
    res = await outcome(collected, await send(bus, delete, root))
    assert (res.outcome, res.changed) == ("ok", True), res.message

    # Done means gone for good: Ray's job monitor writes a job deleted just after its end again
    # (FAILED, when it sees the supervisor exit), and the actuator deletes that too before it answers.
    assert await jobs_named(head, sid) == []
    await asyncio.sleep(ray_calls.DELETE_SETTLE + 1)
    assert await jobs_named(head, sid) == []
    res = await outcome(collected, await send(bus, stop, root, salt="gone"))  # a job the head no longer knows
    assert (res.outcome, res.changed) == ("ok", False), res.message


async def test_a_refused_call_is_retried_until_it_can_be_done_and_a_hopeless_one_is_permanent(
        services: Services, bus: NatsBus, collected: Collected, namespace: str, ray_head: RayHead,
        head: DashboardClient) -> None:
    services.start("actuator", "raybus-actuator", **RAY_ENV)
    rayjob = rayjob_obj(namespace, "job-b", uid="22222222-bbbb")
    root = ObjectRef.of(rayjob)
    dashboard = Dashboard(namespace=namespace, cluster="rc", head_pod_ip="127.0.0.1", port=ray_head.dashboard_port)
    sid = new_id("busy")
    await head.submit(JobRequest(entrypoint="python -c \"import time; time.sleep(120)\"", submission_id=sid))
    try:
        # Ray deletes only a job that has ended (a running one: 500, "non-terminal state"): the
        # delete is retried, and done once the job was stopped.
        delete = RayDeleteJob(ref=ray_job_ref(rayjob), dashboard=dashboard, submission_id=sid)
        action_id = await send(bus, delete, root)
        await eventually(lambda: services.metric("actuator", "raybus_actuator_retries_total") >= 1, timeout=60,
                         what="the delete of a running job retried")
        assert collected.result(action_id) is None
    finally:
        await head.stop(sid)
    res = await outcome(collected, action_id)
    assert (res.outcome, res.changed, res.failure_reason) == ("ok", True, ""), res.message
    assert res.attempts >= 2 and await jobs_named(head, sid) == []

    # An address no request can be sent to (not a name that may resolve later): permanent at
    # once, with the error.
    nowhere = dashboard.model_copy(update={"head_pod_ip": "zz::zz"})
    res = await outcome(collected, await send(bus, delete.model_copy(update={"dashboard": nowhere}), root))
    assert (res.outcome, res.op, res.http_status, res.attempts) == ("permanent", "ray_delete_job", None, 1)
    assert "zz::zz" in res.error and res.error in res.message


def raycluster(namespace: str, name: str, port: int) -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": name, "namespace": namespace},
            "spec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.52.0",
                 "ports": [{"name": "dashboard", "containerPort": port}]}]}}}}}


def running(kube: Kube, namespace: str, name: str, *, submission_id: str, port: int) -> dict[str, Any]:
    """A RayCluster `<name>-rc` whose head is 127.0.0.1:`port`, and a RayJob `name` on it in
    `Running` with job id `submission_id`: statuses written as job-ctl and cluster-ctl would."""
    cluster = f"{name}-rc"
    rcs, jobs = RAYCLUSTERS.format(ns=namespace), RAYJOBS.format(ns=namespace)
    kube.create(rcs, raycluster(namespace, cluster, port))
    kube.merge_patch(f"{rcs}/{cluster}/status", {"status": {"state": "ready", "head": {
        "podIP": "127.0.0.1", "podName": f"{cluster}-head", "serviceName": f"{cluster}-head-svc"}}})
    job = kube.create(jobs, {"apiVersion": "ray.io/v1", "kind": "RayJob",
                             "metadata": {"name": name, "namespace": namespace},
                             "spec": {"entrypoint": "python x.py", "clusterSelector": {"ray.io/cluster": cluster}}})
    kube.merge_patch(f"{jobs}/{name}/status", {"status": {
        "jobDeploymentStatus": "Running", "jobId": submission_id, "rayClusterName": cluster,
        "dashboardURL": f"{cluster}-head-svc.{namespace}.svc.cluster.local:{port}"}})
    return job


async def test_the_poller_follows_a_running_rayjob_to_succeeded_and_deletes_its_info(
        services: Services, collected: Collected, control_plane: Kube, namespace: str, ray_head: RayHead,
        head: DashboardClient) -> None:
    services.start("watcher", "raybus-watcher", RAYBUS_WATCH_NAMESPACES=namespace, RAYBUS_RAY_POLL_SECONDS="0.5",
                   **RAY_ENV)
    sid = new_id("poll")
    await head.submit(JobRequest(entrypoint="python -c \"import time; time.sleep(3); print('done')\"",
                                 submission_id=sid))
    job = running(control_plane, namespace, "job-p", submission_id=sid, port=ray_head.dashboard_port)
    uid = job["metadata"]["uid"]

    def ended() -> JobInfo | None:
        infos = [i for i, _ in collected.infos("job-p")]
        return infos[-1] if infos and infos[-1].job_status == "SUCCEEDED" else None

    final = await eventually(ended, timeout=90, what=f"job {sid} SUCCEEDED in its RayJobInfo")
    assert final.found and final.error == "" and final.end_time is not None
    seen = [i.job_status for i, _ in collected.infos("job-p")]
    assert seen[0] in ("PENDING", "RUNNING") and seen[-1] == "SUCCEEDED", seen
    infos = [i for i, _ in collected.infos("job-p")]
    assert all(a != b for a, b in itertools.pairwise(infos)), f"only changes are published: {infos}"
    env, msg_id, _ = collected.states[-1]
    assert env.object is not None
    assert env.uid == f"{uid}/{sid}" and msg_id == f"{env.uid}:{env.resource_version}"
    assert env.object["metadata"]["ownerReferences"][0]["uid"] == uid

    control_plane.delete(f"{RAYJOBS.format(ns=namespace)}/job-p")
    gone = await eventually(lambda: next((e for e, _, _ in collected.states if e.gone), None), timeout=30,
                            what="the RayJobInfo deleted with its RayJob")
    assert gone.type == "DELETED" and gone.uid == f"{uid}/{sid}"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never answers (a dashboard that hangs, kuberay#4087)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield s.getsockname()[1]


async def test_a_dashboard_that_never_answers_delays_only_its_own_rayjob(
        services: Services, collected: Collected, control_plane: Kube, namespace: str, ray_head: RayHead,
        head: DashboardClient, silent_port: int) -> None:
    timeout = 10.0
    services.start("watcher", "raybus-watcher", RAYBUS_WATCH_NAMESPACES=namespace, RAYBUS_RAY_POLL_SECONDS="1",
                   RAYBUS_RAY_DASHBOARD_ACCESS="pod", RAYBUS_RAY_TIMEOUT_SECONDS=str(timeout))
    sid = new_id("live")
    await head.submit(JobRequest(entrypoint="python -c \"print('hi')\"", submission_id=sid))
    started = time.monotonic()
    running(control_plane, namespace, "dead", submission_id=new_id("dead"), port=silent_port)
    running(control_plane, namespace, "live", submission_id=sid, port=ray_head.dashboard_port)

    live = await eventually(lambda: next(iter(collected.infos("live")), None), timeout=timeout,
                            what="the live RayJob's observation while the dead dashboard hangs")
    assert live[0].found and live[0].error == ""
    assert collected.infos("dead") == [], "the dead dashboard's poll cannot have ended yet"
    assert live[1] - started < timeout

    dead = await eventually(lambda: next(iter(collected.infos("dead")), None), timeout=3 * timeout,
                            what="the dead dashboard's poll to time out")
    assert not dead[0].found and f"no answer within {timeout:g}s" in dead[0].error
    assert dead[1] - started >= timeout - 1
    # Meanwhile the live job was polled on its own schedule, to its end.
    await eventually(lambda: any(i.job_status == "SUCCEEDED" for i, _ in collected.infos("live")), timeout=60,
                     what="the live job's end while the dead one keeps timing out")


async def test_watcher_replicas_share_the_polls_and_take_over_a_dead_ones_share(
        services: Services, collected: Collected, control_plane: Kube, namespace: str, ray_head: RayHead,
        head: DashboardClient) -> None:
    env = {"RAYBUS_WATCH_NAMESPACES": namespace, "RAYBUS_RAY_POLL_SECONDS": "1", "RAYBUS_LEASE_TTL": "3", **RAY_ENV}
    replicas = ("watcher-a", "watcher-b")
    for name in replicas:
        services.start(name, "raybus-watcher", **env)
    sid = new_id("shared")
    await head.submit(JobRequest(entrypoint="python -c \"import time; time.sleep(600)\"", submission_id=sid))
    jobs = [f"shared-{i}" for i in range(12)]
    for job in jobs:
        running(control_plane, namespace, job, submission_id=sid, port=ray_head.dashboard_port)

    def targets(replica: str) -> int:
        return int(services.metric(replica, "raybus_watcher_ray_poll_targets"))

    def polls(replica: str) -> float:
        return services.metric(replica, "raybus_watcher_ray_polls_total")

    def shared() -> list[int] | None:
        t = [targets(r) for r in replicas]
        return t if sum(t) == len(jobs) and all(t) else None

    # Each RayJob is polled by one replica: their targets add up to the RayJobs, each has some.
    shares = await eventually(shared, timeout=60, what="the RayJobs shared out between the two replicas")
    await eventually(lambda: all(collected.infos(j) for j in jobs), timeout=60, what="every RayJob's RayJobInfo")
    start = [polls(r) for r in replicas]
    await eventually(lambda: all(polls(r) >= s + 3 * n for r, s, n in zip(replicas, start, shares, strict=True)),
                     timeout=60, what="three rounds of polls by each replica")
    for job in jobs:  # one replica publishes each change, once (two that both polled would each publish it)
        statuses = [i.job_status for i, _ in collected.infos(job)]
        assert all(a != b for a, b in itertools.pairwise(statuses)), f"{job}: {statuses}"

    # The second replica dies: the first takes its share over within the lease TTL and polls it.
    services.procs["watcher-b"].kill()
    await eventually(lambda: targets("watcher-a") == len(jobs) or None, timeout=30,
                     what="watcher-a polling every RayJob")
    assert await head.stop(sid)
    await eventually(lambda: all(collected.infos(j)[-1][0].job_status == "STOPPED" for j in jobs), timeout=60,
                     what="every RayJob's info STOPPED, the dead replica's share too")
