"""Services run on uvloop unless `RAYBUS_EVENT_LOOP=asyncio` (`runner.loop_factory`), and the
controller's work queue gets its timed keys on both loops."""

from __future__ import annotations

import asyncio
import time

import pytest
import uvloop
from pydantic import ValidationError

from raybus_common.controller.workqueue import WorkQueue
from raybus_common.runner import loop_factory
from raybus_common.settings import ServiceSettings


def test_the_default_loop_is_uvloop_and_asyncio_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAYBUS_EVENT_LOOP", raising=False)
    assert ServiceSettings().event_loop == "uvloop"
    monkeypatch.setenv("RAYBUS_EVENT_LOOP", "asyncio")
    assert ServiceSettings().event_loop == "asyncio"
    monkeypatch.setenv("RAYBUS_EVENT_LOOP", "trio")
    with pytest.raises(ValidationError, match="event_loop"):
        ServiceSettings()


@pytest.mark.parametrize("name", ["uvloop", "asyncio"])
def test_timed_keys_come_out_in_order_on_either_loop(name: str) -> None:
    loop = loop_factory(name)()
    assert isinstance(loop, uvloop.Loop) == (name == "uvloop")

    async def main() -> list[str]:
        q: WorkQueue[str] = WorkQueue(clock=time.monotonic)
        # 5 ms apart: the adds themselves take microseconds, so the order is the delays' order
        for i, delay in enumerate([0.03, 0.01, 0.02, 0.015, 0.025]):
            q.add_after(f"k{i}", delay)
        got = []
        for _ in range(5):
            key = await asyncio.wait_for(q.get(), 2)
            q.done(key)
            got.append(key)
        return got

    try:
        assert loop.run_until_complete(main()) == ["k1", "k3", "k2", "k4", "k0"]
    finally:
        loop.close()
