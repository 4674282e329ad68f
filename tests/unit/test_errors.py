"""translate_api_exception: Kubernetes API errors become Temporary or Permanent, once, at the edge."""

from __future__ import annotations

import json

import pytest
from kubernetes_asyncio.client.exceptions import ApiException
from multidict import CIMultiDict, CIMultiDictProxy

from raybus_common.errors import PermanentError, TemporaryError, parse_retry_after, translate_api_exception
from raybus_common.kube.client import ApiError


def api_exception(status: int, *, retry_after: str | None = None, message: str = "boom",
                  reason: str = "Reason") -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = json.dumps({"kind": "Status", "message": message, "reason": reason}).encode()
    exc.headers = CIMultiDictProxy(CIMultiDict({"Retry-After": retry_after} if retry_after is not None else {}))
    return exc


@pytest.mark.parametrize(("status", "retry_after", "kind", "delay"), [
    (409, None, TemporaryError, None),
    (429, "7", TemporaryError, 7.0),
    (429, None, TemporaryError, None),
    (500, None, TemporaryError, None),
    (503, "2", TemporaryError, 2.0),
    (504, None, TemporaryError, None),
    (408, None, TemporaryError, None),
    (400, None, PermanentError, None),
    (403, None, PermanentError, None),
    (404, None, PermanentError, None),
    (410, None, PermanentError, None),
    (422, None, PermanentError, None),
    (429, "Wed, 21 Oct 2015 07:28:00 GMT", TemporaryError, None),
    (599, None, TemporaryError, None),
], ids=["conflict", "throttled-retry-after", "throttled", "internal", "unavailable-retry-after", "gateway-timeout",
        "request-timeout", "bad-request", "forbidden", "not-found", "gone", "invalid", "retry-after-date",
        "odd-5xx"])
def test_api_exception_by_status(status: int, retry_after: str | None, kind: type, delay: float | None) -> None:
    err = translate_api_exception(api_exception(status, retry_after=retry_after))
    assert type(err) is kind
    if isinstance(err, TemporaryError):
        assert err.delay == delay
    assert str(status) in err.message and "boom" in err.message


def test_raybus_api_error_with_retry_after() -> None:
    err = translate_api_exception(ApiError(429, "slow down", "TooManyRequests", retry_after=3.0))
    assert isinstance(err, TemporaryError) and err.delay == 3.0 and "slow down" in err.message


def test_raybus_api_error_permanent() -> None:
    err = translate_api_exception(ApiError(422, "spec.x: Invalid value", "Invalid"))
    assert isinstance(err, PermanentError) and "Invalid value" in err.message


@pytest.mark.parametrize("exc", [TimeoutError("read timed out"), TimeoutError(), ConnectionResetError("reset"),
                                 RuntimeError("unknown")],
                         ids=["timeout", "bare-timeout", "connection-reset", "unknown"])
def test_transport_errors_are_temporary(exc: BaseException) -> None:
    assert isinstance(translate_api_exception(exc), TemporaryError)


def test_already_translated_passes_through() -> None:
    err = PermanentError("x")
    assert translate_api_exception(err) is err


@pytest.mark.parametrize(("value", "expected"), [
    ("5", 5.0), (" 1.5 ", 1.5), ("-1", None), ("soon", None), (None, None),
], ids=["seconds", "fraction-with-spaces", "negative", "garbage", "absent"])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_temporary_error_refuses_negative_delay() -> None:
    with pytest.raises(ValueError):
        TemporaryError("x", delay=-1)
