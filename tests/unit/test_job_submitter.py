"""job-ctl's submitter builders: the `ray job submit` command byte for byte against KubeRay v1.7's
`BuildJobSubmitCommand` (the first rows are KubeRay's own `job_test.go` cases, the others were
printed by KubeRay's code for these specs and typed in here), the submitter Job, the sidecar
container, and HTTPMode's request body."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from raybus_common.crds.rayjob import RayJob
from raybus_common.crds.rayjob_validation import load_runtime_env
from raybus_job_ctl.submitter import (
    CannotBuild,
    dashboard_address,
    job_request,
    shell_command,
    sidecar_container,
    submit_command,
    submitter_job,
)

HEALTH = ('python -c "import urllib.request; r=urllib.request.urlopen(\'{}/api/gcs_healthz\', timeout=10); '
          "exit(0 if b'success' in r.read() else 1)\"")
LOCAL = "http://127.0.0.1:8265"
SVC = "http://myjob-raycluster-xyz-head-svc.ns.svc.cluster.local:8265"


def wait(health: str, address: str) -> str:
    """KubeRay's wait loop as job_test.go spells it out."""
    return (f"until {HEALTH.format(health)} >/dev/null 2>&1 ; do echo \"Waiting for Ray Dashboard GCS to become "
            f"healthy at {address} ...\" ; sleep 2 ; done ; ")


def guarded(address: str, job_id: str, submit_flags: str) -> str:
    return (f"if ! ray job status --address {address} {job_id} >/dev/null 2>&1 ; then ray job submit --address "
            f"{address} --no-wait {submit_flags} ; fi ; ray job logs --address {address} --follow {job_id}")


def rayjob(spec: dict[str, Any], *, name: str = "myjob", status: dict[str, Any] | None = None,
           uid: str = "uid-1") -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": {"name": name, "namespace": "ns", "uid": uid}, "spec": spec, "status": status or {}}


def head(image: str = "rayproject/ray:2.41.0", port: int | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "ray-head", "image": image}
    if port is not None:
        container["ports"] = [{"name": "dashboard", "containerPort": port}]
    return {"template": {"spec": {"containers": [container]}}}


# KubeRay's job_test.go rayJobTemplate().
TEMPLATE = {"runtimeEnvYAML": "test: test", "metadata": {"testKey": "testValue"},
            "rayClusterSpec": {"rayVersion": "2.6.0", "headGroupSpec": head(port=8265)},
            "entrypoint": "echo no quote 'single quote' \"double quote\"", "entrypointNumCpus": 1,
            "entrypointNumGpus": 0.5, "entrypointResources": '{"Custom_1": 1, "Custom_2": 5.5}'}
TEMPLATE_FLAGS = (r'--runtime-env-json "{\"test\":\"test\"}" --metadata-json "{\"testKey\":\"testValue\"}" '
                  r"--submission-id testJobId --entrypoint-num-cpus 1.000000 --entrypoint-num-gpus 0.500000 "
                  r'--entrypoint-resources "{\"Custom_1\": 1, \"Custom_2\": 5.5}" -- '
                  "echo no quote 'single quote' \"double quote\"")
RUNTIME_ENV = ("env_vars:\n  GREETING: 'say \"hi\" & <bye>'\n  TAB: \"a\\tb\"\n  UNI: é😀\n"
               "pip: [requests==2.31, 'numpy']\nworking_dir: https://x/y.zip\n"
               "config: {setup_timeout_seconds: 600, eager: yes, ratio: 0.000001}\n")
RUNTIME_ENV_FLAG = (r'--runtime-env-json "{\"config\":{\"eager\":true,\"ratio\":0.000001,\"setup_timeout_seconds\":600},'
                    r'\"env_vars\":{\"GREETING\":\"say \\\"hi\\\" \\u0026 \\u003cbye\\u003e\",\"TAB\":\"a\\tb\",'
                    r'\"UNI\":\"é😀\"},\"pip\":[\"requests==2.31\",\"numpy\"],\"working_dir\":\"https://x/y.zip\"}"')

