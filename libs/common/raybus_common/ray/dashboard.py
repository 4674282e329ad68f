"""The one module that speaks HTTP to Ray (httpx): a dashboard's Job and Serve APIs, as KubeRay's
dashboard client does (`controllers/ray/utils/dashboardclient/dashboard_httpclient.go`), and a
Serve proxy's health (KubeRay's `httpproxy_httpclient.go`).

    async with new_http() as http:
        client = DashboardClient(http, base_url(dashboard, access), token=token)
        info = await client.job_info("my-job-x7k2p")

| call | request | answer → result |
|---|---|---|
| `job_info(id)` | `GET /api/jobs/<id>` | 2xx → the job's JSON object (Ray's JobDetails) |
| `submit(req)` | `POST /api/jobs/` with `req.body()` | 2xx → `job_id` of `{"job_id", "submission_id"}` (Ray answers the submission id) |
| `stop(id)` | `POST /api/jobs/<id>/stop` | 2xx → `stopped` of `{"stopped": bool}` (False: the job had already ended; KubeRay then reads the job and errs only if it is not terminal; that is the caller's decision here) |
| `delete(id)` | `DELETE /api/jobs/<id>` | 2xx → `deleted` of `{"deleted": bool}` (KubeRay ignores the answer) |
| `list_jobs()` | `GET /api/jobs/` | 2xx → the JSON list; 404 → `[]` (as KubeRay: no job module) |
| `serve_applications()` | `GET /api/serve/applications/?api_type=declarative` | 2xx → the JSON object (Ray's `ServeInstanceDetails`) |
| `put_serve_config(config)` | `PUT /api/serve/applications/` with `config` as JSON | 2xx → None (Ray answers an empty body) |

`proxy_health(http, url)` is apart: `GET <url>/-/healthz` on a Serve proxy (not a dashboard),
200 → healthy; any other answer or none → not, with why (KubeRay's `CheckProxyActorHealth`).

Every other answer raises a `DashboardError` (`judge` is the whole table, pure):

| answer | error | `.temporary` |
|---|---|---|
| none: connection refused or reset, timeout, DNS | `DashboardError`, `.status` None | yes |
| none: the base URL is not one (no scheme, say) | `DashboardError`, `.status` None | no |
| 404 on a job (`job_info`, `stop`, `delete`) | `JobNotFound` | no |
| 500 whose body says "Please use a different submission_id" (`submit`) | `SubmissionIdInUse` | no: the job exists, poll it |
| 408, 429, any other 5xx (Ray answers 500 while its job agent starts, 503 while Serve's controller does not answer, 501 without Serve installed) | `DashboardError` | yes |
| 401, 403 (token missing or wrong), 400 (a serve config Ray refuses), any other 4xx | `DashboardError` | no |
| 2xx whose body is not the JSON the call expects | `DashboardError` | yes (something between us and Ray answered) |

A token (`read_token`, from the cluster's auth Secret) goes on every request as
`x-ray-authorization: Bearer <token>`, as KubeRay sends it. Every request has `timeout`
seconds (KubeRay's 2 s direct timeout by default). Submission ids are escaped into the path.

This module holds no credentials of Kubernetes and imports no Kubernetes client: `read_token`
is given the function that reads a Secret. Nothing here retries; the caller judges
`.temporary`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from .address import DIRECT_TIMEOUT
from .jobs import JobRequest

JOBS_PATH = "/api/jobs/"
SERVE_PATH = "/api/serve/applications/"
SERVE_DECLARATIVE = {"api_type": "declarative"}  # only the applications a serve config made (KubeRay's)
HEALTHZ_PATH = "/-/healthz"
TOKEN_HEADER = "x-ray-authorization"  # Ray also accepts Authorization; KubeRay sends this one
TOKEN_KEY = "auth_token"  # the key of the cluster's auth Secret
IN_USE = "Please use a different submission_id"
TEMPORARY_STATUSES = frozenset({408, 429})  # and every 5xx
BODY_SHOWN = 500  # characters of an error answer's body kept in the message


class DashboardError(Exception):
    """The dashboard could not be asked, or answered with an error. `status` is the HTTP status
    (None when no answer came); `temporary` says whether asking again later may help."""

    def __init__(self, message: str, *, status: int | None = None, temporary: bool = False) -> None:
        super().__init__(message)
        self.message, self.status, self.temporary = message, status, temporary

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r}, temporary={self.temporary!r})"


class JobNotFound(DashboardError):
    """404 on a job: the dashboard does not know the submission id."""


class SubmissionIdInUse(DashboardError):
    """A submit whose submission id the dashboard already has (Ray answers 500 saying so)."""


def judge(call: str, status: int, body: str, where: str = "") -> DashboardError | None:
    """The error an answer of `status` with `body` to `call` (`job_info`, `submit`, `stop`,
    `delete`, `list_jobs`, `serve_applications`, `put_serve_config`) is, or None when it is not one (a 2xx, or `list_jobs`'s 404); `where`
    (the request) opens the message. Pure: the table of the module's docstring but for the
    rows about no answer and undecodable answers."""
    if 200 <= status < 300 or (status == 404 and call == "list_jobs"):
        return None
    head = f"{call} ({where})" if where else call
    text = body.strip()[:BODY_SHOWN] or httpx.codes.get_reason_phrase(status)
    if status == 404 and call in ("job_info", "stop", "delete"):
        return JobNotFound(f"{head}: 404: {text}", status=404)
    if status == 500 and call == "submit" and IN_USE in body:
        return SubmissionIdInUse(f"{head}: the submission id is already used ({IN_USE})", status=500)
    temporary = status >= 500 or status in TEMPORARY_STATUSES
    return DashboardError(f"{head}: {status}: {text}", status=status, temporary=temporary)


def new_http(*, max_connections: int = 100) -> httpx.AsyncClient:
    """An HTTP client for `DashboardClient`s (one per process; close it on the way out), so a
    service need not import httpx itself."""
    return httpx.AsyncClient(limits=httpx.Limits(max_connections=max_connections,
                                                 max_keepalive_connections=max_connections))


class DashboardClient:
    """The Job API of one dashboard at `base_url` (`address.base_url`), on a shared `http`."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, *, token: str = "",
                 timeout: float = DIRECT_TIMEOUT) -> None:
        self.http, self.base_url, self.timeout = http, base_url.rstrip("/"), timeout
        self.headers = {TOKEN_HEADER: f"Bearer {token}"} if token else {}

    async def job_info(self, submission_id: str) -> dict[str, Any]:
        return _object(await self._call("job_info", "GET", _job_path(submission_id)), "job_info")

    async def submit(self, request: JobRequest) -> str:
        answer = _object(await self._call("submit", "POST", JOBS_PATH, request.body()), "submit")
        job_id = answer.get("job_id") or answer.get("submission_id")
        if not isinstance(job_id, str):
            raise DashboardError(f"submit: 2xx without a job_id: {json.dumps(answer)[:BODY_SHOWN]}",
                                 status=200, temporary=True)
        return job_id

    async def stop(self, submission_id: str) -> bool:
        return _flag(await self._call("stop", "POST", _job_path(submission_id) + "/stop"), "stop", "stopped")

    async def delete(self, submission_id: str) -> bool:
        return _flag(await self._call("delete", "DELETE", _job_path(submission_id)), "delete", "deleted")

    async def list_jobs(self) -> list[dict[str, Any]]:
        answer = await self._call("list_jobs", "GET", JOBS_PATH)
        if answer is None:
            return []
        if not isinstance(answer, list) or not all(isinstance(j, dict) for j in answer):
            raise _undecodable("list_jobs", "a list of jobs", answer)
        return answer

    async def serve_applications(self) -> dict[str, Any]:
        return _object(await self._call("serve_applications", "GET", SERVE_PATH, params=SERVE_DECLARATIVE),
                       "serve_applications")

    async def put_serve_config(self, config: Mapping[str, Any]) -> None:
        await self._call("put_serve_config", "PUT", SERVE_PATH, config, empty_ok=True)

    async def _call(self, call: str, method: str, path: str, body: Mapping[str, Any] | None = None, *,
                    params: Mapping[str, str] | None = None, empty_ok: bool = False) -> Any:
        """One request; its decoded JSON answer, None for a 404 `judge` lets through (list_jobs)
        and, with `empty_ok`, for a 2xx whose body is empty."""
        url = self.base_url + path
        where = f"{method} {url}"
        try:
            response = await self.http.request(method, url, json=body, headers=self.headers, params=params,
                                               timeout=self.timeout)
        except httpx.TimeoutException as e:
            raise DashboardError(f"{call} ({where}): no answer within {self.timeout:g}s ({type(e).__name__})",
                                 temporary=True) from e
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as e:  # a bad address: asking again cannot help
            raise DashboardError(f"{call} ({where}): {type(e).__name__}: {e}") from e
        except httpx.TransportError as e:
            raise DashboardError(f"{call} ({where}): {type(e).__name__}: {str(e) or 'no answer'}", temporary=True) from e
        error = judge(call, response.status_code, response.text, where)
        if error is not None:
            raise error
        if response.status_code == 404 or (empty_ok and not response.content.strip()):
            return None  # list_jobs' 404: no job module there, as KubeRay reads it
        try:
            return response.json()
        except ValueError as e:
            raise DashboardError(f"{call} ({where}): {response.status_code} but not JSON: "
                                 f"{response.text[:BODY_SHOWN]}", status=response.status_code, temporary=True) from e


