"""The testbed's one polling helper, sync and async: returns what the check found, treats an
exception as "not yet" and names it on timeout, fails at once when the watched process exits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from raybus_testbed.procs import Proc
from raybus_testbed.waiting import eventually, wait_until


def probes(*answers: object) -> Callable[[], object]:
    """A check that gives `answers` one per call (raising the exceptions among them)."""
    it: Iterator[object] = iter(answers)

    def check() -> object:
        answer = next(it)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return check


async def async_probes(*answers: object) -> Callable[[], object]:
    sync = probes(*answers)

    async def check() -> object:
        return sync()

    return check


def test_wait_until_returns_the_first_truthy_answer_after_errors_and_falsy_ones() -> None:
    assert wait_until(probes(ConnectionError("refused"), None, 0, {"found": 1}), what="x", interval=0) == {"found": 1}


def test_wait_until_names_what_it_waited_for_and_the_last_error() -> None:
    with pytest.raises(TimeoutError, match=r"waiting for the thing \(last error: KeyError: 'gone'\)"):
        wait_until(probes(KeyError("gone")), what="the thing", timeout=0)


@pytest.mark.parametrize("make", [probes, None], ids=["sync-check", "coroutine-check"])
async def test_eventually_awaits_coroutine_checks_and_returns_the_answer(make: object) -> None:
    check = probes(None, ValueError("no"), "yes") if make else await async_probes(None, ValueError("no"), "yes")
    assert await eventually(check, what="x", interval=0) == "yes"


async def test_eventually_times_out_naming_what_it_waited_for() -> None:
    with pytest.raises(TimeoutError, match="waiting for the answer"):
        await eventually(probes(False), what="the answer", timeout=0)


class Exited:
    """What `Proc.popen` shows of a process that has exited with 3."""

    returncode = 3

    def poll(self) -> int:
        return self.returncode


def test_a_process_that_exits_fails_the_wait_at_once(tmp_path: Path) -> None:
    proc = Proc("quitter", ["quitter"], tmp_path / "never-written.log", popen=Exited())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match=r"(?s)quitter exited with 3 while waiting for readiness:\n\(no log\)"):
        wait_until(lambda: False, what="readiness", timeout=60, proc=proc)


def test_the_check_is_not_called_again_once_it_holds() -> None:
    calls: list[int] = []

    def check() -> bool:
        calls.append(1)
        return len(calls) == 2

    assert wait_until(check, what="x", interval=0) is True
    assert len(calls) == 2
