"""Go programs the testbed runs beside Raybus (KubeRay's operator, Kueue's controller manager):
the cached binary, built through `scripts/go-install.sh` when missing, and the running process,
ready once its readiness probe answers.

| here | what |
|---|---|
| `go_binary` | `~/.cache/raybus/bin/<name>-<version>/<binary>` (`RAYBUS_CACHE`), built by `scripts/build-<name>.sh` (with `<version>` in its version variable) if missing; the caller's error type when there is no Go or the build fails |
| `ProbedServer` | a `Proc` whose start waits for `GET /readyz` on its probe port; stop, log, context manager |
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from .procs import Proc
from .waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]


def go_binary(name: str, version: str, binary: str, *, version_variable: str, error: type[Exception]) -> Path:
    """The cached `binary` of tool `name` at `version`, built by `scripts/build-<name>.sh` if it
    is not cached; `error` (with why) when it cannot be had."""
    cached = Path(os.environ.get("RAYBUS_CACHE", Path.home() / ".cache" / "raybus")) / "bin" / \
        f"{name}-{version}" / binary
    if os.access(cached, os.X_OK):
        return cached
    if not shutil.which("go"):
        raise error(f"no {name} {version} in {cached.parent} and no Go toolchain to build it")
    script = f"scripts/build-{name}.sh"
    out = subprocess.run(["bash", str(REPO_ROOT / script)], env={**os.environ, version_variable: version},
                         check=False, capture_output=True, text=True)
    if out.returncode != 0:
        raise error(f"{script} failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


class ProbedServer:
    """A server process (`proc`) that is ready once `GET http://127.0.0.1:<probe_port>/readyz`
    answers 200; `label` names it in errors."""

    label = "server"
    proc: Proc
    probe_port: int

    def start(self, timeout: float = 60.0) -> None:
        """Start it; return once its readiness probe answers (stopped again if it never does)."""
        self.proc.start()
        try:
            wait_until(lambda: httpx.get(f"http://127.0.0.1:{self.probe_port}/readyz", timeout=1).status_code == 200,
                       timeout=timeout, what=f"{self.label} ready", proc=self.proc)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 10 s); on return the process has exited and writes nothing more."""
        self.proc.stop()
        if self.proc.running():
            raise RuntimeError(f"{self.label} (pid {self.proc.pid}) is still running after SIGTERM and SIGKILL")

    def running(self) -> bool:
        return self.proc.running()

    def log(self, lines: int = 30) -> str:
        return self.proc.tail(lines)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