async def proxy_health(http: httpx.AsyncClient, base_url: str, *, timeout: float = DIRECT_TIMEOUT) -> str:
    """Why the Serve proxy at `base_url` (`http://<head pod IP>:<serve port>`) is not healthy: ""
    when `GET /-/healthz` answered 200, else its status and body, or why no answer came."""
    url = base_url.rstrip("/") + HEALTHZ_PATH
    try:
        response = await http.get(url, timeout=timeout)
    except httpx.TimeoutException as e:
        return f"GET {url}: no answer within {timeout:g}s ({type(e).__name__})"
    except (httpx.HTTPError, httpx.InvalidURL) as e:
        return f"GET {url}: {type(e).__name__}: {str(e) or 'no answer'}"
    if response.status_code == 200:
        return ""
    text = response.text.strip()[:BODY_SHOWN] or httpx.codes.get_reason_phrase(response.status_code)
    return f"GET {url}: {response.status_code}: {text}"


def _job_path(submission_id: str) -> str:
    if not submission_id:
        raise ValueError("a job call needs a submission id")
    return JOBS_PATH + quote(submission_id, safe="")


def _undecodable(call: str, expected: str, answer: Any) -> DashboardError:
    return DashboardError(f"{call}: 2xx but not {expected}: {json.dumps(answer)[:BODY_SHOWN]}", status=200,
                          temporary=True)


