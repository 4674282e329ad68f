"""NATS JetStream Key-Value as the `KV` the lease manager needs (compare-and-swap by revision).

Opened through `NatsBus.key_value(bucket)`; the second module that imports nats. Key names may
use letters, digits, `-`, `_`, `=`, `/` and `.`; a lost compare-and-swap raises `kv.Conflict`.
A bucket named B is the stream `KV_B` holding subjects `$KV.B.<key>` (the KV convention every
NATS client follows); `keys` relies on that, not on any client's private attributes.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import (
    APIError,
    BucketNotFoundError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.kv import KeyValue

from ..kv import Conflict

WRONG_LAST_SEQUENCE = 10071  # JetStream's error code for a failed expected-last-sequence check


def _lost_race(exc: Exception) -> bool:
    """nats-py reports a lost compare-and-swap as KeyWrongLastSequenceError or as a raw APIError."""
    return isinstance(exc, KeyWrongLastSequenceError) or (
        isinstance(exc, APIError) and exc.err_code == WRONG_LAST_SEQUENCE)


class NatsKV:
    def __init__(self, js: JetStreamContext, bucket: str, kv: KeyValue) -> None:
        self.js = js
        self.bucket = bucket
        self.kv = kv
        self.stream = f"KV_{bucket}"
        self.prefix = f"$KV.{bucket}."

    @classmethod
    async def open(cls, js: JetStreamContext, bucket: str, replicas: int = 1) -> NatsKV:
        try:
            kv = await js.key_value(bucket)
        except BucketNotFoundError:
            kv = await js.create_key_value(KeyValueConfig(bucket=bucket, history=1, storage=StorageType.FILE,
                                                          replicas=replicas))
        return cls(js, bucket, kv)

    async def get(self, key: str) -> tuple[bytes, int] | None:
        try:
            entry = await self.kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        if entry.value is None or entry.revision is None:
            return None
        return entry.value, entry.revision

    async def create(self, key: str, value: bytes) -> int:
        try:
            return await self.kv.create(key, value)
        except APIError as e:
            if _lost_race(e):
                raise Conflict(key) from e
            raise

    async def update(self, key: str, value: bytes, last: int) -> int:
        try:
            return await self.kv.update(key, value, last=last)
        except APIError as e:
            if _lost_race(e):
                raise Conflict(key) from e
            raise

    async def put(self, key: str, value: bytes) -> int:
        return await self.kv.put(key, value)

    async def delete(self, key: str, last: int | None = None) -> None:
        try:
            await self.kv.delete(key, last=last)
        except APIError as e:
            if _lost_race(e):
                raise Conflict(key) from e
            raise

    async def keys(self, prefix: str) -> list[str]:
        """Keys starting with `prefix` (deleted ones included: `get` says None for those).

        One STREAM.INFO request with a subjects filter, answered atomically by the server.
        nats-py's `KeyValue.keys()` is a watch that can signal "initial replay done" before the
        buffered entries are handed over, so under load it returns a partial list; a lease
        manager that misses its own membership record then gives up every partition."""
        pre = self.prefix
        wildcard = f"{pre}{prefix}>" if prefix.endswith(".") or not prefix else f"{pre}>"
        info = await self.js.stream_info(self.stream, subjects_filter=wildcard)
        subjects = info.state.subjects or {}
        return sorted(s[len(pre):] for s in subjects if s.startswith(pre + prefix))
