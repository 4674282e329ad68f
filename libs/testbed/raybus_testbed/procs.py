"""Start and stop local server processes for tests, benchmarks and `raybus up`.

A `Proc` is one child process with its log file; `free_port` finds a loopback port. Nothing
here knows about Kubernetes or NATS: see `controlplane.py` and `nats.py`; waiting for a
process to be ready is `waiting.wait_until(..., proc=...)`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# The ports `free_port` has handed out in this process. The kernel may give a port it has just
# given (closed, not yet taken by its server) to the next bind; two servers of one process then
# collide: nats-server's monitor took its own client port that way in a CI run.
_HANDED_OUT: set[int] = set()
FREE_PORT_TRIES = 64


def free_port() -> int:
    """A loopback port nothing listens on, and not one this process has handed out before."""
    for _ in range(FREE_PORT_TRIES):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError(f"no fresh loopback port in {FREE_PORT_TRIES} tries ({len(_HANDED_OUT)} handed out)")


@dataclass
class Proc:
    """One server process, its arguments and its log file."""

    name: str
    args: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
        env = {**os.environ, **(self.env or {})}
        self.popen = subprocess.Popen(
            self.args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )
        log.close()

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; idempotent."""
        if not self.running():
            return
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def kill(self) -> None:
        """SIGKILL at once (crash tests)."""
        if self.running():
            assert self.popen is not None
            self.popen.kill()
            self.popen.wait(5)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
