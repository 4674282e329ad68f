"""raybus_cron.schedule: robfig/cron's syntax and messages, ticks in a time zone across daylight
saving changes (cron(8)'s rule), `@every`, and CronJob's missed-tick arithmetic, on fixed times."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from raybus_common.gotext import parse_duration
from raybus_cron.schedule import MISSED_LIMIT, Cron, Every, InvalidSchedule, due, parse, schedule

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def ticks(spec: str, zone: ZoneInfo, start: str, n: int) -> list[str]:
    s, t, out = schedule(spec, zone), at(start), []
    for _ in range(n):
        t = s.next(t)
        out.append(t.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return out


# -- syntax ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "fields", "fixed"), [
    ("*/15 * * * *", ["0,15,30,45", "*", "*", "*", "*"], False),
    ("0 9 * * mon-fri", ["0", "9", "*", "*", "1,2,3,4,5"], True),
    ("30 2 1,15 JAN,jul ?", ["30", "2", "1,15", "1,7", "*"], True),
    ("5/20 1-3/2 * * *", ["5,25,45", "1,3", "*", "*", "*"], True),
    ("0 0 */1 * *", ["0", "0", "*", "*", "*"], True),  # */1 keeps the star bit
    ("0 0 */2 * 1", ["0", "0", "1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31", "*", "1"], True),  # */2 drops it
    ("@daily", ["0", "0", "*", "*", "*"], True),
    ("@hourly", ["0", "*", "*", "*", "*"], False),
    ("@yearly", ["0", "0", "1", "1", "*"], True),
    ("@weekly", ["0", "0", "*", "*", "0"], True),
])
def test_parse_reads_robfig_syntax(spec: str, fields: list[str], fixed: bool) -> None:
    parsed = parse(spec)
    assert isinstance(parsed, Cron)
    assert parsed.expression.split() == fields
    assert parsed.fixed_time is fixed


@pytest.mark.parametrize(("spec", "seconds"), [("@every 5m", 300), ("@every 1h30m", 5400), ("@every 1.5s", 1),
                                               ("@every 100ms", 1)])
def test_every_is_whole_seconds_at_least_one(spec: str, seconds: int) -> None:
    assert parse(spec) == Every(seconds)


@pytest.mark.parametrize(("spec", "message"), [
    ("", "empty spec string"),
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("0 * * * * *", "expected exactly 5 fields, found 6: [0 * * * * *]"),
    ("0 0 * * 7", "end of range (7) above maximum (6): 7"),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("*/2/3 * * * *", "too many slashes: */2/3"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
    ("0 0 L * *", 'failed to parse int from L: strconv.Atoi: parsing "L": invalid syntax'),
    ("@weekdays", "unrecognized descriptor: @weekdays"),
    ("@every5m", "unrecognized descriptor: @every5m"),
    ("@every 5", 'failed to parse duration @every 5: time: missing unit in duration "5"'),
    ("@every 5y", 'failed to parse duration @every 5y: time: unknown unit "y" in duration "5y"'),
    ("0 0 30 2 *", "no date matches the day of month and month of '0 0 30 2 *': it never fires"),
    ("0 0 31 4,6,9,11 *", "no date matches the day of month and month of '0 0 31 4,6,9,11 *': it never fires"),
])
def test_parse_refuses_with_robfigs_message(spec: str, message: str) -> None:
    with pytest.raises(InvalidSchedule) as e:
        parse(spec)
    assert str(e.value) == message


def test_feb_29_and_a_restricted_weekday_are_not_never() -> None:
    assert isinstance(parse("0 0 29 2 *"), Cron)
    assert isinstance(parse("0 0 30 2 1"), Cron)  # both day fields restricted: Mondays in February fire


@pytest.mark.parametrize(("text", "seconds"), [("0", 0.0), ("90s", 90.0), ("2h45m", 9900.0), ("-1.5h", -5400.0),
                                               ("300ms", 0.3), ("1us", 1e-6)])
def test_parse_duration_is_gos(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


# -- ticks -----------------------------------------------------------------------------------------

def test_ticks_in_utc_and_in_a_zone() -> None:
    assert ticks("0 9 * * mon-fri", ZoneInfo("UTC"), "2026-12-04T10:00:00Z", 2) == [
        "2026-12-07T09:00:00Z", "2026-12-08T09:00:00Z"]  # Friday after 9 → Monday
    assert ticks("0 9 * * *", NEW_YORK, "2026-12-01T00:00:00Z", 1) == ["2026-12-01T14:00:00Z"]  # EST, UTC-5


def test_a_tick_is_strictly_after() -> None:
    assert ticks("0 * * * *", ZoneInfo("UTC"), "2026-12-01T10:00:00Z", 1) == ["2026-12-01T11:00:00Z"]
    assert ticks("0 * * * *", ZoneInfo("UTC"), "2026-12-01T09:59:59.5Z", 1) == ["2026-12-01T10:00:00Z"]


# Europe/Berlin: 2026-03-29 02:00 CET → 03:00 CEST (01:00Z); 2026-10-25 03:00 CEST → 02:00 CET (01:00Z).
@pytest.mark.parametrize(("spec", "start", "expected"), [
    # A fixed 02:30: on the spring day 02:30 does not exist: it runs at the change (03:00 CEST).
    ("30 2 * * *", "2026-03-28T12:00:00Z", ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]),
    # On the autumn day 02:30 happens twice: it runs once, the first time (02:30 CEST).
    ("30 2 * * *", "2026-10-24T12:00:00Z", ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]),
    # Two fixed times inside the gap run once, at the change.
    ("0,30 2 * * *", "2026-03-28T12:00:00Z", ["2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"]),
    # A fixed time beside the gap is not moved.
    ("30 3 * * *", "2026-03-28T12:00:00Z", ["2026-03-29T01:30:00Z", "2026-03-30T01:30:00Z"]),
    # A wildcard hour runs on the new time: skipped times are not run...
    ("30 * * * *", "2026-03-28T23:45:00Z", ["2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"]),
    # ... and the doubled hour runs twice (every hour of elapsed time).
    ("30 * * * *", "2026-10-24T23:45:00Z", ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:30:00Z"]),
    ("*/30 * * * *", "2026-10-25T00:10:00Z", ["2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z"]),
    # @every counts elapsed time across the change.
    ("@every 1h", "2026-03-29T00:30:00Z", ["2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"]),
])
def test_berlin_daylight_saving_days(spec: str, start: str, expected: list[str]) -> None:
    assert ticks(spec, BERLIN, start, len(expected)) == expected


def test_a_fixed_tick_after_its_first_time_on_the_autumn_day_waits_a_day() -> None:
    # Last run at 02:30 CEST: 02:30 CET, an hour later, is not run again.
    assert ticks("30 2 * * *", BERLIN, "2026-10-25T00:30:00Z", 1) == ["2026-10-26T01:30:00Z"]
    # Created in the doubled hour after its first 02:30: the next one is tomorrow's.
    assert ticks("30 2 * * *", BERLIN, "2026-10-25T01:10:00Z", 1) == ["2026-10-26T01:30:00Z"]


def test_new_york_spring_and_autumn() -> None:
    # 2026-03-08 02:00 EST → 03:00 EDT (07:00Z); 2026-11-01 02:00 EDT → 01:00 EST (06:00Z).
    assert ticks("30 2 * * *", NEW_YORK, "2026-03-07T12:00:00Z", 2) == ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"]
    assert ticks("30 1 * * *", NEW_YORK, "2026-10-31T12:00:00Z", 2) == ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]


def test_every_rounds_to_the_second() -> None:
    assert ticks("@every 90s", ZoneInfo("UTC"), "2026-12-01T10:00:00.250000Z", 2) == [
        "2026-12-01T10:01:30Z", "2026-12-01T10:03:00Z"]


# -- what is due -----------------------------------------------------------------------------------

UTC_ZONE = ZoneInfo("UTC")


@pytest.mark.parametrize(("earliest", "now", "deadline", "tick", "missed", "nxt"), [
    # nothing due yet
    ("2026-12-01T10:00:30Z", "2026-12-01T10:00:45Z", None, None, 0, "2026-12-01T10:01:00Z"),
    # exactly one due
    ("2026-12-01T10:00:00Z", "2026-12-01T10:01:05Z", None, "2026-12-01T10:01:00Z", 1, "2026-12-01T10:02:00Z"),
    # after 10 minutes down: the most recent runs, 10 counted
    ("2026-12-01T10:00:00Z", "2026-12-01T10:10:30Z", None, "2026-12-01T10:10:00Z", 10, "2026-12-01T10:11:00Z"),
    # inside a deadline: the most recent tick is 30 s old, deadline 60 s
    ("2026-12-01T10:00:00Z", "2026-12-01T10:10:30Z", 60, "2026-12-01T10:10:00Z", 1, "2026-12-01T10:11:00Z"),
    # past the deadline: the tick is 30 s old, deadline 20 s: nothing runs until the next
    ("2026-12-01T10:00:00Z", "2026-12-01T10:10:30Z", 20, None, 0, "2026-12-01T10:11:00Z"),
    # a deadline of 0 runs nothing late
    ("2026-12-01T10:00:00Z", "2026-12-01T10:01:01Z", 0, None, 0, "2026-12-01T10:02:00Z"),
])
def test_due_every_minute(earliest: str, now: str, deadline: float | None, tick: str | None, missed: int,
                          nxt: str) -> None:
    d = due(schedule("* * * * *", UTC_ZONE), at(earliest), at(now), deadline)
    assert (d.tick, d.missed, d.next) == (at(tick) if tick else None, missed, at(nxt))
    assert not d.too_many_missed


def test_due_after_a_long_downtime_counts_past_the_limit_and_finds_the_latest() -> None:
    d = due(schedule("*/5 * * * *", UTC_ZONE), at("2026-11-01T00:00:00Z"), at("2026-12-01T10:07:00Z"))
    assert d.tick == at("2026-12-01T10:05:00Z") and d.next == at("2026-12-01T10:10:00Z")
    assert d.missed == MISSED_LIMIT + 1 and d.too_many_missed


def test_due_with_an_irregular_schedule_after_a_long_downtime() -> None:
    # Weekdays at 9: a downtime over many weekends still finds the last weekday's tick.
    d = due(schedule("0 9 * * 1-5", UTC_ZONE), at("2026-01-01T00:00:00Z"), at("2026-12-06T12:00:00Z"))  # a Sunday
    assert d.tick == at("2026-12-04T09:00:00Z") and d.next == at("2026-12-07T09:00:00Z") and d.too_many_missed


def test_due_deadline_keeps_only_the_last_window() -> None:
    # 200 missed minutes, deadline 5 minutes: 5 counted, not "too many".
    d = due(schedule("* * * * *", UTC_ZONE), at("2026-12-01T00:00:00Z"), at("2026-12-01T03:20:10Z"), 300)
    assert d.tick == at("2026-12-01T03:20:00Z") and d.missed == 5 and not d.too_many_missed


def test_due_is_never_in_the_future_and_next_is_after_now() -> None:
    s = schedule("7 */3 * * *", BERLIN)
    start = at("2026-10-20T00:00:00Z")
    for step in range(0, 14 * 24 * 60, 37):
        now = start + timedelta(minutes=step)
        d = due(s, now - timedelta(hours=7), now)
        assert d.next > now
        assert d.tick is None or d.tick <= now
        if d.tick is not None:
            assert s.next(d.tick) == d.next
