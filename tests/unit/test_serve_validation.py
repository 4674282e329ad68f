"""RayService validation (A.2: `ValidateRayServiceMetadata`, `ValidateRayServiceSpec`,
`ValidateClusterUpgradeOptions`): each rule's message, field first, in KubeRay's words; the first
failure wins; the gate decides whether the incremental options are checked."""

from __future__ import annotations

from typing import Any

import pytest
from serve_core_views import cluster_config, incremental, rayservice, typed

from raybus_serve_ctl.validation import METADATA, SPEC, initializing_timeout_problem, validate

META = "The RayService metadata is invalid: "
SPEC_INVALID = "The RayService spec is invalid: "
TIMEOUT = "metadata.annotations[ray.io/initializing-timeout]: " + META + "RayService annotations is invalid: "
OPTIONS = "spec.upgradeStrategy.clusterUpgradeOptions"


def autoscaling(**fields: Any) -> dict[str, Any]:
    return cluster_config(enableInTreeAutoscaling=True, **fields)


def with_head_service_name() -> dict[str, Any]:
    config = cluster_config()
    config["headGroupSpec"]["headService"] = {"metadata": {"name": "mine"}}
    return config


@pytest.mark.parametrize(("kw", "reason", "message"), [
    pytest.param({"name": "r" * 48}, METADATA,
                 f"metadata.name: {META}RayService name should be no more than 47 characters", id="name-too-long"),
    pytest.param({"name": "My_Service"}, METADATA, f"metadata.name: {META}RayService name should be a valid DNS1035 "
                 "label: [a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                 "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex "
                 "used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')]", id="name-not-dns1035"),
    pytest.param({"name": "1st"}, METADATA, None, id="name-starting-with-a-digit"),
    pytest.param({"annotations": {"ray.io/initializing-timeout": "soon"}}, METADATA,
                 TIMEOUT + "annotation ray.io/initializing-timeout has invalid format: soon. Expected Go duration format "
                 "(e.g., '5m', '1h') or positive integer seconds", id="timeout-unreadable"),
    pytest.param({"annotations": {"ray.io/initializing-timeout": "0s"}}, METADATA,
                 TIMEOUT + "annotation ray.io/initializing-timeout must be a positive duration, got: 0s",
                 id="timeout-zero-duration"),
    pytest.param({"annotations": {"ray.io/initializing-timeout": "-10"}}, METADATA,
                 TIMEOUT + "annotation ray.io/initializing-timeout must be a positive integer (seconds), got: -10",
                 id="timeout-negative-seconds"),
    pytest.param({"config": cluster_config(authOptions={"mode": "token", "enableK8sTokenAuth": True})}, SPEC,
                 "spec.rayClusterConfig.authOptions.enableK8sTokenAuth: " + SPEC_INVALID + "K8s token auth mode is "
                 "currently not supported for RayService", id="k8s-token-auth"),
    pytest.param({"config": with_head_service_name()}, SPEC,
                 "spec.rayClusterConfig.headGroupSpec.headService.metadata.name: " + SPEC_INVALID +
                 "spec.rayClusterConfig.headGroupSpec.headService.metadata.name should not be set",
                 id="head-service-name"),
    pytest.param({"upgradeStrategy": {"type": "BlueGreen"}}, SPEC,
                 "spec.upgradeStrategy.type: " + SPEC_INVALID + "Spec.UpgradeStrategy.Type value BlueGreen is invalid, "
                 "valid options are NewClusterWithIncrementalUpgrade, NewCluster, or None", id="unknown-type"),
    pytest.param({"upgradeStrategy": incremental()}, SPEC, "spec.rayClusterConfig.enableInTreeAutoscaling: "
                 + SPEC_INVALID + "Ray Autoscaler is required for NewClusterWithIncrementalUpgrade", id="no-autoscaler"),
    pytest.param({"config": autoscaling(), "upgradeStrategy": {"type": "NewClusterWithIncrementalUpgrade"}}, SPEC,
                 f"{OPTIONS}: {SPEC_INVALID}ClusterUpgradeOptions are required for NewClusterWithIncrementalUpgrade",
                 id="no-options"),
    pytest.param({"config": autoscaling(), "upgradeStrategy": incremental(max_surge=120, step=10)}, SPEC,
                 f"{OPTIONS}.maxSurgePercent: {SPEC_INVALID}maxSurgePercent must be between 0 and 100", id="surge-range"),
    pytest.param({"config": autoscaling(), "upgradeStrategy": incremental(step=-1)}, SPEC,
                 f"{OPTIONS}.stepSizePercent: {SPEC_INVALID}stepSizePercent must be between 0 and 100", id="step-range"),
    pytest.param({"config": autoscaling(), "upgradeStrategy": incremental(max_surge=20, step=25)}, SPEC,
                 f"{OPTIONS}.stepSizePercent: {SPEC_INVALID}stepSizePercent must be less than or equal to maxSurgePercent",
                 id="step-over-surge"),
    pytest.param({"config": autoscaling(), "upgradeStrategy": incremental(interval=0)}, SPEC,
                 f"{OPTIONS}.intervalSeconds: {SPEC_INVALID}intervalSeconds must be greater than 0", id="interval"),
    pytest.param({"config": autoscaling(), "upgradeStrategy": incremental(gateway_class="")}, SPEC,
                 f"{OPTIONS}.gatewayClassName: {SPEC_INVALID}gatewayClassName is required for "
                 "NewClusterWithIncrementalUpgrade", id="gateway-class"),
])
def test_invalid(kw: dict[str, Any], reason: str, message: str | None) -> None:
    raw = rayservice(**kw)
    found = validate(raw, typed(raw), incremental_gate=True)
    assert found is not None and found.reason == reason
    if message is not None:
        assert found.message == message
    else:
        assert found.message.startswith("metadata.name: ")