def _object(answer: Any, call: str) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise _undecodable(call, "a JSON object", answer)
    return answer


def _flag(answer: Any, call: str, key: str) -> bool:
    value = _object(answer, call).get(key)
    if not isinstance(value, bool):
        raise _undecodable(call, f'{{"{key}": bool}}', answer)
    return value


async def read_token(get_secret: Callable[[str, str], Awaitable[dict[str, Any] | None]], namespace: str,
                     secret: str) -> str:
    """The dashboard token of a cluster with `authOptions.mode: token`: key `auth_token` of the
    Secret `secret` in `namespace`, read by `get_secret(namespace, name)` (None when there is
    no such Secret). A missing Secret or key is temporary (KubeRay requeues: the Secret may be
    created after the cluster); a value that is not base64 is not."""
    found = await get_secret(namespace, secret)
    if found is None:
        raise DashboardError(f"the auth Secret {namespace}/{secret} does not exist (yet)", temporary=True)
    encoded = (found.get("data") or {}).get(TOKEN_KEY)
    if not encoded:
        raise DashboardError(f"the auth Secret {namespace}/{secret} has no {TOKEN_KEY!r} key (yet)",
                             temporary=True)
    try:
        return base64.b64decode(str(encoded), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as e:
        raise DashboardError(f"the auth Secret {namespace}/{secret}: {TOKEN_KEY!r} is not base64 text: {e}") from e
