"""When a RayCronJob's ticks fall: its `schedule` read as KubeRay reads it (robfig/cron v3's
`ParseStandard`, which batch/v1 CronJob uses too), its wall-clock times iterated by croniter,
and those made instants in its time zone. Pure: no clock; every time is timezone-aware.

**Syntax** (what KubeRay accepts, with robfig's messages for what it refuses):

- five fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or `jan`-`dec`, day of week
  0-6 or `sun`-`sat`; each a comma list of `*`, `?`, `a` or `a-b`, each optionally `/step`
  (`a/step` means `a-max/step`);
- when both day fields are restricted (neither starts with `*` or `?` unstepped) either one
  matching is enough, otherwise both must (robfig's star bit; croniter's `day_or`);
- descriptors `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`,
  and `@every <Go duration>` (whole seconds, at least one): elapsed time from the last tick,
  whatever the zone.

A schedule no date can match (`0 0 30 2 *`) is refused here: robfig parses it and KubeRay then
fails at run time ("time difference between two schedules is less than 1 second").

**Daylight saving** follows cron(8), not robfig/cron:

| schedule | the clock jumps forward past it | the clock falls back over it |
|---|---|---|
| a fixed time (no `*`/`?` in the minute or hour field; every descriptor but `@hourly`) | runs at the change | runs once, the first time |
| a wildcard minute or hour | the skipped times are not run | runs each time the clock shows it |

robfig/cron (so KubeRay and CronJob) skips a fixed-time tick on the day the clock jumps over
it and runs it twice on the day the clock falls back over it. Changes of up to 3 hours are
handled so (every zone's daylight saving); a larger jump of a zone's offset is not.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from croniter import croniter

from raybus_common import gotext

MISSED_LIMIT = 100  # CronJob's: more missed ticks than this is TooManyMissedTimes
_SHIFT = timedelta(hours=3)  # the largest clock change handled (see the module)
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                        "dec"), start=1)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_FIELDS = ((0, 59, None), (0, 23, None), (1, 31, None), (1, 12, _MONTHS), (0, 6, _DAYS))
_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_EVERY = "@every "
_LEAP_YEAR = 2000  # February has 29 days in some year


class InvalidSchedule(ValueError):
    """A schedule KubeRay would refuse, or one that never fires; the message says why."""


# -- parsing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cron:
    """A five-field schedule: the values each field allows, and which fields carry robfig's star bit."""

    fields: tuple[frozenset[int], ...]  # minute, hour, day of month, month, day of week
    star: tuple[bool, ...]
    fixed_time: bool  # no wildcard in the minute or hour field: cron(8)'s rule applies

    @property
    def expression(self) -> str:
        """The same schedule in plain numbers, for croniter (a starred field stays `*`)."""
        return " ".join("*" if star else ",".join(str(v) for v in sorted(values))
                        for values, star in zip(self.fields, self.star, strict=True))


@dataclass(frozen=True)
class Every:
    """`@every <duration>`: a tick that many seconds after the last one."""

    seconds: int