COMMANDS = [
    pytest.param(TEMPLATE, LOCAL, "testJobId", False, False,
                 wait(LOCAL, LOCAL) + guarded(LOCAL, "testJobId", TEMPLATE_FLAGS), id="kuberay-k8sjobmode"),
    pytest.param(TEMPLATE, LOCAL, "testJobId", True, False,
                 wait("http://localhost:8265", LOCAL) + f"ray job submit --address {LOCAL} {TEMPLATE_FLAGS} ;",
                 id="kuberay-sidecar"),
    pytest.param(TEMPLATE, LOCAL, "testJobId", True, True,
                 wait("http://localhost:8265", LOCAL) + guarded(LOCAL, "testJobId", TEMPLATE_FLAGS),
                 id="kuberay-sidecar-restart-gate"),
    pytest.param({"entrypoint": "  python -c \"print('hi')\"\n\t", "runtimeEnvYAML": RUNTIME_ENV}, SVC, "myjob-abcde",
                 False, False,
                 wait(SVC, SVC) + guarded(SVC, "myjob-abcde", RUNTIME_ENV_FLAG + " --submission-id myjob-abcde -- "
                                                              "python -c \"print('hi')\""),
                 id="runtime-env-quotes-html-unicode-yaml11-trimmed-entrypoint"),
    pytest.param({"entrypoint": "python a.py", "rayClusterSpec": {"rayVersion": "2.9", "headGroupSpec": head()},
                  "metadata": {"b": "2", "a": "x y", "c": "<&>\"'"}}, SVC, "myjob-abcde", False, False,
                 wait(SVC, SVC) + guarded(SVC, "myjob-abcde", r'--metadata-json "{\"a\":\"x y\",\"b\":\"2\",'
                                                              r'\"c\":\"\\u003c\\u0026\\u003e\\\"'
                                                              "'\\\"}\" --submission-id myjob-abcde -- python a.py"),
                 id="metadata-sorted-escaped"),
    pytest.param({"entrypoint": "python a.py", "entrypointNumCpus": 0.1, "entrypointNumGpus": 2,
                  "entrypointResources": '{"TPU": 4}'}, SVC, "myjob-abcde", False, False,
                 wait(SVC, SVC) + guarded(SVC, "myjob-abcde", "--submission-id myjob-abcde --entrypoint-num-cpus "
                                                              "0.100000 --entrypoint-num-gpus 2.000000 "
                                                              r'--entrypoint-resources "{\"TPU\": 4}" -- python a.py'),
                 id="cpus-gpus-resources"),
    pytest.param({"entrypoint": "python a.py"}, "http://already:8265", "", False, False,
                 wait("http://already:8265", "http://already:8265")
                 + "if ! ray job status --address http://already:8265  >/dev/null 2>&1 ; then ray job submit "
                   "--address http://already:8265 --no-wait -- python a.py ; fi ; ray job logs --address "
                   "http://already:8265 --follow ",
                 id="no-submission-id"),
    pytest.param({"entrypoint": "x"}, "http://127.0.0.1:9000", "myjob-abcde", True, False,
                 wait("http://localhost:9000", "http://127.0.0.1:9000")
                 + "ray job submit --address http://127.0.0.1:9000 --submission-id myjob-abcde -- x ;",
                 id="sidecar-custom-port"),
    pytest.param({"entrypoint": "x", "clusterSelector": {"ray.io/cluster": "c"}, "metadata": {"a": "b"}}, SVC, "j",
                 False, False, wait(SVC, SVC) + guarded(SVC, "j", r'--metadata-json "{\"a\":\"b\"}" '
                                                                  "--submission-id j -- x"),
                 id="metadata-without-cluster-spec"),
]


@pytest.mark.parametrize(("spec", "address", "job_id", "sidecar", "restartable", "expected"), COMMANDS)
def test_submit_command_is_kuberays(spec: dict[str, Any], address: str, job_id: str, sidecar: bool,
                                    restartable: bool, expected: str) -> None:
    job = RayJob.model_validate(rayjob(spec))
    assert submit_command(job, address=address, job_id=job_id, sidecar=sidecar, restartable=restartable) == expected


