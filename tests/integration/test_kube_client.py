"""The Kubernetes client edge (`raybus_common.kube.client.KubeClient`) against a real kube-apiserver:
what it sends (the body serialised once, bytes as they are, the User-Agent and the token from
kubernetes_asyncio's auth settings), how it connects (TLS verified against the kubeconfig's CA,
`tls-server-name`, the HTTPS proxy), what it answers (JSON, metadata only when asked) and how it
fails (`ApiError` with the API's status, reason and message; status 0 when no answer came,
timeouts included).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from raybus_common.errors import TRANSPORT
from raybus_common.kube.client import APPLY, METADATA, ApiError, KubeClient
from raybus_testbed.controlplane import make_certs
from raybus_testbed.procs import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
async def kube(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    async with await KubeClient.connect(kubeconfig=kubeconfig) as client:  # closed on the way out
        yield client


def kubeconfig_with(kubeconfig: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the test cluster's kubeconfig with its (current) cluster entry changed."""
    config = yaml.safe_load(kubeconfig.read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]["cluster"]
    change(next(c for c in config["clusters"] if c["name"] == current)["cluster"])
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


async def test_a_body_is_sent_as_json_once_and_bytes_as_they_are(kube: KubeClient, namespace: str) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    data = {"unicode": "héllo ☃ 𝄞", "quoted": 'say "hi"\n\tand go\\', "empty": ""}
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": namespace,
                                                                  "labels": {"n": "1"}}, "data": data}
    await kube.request("PATCH", f"{cms}/a", body=body, content_type=APPLY, params={"fieldManager": "t", "force": "true"})
    got = await kube.request("GET", f"{cms}/a")
    assert got["data"] == data and got["metadata"]["labels"] == {"n": "1"}

    manifest = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: {namespace}\ndata:\n  k: v\n"
    await kube.request("PATCH", f"{cms}/b", body=manifest.encode(), content_type=APPLY,
                       params={"fieldManager": "t", "force": "true"})  # YAML: server-side apply takes it too
    assert (await kube.request("GET", f"{cms}/b"))["data"] == {"k": "v"}


async def test_requests_carry_the_user_agent_and_the_token_kubernetes_asyncio_would_send(
        kube: KubeClient, namespace: str) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    created = await kube.request("POST", cms, body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
                                                    "data": {"k": "v"}})
    # Without a fieldManager, the API server names the writer after the User-Agent.
    assert [f["manager"] for f in created["metadata"]["managedFields"]] == ["raybus"]

    # The token comes from kubernetes_asyncio's auth settings, which run the configuration's
    # refresh hook first (an in-cluster token is re-read there as it expires): on every request.
    cfg = kube.api.configuration
    token = cfg.api_key.get("BearerToken")  # none on a cluster that takes client certificates
    calls: list[str] = []
    cfg.refresh_api_key_hook = lambda c: calls.append("refresh")
    await kube.request("GET", f"{cms}/a")
    await kube.raw("GET", "/readyz")
    async for _ in kube.stream(cms, {"watch": "1", "timeoutSeconds": "1"}, read_timeout=10):
        break
    assert len(calls) == 3
    if token:
        def expire(c: Any) -> None:
            c.api_key["BearerToken"] = "not-a-valid-token"

        cfg.refresh_api_key_hook = expire
        with pytest.raises(ApiError) as err:
            await kube.request("GET", f"{cms}/a")
        # Refused (401), or taken for nobody (403 to system:anonymous, on a server that allows it).
        assert err.value.status == 401 or "system:anonymous" in err.value.message, err.value


async def test_metadata_only_answers_say_the_resource_version_and_nothing_else(kube: KubeClient,
                                                                               namespace: str) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": namespace},
            "data": {"k": "v" * 1000}}
    answer = await kube.request("PATCH", f"{cms}/a", body=body, content_type=APPLY, accept=METADATA,
                                params={"fieldManager": "t", "force": "true"})
    assert answer["kind"] == "PartialObjectMetadata" and "data" not in answer
    assert answer["metadata"]["resourceVersion"] == (await kube.request("GET", f"{cms}/a"))["metadata"]["resourceVersion"]
    assert (await kube.request("GET", f"{cms}/a", accept=METADATA))["kind"] == "PartialObjectMetadata"


