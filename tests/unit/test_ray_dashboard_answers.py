"""The dashboard edge's outcome table (`ray.dashboard.judge`), the token read from the auth
Secret (`read_token`), and what `DashboardClient` puts on the wire: the token header on every
call, escaped ids, the submit body. The answers of a real Ray are in
tests/integration/test_ray_dashboard.py."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from raybus_common.ray.dashboard import (
    DashboardClient,
    DashboardError,
    JobNotFound,
    SubmissionIdInUse,
    judge,
    read_token,
)
from raybus_common.ray.jobs import JobRequest

IN_USE_BODY = ("Traceback ...\nValueError: Job with submission_id s already exists. "
               "Please use a different submission_id.\n")

# call, status, body -> error type (None: a success), .temporary
CASES: list[tuple[str, str, int, str, type[DashboardError] | None, bool]] = [
    ("ok", "job_info", 200, "{}", None, False),
    ("created", "submit", 201, "{}", None, False),
    ("list-404-is-empty", "list_jobs", 404, "Not Found", None, False),
    ("job-404", "job_info", 404, "Job x does not exist", JobNotFound, False),
    ("stop-404", "stop", 404, "Job x does not exist", JobNotFound, False),
    ("delete-404", "delete", 404, "Job x does not exist", JobNotFound, False),
    ("submit-404", "submit", 404, "Not Found", DashboardError, False),
    ("in-use", "submit", 500, IN_USE_BODY, SubmissionIdInUse, False),
    ("in-use-words-but-not-500", "submit", 400, IN_USE_BODY, DashboardError, False),
    ("in-use-words-on-job-info", "job_info", 500, IN_USE_BODY, DashboardError, True),
    ("submit-500-no-agent", "submit", 500, "No available agent to submit job, please try again later.",
     DashboardError, True),
    ("502", "job_info", 502, "", DashboardError, True),
    ("503", "list_jobs", 503, "", DashboardError, True),
    ("408", "stop", 408, "", DashboardError, True),
    ("429", "delete", 429, "", DashboardError, True),
    ("400", "submit", 400, "TypeError: bad field", DashboardError, False),
    ("401-no-token", "job_info", 401, "Unauthorized: Missing authentication token", DashboardError, False),
    ("403-wrong-token", "job_info", 403, "Forbidden: Invalid authentication token", DashboardError, False),
    ("409", "stop", 409, "", DashboardError, False),
]


@pytest.mark.parametrize(("call", "status", "body", "error", "temporary"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_judge(call: str, status: int, body: str, error: type[DashboardError] | None, temporary: bool) -> None:
    got = judge(call, status, body, "GET http://h:8265/api/jobs/x")
    if error is None:
        assert got is None
        return
    assert got is not None
    assert (type(got), got.status, got.temporary) == (error, status, temporary)
    assert str(got).startswith(f"{call} (GET http://h:8265/api/jobs/x): ")


def test_an_error_says_the_status_and_the_body_or_the_reason() -> None:
    assert str(judge("stop", 503, "")) == "stop: 503: Service Unavailable"
    assert str(judge("job_info", 404, "Job x does not exist\n")) == "job_info: 404: Job x does not exist"
    assert len(str(judge("submit", 400, "x" * 5000))) < 600


def getter(secrets: dict[tuple[str, str], dict[str, Any]]) -> Callable[[str, str], Awaitable[dict[str, Any] | None]]:
    async def get(namespace: str, name: str) -> dict[str, Any] | None:
        return secrets.get((namespace, name))
    return get


async def test_the_token_is_the_secrets_auth_token_decoded() -> None:
    secret = {"data": {"auth_token": base64.b64encode(b"s3cret-token").decode(), "other": "eA=="}}
    assert await read_token(getter({("ns", "c"): secret}), "ns", "c") == "s3cret-token"


@pytest.mark.parametrize(("secret", "temporary", "says"), [
    (None, True, "does not exist"),
    ({"data": {"other": "eA=="}}, True, "has no 'auth_token' key"),
    ({"metadata": {"name": "c"}}, True, "has no 'auth_token' key"),
    ({"data": {"auth_token": "not base64!"}}, False, "is not base64"),
], ids=["no-secret", "no-key", "no-data", "not-base64"])
async def test_a_token_that_cannot_be_read(secret: dict[str, Any] | None, temporary: bool, says: str) -> None:
    with pytest.raises(DashboardError, match=says) as failed:
        await read_token(getter({("ns", "c"): secret} if secret else {}), "ns", "c")
    assert (failed.value.temporary, failed.value.status) == (temporary, None)


ANSWERS: dict[tuple[str, str], Any] = {
    ("GET", "/api/jobs/a%2Fb"): {"status": "RUNNING"},
    ("POST", "/api/jobs/"): {"job_id": "a/b", "submission_id": "a/b"},
    ("POST", "/api/jobs/a%2Fb/stop"): {"stopped": True},
    ("DELETE", "/api/jobs/a%2Fb"): {"deleted": False},
    ("GET", "/api/jobs/"): [{"submission_id": "a/b"}],
}


async def test_every_call_carries_the_token_and_escapes_the_id() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=ANSWERS[(request.method, request.url.raw_path.decode())])

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = DashboardClient(http, "http://h:8265/", token="tok")
        request = JobRequest(entrypoint="python x.py", submission_id="a/b", entrypoint_num_cpus=1)
        got = (await client.job_info("a/b"), await client.submit(request), await client.stop("a/b"),
               await client.delete("a/b"), await client.list_jobs())
    assert got == ({"status": "RUNNING"}, "a/b", True, False, [{"submission_id": "a/b"}])
    assert [r.headers.get("x-ray-authorization") for r in seen] == ["Bearer tok"] * 5
    assert json.loads(seen[1].content) == {"entrypoint": "python x.py", "submission_id": "a/b",
                                           "entrypoint_num_cpus": 1}


async def test_no_token_no_header_and_an_undecodable_success_is_temporary() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert "x-ray-authorization" not in request.headers
        return httpx.Response(200, text="<html>a proxy's page</html>")

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(DashboardError, match="200 but not JSON") as failed:
            await DashboardClient(http, "http://h:8265").job_info("x")
    assert (failed.value.status, failed.value.temporary) == (200, True)


@pytest.mark.parametrize(("call", "body"), [("stop", {"stopped": "yes"}), ("delete", {}), ("job_info", [1]),
                                            ("list_jobs", {"jobs": []}), ("submit", {"job_id": None})],
                         ids=["stop-not-bool", "delete-no-flag", "job-not-object", "list-not-list", "submit-no-id"])
async def test_a_success_of_the_wrong_shape_is_temporary(call: str, body: Any) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200, json=body))) as http:
        client = DashboardClient(http, "http://h:8265")
        args = {"submit": (JobRequest(entrypoint="true"),), "list_jobs": ()}.get(call, ("x",))
        with pytest.raises(DashboardError, match="2xx") as failed:
            await getattr(client, call)(*args)
    assert (failed.value.status, failed.value.temporary) == (200, True)


async def test_a_base_url_without_a_scheme_is_not_temporary() -> None:
    async with httpx.AsyncClient() as http:  # refused before any connection is tried
        with pytest.raises(DashboardError, match="UnsupportedProtocol") as failed:
            await DashboardClient(http, "c-head-svc.ns.svc:8265").job_info("x")
    assert (failed.value.status, failed.value.temporary) == (None, False)
