"""Fixtures shared by every test: fail any test that leaves asyncio tasks behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest


@pytest.fixture(autouse=True)
async def _no_leftover_tasks() -> AsyncIterator[None]:
    before = set(asyncio.all_tasks())
    yield
    # Let cancelled tasks finish their cancellation before judging.
    for _ in range(5):
        await asyncio.sleep(0)
    left = {t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()}
    left = {t for t in left if not getattr(t, "_raybus_session_scoped", False)}
    if left:
        names = ", ".join(sorted(t.get_name() + ":" + repr(t.get_coro()) for t in left))
        for t in left:
            t.cancel()
        pytest.fail(f"test left asyncio tasks running: {names}")