@pytest.mark.parametrize(("version", "passes"), [
    pytest.param("2.6.0", True, id="2.6.0"),
    pytest.param("2.9", True, id="two-parts"),
    pytest.param("v2.10.1", True, id="v-prefix"),
    pytest.param("", True, id="unset"),
    pytest.param("2.10.0-rc1", True, id="prerelease-of-a-later-version-fixed"),
    pytest.param("2.5.0", False, id="too-old"),
    pytest.param("2.6.0-rc1", False, id="prerelease-of-2.6.0"),
    pytest.param("not-a-version", False, id="unparsable"),
    pytest.param("2.9.0rc1", False, id="python-style-prerelease"),
])
def test_metadata_needs_ray_2_6(version: str, passes: bool) -> None:
    job = RayJob.model_validate(rayjob({"entrypoint": "x", "metadata": {"a": "b"},
                                        "rayClusterSpec": {"rayVersion": version, "headGroupSpec": head()}}))
    if passes:
        assert "--metadata-json" in submit_command(job, address=SVC, job_id="j", sidecar=False)
    else:
        with pytest.raises(CannotBuild, match="Ray version"):
            submit_command(job, address=SVC, job_id="j", sidecar=False)


def test_a_runtime_env_that_go_cannot_encode_cannot_build() -> None:
    job = RayJob.model_validate(rayjob({"entrypoint": "x", "runtimeEnvYAML": "a: .nan"}))
    with pytest.raises(CannotBuild, match="unsupported value"):
        submit_command(job, address=SVC, job_id="j", sidecar=False)


@pytest.mark.parametrize(("login", "expected"), [
    pytest.param(False, ["/bin/bash", "-ce", "--"], id="plain"),
    pytest.param(True, ["/bin/bash", "-cel", "--"], id="login-shell"),
])
def test_shell_command(login: bool, expected: list[str]) -> None:
    assert shell_command(login) == expected


@pytest.mark.parametrize(("url", "expected"), [
    pytest.param("svc.ns.svc.cluster.local:8265", "http://svc.ns.svc.cluster.local:8265", id="no-scheme"),
    pytest.param("http://svc:8265", "http://svc:8265", id="http"),
    pytest.param("https://svc:8265", "https://svc:8265", id="https-kept-fixed"),
])
def test_dashboard_address(url: str, expected: str) -> None:
    assert dashboard_address(url) == expected


# --- the submitter Job -----------------------------------------------------------------------
def cluster(spec_extra: dict[str, Any] | None = None, name: str = "myjob-raycluster-xyz") -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"headGroupSpec": head("rayproject/ray:2.41.0-py311"), **(spec_extra or {})}}


def build(spec: dict[str, Any], the_cluster: dict[str, Any] | None = None, *, login: bool = False,
          name: str = "myjob") -> dict[str, Any]:
    raw = rayjob({"entrypoint": "python a.py", "rayClusterSpec": {"headGroupSpec": head()}, **spec}, name=name)
    return submitter_job(raw, RayJob.model_validate(raw), the_cluster or cluster(), job_id="myjob-abcde",
                         dashboard_url="svc.ns.svc.cluster.local:8265", login_shell=login)


def env_of(container: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(e["name"], e.get("value", e.get("valueFrom"))) for e in container.get("env") or []]


BASE_ENV = [("PYTHONUNBUFFERED", "1"), ("RAY_DASHBOARD_ADDRESS", "svc.ns.svc.cluster.local:8265"),
            ("RAY_JOB_SUBMISSION_ID", "myjob-abcde")]
LABELS = {"ray.io/originated-from-cr-name": "myjob", "ray.io/originated-from-crd": "RayJob",
          "app.kubernetes.io/created-by": "kuberay-operator"}


