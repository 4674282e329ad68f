"""Where the watcher's watches look (`plan.py`), and what a watch keeps and reports of its health
(`watching.ResourceWatch`): the namespace filter of a cluster-wide watch in lists, events and
tombstones; established, and the problem readiness shows. The watch runs against a scripted
client (fixed pages and events, no server) and the in-memory bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest

from raybus_common.bus.envelopes import StateEnvelope, decode
from raybus_common.bus.memory import MemoryBus
from raybus_common.kube.client import ApiError, KubeClient
from raybus_common.kube.resources import Resource
from raybus_watcher.handlers import BusSink
from raybus_watcher.plan import Target, cluster_wide, known_in, pool_size, summarize, targets
from raybus_watcher.settings import WatcherSettings
from raybus_watcher.watching import ResourceWatch

POD = Resource("pod", "Pod", "", "v1", "pods")
WATCHED = frozenset({"team-a", "team-b"})


@pytest.mark.parametrize(("namespaces", "above", "wide"), [
    ([], 4, True),
    (["a"], 4, False),
    (["a", "b", "c", "d"], 4, False),
    (["a", "b", "c", "d", "e"], 4, True),
    (["a"], 0, True),
    ([f"ns-{i}" for i in range(50)], 50, False),
    (["a", "a", "b"], 2, False),
], ids=["all-namespaces", "one", "at-threshold", "above-threshold", "threshold-0", "raised-threshold",
        "duplicates-count-once"])
def test_cluster_wide_above_the_threshold(namespaces: list[str], above: int, wide: bool) -> None:
    assert cluster_wide(namespaces, above) is wide


@pytest.mark.parametrize(("namespaced", "namespaces", "wide", "expected"), [
    (True, [], True, [Target()]),
    (False, ["a", "b"], False, [Target()]),
    (True, ["a", "b"], False, [Target("a"), Target("b")]),
    (True, ["a", "b", "a"], False, [Target("a"), Target("b")]),
    (True, ["a", "b"], True, [Target(None, frozenset({"a", "b"}))]),
], ids=["all-namespaces", "cluster-scoped-kind", "per-namespace", "per-namespace-deduplicated",
        "cluster-wide-filtered"])
def test_targets(namespaced: bool, namespaces: list[str], wide: bool, expected: list[Target]) -> None:
    assert targets(namespaced, namespaces, wide=wide) == expected


@pytest.mark.parametrize(("target", "namespace", "kept"), [
    (Target(None, WATCHED), "team-a", True),
    (Target(None, WATCHED), "team-c", False),
    (Target(None, WATCHED), "", True),
    (Target(), "team-c", True),
    (Target("team-a"), "team-c", True),  # the server filters a namespaced watch itself
], ids=["watched", "not-watched", "cluster-scoped", "all-namespaces", "per-namespace"])
def test_target_keeps(target: Target, namespace: str, kept: bool) -> None:
    assert target.keeps(namespace) is kept


@pytest.mark.parametrize(("target", "expected"), [
    (Target(), {("team-a", "x"): "1", ("team-b", "y"): "2", ("team-c", "z"): "3"}),
    (Target("team-a"), {("team-a", "x"): "1"}),
    (Target("team-d"), {}),
    (Target(None, WATCHED), {("team-a", "x"): "1", ("team-b", "y"): "2"}),
], ids=["all-namespaces", "one-namespace", "other-namespace", "cluster-wide-filtered"])
def test_known_is_what_a_watch_answers_for(target: Target, expected: dict[tuple[str, str], str]) -> None:
    known = {("team-a", "x"): "1", ("team-b", "y"): "2", ("team-c", "z"): "3"}
    assert known_in(known, target) == expected


@pytest.mark.parametrize("watches", [0, 14, 700], ids=["none", "cluster-wide", "per-namespace-50"])
def test_the_pool_has_a_connection_for_every_watch_and_some_to_spare(watches: int) -> None:
    assert pool_size(watches) > watches
    assert pool_size(watches) > 100 or watches < 100  # the client's default (100) would starve 700


@pytest.mark.parametrize(("problems", "expected"), [
    ([None, None], []),
    (["a", None, "b"], ["a", "b"]),
    ([str(i) for i in range(12)], [*(str(i) for i in range(10)), "and 2 more watches not open"]),
], ids=["healthy", "some", "counted-beyond-ten"])
def test_summarize_readiness_reasons(problems: list[str | None], expected: list[str]) -> None:
    assert summarize(problems) == expected


def test_threshold_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert WatcherSettings().watch_cluster_wide_above == 4
    monkeypatch.setenv("RAYBUS_WATCH_CLUSTER_WIDE_ABOVE", "0")
    assert WatcherSettings().watch_cluster_wide_above == 0
    monkeypatch.setenv("RAYBUS_WATCH_CLUSTER_WIDE_ABOVE", "-1")
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        WatcherSettings()


# -- ResourceWatch against a scripted client -----------------------------------------------

def pod(name: str, ns: str, uid: str, rv: str = "5") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "uid": uid, "resourceVersion": rv}}


class Scripted:
    """What `ResourceWatch` calls of a `KubeClient`: `request` answers one list page (or raises),
    `stream` opens (calling `on_open`) and yields the given events, then ends."""

    def __init__(self, items: list[dict[str, Any]], events: list[dict[str, Any]] | None = None,
                 fail: ApiError | None = None) -> None:
        self.items, self.events, self.fail = items, events or [], fail
        self.paths: list[str] = []

    async def request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        self.paths.append(path)
        if self.fail is not None:
            raise self.fail
        return {"metadata": {"resourceVersion": "10"}, "items": self.items}

    async def stream(self, path: str, params: dict[str, str], *, read_timeout: float, connect_timeout: float,
                     on_open: Callable[[], None] | None = None) -> AsyncIterator[dict[str, Any]]:
        if on_open is not None:
            on_open()
        for event in self.events:
            yield event


def watch(client: Scripted, known: dict[tuple[str, str], str], target: Target) -> tuple[ResourceWatch, MemoryBus]:
    bus = MemoryBus()
    w = ResourceWatch(cast(KubeClient, client), POD, target.namespace, BusSink(bus), dict(known), keep=target.keep)
    return w, bus


def published(bus: MemoryBus) -> dict[str, str]:
    """subject → type of its last message."""
    return {m.subject: decode(StateEnvelope, m.data).type for m in bus.messages("raybus.state.>")}


async def test_a_filtered_relist_publishes_and_tombstones_only_watched_namespaces() -> None:
    client = Scripted([pod("a", "team-a", "ua"), pod("c", "team-c", "uc")])
    # The bus shows objects of a watched and of an unwatched namespace that the list no longer has.
    known = known_in({("team-b", "gone"): "ub", ("team-c", "other"): "uo"}, Target(None, WATCHED))
    w, bus = watch(client, known, Target(None, WATCHED))
    await w.relist()
    assert client.paths == ["/api/v1/pods"]  # one cluster-wide list
    assert published(bus) == {"raybus.state.pod.team-a.a": "SNAPSHOT", "raybus.state.pod.team-b.gone": "TOMBSTONE"}
    assert w.known == {("team-a", "a"): "ua"}


async def test_a_filtered_watch_drops_events_of_other_namespaces_but_follows_their_resource_version() -> None:
    events = [{"type": "ADDED", "object": pod("c", "team-c", "uc", rv="11")},
              {"type": "DELETED", "object": pod("d", "team-c", "ud", rv="12")},
              {"type": "MODIFIED", "object": pod("a", "team-a", "ua", rv="13")},
              {"type": "ADDED", "object": pod("x", "team-c", "ux", rv="14")}]
    w, bus = watch(Scripted([], events), {}, Target(None, WATCHED))
    await w.watch_once()
    assert published(bus) == {"raybus.state.pod.team-a.a": "MODIFIED"}
    assert w.known == {("team-a", "a"): "ua"} and w.rv == "14"


async def test_an_unfiltered_watch_publishes_every_namespace() -> None:
    events = [{"type": "ADDED", "object": pod("c", "team-c", "uc", rv="11")}]
    w, bus = watch(Scripted([pod("z", "team-z", "uz")], events), {}, Target())
    await w.relist()
    await w.watch_once()
    assert published(bus) == {"raybus.state.pod.team-z.z": "SNAPSHOT", "raybus.state.pod.team-c.c": "ADDED"}


async def test_established_once_listed_and_open() -> None:
    w, _ = watch(Scripted([]), {}, Target("team-a"))
    assert w.problem == "watch of pod in team-a: not listed yet"
    await w.relist()
    assert w.problem == "watch of pod in team-a: not open yet"
    await w.watch_once()
    assert w.established and w.problem is None


async def test_a_failing_watch_names_its_error_until_it_opens_again() -> None:
    forbidden = ApiError(403, 'pods is forbidden: cannot list resource "pods"', "Forbidden")
    client = Scripted([], fail=forbidden)
    w, _ = watch(client, {}, Target(None, WATCHED))
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop))
    while w.error is None:  # the first attempt fails at once; the retry waits on `stop`
        await asyncio.sleep(0)
    stop.set()
    await task
    assert w.problem == ('watch of pod in all namespaces (keeping 2 watched): '
                         '403 Forbidden: pods is forbidden: cannot list resource "pods"')
    client.fail = None  # RBAC granted: the next attempt lists and opens
    await w.relist()
    assert w.problem is not None  # listed, but not open yet: the error still stands
    await w.watch_once()
    assert w.problem is None and w.error is None
