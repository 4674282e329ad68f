"""How a service reaches NATS (`bus.nats.server_urls`, `connect_options`): every URL of a
cluster, user and password per service, TLS from RAYBUS_NATS_TLS_*; read from the environment.
And how it waits for NATS: for a connection that is down, for a JetStream cluster still forming."""

from __future__ import annotations

import asyncio
import ssl
from types import SimpleNamespace

import certifi
import nats.errors
import nats.js.errors
import pytest

from raybus_common.bus.config import NatsConfig
from raybus_common.bus.nats import NatsBus, cluster_unsettled, connect_options, server_urls
from raybus_common.settings import ServiceSettings


def test_several_urls() -> None:
    cfg = NatsConfig(nats_url="nats://a:4222, nats://b:4222,,nats://c:4222")
    assert server_urls(cfg) == ["nats://a:4222", "nats://b:4222", "nats://c:4222"]


def test_no_credentials_no_tls_by_default() -> None:
    assert connect_options(NatsConfig()) == {}


def test_user_and_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYBUS_NATS_USER", "cluster-ctl")
    monkeypatch.setenv("RAYBUS_NATS_PASSWORD", "pw")
    monkeypatch.setenv("RAYBUS_NATS_TLS_CA", certifi.where())
    opts = connect_options(ServiceSettings())
    assert (opts["user"], opts["password"]) == ("cluster-ctl", "pw")
    assert isinstance(opts["tls"], ssl.SSLContext)
    assert opts["tls"].verify_mode == ssl.CERT_REQUIRED and opts["tls"].check_hostname


@pytest.mark.parametrize("given", [{"nats_tls_cert": "c.pem"}, {"nats_tls_key": "k.pem"}], ids=["cert", "key"])
def test_cert_and_key_go_together(given: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="set both or neither"):
        connect_options(NatsConfig(**given))


def test_a_missing_ca_file_is_an_error() -> None:
    with pytest.raises(FileNotFoundError):
        connect_options(NatsConfig(nats_tls_ca="/nonexistent/ca.pem"))


@pytest.mark.timeout(20)  # a wait that spins never yields: only the timeout's signal ends it
def test_a_stale_connected_event_does_not_make_the_wait_spin() -> None:
    """nats-py marks the connection down before the callback that clears the event runs: the
    wait must yield to the loop (so that callback and the reconnect can run), not return."""

    async def scenario() -> int:
        bus = NatsBus(ServiceSettings())  # no connection at all
        bus._connected.set()  # what the event says until the disconnected callback has run
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        other = asyncio.create_task(ticker())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(bus.until_connected(poll=0.05), 0.3)
        other.cancel()
        return ticks

    assert asyncio.run(scenario()) >= 5


def test_the_wait_ends_once_the_client_is_connected_again() -> None:
    async def scenario() -> None:
        bus = NatsBus(ServiceSettings())
        waiting = asyncio.create_task(bus.until_connected(poll=10))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        bus._nc = SimpleNamespace(is_connected=True)  # type: ignore[assignment]  # the client, reconnected
        bus._connected.set()  # and its reconnected callback
        await asyncio.wait_for(waiting, 1)

    asyncio.run(scenario())


@pytest.mark.parametrize(("error", "unsettled"), [
    (nats.js.errors.BadRequestError(code=400, err_code=10005, description="no suitable peers for placement"), True),
    (nats.js.errors.ServiceUnavailableError(code=503, err_code=10008,
                                            description="JetStream system temporarily unavailable"), True),
    (nats.errors.TimeoutError(), True),
    (nats.js.errors.BadRequestError(code=400, err_code=10058, description="stream name already in use"), False),
    (nats.js.errors.NotFoundError(code=404, err_code=10059, description="stream not found"), False),
], ids=["no-peers", "unavailable", "timeout", "name-in-use", "not-found"])
def test_which_jetstream_errors_a_forming_cluster_answers(error: Exception, unsettled: bool) -> None:
    assert cluster_unsettled(error) is unsettled
