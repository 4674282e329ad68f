"""The Kubernetes client edge: one async client over kubernetes_asyncio for the watcher and the
actuator (controllers never talk to Kubernetes).

It loads the kubeconfig (`KUBECONFIG`, `~/.kube/config`; TLS verified against its CA) or the
in-cluster service account, applies a client-side rate limit (KubeRay's QPS 100 / burst 200 by
default), sends raw requests by path (so one code path serves core, batch, ray.io and any
scheduler's kinds; the paths come from `kube.discovery`), including server-side apply, which
kubernetes_asyncio has no call for, and streams watch events line by line with a read timeout
so a half-dead connection cannot hang a watch forever. Over HTTP/1.1 every open watch holds
one connection of the pool (`connect(pool=...)`, 100 by default): a caller that keeps many
watches open sizes the pool for them (the watcher does), and a watch that waits for a
connection longer than `connect_timeout` fails rather than waiting forever. Tests, benchmarks
and the `raybus` command use it too, through the testbed's synchronous facade. HTTP errors
come out as `ApiError` with the status, the API's reason and message
and the `Retry-After` delay (parsed here, once); status 0 means no answer came (a timeout or a
broken connection). What is temporary and what is permanent is the actuator's `judge`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import getproxies, proxy_bypass

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from ..errors import TRANSPORT, parse_retry_after
from ..ratelimit import TokenBucket

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class ApiError(Exception):
    def __init__(self, status: int, message: str, reason: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}".strip())
        self.status = status
        self.message = message
        self.reason = reason
        self.retry_after = retry_after

    @classmethod
    def from_exception(cls, exc: ApiException) -> ApiError:
        message, reason = str(exc.reason or ""), str(exc.reason or "")
        try:
            body = json.loads(exc.body or "{}")
            message, reason = body.get("message", message), body.get("reason", reason)
        except (ValueError, TypeError):
            pass
        headers: dict[str, str] = dict(exc.headers or {})
        return cls(int(exc.status or TRANSPORT), message, reason, parse_retry_after(headers.get("Retry-After")))


class KubeClient:
    def __init__(self, api: k8s.ApiClient, *, qps: float = 100.0, burst: int = 200) -> None:
        self.api = api
        self.bucket = TokenBucket(rate=qps, burst=burst)
        self.requests = 0

    @classmethod
    async def connect(cls, *, kubeconfig: str | Path | None = None, qps: float = 100.0, burst: int = 200,
                      pool: int = 100) -> KubeClient:
        cfg = k8s.Configuration()
        path = str(kubeconfig or "") or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
        if Path(path).exists():
            await k8s_config.load_kube_config(config_file=path, client_configuration=cfg)
        else:
            k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        cfg.connection_pool_maxsize = pool
        host = str(urlparse(str(cfg.host)).hostname or "")
        if not cfg.proxy and host and not proxy_bypass(host):
            cfg.proxy = getproxies().get("https") or None  # HTTPS_PROXY, looked up once
        api = k8s.ApiClient(configuration=cfg)
        api.user_agent = "raybus"
        # kubernetes_asyncio's session trusts the environment, so aiohttp looks up proxies and
        # reads ~/.netrc in a thread on every request: a fifth of the actuator's CPU under load.
        # The proxy was looked up once above; the API server's credentials never come from netrc.
        api.rest_client.pool_manager._trust_env = False
        return cls(api, qps=qps, burst=burst)

    async def close(self) -> None:
        await self.api.close()

    async def _throttle(self) -> None:
        delay = self.bucket.delay()
        if delay > 0:
            await asyncio.sleep(delay)
        self.requests += 1

    async def request(self, method: str, path: str, *, body: Any = None, content_type: str | None = None,
                      params: dict[str, str] | None = None, timeout: float = 30.0,
                      accept: str = "application/json") -> dict[str, Any]:
        """One API call; the answer's JSON (`{}` for an empty body)."""
        data = await self.raw(method, path, body=body, content_type=content_type, params=params, timeout=timeout,
                              accept=accept)
        return json.loads(data) if data else {}

    async def raw(self, method: str, path: str, *, body: Any = None, content_type: str | None = None,
                  params: dict[str, str] | None = None, timeout: float = 30.0, accept: str = "*/*") -> bytes:
        """One API call; the answer's bytes as sent (`/metrics`, `/readyz` are not JSON)."""
        await self._throttle()
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        try:
            resp = await self.api.call_api(
                path, method, query_params=list((params or {}).items()), header_params=headers,
                body=body, auth_settings=["BearerToken"], _preload_content=False,
                _request_timeout=aiohttp.ClientTimeout(total=timeout), _return_http_data_only=True,
            )
            try:
                data: bytes = await resp.read()
            finally:
                resp.release()
        except ApiException as exc:
            raise ApiError.from_exception(exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(TRANSPORT, f"{type(exc).__name__}: {exc}", "Transport") from exc
        if resp.status >= 400:
            raise _status_error(resp.status, data, resp.headers.get("Retry-After"))
        return data

    async def stream(self, path: str, params: dict[str, str], *, read_timeout: float,
                     connect_timeout: float = 60.0, on_open: Callable[[], None] | None = None
                     ) -> AsyncGenerator[dict[str, Any], None]:
        """Yield watch events (`{"type", "object"}`) as the server sends them.

        `connect_timeout` bounds the wait for a connection (a free one from the pool, or a new
        one); `on_open` is called once the server has answered with a success status, i.e.
        the watch is open, before any event arrives (a quiet watch may send none for minutes).
        """
        await self._throttle()
        try:
            resp = await self.api.call_api(
                path, "GET", query_params=list(params.items()), header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
                _request_timeout=aiohttp.ClientTimeout(connect=connect_timeout, sock_connect=10,
                                                       sock_read=read_timeout),
            )
        except ApiException as exc:
            raise ApiError.from_exception(exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(TRANSPORT, f"{type(exc).__name__}: {exc}", "Transport") from exc
        if resp.status >= 400:
            data = await resp.read()
            resp.release()
            raise _status_error(resp.status, data, resp.headers.get("Retry-After"))
        try:
            if on_open is not None:
                on_open()
            async for line in resp.content:
                if line.strip():
                    yield json.loads(line)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(TRANSPORT, f"watch stream broke: {type(exc).__name__}: {exc}", "Transport") from exc
        finally:
            resp.release()


def _status_error(status: int, body: bytes, retry_after: str | None) -> ApiError:
    message, reason = body.decode(errors="replace"), ""
    try:
        parsed = json.loads(body)
        message, reason = str(parsed.get("message", message)), str(parsed.get("reason", ""))
    except (ValueError, AttributeError):
        pass
    return ApiError(status, message, reason, parse_retry_after(retry_after))