@pytest.mark.parametrize("kw", [
    pytest.param({}, id="plain"),
    pytest.param({"name": "r" * 47}, id="name-at-the-limit"),
    pytest.param({"annotations": {"ray.io/initializing-timeout": "30m"}}, id="timeout-duration"),
    pytest.param({"annotations": {"ray.io/initializing-timeout": "600"}}, id="timeout-seconds"),
    pytest.param({"annotations": {"ray.io/initializing-timeout": ""}}, id="timeout-empty"),
    pytest.param({"upgradeStrategy": {"type": "None"}}, id="type-None"),
    pytest.param({"upgradeStrategy": {"type": "NewCluster"}}, id="type-NewCluster"),
    pytest.param({"config": autoscaling(), "upgradeStrategy": incremental(max_surge=50, step=50)}, id="incremental"),
    pytest.param({"config": autoscaling(), "upgradeStrategy": incremental(max_surge=0, step=0)}, id="zero-step"),
    pytest.param({"config": cluster_config(authOptions={"mode": "token"})}, id="token-auth-without-k8s"),
])
def test_valid(kw: dict[str, Any]) -> None:
    raw = rayservice(**kw)
    assert validate(raw, typed(raw), incremental_gate=True) is None


def test_the_gate_off_leaves_the_incremental_options_unchecked() -> None:
    raw = rayservice(upgradeStrategy=incremental(max_surge=20, step=25))
    assert validate(raw, typed(raw), incremental_gate=False) is None
    found = validate(raw, typed(raw), incremental_gate=True)
    assert found is not None and found.message.startswith("spec.rayClusterConfig.enableInTreeAutoscaling")


def test_the_first_failure_wins() -> None:
    raw = rayservice(name="r" * 60, upgradeStrategy={"type": "BlueGreen"})
    found = validate(raw, typed(raw), incremental_gate=True)
    assert found is not None and found.reason == METADATA


@pytest.mark.parametrize(("text", "ok"), [("1h", True), ("90", True), ("", True), ("0", False), ("-1s", False),
                                          ("1.5", False)])
def test_initializing_timeout_problem(text: str, ok: bool) -> None:
    assert (initializing_timeout_problem(text) is None) is ok
