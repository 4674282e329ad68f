"""A tiny Ray Serve application for tests, imported by the test Ray head (`rayhead.SERVE_APPS` is
on its PYTHONPATH), never by Raybus: `import_path: raybus_hello:app`.

`Hello` answers every request with its greeting: "hello", or the `greeting` of its
`user_config`, so a test can change a deployed config and see the change served.
This directory is no package of the project: only the head's Ray imports it.
"""

from __future__ import annotations

from typing import Any

from ray import serve


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0})
class Hello:
    def __init__(self) -> None:
        self.greeting = "hello"

    def reconfigure(self, config: dict[str, Any]) -> None:
        self.greeting = str(config.get("greeting") or "hello")

    async def __call__(self, request: Any) -> str:
        return self.greeting


app = Hello.bind()  # type: ignore[attr-defined]  # `serve.deployment` adds it