Parsed = Cron | Every


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Parsed:
    """`text` as robfig/cron's `ParseStandard` reads it; `InvalidSchedule` with its message when
    it does not, or when no date matches it."""
    if not text:
        raise InvalidSchedule("empty spec string")
    if text.startswith("@"):
        if text.startswith(_EVERY):
            try:
                seconds = gotext.parse_duration(text[len(_EVERY):])
            except ValueError as e:
                raise InvalidSchedule(f"failed to parse duration {text}: {e}") from None
            return Every(max(1, int(seconds)))
        if text not in _DESCRIPTORS:
            raise InvalidSchedule(f"unrecognized descriptor: {text}")
        return _cron(_DESCRIPTORS[text].split(), descriptor=text)
    fields = text.split()
    if len(fields) != 5:
        raise InvalidSchedule(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    return _cron(fields)


def _cron(fields: list[str], descriptor: str = "") -> Cron:
    values, stars = [], []
    for text, (low, high, names) in zip(fields, _FIELDS, strict=True):
        allowed: set[int] = set()
        star = False
        for part in (p for p in text.split(",") if p):
            got, part_star = _range(part, low, high, names)
            allowed |= got
            star = star or part_star
        values.append(frozenset(allowed))
        stars.append(star)
    fixed = descriptor != "@hourly" and not any(c in fields[i] for i in (0, 1) for c in "*?")
    cron = Cron(tuple(values), tuple(stars), fixed)
    if not _some_day(cron):
        raise InvalidSchedule(f"no date matches the day of month and month of {' '.join(fields)!r}: it never fires")
    return cron


def _range(expr: str, low: int, high: int, names: dict[str, int] | None) -> tuple[set[int], bool]:
    """robfig's `getRange`: one `a`, `a-b`, `*` or `?`, with an optional `/step`."""
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    star = False
    if low_high[0] in ("*", "?"):
        start, end, star = low, high, True
    else:
        start = _int_or_name(low_high[0], names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _int_or_name(low_high[1], names)
        else:
            raise InvalidSchedule(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _int(range_and_step[1])
        if len(low_high) == 1:
            end = high  # "N/step" is "N-max/step"
        if step > 1:
            star = False
    else:
        raise InvalidSchedule(f"too many slashes: {expr}")
    if start < low:
        raise InvalidSchedule(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise InvalidSchedule(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise InvalidSchedule(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise InvalidSchedule(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _int_or_name(expr: str, names: dict[str, int] | None) -> int:
    if names is not None and expr.lower() in names:
        return names[expr.lower()]
    return _int(expr)


def _int(expr: str) -> int:
    text = expr[1:] if expr[:1] in "+-" else expr
    if not text.isascii() or not text.isdigit():
        raise InvalidSchedule(f'failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": invalid syntax')
    number = int(expr)
    if number < 0:
        raise InvalidSchedule(f"negative number ({number}) not allowed: {expr}")
    return number


def _some_day(cron: Cron) -> bool:
    """Whether any date matches: always when the day of week alone can match (both day fields
    restricted, so either will do); else some allowed day of month must exist in an allowed month."""
    _, _, doms, months, _ = cron.fields
    dom_star, dow_star = cron.star[2], cron.star[4]
    if not (dom_star or dow_star):
        return True
    return any(day <= calendar.monthrange(_LEAP_YEAR, month)[1] for month in months for day in doms)


# -- ticks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule in a time zone: `next` tick strictly after an instant."""

    parsed: Parsed
    zone: tzinfo

    def next(self, after: datetime) -> datetime:
        """The first tick strictly after `after` (aware), in UTC."""
        if isinstance(self.parsed, Every):
            return (after + timedelta(seconds=self.parsed.seconds, microseconds=-after.microsecond)).astimezone(UTC)
        if self.parsed.fixed_time:
            return self._next_fixed(after)
        return self._next_wildcard(after)

    def _walls(self, after: datetime) -> Iterator[datetime]:
        """The schedule's wall-clock times (naive, in the zone) after `after`'s, and as far before
        it as the clock falls back in the 3 hours after `after` (its doubled times come again)."""
        back = max(timedelta(0), _offset(after, self.zone) - _offset(after + _SHIFT, self.zone))
        start = after.astimezone(self.zone).replace(tzinfo=None, second=0, microsecond=0) - back
        assert isinstance(self.parsed, Cron)
        it = croniter(self.parsed.expression, start, day_or=True)
        while True:
            yield it.get_next(datetime)

    def _next_fixed(self, after: datetime) -> datetime:
        # Wall times map to instants in order (a missing one to the change, a doubled one to
        # its first time), so the first beyond `after` is the next tick.
        for wall in self._walls(after):
            found = _instants(wall, self.zone)
            tick = found[0] if found else _change_after(wall, self.zone)
            if tick > after:
                return tick
        raise AssertionError("unreachable: the walls never end")

    def _next_wildcard(self, after: datetime) -> datetime:
        # A doubled wall time maps to two instants: a later wall time can still give an earlier
        # instant than the first found, by as much as the zone's offset changes around it.
        best: datetime | None = None
        reach: datetime | None = None
        for wall in self._walls(after):
            if reach is not None and wall > reach:
                break
            for tick in _instants(wall, self.zone):
                if tick > after and (best is None or tick < best):
                    best = tick
                    offsets = [_offset(best + d, self.zone) for d in (-_SHIFT, timedelta(0), _SHIFT)]
                    reach = wall + (max(offsets) - min(offsets))
        assert best is not None
        return best


def schedule(text: str, zone: tzinfo) -> Schedule:
    """`text` (see `parse`, which raises `InvalidSchedule`) in `zone`."""
    return Schedule(parse(text), zone)


def _offset(instant: datetime, zone: tzinfo) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def _instants(wall: datetime, zone: tzinfo) -> list[datetime]:
    """The UTC instants at which `zone`'s clock shows `wall`: none in a gap, two in a fold."""
    found: list[datetime] = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall and instant not in found:
            found.append(instant)
    return sorted(found)


def _change_after(wall: datetime, zone: tzinfo) -> datetime:
    """The instant the clock jumped over `wall` (a time in a gap): the first whose wall time is
    past it, found between the instants the offsets before and after the change would give."""
    low, high = sorted(wall.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
    lo, hi = int(low.timestamp()), int(high.timestamp())  # lo shows a time before `wall`, hi after
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(zone).replace(tzinfo=None) > wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


# -- missed ticks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """What is due at `now`: the most recent tick not yet run (None: none), how many ticks were
    missed since the last one run (counted up to `MISSED_LIMIT` + 1), and the tick after `now`."""

    tick: datetime | None
    missed: int
    next: datetime

    @property
    def too_many_missed(self) -> bool:
        return self.missed > MISSED_LIMIT


def due(sched: Schedule, earliest: datetime, now: datetime, deadline: float | None = None) -> Due:
    """CronJob's `mostRecentScheduleTime`: the ticks after `earliest` (the last tick run, or the
    RayCronJob's creation) up to `now`, only those in the last `deadline` seconds when one is
    set; the most recent of them is the one to run, the others are missed."""
    if deadline is not None:
        earliest = max(earliest, now - timedelta(seconds=deadline))
    tick = sched.next(earliest)
    if tick > now:
        return Due(None, 0, tick)
    last, count = tick, 0
    while tick <= now and count <= MISSED_LIMIT:
        last, count = tick, count + 1
        tick = sched.next(tick)
    if tick > now:
        return Due(last, count, tick)
    # More than the limit: find the last tick before `now` from a window that grows back from it.
    span = max((tick - last).total_seconds(), 60.0)
    while True:
        start = max(now - timedelta(seconds=span), last)
        latest, t = None, sched.next(start)
        while t <= now:
            latest, t = t, sched.next(t)
        if latest is not None:
            return Due(latest, count, t)
        span *= 2
