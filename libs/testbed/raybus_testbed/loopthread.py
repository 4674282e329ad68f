"""An event loop on a daemon thread of its own, for the testbed's synchronous facades over
asynchronous clients (`Kube`, `PodRunner`): any thread may run a coroutine on it and wait.

    loop = LoopThread("raybus-kube")
    answer = loop.run(client.get(...), timeout=40)
    loop.stop()

`stop` winds the loop down before stopping it: async generators still open (a watch stream not
read to its end) are closed, and the loop keeps turning a moment longer, so that connections
closed last are torn down. A loop stopped at once would keep their sockets open until some later
garbage collection, where each is a `ResourceWarning` (an error in the tests) in whatever code
happens to run then.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# What aiohttp advises between closing a session and stopping its loop: a closed TLS connection
# is torn down over the next turns of the loop (close_notify, then the socket).
LINGER = 0.25


class LoopThread:
    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        return self.loop.is_closed()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Close open async generators, linger, stop the loop and close it; idempotent."""
        if self.loop.is_closed():
            return
        try:
            if self._thread.is_alive():
                self.run(self._wind_down(), timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
            self.loop.close()

    async def _wind_down(self) -> None:
        await self.loop.shutdown_asyncgens()
        await asyncio.sleep(LINGER)