def test_default_submitter_job() -> None:
    job = build({})
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert (job["metadata"]["name"], job["metadata"]["namespace"]) == ("myjob", "ns")
    assert job["metadata"]["labels"] == LABELS
    assert job["metadata"]["ownerReferences"] == [{"apiVersion": "ray.io/v1", "kind": "RayJob", "name": "myjob",
                                                   "uid": "uid-1", "controller": True, "blockOwnerDeletion": True}]
    assert job["spec"]["backoffLimit"] == 2
    template = job["spec"]["template"]
    assert template["metadata"]["labels"] == LABELS
    assert template["spec"]["restartPolicy"] == "Never"
    [container] = template["spec"]["containers"]
    assert container["name"] == "ray-job-submitter"
    assert container["image"] == "rayproject/ray:2.41.0-py311"  # the actual cluster's head image
    assert container["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"},
                                      "requests": {"cpu": "500m", "memory": "200Mi"}}
    assert container["command"] == ["/bin/bash", "-ce", "--"]
    svc = "http://svc.ns.svc.cluster.local:8265"
    assert container["args"] == [wait(svc, svc) + guarded(svc, "myjob-abcde", "--submission-id myjob-abcde -- "
                                                                             "python a.py")]
    assert env_of(container) == BASE_ENV
    assert "volumes" not in template["spec"]


@pytest.mark.parametrize(("config", "expected"), [
    pytest.param(None, 2, id="unset"),
    pytest.param({}, 2, id="empty-config"),
    pytest.param({"backoffLimit": 0}, 0, id="zero"),
    pytest.param({"backoffLimit": 5}, 5, id="five"),
])
def test_submitter_backoff_limit(config: dict[str, Any] | None, expected: int) -> None:
    spec = {} if config is None else {"submitterConfig": config}
    assert build(spec)["spec"]["backoffLimit"] == expected


def test_login_shell() -> None:
    [container] = build({}, login=True)["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/bin/bash", "-cel", "--"]


def test_submitter_pod_template_with_its_own_command_keeps_it() -> None:
    template = {"metadata": {"labels": {"app": "sub", "ray.io/originated-from-cr-name": "other"}},
                "spec": {"restartPolicy": "OnFailure",
                         "containers": [{"name": "s", "image": "mine", "command": ["my-submit"], "args": ["--fast"],
                                         "env": [{"name": "PYTHONUNBUFFERED", "value": "0"}, {"name": "A", "value": "1"}]},
                                        {"name": "other", "image": "x"}]}}
    job = build({"submitterPodTemplate": copy.deepcopy(template)})
    pod = job["spec"]["template"]
    assert pod["metadata"]["labels"] == {"app": "sub", **LABELS}
    assert pod["spec"]["restartPolicy"] == "OnFailure"
    first, second = pod["spec"]["containers"]
    assert (first["command"], first["args"], first["image"]) == (["my-submit"], ["--fast"], "mine")
    # KubeRay appends its three; the template's PYTHONUNBUFFERED would be shadowed, so it goes.
    assert env_of(first) == [("A", "1"), *BASE_ENV]
    assert second == {"name": "other", "image": "x"}
    assert "resources" not in first


def test_submitter_pod_template_without_command_gets_kuberays() -> None:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "s", "image": "mine"}]}}
    [first] = build({"submitterPodTemplate": template})["spec"]["template"]["spec"]["containers"]
    assert first["command"] == ["/bin/bash", "-ce", "--"]
    assert first["args"][0].startswith("until python -c")
    assert first["image"] == "mine"


TOKEN_SECRET = {"secretKeyRef": {"name": "myjob-raycluster-xyz", "key": "auth_token"}}


