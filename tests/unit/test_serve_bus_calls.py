"""The serve action (`RayPutServeConfig`): the action as data, its outcome table
(`ray_calls.judge`), what the actuator puts on the wire, and the dashboard edge's serve calls and
proxy check (`ray.dashboard`), against an in-memory HTTP transport. A real Ray head is
tests/integration/test_serve_bus.py."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError
from test_ray_calls import Route, no_secret

from raybus_actuator.ray_calls import RayCaller, judge
from raybus_common.actions import Action, ObjectRef, RayPutServeConfig, ray_serve_ref
from raybus_common.ray.dashboard import DashboardClient, DashboardError, proxy_health
from raybus_common.ray.dashboard import judge as judge_answer
from raybus_common.ray.jobs import Dashboard

CLUSTER = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "svc-rc", "namespace": "ns",
                                                                          "uid": "c1"}}
DASH = Dashboard(namespace="ns", cluster="svc-rc", url="svc-rc-head-svc.ns.svc:8265", head_pod_ip="10.244.0.9")
CONFIG: dict[str, Any] = {"applications": [{"name": "hello", "import_path": "raybus_hello:app",
                                            "route_prefix": "/hello"}]}
PUT = RayPutServeConfig(ref=ray_serve_ref(CLUSTER), dashboard=DASH, config=CONFIG)


def test_the_action_targets_the_clusters_serve_observation() -> None:
    assert PUT.ref == ObjectRef(api_version="raybus.io/v1", kind="RayServeApplications", namespace="ns",
                                name="svc-rc", uid="c1/serve")
    assert ray_serve_ref({"metadata": {"name": "svc-rc", "namespace": "ns"}}).uid is None
    assert (PUT.op, PUT.verb) == ("ray_put_serve_config", "Update")
    again = TypeAdapter(Action).validate_python(PUT.model_dump(mode="json"))
    assert again == PUT


def test_a_config_that_is_not_json_is_refused() -> None:
    with pytest.raises(ValidationError, match="a serve config must be JSON"):
        RayPutServeConfig(ref=PUT.ref, dashboard=DASH, config={"applications": [{"x": {1, 2}}]})


TEMPORARY = DashboardError("put_serve_config (PUT …): no answer within 2s", temporary=True)
UNAVAILABLE = DashboardError("put_serve_config: 503: the GCS may be down", status=503, temporary=True)
REFUSED = DashboardError("put_serve_config: 400: ValidationError(import_path …)", status=400)
FORBIDDEN = DashboardError("put_serve_config: 401: Unauthorized", status=401)


@pytest.mark.parametrize(("error", "outcome", "done"), [
    (None, "ok", True),
    (TEMPORARY, "temporary", False),
    (UNAVAILABLE, "temporary", False),
    (REFUSED, "permanent", False),
    (FORBIDDEN, "permanent", False),
], ids=["put", "no-answer-is-temporary", "5xx-is-temporary", "a-refused-config-is-permanent",
        "a-refused-token-is-permanent"])
def test_the_outcome_of_a_put(error: DashboardError | None, outcome: str, done: bool) -> None:
    judged = judge(PUT, error)
    assert (judged.outcome, judged.done) == (outcome, done)
    assert "put the serve config of ns/svc-rc" in judged.message
    if error is not None:
        assert judged.error == str(error) and str(error) in judged.message


def mock(route: Route) -> httpx.AsyncClient:
    """An HTTP client whose every request `route` answers (use it in `async with`)."""
    return httpx.AsyncClient(transport=httpx.MockTransport(route))


async def test_a_put_sends_the_config_as_json() -> None:
    seen: list[httpx.Request] = []

    def route(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)  # Ray answers an empty body

    async with mock(route) as http:
        judged, status = await RayCaller(http, no_secret, access="pod", timeout=2.0, concurrency=1).carry_out(PUT)
    assert (judged.outcome, judged.done, status) == ("ok", True, None)
    assert judged.message == "put the serve config (hello)"
    [request] = seen
    assert (request.method, str(request.url)) == ("PUT", "http://10.244.0.9:8265/api/serve/applications/")
    assert request.headers["content-type"] == "application/json" and json.loads(request.content) == CONFIG


async def test_a_refused_config_is_permanent_with_rays_words() -> None:
    def route(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="1 validation error for ServeDeploySchema")

    async with mock(route) as http:
        judged, status = await RayCaller(http, no_secret, access="service", timeout=2.0, concurrency=1).carry_out(PUT)
    assert (judged.outcome, status) == ("permanent", 400) and "ServeDeploySchema" in judged.message


@pytest.mark.parametrize(("call", "status", "temporary"), [
    ("serve_applications", 200, None),
    ("put_serve_config", 200, None),
    ("serve_applications", 503, True),
    ("serve_applications", 501, True),
    ("put_serve_config", 400, False),
    ("serve_applications", 404, False),
], ids=["read", "put", "controller-unavailable", "serve-not-installed", "config-refused", "no-serve-api"])
def test_the_dashboards_serve_answers(call: str, status: int, temporary: bool | None) -> None:
    error = judge_answer(call, status, "body")
    assert (error.temporary if error is not None else None) is temporary


async def test_the_client_reads_the_declarative_applications() -> None:
    seen: list[httpx.Request] = []

    def route(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"applications": {}}) if request.method == "GET" else httpx.Response(
            200, text="not json")

    async with mock(route) as http:
        client = DashboardClient(http, "http://dash:8265", token="t0k")
        assert await client.serve_applications() == {"applications": {}}
        with pytest.raises(DashboardError, match="not JSON") as put:  # a body Ray never sends to a PUT
            await client.put_serve_config(CONFIG)
    assert put.value.temporary
    assert [str(r.url) for r in seen] == ["http://dash:8265/api/serve/applications/?api_type=declarative",
                                          "http://dash:8265/api/serve/applications/"]
    assert all(r.headers["x-ray-authorization"] == "Bearer t0k" for r in seen)


@pytest.mark.parametrize(("answer", "healthy", "said"), [
    (httpx.Response(200, text="success"), True, ""),
    (httpx.Response(503, text="This node is being drained."), False, "503: This node is being drained."),
    (httpx.Response(500), False, "500: Internal Server Error"),
    (httpx.ConnectError("Connection refused"), False, "ConnectError: Connection refused"),
    (httpx.ReadTimeout("timed out"), False, "no answer within 2s"),
], ids=["healthy", "draining", "error-without-a-body", "refused", "timeout"])
async def test_the_proxy_health(answer: httpx.Response | Exception, healthy: bool, said: str) -> None:
    def route(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == "http://10.244.0.9:8000/-/healthz"
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with mock(route) as http:
        error = await proxy_health(http, "http://10.244.0.9:8000/", timeout=2.0)
    assert (error == "") is healthy and said in error
