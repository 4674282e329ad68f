"""Bus glue of raybus-actuator: the durable consumer on `raybus.act.>` and one outcome per action.

Every replica binds the same durable pull consumer (`actuator_consumer()`), so JetStream hands
each action to exactly one of them, and takes it off the work-queue stream only once it is
acknowledged. For each action:

1. carry it out (`actions.Executor`), at most `concurrency` at once, every API request under the
   client-side rate limit (`RAYBUS_QPS` / `RAYBUS_BURST`); a Ray call (`RaySubmitJob`,
   `RayStopJob`, `RayDeleteJob`, `RayPutServeConfig`) against its cluster's dashboard instead (`ray_calls.RayCaller`,
   fewer at once than `concurrency`);
2. judge the answer (`actions.judge`, `ray_calls.judge` for Ray's): a temporary failure is
   retried by JetStream after the API's `Retry-After` (or with backoff) until `max_deliver`; on
   the last delivery it becomes permanent;
3. record the write's Events on the action's root, best effort: its `success_event` when this
   action made the change, the Warning named by its `failure_reason` (KubeRay's text, then the
   API's message) when it failed for good — never both, never one that did not happen. Events go
   through `recorder.EventRecorder`, on a client of their own (its own rate limit, as client-go's
   recorder has), with series counted in memory and flushed every 10 s and at shutdown;
4. publish the outcome to `raybus.res.<target>` (msg id `res:<action id>`, so a redelivered
   action that was already done is not reported twice), with a failure's API message and
   `failure_reason` (controllers keep failed writes in view: KubeRay's `ReplicaFailure`), then
   ack; a permanent outcome is raised as `PermanentError` after its result is out, which
   terminates the message and dead-letters it with the API's message (`raybus.dlq.<target>`).

If publishing the result fails the action is naked and carried out again on redelivery,
which is safe (see `actions`): an action is never acknowledged without its outcome.

Order: nothing depends on the order in which actions are applied (docs/architecture.md, "Order
of actions"): each action is whole (a full object, a full status, a delete pinned to a uid) and
controllers are level-triggered, so a write that lands out of order is corrected by the next
reconcile. That correction costs a write, though, so a replica runs the actions for one object
one at a time, in the order it fetched them (`KeyLocks`): an optimization, not a guarantee;
another replica, or an action retried after a nak, can still come out of order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from prometheus_client import Counter

from raybus_common import metrics
from raybus_common.actions import RayCall, RecordEvent, target_of
from raybus_common.bus import subjects
from raybus_common.bus.base import Message
from raybus_common.bus.envelopes import ActionEnvelope, ResultEnvelope
from raybus_common.bus.streams import actuator_consumer
from raybus_common.errors import PermanentError, TemporaryError
from raybus_common.kube.client import ApiError, ConfigException, KubeClient
from raybus_common.kube.discovery import Discovery
from raybus_common.kube.secrets import SecretCache
from raybus_common.ray.dashboard import new_http
from raybus_common.runner import Service

from .actions import Executor, Judgement, UnknownResource, judge
from .events import outcome_event
from .ray_calls import RayCaller
from .recorder import EventRecorder
from .settings import ActuatorSettings

log = logging.getLogger("raybus.actuator")
ACTIONS = Counter("raybus_actuator_actions", "Actions finished, by operation and outcome.", ["op", "outcome"])
RETRIES = Counter("raybus_actuator_retries", "Actions handed back for a retry, by operation and HTTP status.",
                  ["op", "status"])


def _count_finished(op: str, outcome: str) -> None:
    metrics.child(ACTIONS, op, outcome).inc()


class KeyLocks:
    """One lock per object key (FIFO, as asyncio's locks are), dropped when nobody holds or waits
    for it: two actions for one object fetched by this replica run in the order they arrived."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: defaultdict[str, int] = defaultdict(int)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


class Actuator:
    def __init__(self, svc: Service, executor: Executor, ray: RayCaller | None = None) -> None:
        self.svc = svc
        self.executor = executor
        self.ray = ray
        self.locks = KeyLocks()

    async def handle(self, msg: Message[ActionEnvelope]) -> None:
        env = msg.envelope
        action = env.action
        target = target_of(action)
        if env.dry_run:
            judged = Judgement("permanent", "a dry-run action reached raybus.act (it belongs on raybus.shadow); "
                                            "not applied")
            status: int | None = None
        else:
            async with self.locks.hold(target.key):
                judged, status = await self._carry_out(msg)
        outcome, text = judged.outcome, judged.message
        if outcome == "temporary":
            if not msg.last_attempt:
                RETRIES.labels(action.op, str(status or 0)).inc()
                raise TemporaryError(text, delay=judged.delay)
            outcome, text = "permanent", f"gave up after {msg.attempt} attempts: {text}"
        if not env.dry_run:
            await self._announce(env, judged, failed=outcome == "permanent")
        failure_reason = "" if isinstance(action, RecordEvent | RayCall) else action.failure_reason
        result = ResultEnvelope(action_id=env.action_id, controller=env.controller, root=env.root, target=target,
                                op=action.op, outcome=outcome, http_status=status, message=text,
                                error=(judged.error or text) if outcome != "ok" else "",
                                failure_reason=failure_reason if outcome != "ok" else "", attempts=msg.attempt,
                                resource_version=judged.resource_version if outcome == "ok" else "",
                                changed=judged.done or outcome != "ok")  # an ok that found it done: False
        await self.svc.bus.publish(subjects.res(target.kind.lower(), target.namespace, target.name), result,
                                   msg_id=f"res:{env.action_id}")
        _count_finished(action.op, outcome)
        if outcome == "permanent":
            raise PermanentError(f"{action.op} {target.key}: {text}")
        log.debug("%s %s: %s", action.op, target.key, text)

    async def _announce(self, env: ActionEnvelope, judged: Judgement, *, failed: bool) -> None:
        """The write's Event on the root object: its success Event when this action made the
        change, KubeRay's Warning (`failure_reason`, `<failure_message>, <API message>`) when it
        failed for good. Best effort: the result (and the dead letter) carry the outcome anyway."""
        event = outcome_event(env.action, env.root, failed=failed, done=judged.done,
                              error=judged.error or judged.message)
        if event is None:
            return
        try:
            await self.executor.record(event, controller=env.controller, now=datetime.now(UTC))
        except ApiError as e:
            log.warning("could not record %s on %s: %s", event.reason, env.root.key, e)

    async def _carry_out(self, msg: Message[ActionEnvelope]) -> tuple[Judgement, int | None]:
        env = msg.envelope
        if isinstance(env.action, RayCall):
            if self.ray is None:
                return Judgement("permanent", "this actuator makes no Ray calls"), None
            return await self.ray.carry_out(env.action, last_attempt=msg.last_attempt)
        try:
            return await self.executor.execute(env.action, controller=env.controller, now=datetime.now(UTC)), None
        except UnknownResource as e:
            return Judgement("permanent", str(e), error=str(e)), None
        except ApiError as e:
            return judge(env.action, e), e.status or None


async def start(svc: Service, settings: ActuatorSettings) -> None:
    try:
        kube = await KubeClient.connect(kubeconfig=settings.kubeconfig or None, qps=settings.qps,
                                        burst=settings.burst, pool=max(10, settings.concurrency * 2))
    except ConfigException as e:  # no kubeconfig and not in a cluster: say so, exit 1
        raise ConnectionError(f"cannot configure the Kubernetes client: {e}") from e
    svc.after_drain(kube.close)  # in-flight actions finish before the client goes
    discovery = Discovery(kube)
    try:
        await discovery.refresh()
    except ApiError as e:  # the first action's lookup tries again (a miss refreshes)
        log.warning("discovery failed (%s); trying again with the first action", e)
    # Events on their own client and rate limit, as client-go's recorder: they never spend the
    # budget of the writes they report.
    events_kube = await KubeClient.connect(kubeconfig=settings.kubeconfig or None, qps=settings.qps,
                                           burst=settings.burst, pool=4)
    recorder = EventRecorder(events_kube, settings.instance)

    async def last_flush() -> None:  # after the in-flight actions: their counts are written too
        await recorder.flush()
        await events_kube.close()

    svc.after_drain(last_flush)
    svc.spawn(recorder.run(svc.stop_requested), name="event-series-flush")
    executor = Executor(kube, discovery, field_manager=settings.field_manager, instance=settings.instance,
                        recorder=recorder)
    http = new_http(max_connections=settings.ray_slots)
    svc.after_drain(http.aclose)  # after the in-flight Ray calls
    ray = RayCaller(http, SecretCache(kube).get, access=settings.ray_dashboard_access,
                    timeout=settings.ray_timeout_seconds, concurrency=settings.ray_slots)
    actuator = Actuator(svc, executor, ray)
    spec = actuator_consumer(ack_wait=settings.ack_wait, max_deliver=settings.max_deliver)
    await svc.bus.consume(spec, ActionEnvelope, actuator.handle, concurrency=settings.concurrency)
    svc.mark_ready()
    log.info("applying actions from %s as field manager %r (concurrency %d, qps %g, burst %d; Ray calls: %d at "
             "once, dashboards reached by %s)", spec.filter_subject, settings.field_manager, settings.concurrency,
             settings.qps, settings.burst, settings.ray_slots, settings.ray_dashboard_access)