async def test_an_error_is_the_apis_status_reason_and_message(kube: KubeClient, namespace: str) -> None:
    with pytest.raises(ApiError) as err:
        await kube.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/missing")
    assert (err.value.status, err.value.reason, err.value.message) == (404, "NotFound",
                                                                       'configmaps "missing" not found')
    with pytest.raises(ApiError) as err:
        async for _ in kube.stream(f"/api/v1/namespaces/{namespace}/nosuchthings", {"watch": "1"}, read_timeout=5):
            pass
    assert err.value.status == 404


async def test_no_answer_in_time_is_a_transport_error(kube: KubeClient, namespace: str) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    with pytest.raises(ApiError) as err:  # a watch never ends by itself: the total timeout does
        await kube.raw("GET", cms, params={"watch": "1"}, timeout=1)
    assert (err.value.status, err.value.reason) == (TRANSPORT, "Transport")
    opened: list[bool] = []
    with pytest.raises(ApiError) as err:  # a quiet watch: the read timeout ends it
        async for _ in kube.stream(cms, {"watch": "1"}, read_timeout=1, on_open=lambda: opened.append(True)):
            pass
    assert err.value.status == TRANSPORT and "watch stream broke" in err.value.message and opened == [True]


async def test_nothing_listening_is_a_transport_error(kubeconfig: Path, tmp_path: Path) -> None:
    port = free_port()
    path = kubeconfig_with(kubeconfig, tmp_path, lambda c: c.update(server=f"https://127.0.0.1:{port}"))
    async with await KubeClient.connect(kubeconfig=path) as client:
        with pytest.raises(ApiError) as err:
            await client.request("GET", "/api")
        assert err.value.status == TRANSPORT
        with pytest.raises(ApiError) as err:
            async for _ in client.stream("/api/v1/configmaps", {"watch": "1"}, read_timeout=5):
                pass
        assert err.value.status == TRANSPORT


def _other_ca(tmp_path: Path) -> Callable[[dict[str, Any]], None]:
    make_certs(tmp_path / "other")

    def change(cluster: dict[str, Any]) -> None:
        cluster.pop("certificate-authority-data", None)
        cluster["certificate-authority"] = str(tmp_path / "other" / "ca.crt")
    return change


@pytest.mark.parametrize("how", ["another-ca", "another-server-name"])
async def test_the_server_certificate_is_verified(kubeconfig: Path, tmp_path: Path, how: str) -> None:
    change = (_other_ca(tmp_path) if how == "another-ca"
              else lambda c: c.update({"tls-server-name": "not-the-api-server.example"}))
    async with await KubeClient.connect(kubeconfig=kubeconfig_with(kubeconfig, tmp_path, change)) as client:
        with pytest.raises(ApiError) as err:
            await client.request("GET", "/api")
    assert err.value.status == TRANSPORT and "certificate" in err.value.message.lower(), err.value.message


class ConnectProxy:
    """A real HTTPS proxy (HTTP CONNECT, then bytes piped both ways) that notes each tunnel."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for writer in self.writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        method, target, _ = head.split(" ", 2)
        assert method == "CONNECT", head
        self.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        self.writers.append(up_writer)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        for task in (asyncio.create_task(pipe(reader, up_writer), name="proxy-up"),
                     asyncio.create_task(pipe(up_reader, writer), name="proxy-down")):
            self.tasks.add(task)


async def test_the_https_proxy_of_the_environment_carries_the_requests(
        kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxy = ConnectProxy()
    async with proxy as url:
        monkeypatch.setenv("HTTPS_PROXY", url)
        async with await KubeClient.connect(kubeconfig=kubeconfig) as client:
            assert (await client.request("GET", "/api"))["kind"] == "APIVersions"
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    assert proxy.tunnels and all(server.endswith(t) for t in proxy.tunnels), (proxy.tunnels, server)
