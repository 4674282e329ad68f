"""backoff(): exponential, capped, deterministic jitter; Bounded: a hard ceiling on attempts."""

from __future__ import annotations

from typing import Any

import pytest

from raybus_common.backoff import CAP, MAX_ATTEMPTS, Bounded, backoff


@pytest.mark.parametrize(("attempt", "expected"), [
    (1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 256.0), (11, 300.0), (12, 300.0), (10_000, 300.0),
], ids=["first", "second", "third", "fourth", "tenth", "capped", "stays-capped", "huge-no-overflow"])
def test_default_schedule(attempt: int, expected: float) -> None:
    assert backoff(attempt) == expected


@pytest.mark.parametrize(("kwargs", "attempt", "expected"), [
    ({"base": 0.005, "cap": 1000.0}, 1, 0.005),  # controller-runtime's item limiter
    ({"base": 0.005, "cap": 1000.0}, 20, 1000.0),
    ({"base": 1.0, "factor": 3.0}, 3, 9.0),
    ({"base": 1.0, "factor": 1.0}, 50, 1.0),
    ({"base": 0.0}, 5, 0.0),
], ids=["controller-runtime-first", "controller-runtime-cap", "factor-3", "constant", "zero-base"])
def test_parameters(kwargs: dict[str, Any], attempt: int, expected: float) -> None:
    assert backoff(attempt, **kwargs) == expected


@pytest.mark.parametrize(("kwargs", "attempt"), [
    ({}, 0), ({}, -1), ({"base": -1.0}, 1), ({"factor": 0.5}, 1), ({"jitter": 1.5}, 1), ({"jitter": -0.1}, 1),
], ids=["attempt-zero", "attempt-negative", "negative-base", "shrinking-factor", "jitter-above-one",
        "jitter-negative"])
def test_invalid_arguments(kwargs: dict[str, Any], attempt: int) -> None:
    with pytest.raises(ValueError):
        backoff(attempt, **kwargs)


def test_jitter_is_deterministic_and_bounded() -> None:
    delays = [backoff(5, jitter=0.5, seed="msg-1") for _ in range(3)]
    assert delays[0] == delays[1] == delays[2]
    assert 4.0 <= delays[0] <= 8.0
    spread = {backoff(5, jitter=0.5, seed=f"msg-{i}") for i in range(20)}
    assert len(spread) > 10, "different seeds should spread out"
    assert all(4.0 <= d <= 8.0 for d in spread)


def test_jitter_without_seed_is_off() -> None:
    assert backoff(3, jitter=0.9) == 2.0


def test_bounded_iterates_exactly_max_attempts() -> None:
    policy = Bounded(max_attempts=4)
    assert list(policy) == [1, 2, 3, 4]
    assert [policy.exhausted(a) for a in policy] == [False, False, False, True]
    assert policy.schedule() == [0.5, 1.0, 2.0]
    assert policy.total() == 3.5


def test_bounded_defaults() -> None:
    policy = Bounded()
    assert policy.max_attempts == MAX_ATTEMPTS
    assert len(policy.schedule()) == MAX_ATTEMPTS - 1
    assert max(Bounded(max_attempts=30).schedule()) == CAP


@pytest.mark.parametrize("attempts", [0, -3], ids=["zero", "negative"])
def test_bounded_refuses_unbounded(attempts: int) -> None:
    with pytest.raises(ValueError):
        Bounded(max_attempts=attempts)