@pytest.mark.parametrize(("auth", "cluster_name", "env", "mounts", "volume"), [
    pytest.param({"mode": "disabled"}, "myjob-raycluster-xyz", [], None, False, id="disabled"),
    pytest.param({"mode": "token"}, "myjob-raycluster-xyz",
                 [("RAY_AUTH_MODE", "token"), ("RAY_AUTH_TOKEN", TOKEN_SECRET)], None, False, id="token"),
    pytest.param({"mode": "token", "secretName": "mine"}, "myjob-raycluster-xyz",
                 [("RAY_AUTH_MODE", "token"),
                  ("RAY_AUTH_TOKEN", {"secretKeyRef": {"name": "mine", "key": "auth_token"}})], None, False,
                 id="token-secret-name"),
    pytest.param({"mode": "token"}, "a" * 47 + "-xyzab",
                 [("RAY_AUTH_MODE", "token"),
                  ("RAY_AUTH_TOKEN", {"secretKeyRef": {"name": "a" * 44 + "-xyzab", "key": "auth_token"}})], None,
                 False, id="token-secret-checkname-of-long-cluster"),
    pytest.param({"mode": "token", "enableK8sTokenAuth": True}, "c",
                 [("RAY_AUTH_MODE", "token"), ("RAY_ENABLE_K8S_TOKEN_AUTH", "true")],
                 [{"name": "ray-token", "mountPath": "/var/run/secrets/ray.io/serviceaccount", "readOnly": True}], True,
                 id="kubernetes-token-selected-cluster"),
    pytest.param({"enableK8sTokenAuth": True}, "c", [], None, True, id="kubernetes-token-without-token-mode"),
])
def test_submitter_token_auth(auth: dict[str, Any], cluster_name: str, env: list[tuple[str, Any]],
                              mounts: list[dict[str, Any]] | None, volume: bool) -> None:
    job = build({}, cluster({"authOptions": auth}, name=cluster_name))
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert env_of(container) == BASE_ENV + env
    assert container.get("volumeMounts") == mounts
    expected_volumes = [{"name": "ray-token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]
    assert pod.get("volumes") == (expected_volumes if volume else None)


def test_token_env_already_in_the_template_is_kept() -> None:
    template = {"spec": {"restartPolicy": "Never", "containers": [
        {"name": "s", "image": "i", "env": [{"name": "RAY_AUTH_MODE", "value": "token"},
                                           {"name": "RAY_AUTH_TOKEN", "value": "literal"}]}]}}
    job = build({"submitterPodTemplate": template}, cluster({"authOptions": {"mode": "token"}}))
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert env_of(container) == [("RAY_AUTH_MODE", "token"), ("RAY_AUTH_TOKEN", "literal"), *BASE_ENV]


def test_the_rayjob_is_not_changed() -> None:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "s", "image": "i"}]}}
    raw = rayjob({"entrypoint": "x", "clusterSelector": {"ray.io/cluster": "c"}, "submitterPodTemplate": template})
    before = copy.deepcopy(raw)
    job = RayJob.model_validate(raw)
    submitter_job(raw, job, cluster(), job_id="j", dashboard_url="d:1", login_shell=False)
    assert raw == before
    assert job.spec.submitter_pod_template == template


# --- the sidecar container ---------------------------------------------------------------------
SIDECAR_SPEC = {**TEMPLATE, "submissionMode": "SidecarMode"}


@pytest.mark.parametrize(("gate", "status", "dashboard", "restart_policy"), [
    pytest.param(False, {"jobId": "testJobId"}, "", None, id="first-attempt"),
    pytest.param(True, {"jobId": "testJobId"}, "", "OnFailure", id="restart-gate"),
    pytest.param(False, {"jobId": "testJobId", "dashboardURL": "svc:8265"}, "svc:8265", None,
                 id="cluster-recreated-while-running"),
])
def test_sidecar_container(gate: bool, status: dict[str, Any], dashboard: str, restart_policy: str | None) -> None:
    raw = rayjob(SIDECAR_SPEC, status=status)
    job = RayJob.model_validate(raw)
    container = sidecar_container(job, raw["spec"]["rayClusterSpec"]["headGroupSpec"], job_id="testJobId",
                                  login_shell=False, restart_gate=gate, cluster="myjob-raycluster-xyz")
    assert container["name"] == "ray-job-submitter"
    assert container["image"] == "rayproject/ray:2.41.0"
    assert container["command"] == ["/bin/bash", "-ce", "--"]
    tail = guarded(LOCAL, "testJobId", TEMPLATE_FLAGS) if gate else f"ray job submit --address {LOCAL} {TEMPLATE_FLAGS} ;"
    assert container["args"] == [wait("http://localhost:8265", LOCAL) + tail]
    assert env_of(container) == [("PYTHONUNBUFFERED", "1"), ("RAY_DASHBOARD_ADDRESS", dashboard),
                                 ("RAY_JOB_SUBMISSION_ID", "testJobId")]
    assert container.get("restartPolicy") == restart_policy


