"""deploy/grafana/raybus-dashboard.json reads only metrics Raybus exposes: every metric name in its
queries is one the services define (their prometheus_client metrics and KubeRay's `kuberay_*`
families), with the label names those metrics carry."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((REPO / "deploy" / "grafana" / "raybus-dashboard.json").read_text())
# Modules whose import defines the services' metrics.
MODULES = ("raybus_common.metrics", "raybus_watcher.handlers", "raybus_watcher.raypoll", "raybus_watcher.servepoll",
           "raybus_actuator.handlers", "raybus_actuator.recorder")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
# KubeRay's families, built at scrape time by each controller's collector (name → its labels).
KUBERAY_SOURCES = ("services/cluster-ctl/raybus_cluster_ctl/metrics.py", "services/job-ctl/raybus_job_ctl/metrics.py",
                   "services/serve-ctl/raybus_serve_ctl/metrics.py")


def exposed() -> set[str]:
    for module in MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    for source in KUBERAY_SOURCES:
        names |= set(re.findall(r'"(kuberay_[a-z_]+)"', (REPO / source).read_text()))
    return names


def queries() -> list[str]:
    out = [t["expr"] for p in DASHBOARD["panels"] for t in p.get("targets", [])]
    out += [v["query"] for v in DASHBOARD["templating"]["list"] if v.get("type") == "query"]
    return out


def test_every_metric_the_dashboard_reads_is_exposed() -> None:
    names = exposed()
    used = {m for q in queries() for m in re.findall(r"\b((?:raybus|kuberay)_[a-z_]+)\b", q)}
    assert used, "the dashboard reads no metric"
    assert used <= names, f"metrics the dashboard reads that no service exposes: {sorted(used - names)}"


def test_the_dashboard_covers_what_operators_watch() -> None:
    text = " ".join(queries())
    for needed in ("raybus_bus_lag_seconds", "raybus_controller_reconciles_total",
                   "raybus_controller_reconcile_seconds_bucket", "raybus_actuator_actions_total",
                   "raybus_dead_letters_total", "kuberay_cluster_info", "kuberay_job_info", "kuberay_service_info"):
        assert needed in text, needed
    titles = [p["title"] for p in DASHBOARD["panels"]]
    assert len(titles) == len(set(titles)), "two panels share a title"
    ids = [p["gridPos"] for p in DASHBOARD["panels"]]
    assert all(0 <= g["x"] and g["x"] + g["w"] <= 24 for g in ids), "a panel outside the 24-column grid"
