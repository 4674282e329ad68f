"""A synchronous facade over Raybus's one Kubernetes edge, `raybus_common.kube.client.KubeClient`,
for what is synchronous: tests' set-up and checks, benchmarks, `raybus up` and `raybus crds`.

    api = Kube.connect(kubeconfig)
    api.create("/api/v1/namespaces", {...}); api.get(path, labelSelector="a=b")
    api.close()

It owns an event loop on a thread of its own (`LoopThread`) and runs each call there, so any
number of threads may call it at once (a benchmark's writer pool does). The kubeconfig is
loaded by kubernetes_asyncio (TLS verified against its CA); errors are the edge's `ApiError`
(status, reason, message; status 0 when no answer came). The client-side rate limit is set
high (QPS 1000, burst 2000): tests and benchmarks must not be throttled by their own client.
Paths are raw API paths, as in the services; nothing here decides what a kind's path is.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from raybus_common.kube.client import APPLY, MERGE, ApiError, KubeClient

from .loopthread import LoopThread

T = TypeVar("T")
Obj = dict[str, Any]


class Kube:
    def __init__(self, kubeconfig: Path | str, *, qps: float = 1000.0, burst: int = 2000, timeout: float = 30.0) -> None:
        self.kubeconfig, self.timeout = str(kubeconfig), timeout
        self._loop = LoopThread("raybus-kube")
        try:
            self.client = self._run(KubeClient.connect(kubeconfig=self.kubeconfig, qps=qps, burst=burst))
        except BaseException:
            self._loop.stop()
            raise

    @classmethod
    def connect(cls, kubeconfig: Path | str, **kw: Any) -> Kube:
        return cls(kubeconfig, **kw)

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        # A little longer than the request's own timeout, which answers first as an ApiError.
        return self._loop.run(coro, (timeout or self.timeout) + 10)

    def request(self, method: str, path: str, *, body: Any = None, content_type: str | None = None,
                params: dict[str, str] | None = None) -> Obj:
        return self._run(self.client.request(method, path, body=body, content_type=content_type, params=params,
                                             timeout=self.timeout))

    def get(self, path: str, **params: str) -> Obj:
        return self.request("GET", path, params=params or None)

    def text(self, path: str, **params: str) -> str:
        """A GET whose answer is not JSON (`/readyz`, `/metrics`)."""
        return self._run(self.client.raw("GET", path, params=params or None, timeout=self.timeout)).decode()

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
            return True
        except ApiError as e:
            if e.status == 404:
                return False
            raise

    def create(self, path: str, obj: Obj) -> Obj:
        return self.request("POST", path, body=obj)

    def apply(self, path: str, obj: Obj, *, manager: str = "raybus-testbed") -> Obj:
        """Server-side apply `obj` at `path` (the object's own URL)."""
        return self.request("PATCH", path, body=obj, content_type=APPLY,
                            params={"fieldManager": manager, "force": "true"})

    def merge_patch(self, path: str, patch: Obj) -> Obj:
        return self.request("PATCH", path, body=patch, content_type=MERGE)

    def delete(self, path: str, **params: str) -> Obj | None:
        """DELETE; None if it was already gone."""
        try:
            return self.request("DELETE", path, params=params or None)
        except ApiError as e:
            if e.status != 404:
                raise
            return None

    def watch(self, path: str, params: dict[str, str], *, read_timeout: float = 90.0) -> Iterator[Obj]:
        """Watch events (`{"type", "object"}`) of one watch request, as they come; `params` must
        hold `watch=true` (and usually `timeoutSeconds`). Stopping the iteration closes it."""
        events = self.client.stream(path, params, read_timeout=read_timeout)

        async def step() -> Obj | None:
            return await anext(events, None)

        try:
            while (event := self._run(step(), timeout=read_timeout)) is not None:
                yield event
        finally:
            if not self._loop.closed:  # else `close` ended the stream
                self._run(events.aclose())

    def close(self) -> None:
        if self._loop.closed:
            return
        try:
            # Watch streams still open end first, while their connections can be given back.
            self._run(self._loop.loop.shutdown_asyncgens())
            self._run(self.client.close())
        finally:
            self._loop.stop()