def test_sidecar_token_secret_is_named_after_the_new_cluster() -> None:
    spec = {**SIDECAR_SPEC, "rayClusterSpec": {**TEMPLATE["rayClusterSpec"], "authOptions": {"mode": "token"}}}
    raw = rayjob(spec)
    container = sidecar_container(RayJob.model_validate(raw), raw["spec"]["rayClusterSpec"]["headGroupSpec"],
                                  job_id="j", login_shell=True, restart_gate=False, cluster="myjob-raycluster-xyz")
    assert env_of(container)[3:] == [("RAY_AUTH_MODE", "token"), ("RAY_AUTH_TOKEN", TOKEN_SECRET)]
    assert container["command"] == ["/bin/bash", "-cel", "--"]


# --- HTTPMode ----------------------------------------------------------------------------------
def test_job_request() -> None:
    spec = {"entrypoint": "  python a.py\n", "runtimeEnvYAML": "pip: [requests]\nenv_vars: {A: on}\n",
            "metadata": {"k": "v"}, "entrypointNumCpus": 1.5, "entrypointNumGpus": 0.5,
            "entrypointResources": '{"Custom_1": 1, "Custom_2": 5.5}'}
    request = job_request(RayJob.model_validate(rayjob(spec)), job_id="myjob-abcde")
    assert request.body() == {"entrypoint": "  python a.py\n", "submission_id": "myjob-abcde",
                              "metadata": {"k": "v"}, "runtime_env": {"pip": ["requests"], "env_vars": {"A": True}},
                              "entrypoint_num_cpus": 1.5, "entrypoint_num_gpus": 0.5,
                              "entrypoint_resources": {"Custom_1": 1.0, "Custom_2": 5.5}}


def test_job_request_minimal() -> None:
    request = job_request(RayJob.model_validate(rayjob({"entrypoint": "python a.py"})), job_id="j")
    assert request.body() == {"entrypoint": "python a.py", "submission_id": "j"}


@pytest.mark.parametrize("resources", [
    pytest.param("{not json", id="not-json"),
    pytest.param("[1]", id="not-an-object"),
    pytest.param('{"a": "x"}', id="not-a-number"),
    pytest.param('{"a": NaN}', id="nan"),
])
def test_job_request_bad_resources(resources: str) -> None:
    job = RayJob.model_validate(rayjob({"entrypoint": "x", "entrypointResources": resources}))
    with pytest.raises(CannotBuild, match="entrypointResources"):
        job_request(job, job_id="j")


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("", None, id="empty"),
    pytest.param("~", None, id="null"),
    pytest.param("working_dir: x\npip: [a]", {"working_dir": "x", "pip": ["a"]}, id="mapping"),
    pytest.param("a: y\nb: 0x10\nc: 2001-12-14", {"a": True, "b": 16, "c": "2001-12-14"}, id="go-yaml-rules"),
])
def test_load_runtime_env(text: str, expected: Any) -> None:
    assert load_runtime_env(text) == expected


@pytest.mark.parametrize(("text", "error"), [
    pytest.param("a: [unclosed", "error converting YAML to JSON: yaml: line 1", id="not-yaml"),
    pytest.param("- a\n- b", "cannot unmarshal array into Go value of type types.RuntimeEnvType", id="list"),
    pytest.param("hello", "cannot unmarshal string into Go value", id="scalar"),
])
def test_load_runtime_env_refuses(text: str, error: str) -> None:
    with pytest.raises(ValueError, match="failed to unmarshal RuntimeEnvYAML") as e:
        load_runtime_env(text)
    assert error in str(e.value)
