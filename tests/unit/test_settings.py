"""Settings by role, from RAYBUS_* variables: KubeRay's defaults, comma lists, feature gates,
validation; and each role carries only its own knobs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from raybus_actuator.settings import ActuatorSettings
from raybus_cluster_ctl.config import ClusterConfig
from raybus_cluster_ctl.settings import ClusterCtlSettings
from raybus_common.controller.config import (
    FEATURE_GATES,
    ControllerConfig,
    RuntimeConfig,
    parse_feature_gates,
)
from raybus_common.settings import ControllerSettings, ServiceSettings
from raybus_scheduler_bridge.settings import SchedulerBridgeSettings
from raybus_watcher.settings import WatcherSettings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("RAYBUS_") or key == "RAYCLUSTER_DEFAULT_REQUEUE_SECONDS_ENV":
            monkeypatch.delenv(key)


def test_defaults_match_kuberay() -> None:
    c = ControllerSettings()
    assert (c.reconcile_concurrency, c.requeue_seconds) == (1, 300.0)
    assert c.watch_namespaces == [] and c.all_namespaces and not c.dry_run
    assert c.gates == dict(FEATURE_GATES)
    assert c.feature_enabled("RayClusterStatusConditions") and not c.feature_enabled("RayCronJob")
    a = ActuatorSettings()
    assert (a.qps, a.burst, a.kubeconfig) == (100.0, 200, "")
    s = ServiceSettings()
    assert s.http_port == 8080 and s.nats_url == "nats://127.0.0.1:4222" and s.log_format == "json"
    assert SchedulerBridgeSettings().batch_scheduler == ""


@pytest.mark.parametrize(("cls", "absent"), [
    (ServiceSettings, ("qps", "burst", "kubeconfig", "watch_namespaces", "batch_scheduler", "feature_gates",
                       "reconcile_concurrency")),
    (ActuatorSettings, ("watch_namespaces", "batch_scheduler", "feature_gates", "reconcile_concurrency")),
    (WatcherSettings, ("batch_scheduler", "feature_gates", "reconcile_concurrency", "dry_run")),
    (ControllerSettings, ("qps", "burst", "kubeconfig")),
    (ClusterCtlSettings, ("qps", "burst", "kubeconfig")),
], ids=["service", "actuator", "watcher", "controller", "cluster-ctl"])
def test_each_role_has_only_its_own_knobs(cls: type[ServiceSettings], absent: tuple[str, ...]) -> None:
    assert not set(absent) & set(cls.model_fields)


@pytest.mark.parametrize(("cls", "env", "field", "expected"), [
    (ControllerSettings, {"RAYBUS_WATCH_NAMESPACES": "a, b,,c"}, "watch_namespaces", ["a", "b", "c"]),
    (WatcherSettings, {"RAYBUS_WATCH_NAMESPACES": ""}, "watch_namespaces", []),
    (ServiceSettings, {"RAYBUS_HTTP_PORT": "0"}, "http_port", 0),
    (ActuatorSettings, {"RAYBUS_QPS": "5.5"}, "qps", 5.5),
    (ControllerSettings, {"RAYBUS_DRY_RUN": "true"}, "dry_run", True),
    (SchedulerBridgeSettings, {"RAYBUS_BATCH_SCHEDULER": "kai-scheduler"}, "batch_scheduler", "kai-scheduler"),
    (ClusterCtlSettings, {"RAYBUS_BATCH_SCHEDULER": "volcano"}, "batch_scheduler", "volcano"),
    (ControllerSettings, {"RAYCLUSTER_DEFAULT_REQUEUE_SECONDS_ENV": "60"}, "requeue_seconds", 60.0),
    (ControllerSettings, {"RAYBUS_REQUEUE_SECONDS": "30"}, "requeue_seconds", 30.0),
    (ControllerSettings, {"RAYBUS_FEATURE_GATES": "RayCronJob=true,RayClusterStatusConditions=false"},
     "feature_gates", {"RayCronJob": True, "RayClusterStatusConditions": False}),
    (ServiceSettings, {"RAYBUS_LOG_FORMAT": "console"}, "log_format", "console"),
    (ClusterCtlSettings, {"RAYBUS_ENABLE_PROBES_INJECTION": "false"}, "enable_probes_injection", False),
    (ClusterCtlSettings, {"RAYBUS_DEFAULT_POD_LABELS": '{"team": "ml"}'}, "default_pod_labels", {"team": "ml"}),
], ids=["namespaces", "namespaces-empty", "random-port", "qps", "dry-run", "kai", "cluster-volcano", "kuberay-requeue-env",
        "requeue", "gates", "console-logs", "cluster-knob", "cluster-json-knob"])
def test_from_env(monkeypatch: pytest.MonkeyPatch, cls: type[ServiceSettings], env: dict[str, str], field: str,
                  expected: object) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert getattr(cls(), field) == expected


@pytest.mark.parametrize(("cls", "env"), [
    (SchedulerBridgeSettings, {"RAYBUS_BATCH_SCHEDULER": "slurm"}),
    (ControllerSettings, {"RAYBUS_FEATURE_GATES": "NoSuchGate=true"}),
    (ControllerSettings, {"RAYBUS_FEATURE_GATES": "RayCronJob"}),
    (ControllerSettings, {"RAYBUS_FEATURE_GATES": "RayCronJob=maybe"}),
    (SchedulerBridgeSettings, {"RAYBUS_FEATURE_GATES": "KubernetesWAS=true", "RAYBUS_BATCH_SCHEDULER": "volcano"}),
    (ServiceSettings, {"RAYBUS_HTTP_PORT": "70000"}),
    (ServiceSettings, {"RAYBUS_LOG_FORMAT": "xml"}),
    (ServiceSettings, {"RAYBUS_NATS_CONNECT_ATTEMPTS": "0"}),
    (ActuatorSettings, {"RAYBUS_BURST": "0"}),
], ids=["unknown-scheduler", "unknown-gate", "gate-without-value", "gate-bad-value", "was-with-scheduler",
        "port-out-of-range", "bad-log-format", "unbounded-connect", "zero-burst"])
def test_invalid(monkeypatch: pytest.MonkeyPatch, cls: type[ServiceSettings], env: dict[str, str]) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError):
        cls()


@pytest.mark.parametrize(("text", "expected"), [
    ("", {}),
    ("RayCronJob=true", {"RayCronJob": True}),
    (" RayCronJob = TRUE , KubernetesWAS=0 ", {"RayCronJob": True, "KubernetesWAS": False}),
], ids=["empty", "one", "spaces-and-spellings"])
def test_parse_feature_gates(text: str, expected: dict[str, bool]) -> None:
    assert parse_feature_gates(text) == expected


def test_a_controllers_settings_are_its_reconciles_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYBUS_ENABLE_LOGIN_SHELL", "true")
    s = ClusterCtlSettings()
    assert isinstance(s, ClusterConfig) and isinstance(s, RuntimeConfig)
    assert (s.service_name, s.enable_login_shell) == ("cluster-ctl", True)


def test_configs_are_built_without_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYBUS_ENABLE_LOGIN_SHELL", "true")
    monkeypatch.setenv("RAYBUS_DRY_RUN", "true")
    assert ClusterConfig().enable_login_shell is False  # a plain model: the environment is not read
    assert RuntimeConfig().dry_run is False
    assert ClusterConfig(feature_gates="RayCronJob=true").feature_enabled("RayCronJob")


@pytest.mark.parametrize(("namespaces", "namespace", "expected"), [
    ([], "any", True), (["a"], "a", True), (["a"], "b", False), (["a"], "", True),
], ids=["all", "listed", "not-listed", "cluster-scoped"])
def test_runtime_scope(namespaces: list[str], namespace: str, expected: bool) -> None:
    assert RuntimeConfig(watch_namespaces=namespaces).watches(namespace) is expected


def test_gate_lookup_of_unknown_name() -> None:
    with pytest.raises(KeyError):
        ControllerConfig().feature_enabled("Nope")


def test_batch_scheduler_settings_as_kuberay_checks_them() -> None:
    from raybus_common.controller.config import ControllerConfig
    assert ControllerConfig(enable_batch_scheduler=True).batch_scheduler == "volcano"
    with pytest.raises(ValueError, match="deprecated"):
        ControllerConfig(enable_batch_scheduler=True, batch_scheduler="yunikorn")
    with pytest.raises(ValueError, match="unknown batch scheduler"):
        ControllerConfig(batch_scheduler="slurm")
    with pytest.raises(ValueError, match="KubernetesWAS"):
        ControllerConfig(batch_scheduler="volcano", feature_gates={"KubernetesWAS": True})
