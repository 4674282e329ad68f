"""How a service reaches NATS (`bus.nats.server_urls`, `connect_options`): every URL of a
cluster, user and password per service, TLS from RAYBUS_NATS_TLS_*; read from the environment."""

from __future__ import annotations

import ssl

import certifi
import pytest

from raybus_common.bus.config import NatsConfig
from raybus_common.bus.nats import connect_options, server_urls
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
