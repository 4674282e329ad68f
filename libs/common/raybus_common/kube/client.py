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

Every request, stream or not, takes one path (`_open`): kubernetes_asyncio's own aiohttp
session (its TLS context and CA, client certificate, connection pool, `tls_server_name`, proxy)
with the headers its `ApiClient` would send (the User-Agent, and the bearer token from its auth
settings, which run the configuration's refresh hook: an in-cluster token is re-read as it
expires). The body is serialised once, by `objects.dumps` (orjson; bytes are sent as they are), rather
than walked by kubernetes_asyncio's `sanitize_for_serialization` and then `json.dumps`-ed by
its REST layer; answers and watch lines are parsed by orjson (a watch line of a pod in 18 µs,
against 30 µs for pydantic-core's `from_json`: the watcher parses one per watch event). A
caller that needs only an answer's metadata asks for it (`accept=METADATA`: a
`PartialObjectMetadata`, or the whole object from a server that cannot), so neither the API
server nor this client handles the spec and status it does not read.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlencode, urlparse
from urllib.request import getproxies, proxy_bypass

import aiohttp
import orjson

from ..errors import TRANSPORT, parse_retry_after
from ..objects import dumps
from ..ratelimit import TokenBucket
from . import slim

if TYPE_CHECKING:
    from kubernetes_asyncio import client as k8s
    from kubernetes_asyncio import config as k8s_config
    from kubernetes_asyncio.client.exceptions import ApiException
else:  # kubernetes_asyncio without its generated models (see kube.slim)
    k8s, k8s_config = slim.load()
    ApiException = k8s.ApiException

ConfigException = k8s_config.ConfigException  # no kubeconfig and not in a cluster

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
# An answer's metadata only (the API server's PartialObjectMetadata transform, which it applies
# to writes' answers too), or the whole object if the server cannot.
METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


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
    """`await KubeClient.connect(...)`; `close()` it, or use it as `async with` to have it closed."""

    def __init__(self, api: k8s.ApiClient, *, qps: float = 100.0, burst: int = 200) -> None:
        self.api = api
        self.bucket = TokenBucket(rate=qps, burst=burst)
        self.requests = 0
        rest = api.rest_client
        self._session: aiohttp.ClientSession = rest.pool_manager
        self._host = str(api.configuration.host)
        # What kubernetes_asyncio's REST layer adds to every request it sends on this session.
        self._options: dict[str, Any] = {k: v for k, v in (("proxy", rest.proxy), ("proxy_headers", rest.proxy_headers),
                                                          ("server_hostname", rest.server_hostname)) if v}
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _throttle(self) -> None:
        delay = self.bucket.delay()
        if delay > 0:
            await asyncio.sleep(delay)
        self.requests += 1

    def _timeout(self, total: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(total)
        if timeout is None:
            timeout = self._timeouts[total] = aiohttp.ClientTimeout(total=total)
        return timeout

    async def _open(self, method: str, path: str, params: dict[str, str] | None, headers: dict[str, str],
                    body: Any, timeout: aiohttp.ClientTimeout) -> aiohttp.ClientResponse:
        """Send one request (after the token bucket) on kubernetes_asyncio's session, as its
        `ApiClient` would (see the module docstring); the response, not yet read."""
        await self._throttle()
        headers.update(self.api.default_headers)
        if self.api.cookie:
            headers["Cookie"] = self.api.cookie
        query = list(params.items()) if params else []
        await self.api.update_params_for_auth(headers, query, ["BearerToken"])
        url = self._host + path + ("?" + urlencode(query) if query else "")
        data = None if body is None else body if isinstance(body, bytes) else dumps(body)
        try:
            return await self._session.request(method, url, headers=headers, data=data, timeout=timeout,
                                               **self._options)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(TRANSPORT, f"{type(exc).__name__}: {exc}", "Transport") from exc

    async def request(self, method: str, path: str, *, body: Any = None, content_type: str | None = None,
                      params: dict[str, str] | None = None, timeout: float = 30.0,
                      accept: str = "application/json") -> dict[str, Any]:
        """One API call; the answer's JSON (`{}` for an empty body). `body` is JSON-serialised
        (bytes go as they are); `accept=METADATA` asks for the answer's metadata only."""
        data = await self.raw(method, path, body=body, content_type=content_type, params=params, timeout=timeout,
                              accept=accept)
        return orjson.loads(data) if data else {}

    async def raw(self, method: str, path: str, *, body: Any = None, content_type: str | None = None,
                  params: dict[str, str] | None = None, timeout: float = 30.0, accept: str = "*/*") -> bytes:
        """One API call; the answer's bytes as sent (`/metrics`, `/readyz` are not JSON, and a
        writer that needs nothing of the answer need not parse it)."""
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        resp = await self._open(method, path, params, headers, body, self._timeout(timeout))
        try:
            data: bytes = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(TRANSPORT, f"{type(exc).__name__}: {exc}", "Transport") from exc
        finally:
            resp.release()
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
        resp = await self._open("GET", path, params, {"Accept": "application/json"}, None,
                                aiohttp.ClientTimeout(connect=connect_timeout, sock_connect=10,
                                                      sock_read=read_timeout))
        if resp.status >= 400:
            try:
                data = await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise ApiError(TRANSPORT, f"{type(exc).__name__}: {exc}", "Transport") from exc
            finally:
                resp.release()
            raise _status_error(resp.status, data, resp.headers.get("Retry-After"))
        try:
            if on_open is not None:
                on_open()
            async for line in resp.content:
                if line.strip():
                    yield orjson.loads(line)
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
