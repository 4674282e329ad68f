"""The error tree, which HTTP statuses are worth retrying, and Retry-After parsed once at the
Kubernetes edge (`ApiError.retry_after`); the actuator's `judge` turns them into outcomes."""

from __future__ import annotations

import json

import pytest
from kubernetes_asyncio.client.exceptions import ApiException
from multidict import CIMultiDict, CIMultiDictProxy

from raybus_common.errors import TemporaryError, parse_retry_after, retryable
from raybus_common.kube.client import ApiError


@pytest.mark.parametrize(("status", "expected"), [
    (0, True), (408, True), (409, True), (425, True), (429, True), (500, True), (503, True), (599, True),
    (400, False), (403, False), (404, False), (410, False), (422, False),
], ids=lambda v: str(v))
def test_retryable(status: int, expected: bool) -> None:
    assert retryable(status) is expected


@pytest.mark.parametrize(("value", "expected"), [
    ("5", 5.0), (" 1.5 ", 1.5), ("-1", None), ("soon", None), (None, None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", None),
], ids=["seconds", "fraction-with-spaces", "negative", "garbage", "absent", "http-date"])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def api_exception(status: int, *, retry_after: str | None = None) -> ApiException:
    exc = ApiException(status=status, reason="TooManyRequests")
    exc.body = json.dumps({"kind": "Status", "message": "slow down", "reason": "TooManyRequests"}).encode()
    exc.headers = CIMultiDictProxy(CIMultiDict({"Retry-After": retry_after} if retry_after is not None else {}))
    return exc


@pytest.mark.parametrize(("header", "delay"), [("7", 7.0), ("1.5", 1.5), (None, None), ("later", None)],
                         ids=["seconds", "fraction", "absent", "garbage"])
def test_api_error_carries_retry_after(header: str | None, delay: float | None) -> None:
    err = ApiError.from_exception(api_exception(429, retry_after=header))
    assert (err.status, err.reason, err.message, err.retry_after) == (429, "TooManyRequests", "slow down", delay)


def test_temporary_error_refuses_negative_delay() -> None:
    with pytest.raises(ValueError):
        TemporaryError("x", delay=-1)
