"""ServiceSettings from RAYBUS_* variables: KubeRay's defaults, comma lists, feature gates, validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from raybus_common.settings import FEATURE_GATES, ServiceSettings, parse_feature_gates


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("RAYBUS_") or key == "RAYCLUSTER_DEFAULT_REQUEUE_SECONDS_ENV":
            monkeypatch.delenv(key)


def test_defaults_match_kuberay() -> None:
    s = ServiceSettings()
    assert (s.qps, s.burst, s.reconcile_concurrency, s.requeue_seconds) == (100.0, 200, 1, 300.0)
    assert s.watch_namespaces == [] and s.all_namespaces
    assert s.http_port == 8080 and s.nats_url == "nats://127.0.0.1:4222"
    assert s.batch_scheduler == "" and not s.dry_run and s.log_format == "json"
    assert s.gates == dict(FEATURE_GATES)
    assert s.feature_enabled("RayClusterStatusConditions") and not s.feature_enabled("RayCronJob")


@pytest.mark.parametrize(("env", "field", "expected"), [
    ({"RAYBUS_WATCH_NAMESPACES": "a, b,,c"}, "watch_namespaces", ["a", "b", "c"]),
    ({"RAYBUS_WATCH_NAMESPACES": ""}, "watch_namespaces", []),
    ({"RAYBUS_HTTP_PORT": "0"}, "http_port", 0),
    ({"RAYBUS_QPS": "5.5"}, "qps", 5.5),
    ({"RAYBUS_DRY_RUN": "true"}, "dry_run", True),
    ({"RAYBUS_BATCH_SCHEDULER": "kai-scheduler"}, "batch_scheduler", "kai-scheduler"),
    ({"RAYCLUSTER_DEFAULT_REQUEUE_SECONDS_ENV": "60"}, "requeue_seconds", 60.0),
    ({"RAYBUS_REQUEUE_SECONDS": "30"}, "requeue_seconds", 30.0),
    ({"RAYBUS_FEATURE_GATES": "RayCronJob=true,RayClusterStatusConditions=false"}, "feature_gates",
     {"RayCronJob": True, "RayClusterStatusConditions": False}),
    ({"RAYBUS_LOG_FORMAT": "console"}, "log_format", "console"),
], ids=["namespaces", "namespaces-empty", "random-port", "qps", "dry-run", "kai", "kuberay-requeue-env",
        "requeue", "gates", "console-logs"])
def test_from_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], field: str, expected: object) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert getattr(ServiceSettings(), field) == expected


@pytest.mark.parametrize("env", [
    {"RAYBUS_BATCH_SCHEDULER": "slurm"},
    {"RAYBUS_FEATURE_GATES": "NoSuchGate=true"},
    {"RAYBUS_FEATURE_GATES": "RayCronJob"},
    {"RAYBUS_FEATURE_GATES": "RayCronJob=maybe"},
    {"RAYBUS_FEATURE_GATES": "KubernetesWAS=true", "RAYBUS_BATCH_SCHEDULER": "volcano"},
    {"RAYBUS_HTTP_PORT": "70000"},
    {"RAYBUS_LOG_FORMAT": "xml"},
    {"RAYBUS_NATS_CONNECT_ATTEMPTS": "0"},
    {"RAYBUS_BURST": "0"},
], ids=["unknown-scheduler", "unknown-gate", "gate-without-value", "gate-bad-value", "was-with-scheduler",
        "port-out-of-range", "bad-log-format", "unbounded-connect", "zero-burst"])
def test_invalid(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError):
        ServiceSettings()


@pytest.mark.parametrize(("text", "expected"), [
    ("", {}),
    ("RayCronJob=true", {"RayCronJob": True}),
    (" RayCronJob = TRUE , KubernetesWAS=0 ", {"RayCronJob": True, "KubernetesWAS": False}),
], ids=["empty", "one", "spaces-and-spellings"])
def test_parse_feature_gates(text: str, expected: dict[str, bool]) -> None:
    assert parse_feature_gates(text) == expected


def test_subclass_adds_knobs_and_keeps_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    class Mine(ServiceSettings):
        service_name: str = "mine"
        widgets: int = 3

    monkeypatch.setenv("RAYBUS_WIDGETS", "7")
    s = Mine()
    assert (s.service_name, s.widgets, s.qps) == ("mine", 7, 100.0)


def test_gate_lookup_of_unknown_name() -> None:
    with pytest.raises(KeyError):
        ServiceSettings().feature_enabled("Nope")
