"""The schedule's values: a meeting series, the changes made to it, and one occurrence.

Times of a series are local wall-clock times in the series' own zone (a 15:00
Europe/Berlin meeting stays 15:00 across daylight-saving changes); UTC is
derived when an occurrence is built. Nothing here reads the clock or the database.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.message import quoted
from bot.core.record import record

ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SERIES_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_OFFSET = re.compile(r"(\d+)\s*([dhm])")
_OFFSET_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


class ScheduleError(ValueError):
    """Bad input (a date, a zone, a rule); its message is fit to show the person."""


class ChangeKind(StrEnum):
    CANCEL = "cancel"  # an occurrence does not take place
    MOVE = "move"  # an occurrence takes place at another date-time
    EXTRA = "extra"  # a one-off meeting attached to a series


@record
class Monthly:
    """`first thursday` .. `last friday`: `nth` is 1..4 or -1 (last); `weekday` 0 = Monday."""

    nth: int
    weekday: int

    @classmethod
    def parse(cls, text: str) -> Monthly:
        words = text.lower().split()
        if len(words) != 2 or words[0] not in ORDINALS or words[1] not in WEEKDAYS:
            raise ScheduleError(f"{quoted(text, 40)!r} is not a monthly rule like "
                                "\"first thursday\" or \"last friday\"")
        return cls(ORDINALS[words[0]], WEEKDAYS.index(words[1]))

    def __str__(self) -> str:
        ordinal = next(k for k, v in ORDINALS.items() if v == self.nth)
        return f"{ordinal} {WEEKDAYS[self.weekday]}"

    def day_in(self, year: int, month: int) -> date:
        if self.nth > 0:
            first = date(year, month, 1)
            return first + timedelta(days=(self.weekday - first.weekday()) % 7 + 7 * (self.nth - 1))
        nxt = date(year + month // 12, month % 12 + 1, 1)
        last = nxt - timedelta(days=1)
        return last - timedelta(days=(last.weekday() - self.weekday) % 7)


@record
class Series:
    """A recurring meeting. `first` is naive local time in `timezone`; `until` is the last date, inclusive."""

    id: str
    title: str
    timezone: str
    first: datetime
    every_weeks: int | None = None
    monthly: Monthly | None = None
    until: date | None = None
    duration_minutes: int = 60
    location: str = ""
    chairs: tuple[str, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    def ended_on(self, last: date) -> Series:
        return replace(self, until=last)

    def describe(self) -> str:
        cadence = (f"every {self.every_weeks} week(s)" if self.every_weeks else f"monthly, {self.monthly}")
        until = f", until {self.until}" if self.until else ""
        return (f"{self.id}: {self.title}, {cadence} at {self.first:%H:%M} {self.timezone} "
                f"from {self.first:%Y-%m-%d}{until}")


@record
class Change:
    """One run-time exception of a series.

    CANCEL and MOVE name the occurrence by its original local date `day`;
    MOVE and EXTRA carry the new naive local `start` (in the series' zone).
    `id` is the stored change's number: extras are known by it, and a CANCEL
    or MOVE of an extra names it in `target`.
    """

    id: int
    series: str
    kind: ChangeKind
    day: date | None = None
    start: datetime | None = None
    title: str = ""
    reason: str = ""
    target: int | None = None


@record
class Occurrence:
    """One meeting as it will (or, when cancelled, will not) take place.

    `key` names it for good (series and original local start, or the extra's
    number), so a reminder sent for it is never sent again; `original` is the
    local start the rule gave it (None for an extra).
    """

    series: str
    title: str
    start: datetime  # aware, in the series' zone
    end: datetime
    location: str
    key: str
    original: datetime | None
    cancelled: bool = False
    reason: str = ""
    moved: bool = False
    extra_id: int | None = None

    @property
    def start_utc(self) -> datetime:
        return self.start.astimezone(ZoneInfo("UTC"))

    @property
    def end_utc(self) -> datetime:
        return self.end.astimezone(ZoneInfo("UTC"))


@record
class ScheduleSettings:
    """A team's `[teams.schedule]`: its series, reminder offsets and grace."""

    series: tuple[Series, ...] = ()
    reminders: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(minutes=15))
    grace: timedelta = timedelta(minutes=10)


def check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        raise ScheduleError(f"unknown timezone {quoted(name, 40)!r} (use an IANA name such as Europe/Berlin)"
                            ) from None
    return name


def parse_offset(text: str) -> timedelta:
    """`24h`, `15m`, `2d`, `1h30m` -> a timedelta."""
    cleaned = text.strip().lower()
    parts = _OFFSET.findall(cleaned)
    if not parts or _OFFSET.sub("", cleaned).strip():
        raise ScheduleError(f"{quoted(text, 40)!r} is not a duration like 24h, 15m or 2d")
    return sum((timedelta(**{_OFFSET_UNITS[u]: int(n)}) for n, u in parts), timedelta())


def format_offset(delta: timedelta) -> str:
    """`24h`, `15m`, `1h30m` (stored as the name of a sent reminder, so it must stay the same)."""
    hours, minutes = divmod(int(delta.total_seconds() // 60), 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m")) if n) or "0m"


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ScheduleError(f"{quoted(text, 40)!r} is not a date like 2025-10-02") from None


def parse_local(text: str) -> datetime:
    """`2025-08-21T10:00` (or with a space) -> a naive local date-time."""
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        raise ScheduleError(f"{quoted(text, 40)!r} is not a date and time like 2025-08-21T10:00") from None
    if value.tzinfo is not None:
        raise ScheduleError(f"{quoted(text, 40)!r}: give the local time without an offset; the series' zone applies")
    if "T" not in text.strip().replace(" ", "T"):
        raise ScheduleError(f"{quoted(text, 40)!r} has no time of day: write it like 2025-08-21T10:00")
    return value.replace(second=0, microsecond=0)


@record
class TeamSchedule:
    """What a team's .ics feed is made from (bot/schedule/feed.py)."""

    team: str
    series: tuple[Series, ...]
    changes: tuple[Change, ...]
    agenda_url: str | None = None  # where the team's agenda and minutes are published


@record
class FeedStamp:
    """An event's SEQUENCE and DTSTAMP in the feed (bot/schedule/store.py raises them on each change)."""
    sequence: int
    stamp: datetime
