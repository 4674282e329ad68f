"""The client edge loads kubernetes_asyncio's configuration, REST and auth layer without its
generated API and model classes (`raybus_common.kube.slim`), and still builds a working
`ApiClient` from a kubeconfig. Each case runs in a fresh interpreter: what is imported is the
point."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

KUBECONFIG = textwrap.dedent("""\
    apiVersion: v1
    kind: Config
    clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
    users: [{name: u, user: {token: secret-token}}]
    contexts: [{name: x, context: {cluster: c, user: u}}]
    current-context: x
    """)

PROBE = textwrap.dedent("""\
    import asyncio, json, sys
    if sys.argv[2] == "full-first":
        import kubernetes_asyncio.client  # someone imported the whole package before the edge
    from raybus_watcher import handlers  # noqa: F401  (the watcher's and the actuator's imports)
    from raybus_actuator import handlers as _  # noqa: F401
    from raybus_common.kube.client import ConfigException, KubeClient

    async def main():
        kube = await KubeClient.connect(kubeconfig=sys.argv[1])
        headers = {}
        await kube.api.update_params_for_auth(headers, [], ["BearerToken"])
        await kube.close()
        try:
            await KubeClient.connect(kubeconfig="/nonexistent")  # falls to in-cluster: not here
            refused = ""
        except ConfigException as exc:
            refused = type(exc).__name__
        return {"host": kube._host, "auth": headers.get("authorization"), "refused": refused,
                "models": sorted(m for m in sys.modules if m.startswith("kubernetes_asyncio.client.models."))[:3],
                "apis": sum(m.startswith("kubernetes_asyncio.client.api.") for m in sys.modules)}

    print(json.dumps(asyncio.run(main())))
    """)


def probe(tmp_path: Path, mode: str) -> dict[str, object]:
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG)
    proc = subprocess.run([sys.executable, "-c", PROBE, str(config), mode], check=True, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_the_services_load_no_generated_model_or_api_and_the_client_still_authenticates(tmp_path: Path) -> None:
    got = probe(tmp_path, "slim")
    assert got == {"host": "https://127.0.0.1:6443", "auth": "Bearer secret-token", "refused": "ConfigException",
                   "models": [], "apis": 0}


def test_a_process_that_imported_the_whole_package_first_keeps_it(tmp_path: Path) -> None:
    got = probe(tmp_path, "full-first")
    assert got["auth"] == "Bearer secret-token" and got["refused"] == "ConfigException"
    assert got["models"] and got["apis"]
