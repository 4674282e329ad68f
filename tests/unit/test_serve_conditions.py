"""A RayService's conditions (A.11): each row of `calculateConditions`, the initializing timeout, the
suspend steps in order (A.12), and `serviceStatus`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from serve_core_views import NOW, Obj, ago, cond, condition, status, wire

from raybus_common import gotext
from raybus_serve_ctl import conditions as c

INITIALIZING = cond("Ready", "False", "Initializing", at=ago(100))
READY = cond("Ready", "True", "NonZeroServeEndpoints")
UPGRADE_INIT = cond("UpgradeInProgress", "False", "Initializing", at=ago(100))


def summary(st: Obj) -> dict[str, tuple[str, str]]:
    return {x["type"]: (x["status"], x["reason"]) for x in st["conditions"]}


# --- calculateConditions ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("st", "want"), [
    pytest.param(status(), {"Ready": ("False", "Initializing"), "UpgradeInProgress": ("False", "Initializing")},
                 id="first-pass"),
    pytest.param(status(pending="b", conditions=[INITIALIZING, UPGRADE_INIT]),
                 {"Ready": ("False", "Initializing"), "UpgradeInProgress": ("False", "Initializing")},
                 id="first-cluster-pending"),
    pytest.param(status(active="a", numServeEndpoints=2, conditions=[INITIALIZING, UPGRADE_INIT]),
                 {"Ready": ("True", "NonZeroServeEndpoints"), "UpgradeInProgress": ("False", "NoPendingCluster")},
                 id="serving"),
    pytest.param(status(active="a", numServeEndpoints=0, conditions=[READY]),
                 {"Ready": ("False", "ZeroServeEndpoints"), "UpgradeInProgress": ("False", "NoPendingCluster")},
                 id="endpoints-dropped"),
    pytest.param(status(active="a", pending="b", numServeEndpoints=1, conditions=[READY]),
                 {"Ready": ("True", "NonZeroServeEndpoints"),
                  "UpgradeInProgress": ("True", "BothActivePendingClustersExist")}, id="upgrading"),
    pytest.param(status(conditions=[READY, cond("UpgradeInProgress", "False", "NoPendingCluster")]),
                 {"Ready": ("False", "ZeroServeEndpoints"), "UpgradeInProgress": ("Unknown", "NoActiveCluster")},
                 id="no-active-cluster"),
    pytest.param(status(conditions=[cond("Ready", "False", "InitializingTimeout"),
                                    cond("UpgradeInProgress", "False", "InitializingTimeout")]),
                 {"Ready": ("False", "InitializingTimeout"), "UpgradeInProgress": ("False", "InitializingTimeout")},
                 id="timed-out-left-alone"),
])
def test_calculate_conditions(st: Obj, want: dict[str, tuple[str, str]]) -> None:
    assert c.calculate_conditions(st, timeout=None, now=NOW) is None
    assert summary(st) == want
    assert all(x["observedGeneration"] == 1 for x in st["conditions"])


def test_first_pass_messages_and_times() -> None:
    st = status()
    c.calculate_conditions(st, timeout=None, now=NOW)
    for kind in ("Ready", "UpgradeInProgress"):
        found = condition(st, kind)
        assert found is not None
        assert (found["message"], found["lastTransitionTime"]) == ("RayService is initializing", wire(NOW))


def test_a_transition_time_moves_only_with_the_status() -> None:
    st = status(active="a", numServeEndpoints=1, conditions=[cond("Ready", "True", "NonZeroServeEndpoints",
                                                                  at=ago(500))])
    c.calculate_conditions(st, timeout=None, now=NOW)
    ready = condition(st, "Ready")
    assert ready is not None and ready["lastTransitionTime"] == ago(500)


# --- the initializing timeout ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "want"), [
    pytest.param("30m", 1800.0, id="go-duration"),
    pytest.param("1h30m", 5400.0, id="go-duration-compound"),
    pytest.param("90", 90.0, id="integer-seconds"),
    pytest.param("+90", 90.0, id="signed-integer"),
    pytest.param("0", 0.0, id="zero-is-a-duration"),
    pytest.param("-5", -5.0, id="negative-seconds"),
    pytest.param("1.5", None, id="decimal-without-unit"),
    pytest.param("soon", None, id="words"),
])
def test_read_timeout(text: str, want: float | None) -> None:
    assert c.read_timeout(text) == want


def test_initializing_timeout_annotation() -> None:
    assert c.initializing_timeout({}) is None
    assert c.initializing_timeout({"ray.io/initializing-timeout": ""}) is None
    assert c.initializing_timeout({"ray.io/initializing-timeout": "10m"}) == 600.0


@pytest.mark.parametrize(("ready", "timeout", "fires"), [
    pytest.param(cond("Ready", "False", "Initializing", at=ago(600)), 600.0, True, id="at-the-timeout"),
    pytest.param(cond("Ready", "False", "Initializing", at=ago(599)), 600.0, False, id="just-before"),
    pytest.param(cond("Ready", "False", "Initializing", at=ago(9999)), None, False, id="no-annotation"),
    pytest.param(cond("Ready", "False", "ZeroServeEndpoints", at=ago(9999)), 60.0, False, id="not-initializing"),
])
def test_mark_failed_on_initializing_timeout(ready: Obj, timeout: float | None, fires: bool) -> None:
    st = status(active="a", pending="b", conditions=[ready])
    event = c.mark_failed_on_initializing_timeout(st, timeout=timeout, now=NOW)
    assert (event is not None) is fires
    names = (st["activeServiceStatus"]["rayClusterName"], st["pendingServiceStatus"]["rayClusterName"])
    assert names == (("", "") if fires else ("a", "b"))
    if fires:
        assert summary(st)["Ready"] == ("False", "InitializingTimeout")
        assert c.initializing_timed_out(st)


def test_timeout_texts() -> None:
    st = status(pending="b", conditions=[cond("Ready", "False", "Initializing", at=ago(1830)), UPGRADE_INIT])
    event = c.calculate_conditions(st, timeout=1800.0, now=NOW)
    assert event is not None
    assert event.message == "RayService initializing timeout exceeded after 30m30s (configured timeout: 30m0s)"
    ready = condition(st, "Ready")
    assert ready is not None and ready["message"] == ("RayService failed to become ready within the configured timeout "
                                                      "of 30m0s. Time spent initializing: 30m30s")
    assert summary(st)["UpgradeInProgress"] == ("False", "Initializing"), "left as it was"


def test_endpoints_beat_the_timeout() -> None:
    st = status(active="a", numServeEndpoints=1, conditions=[cond("Ready", "False", "Initializing", at=ago(9999))])
    assert c.calculate_conditions(st, timeout=60.0, now=NOW) is None
    assert summary(st)["Ready"] == ("True", "NonZeroServeEndpoints")


def test_initializing_timeout_due() -> None:
    st = status(conditions=[cond("Ready", "False", "Initializing", at=ago(100))])
    assert c.initializing_timeout_due(st, timeout=600.0) == NOW + timedelta(seconds=500)
    assert c.initializing_timeout_due(st, timeout=None) is None
    assert c.initializing_timeout_due(status(conditions=[READY]), timeout=600.0) is None


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.5, "500ms"), (0.0015, "1.5ms"), (1.5, "1.5s"), (59, "59s"), (60, "1m0s"), (3600, "1h0m0s"),
    (3661.25, "1h1m1.25s"), (-90, "-1m30s"),
])
def test_go_duration(seconds: float, text: str) -> None:
    assert gotext.duration(seconds) == text


# --- serviceStatus ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("conditions", "want"), [
    pytest.param([READY], "Running", id="ready"),
    pytest.param([INITIALIZING], "", id="not-ready"),
    pytest.param([], "", id="nothing"),
])
def test_service_status(conditions: list[Obj], want: str) -> None:
    assert c.service_status(status(conditions=conditions)) == want


# --- suspend ------------------------------------------------------------------------------------------------
def step(st: Obj, *, suspend: bool, remaining: bool = True, at: Any = NOW) -> c.SuspendStep:
    return c.handle_suspend(st, suspend=suspend, generation=2, remaining=remaining, now=at)


def test_not_suspending() -> None:
    st = status(active="a", conditions=[READY])
    assert step(st, suspend=False) == c.SuspendStep.NONE
    assert summary(st) == {"Ready": ("True", "NonZeroServeEndpoints")}
    assert not c.suspend_operative(st)


def test_the_suspend_steps_in_order() -> None:
    st = status(active="a", pending="b", numServeEndpoints=3, serviceStatus="Running",
                conditions=[READY, cond("UpgradeInProgress", "True", "BothActivePendingClustersExist")])
    assert step(st, suspend=True) == c.SuspendStep.STAGED
    assert summary(st) == {"Ready": ("False", "SuspendInProgress"), "UpgradeInProgress": ("False", "SuspendInProgress"),
                           "Suspending": ("True", "SuspendRequested"),
                           "RollbackInProgress": ("False", "SuspendInProgress")}
    assert (st["activeServiceStatus"], st["pendingServiceStatus"], st["numServeEndpoints"], st["serviceStatus"]) == (
        {}, {}, 0, "")
    assert st["observedGeneration"] == 2 and c.suspend_operative(st)

    # Deletion runs to completion even when spec.suspend flips back meanwhile.
    assert step(st, suspend=False, remaining=True) == c.SuspendStep.DELETING
    assert summary(st)["Suspending"] == ("True", "SuspendInProgress")
    assert step(st, suspend=True, remaining=False) == c.SuspendStep.COMPLETE
    assert summary(st) == {"Ready": ("False", "SuspendComplete"), "UpgradeInProgress": ("False", "SuspendComplete"),
                           "Suspending": ("False", "SuspendComplete"), "Suspended": ("True", "SuspendComplete"),
                           "RollbackInProgress": ("False", "SuspendComplete")}

    assert step(st, suspend=True) == c.SuspendStep.SUSPENDED
    later = NOW + timedelta(hours=1)
    assert step(st, suspend=False, at=later) == c.SuspendStep.RESUMED
    assert summary(st) == {"Suspending": ("False", "SuspendComplete"), "Suspended": ("False", "RayServiceResumed"),
                           "RollbackInProgress": ("False", "SuspendComplete"), "Ready": ("False", "Initializing"),
                           "UpgradeInProgress": ("False", "Initializing")}
    ready = condition(st, "Ready")
    assert ready is not None and ready["lastTransitionTime"] == wire(later), "re-arms the initializing timeout"
    assert not c.suspend_operative(st)
    assert step(st, suspend=False) == c.SuspendStep.NONE


def test_resume_without_remove_would_keep_the_old_time() -> None:
    """Ready was already False when suspended: only removing it first gives a fresh transition time."""
    st = status(conditions=[cond("Suspended", "True", "SuspendComplete"),
                            cond("Ready", "False", "SuspendComplete", at=ago(7200))])
    assert step(st, suspend=False) == c.SuspendStep.RESUMED
    ready = condition(st, "Ready")
    assert ready is not None and ready["lastTransitionTime"] == wire(NOW)


def test_remove_condition() -> None:
    st = status(conditions=[READY, INITIALIZING])
    c.remove_condition(st, "Ready")
    assert st["conditions"] == []
    bare: Obj = {}
    c.remove_condition(bare, "Ready")
    assert bare == {}
