"""Generate `deploy/crds/` from the models, with embedded Kubernetes types taken from a live
API server's OpenAPI (ours, started on the fly, or any cluster's kubeconfig)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from raybus_common.crds import KINDS
from raybus_common.crds.manifest import OPENAPI_PATHS, render_all
from raybus_common.crds.openapi import StructuralConverter, definitions

from .controlplane import CRD_DIR, ControlPlane
from .kube import Kube


def render_from(api: Kube) -> dict[str, str]:
    docs = [api.get(p) for p in OPENAPI_PATHS]
    return render_all(KINDS, StructuralConverter(definitions(*docs)), server_version(api))


def server_version(api: Kube) -> str:
    return str(api.get("/version")["gitVersion"])


def render(kubeconfig: Path | None = None) -> dict[str, str]:
    if kubeconfig is not None:
        api = Kube.connect(kubeconfig)
        try:
            return render_from(api)
        finally:
            api.close()
    with tempfile.TemporaryDirectory(prefix="raybus-crdgen-") as tmp:
        cp = ControlPlane(Path(tmp), nodes=(), crd_dir=None)
        try:
            cp.start()
            return render_from(cp.api)
        finally:
            cp.stop()


def write(files: dict[str, str], out_dir: Path = CRD_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out_dir / name
        path.write_text(text)
        written.append(path)
    return written


def drift(files: dict[str, str], out_dir: Path = CRD_DIR) -> list[str]:
    """Names of committed CRD files that differ from (or are missing against) `files`."""
    return [n for n, text in files.items() if not (out_dir / n).exists() or (out_dir / n).read_text() != text]
