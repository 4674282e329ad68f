"""Which namespaces a service works in: KubeRay's `--watch-namespace` (`RAYBUS_WATCH_NAMESPACES`,
comma-separated, empty = every namespace). The watcher lists and watches only these; controllers
reconcile only roots in them. Pure: a plain pydantic model.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator


def split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class WatchScope(BaseModel, frozen=True):
    watch_namespaces: list[str] = Field(default_factory=list)

    @field_validator("watch_namespaces", mode="before")
    @classmethod
    def _namespaces(cls, value: Any) -> Any:
        return split_commas(value)

    @property
    def all_namespaces(self) -> bool:
        return not self.watch_namespaces

    def watches(self, namespace: str) -> bool:
        """Whether objects in `namespace` are in scope ("" = cluster-scoped: always)."""
        return not namespace or self.all_namespaces or namespace in self.watch_namespaces
