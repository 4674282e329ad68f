"""The service runner's `/readyz` over real HTTP with a real NATS: 503 with the reasons while
any readiness condition does not hold, 200 with none once all hold."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from raybus_common.runner import Service
from raybus_common.settings import ServiceSettings

pytestmark = pytest.mark.integration


async def test_readyz_names_every_reason_until_all_conditions_hold(nats_url: str) -> None:
    settings = ServiceSettings(nats_url=nats_url, service_name="readiness-test", http_host="127.0.0.1",
                               http_port=0, shutdown_grace=1)
    async with Service(settings) as svc, httpx.AsyncClient() as http:
        url = f"http://127.0.0.1:{svc.http_port}/readyz"

        async def readyz() -> tuple[int, object]:
            resp = await http.get(url, timeout=5)
            return resp.status_code, resp.json()

        assert await readyz() == (503, {"ready": False, "stopping": False, "reasons": ["starting"]})

        replayed, flag = asyncio.Event(), [False]
        problems = ["watch of pod in ns-7: 403 Forbidden: pods is forbidden"]
        svc.ready_when(replayed, what="the initial replay")
        svc.ready_unless(lambda: problems)
        svc.ready_when(lambda: flag[0])  # the old API, no reason given
        assert await readyz() == (503, {"ready": False, "stopping": False, "reasons": [
            "the initial replay", "watch of pod in ns-7: 403 Forbidden: pods is forbidden",
            "a readiness condition does not hold yet"]})

        replayed.set()
        problems.clear()
        assert (await readyz())[1] == {"ready": False, "stopping": False,
                                       "reasons": ["a readiness condition does not hold yet"]}
        flag[0] = True
        assert await readyz() == (200, {"ready": True, "stopping": False, "reasons": []})
        assert svc.ready and svc.not_ready_reasons() == []
