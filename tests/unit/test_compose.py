"""docker-compose.yml is well formed and in step with the repository (no Docker engine needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIRS = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def test_there_are_seven_services() -> None:
    assert SERVICE_DIRS == sorted(
        ["watcher", "actuator", "cluster-ctl", "job-ctl", "serve-ctl", "cron", "scheduler-bridge"])


@pytest.mark.parametrize("name", SERVICE_DIRS)
def test_every_service_builds_from_its_own_dockerfile(compose: dict[str, Any], name: str) -> None:
    svc = compose["services"][name]
    assert svc["build"]["context"] == "."
    assert (ROOT / svc["build"]["dockerfile"]).is_file()
    assert svc["environment"]["RAYBUS_NATS_URL"] == "nats://nats:4222"
    assert svc["environment"]["RAYBUS_SERVICE_NAME"] == name
    assert svc["depends_on"]["nats"]["condition"] == "service_healthy"
    assert set(svc["networks"]) <= set(compose["networks"])


def test_only_the_watcher_and_actuator_get_a_kubeconfig(compose: dict[str, Any]) -> None:
    with_kube = {n for n, s in compose["services"].items() if "KUBECONFIG" in s.get("environment", {})}
    assert with_kube == {"watcher", "actuator"}


def test_host_ports_do_not_collide(compose: dict[str, Any]) -> None:
    host_ports = [p.split(":")[0] for s in compose["services"].values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports))


def test_nats_runs_jetstream_from_the_repo_config(compose: dict[str, Any]) -> None:
    nats = compose["services"]["nats"]
    conf = nats["volumes"][0].split(":")[0]
    assert (ROOT / conf).is_file()
    assert "jetstream" in (ROOT / conf).read_text()
    assert nats["healthcheck"]["test"]


def test_nats_collects_its_garbage_as_the_testbed_and_the_chart_do(compose: dict[str, Any]) -> None:
    from raybus_testbed.nats import NATS_ENV

    chart = yaml.safe_load((ROOT / "deploy" / "helm" / "raybus" / "values.yaml").read_text())
    assert compose["services"]["nats"]["environment"] == NATS_ENV == {"GOGC": str(chart["nats"]["gogc"])}
    template = (ROOT / "deploy" / "helm" / "raybus" / "templates" / "nats.yaml").read_text()
    assert "- name: GOGC\n              value: {{ .Values.nats.gogc | quote }}" in template


def test_kind_network_is_external(compose: dict[str, Any]) -> None:
    assert compose["networks"]["kind"] == {"external": True}


def test_the_kind_config_makes_the_cluster_compose_reaches() -> None:
    """deploy/kind/kind-config.yaml names the cluster whose control plane the compose file's
    comment and kubeconfig reach (`raybus-control-plane`), and the compose file says to use it."""
    config = yaml.safe_load((ROOT / "deploy" / "kind" / "kind-config.yaml").read_text())
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    assert [n["role"] for n in config["nodes"]].count("control-plane") == 1
    text = (ROOT / "docker-compose.yml").read_text()
    assert "kind create cluster --config deploy/kind/kind-config.yaml" in text
    assert f"https://{config['name']}-control-plane:6443" in text
    assert f"kind get kubeconfig --name {config['name']} --internal" in text
