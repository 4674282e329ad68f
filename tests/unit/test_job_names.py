"""job-ctl's names: the generated cluster name and submission id (deterministic, five characters of
the API server's alphabet), the head Services' names, `status.dashboardURL`, and what a RayJob
names in its view (its cluster and that cluster's head Service)."""

from __future__ import annotations

import pytest
from job_views import CLUSTER, NS, cluster, head_service, rayjob, status

from raybus_job_ctl.handlers import named_cluster, named_head_service
from raybus_job_ctl.names import (
    ALPHABET,
    cluster_head_service_name,
    dashboard_url,
    generated_name,
    generated_suffix,
    rayjob_head_service_name,
)

START = "2026-11-22T12:00:00Z"


def test_generated_names_are_deterministic_and_five_chars_of_the_alphabet() -> None:
    names = {generated_suffix(f"uid-{i}", "raycluster", START) for i in range(500)}
    assert all(len(n) == 5 and set(n) <= set(ALPHABET) for n in names)
    assert len(names) > 490, "spread over the alphabet, not stuck on a few suffixes"
    assert generated_suffix("u", "jobid", START) == generated_suffix("u", "jobid", START)
    assert generated_name("rj", "u", "jobid", START) == "rj-" + generated_suffix("u", "jobid", START)


@pytest.mark.parametrize("other", [
    pytest.param(("v", "raycluster", START), id="another-rayjob"),
    pytest.param(("u", "jobid", START), id="what-it-names"),
    pytest.param(("u", "raycluster", "2026-11-22T12:00:01Z"), id="another-attempt"),
])
def test_each_input_changes_the_name(other: tuple[str, str, str]) -> None:
    uid, what, start = other
    assert generated_suffix("u", "raycluster", START) != generated_suffix(uid, what, start)  # type: ignore[arg-type]


def test_head_service_names() -> None:
    assert rayjob_head_service_name("rj") == "rj-head-svc"
    assert cluster_head_service_name("c", {}) == "c-head-svc"
    assert cluster_head_service_name("c", {"headGroupSpec": {"headService": {"metadata": {"name": "mine"}}}}) == "mine"


def test_dashboard_url_from_the_head_service_or_the_head_container() -> None:
    c = cluster()
    assert dashboard_url(c, head_service=head_service(dashboard=9999), fallback_port=8265, domain="d") == (
        f"{CLUSTER}-head-svc.{NS}.svc.d:9999")
    assert dashboard_url(c, head_service=None, fallback_port=8265, domain="cluster.local") == (
        f"{CLUSTER}-head-svc.{NS}.svc.cluster.local:8265")
    no_port = head_service()
    no_port["spec"]["ports"] = []
    assert dashboard_url(c, head_service=no_port, fallback_port=8265, domain="d") is None


def test_a_rayjob_names_its_cluster_and_that_clusters_head_service() -> None:
    assert named_cluster(rayjob()) == []
    assert named_cluster(rayjob(status("Running"))) == [CLUSTER]
    selector = rayjob(clusterSelector={"ray.io/cluster": "shared"}, rayClusterSpec=None)
    assert named_cluster(selector) == ["shared"]
    assert list(named_head_service(selector)) == ["shared-head-svc"]
    spec = rayjob(status("Running"))["spec"]["rayClusterSpec"]
    spec["headGroupSpec"]["headService"] = {"metadata": {"name": "custom-svc"}}
    assert list(named_head_service(rayjob(status("Running"), rayClusterSpec=spec))) == ["custom-svc"]
