"""`free_port` hands a port out once per process: the kernel may give a just-closed port to the
next bind, and two servers of one test would then collide on it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Self

import pytest

from raybus_testbed import procs


class _Sock:
    """A socket whose bind to port 0 lands on the next port of a script."""

    def __init__(self, ports: Iterator[int]) -> None:
        self._ports = ports
        self._port = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def bind(self, addr: tuple[str, int]) -> None:
        self._port = next(self._ports)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self._port)


def _kernel_gives(monkeypatch: pytest.MonkeyPatch, *ports: int) -> None:
    it = iter(ports)
    monkeypatch.setattr(procs, "_HANDED_OUT", set())
    monkeypatch.setattr(procs.socket, "socket", lambda *a, **k: _Sock(it))


def test_a_port_the_kernel_gives_twice_is_handed_out_once(monkeypatch: pytest.MonkeyPatch) -> None:
    _kernel_gives(monkeypatch, 40001, 40001, 40001, 40002)
    assert [procs.free_port(), procs.free_port()] == [40001, 40002]


def test_a_kernel_that_only_repeats_is_a_clear_error_not_a_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    _kernel_gives(monkeypatch, *([40001] * (procs.FREE_PORT_TRIES + 1)))
    assert procs.free_port() == 40001
    with pytest.raises(RuntimeError, match="no fresh loopback port"):
        procs.free_port()


def test_real_ports_are_distinct_and_bindable() -> None:
    ports = [procs.free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[-1]))
