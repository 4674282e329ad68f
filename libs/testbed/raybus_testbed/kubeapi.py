"""A small synchronous Kubernetes REST client for the launcher, tests' set-up and benchmarks.

Only what setting up a cluster needs (get, create, apply, patch status, delete, wait). The
services themselves talk to Kubernetes through kubernetes_asyncio in the watcher and actuator;
this client exists so the testbed does not depend on them.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml


class KubeError(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body
        try:
            self.message = str(json.loads(body).get("message", body))
        except ValueError:
            self.message = body
        super().__init__(f"{status}: {self.message}")


class KubeAPI:
    def __init__(self, server: str, *, token: str | None = None, ca_file: str | None = None,
                 client_cert: tuple[str, str] | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.server = server.rstrip("/")
        ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl._create_unverified_context()
        if client_cert:
            ctx.load_cert_chain(*client_cert)
        self.http = httpx.Client(base_url=self.server, headers=headers, verify=ctx, timeout=timeout)

    @classmethod
    def from_kubeconfig(cls, path: str | Path) -> KubeAPI:
        cfg = yaml.safe_load(Path(path).read_text())
        ctx_name = cfg["current-context"]
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        ca = cluster.get("certificate-authority")
        if not ca and cluster.get("certificate-authority-data"):
            ca = _tmpfile(base64.b64decode(cluster["certificate-authority-data"]))
        cert = None
        if user.get("client-certificate-data"):
            cert = (_tmpfile(base64.b64decode(user["client-certificate-data"])),
                    _tmpfile(base64.b64decode(user["client-key-data"])))
        elif user.get("client-certificate"):
            cert = (user["client-certificate"], user["client-key"])
        return cls(cluster["server"], token=user.get("token"), ca_file=ca, client_cert=cert)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, *, body: Any = None, content_type: str = "application/json",
                params: dict[str, str] | None = None) -> Any:
        data = None if body is None else json.dumps(body)
        resp = self.http.request(method, path, content=data, params=params,
                                 headers={"Content-Type": content_type} if data else {})
        if resp.status_code >= 400:
            raise KubeError(resp.status_code, resp.text)
        return resp.json() if resp.content and resp.headers.get("content-type", "").startswith("application/json") else resp.text

    def get(self, path: str, **params: str) -> Any:
        return self.request("GET", path, params=params or None)

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
            return True
        except KubeError as e:
            if e.status == 404:
                return False
            raise

    def create(self, path: str, obj: dict[str, Any]) -> Any:
        return self.request("POST", path, body=obj)

    def apply(self, path: str, obj: dict[str, Any], *, manager: str = "raybus-testbed") -> Any:
        """Server-side apply `obj` at `path` (the object's own URL)."""
        return self.request("PATCH", path, body=obj, content_type="application/apply-patch+yaml",
                            params={"fieldManager": manager, "force": "true"})

    def merge_patch(self, path: str, patch: dict[str, Any]) -> Any:
        return self.request("PATCH", path, body=patch, content_type="application/merge-patch+json")

    def delete(self, path: str, **params: str) -> Any:
        try:
            return self.request("DELETE", path, params=params or None)
        except KubeError as e:
            if e.status != 404:
                raise
            return None

    def wait(self, check: Callable[[], bool], *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except KubeError as e:
                last = e
            time.sleep(0.2)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {last})" if last else ""))


def _tmpfile(data: bytes) -> str:
    f = tempfile.NamedTemporaryFile(prefix="raybus-kube-", delete=False)  # noqa: SIM115 - must outlive this call
    f.write(data)
    f.close()
    return f.name
