"""The key-value store leases are kept in: a small protocol with compare-and-swap by revision,
the `Conflict` a lost race raises, and `MemoryKV`, an in-process store with the same rules for
unit tests. The NATS JetStream implementation is `bus.nats_kv.NatsKV`; `Bus.key_value(bucket)`
opens one. Pure: no I/O here.
"""

from __future__ import annotations

from typing import Protocol


class Conflict(Exception):
    """A compare-and-swap on the KV lost: someone else wrote the key first."""


class KV(Protocol):
    async def get(self, key: str) -> tuple[bytes, int] | None: ...

    async def create(self, key: str, value: bytes) -> int: ...

    async def update(self, key: str, value: bytes, last: int) -> int: ...

    async def put(self, key: str, value: bytes) -> int: ...

    async def delete(self, key: str, last: int | None = None) -> None: ...

    async def keys(self, prefix: str) -> list[str]: ...


class MemoryKV:
    """An in-process KV with the same compare-and-swap rules, for unit tests."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, int]] = {}
        self.rev = 0

    async def get(self, key: str) -> tuple[bytes, int] | None:
        return self.data.get(key)

    def _write(self, key: str, value: bytes) -> int:
        self.rev += 1
        self.data[key] = (value, self.rev)
        return self.rev

    async def create(self, key: str, value: bytes) -> int:
        if key in self.data:
            raise Conflict(key)
        return self._write(key, value)

    async def update(self, key: str, value: bytes, last: int) -> int:
        if key not in self.data or self.data[key][1] != last:
            raise Conflict(key)
        return self._write(key, value)

    async def put(self, key: str, value: bytes) -> int:
        return self._write(key, value)

    async def delete(self, key: str, last: int | None = None) -> None:
        if last is not None and (key not in self.data or self.data[key][1] != last):
            raise Conflict(key)
        self.data.pop(key, None)

    async def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.data if k.startswith(prefix))
