"""The iCalendar feed (RFC 5545) of a team's series, built from the same data as `occurrences()`.

One VEVENT per series (DTSTART with its TZID, RRULE, UNTIL, EXDATE for
cancelled occurrences), one override per moved occurrence (same UID,
RECURRENCE-ID = the original start), one VEVENT per extra meeting, and the
VTIMEZONE of each zone used, covering the dates the feed spans. UIDs derive from team and series ids only, so
they never change between rebuilds (yaml2ical's fault, not repeated). SEQUENCE
and DTSTAMP come from the caller: the store raises an event's SEQUENCE when
its content changes (RFC 5545 §3.8.7.4).

This module plans the events as plain data (`EventPlan`), hashes them and
pairs them with their stamps, without icalendar; bot/schedule/ical.py writes
the file. The running bot has ical.py do that in a short-lived child process
(`apart=True`), so that icalendar is never resident in it (memory, issue 14);
the command line and the tests write in process. Both give the same bytes.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from bot.core.apart import run_apart
from bot.core.record import record
from bot.schedule.expand import latest_changes, rule_start_on
from bot.schedule.model import ChangeKind, FeedStamp, Series, TeamSchedule

PRODID = "-//sigbot//schedule//EN"
_WEEKDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# A VTIMEZONE lists each offset change as a date (icalendar writes RDATEs), so it
# has to end somewhere: for a series without an end, this many years after the
# latest date the feed names. The feed is rebuilt whenever the schedule changes.
OPEN_ENDED_YEARS = 30
# Dates a VTIMEZONE ever covers: a configured `until = 9999-12-31` must not make it list
# eight thousand years of changes (nor overflow: icalendar steps past the last date).
VTIMEZONE_YEARS = (date(1900, 1, 2), date(2400, 12, 31))


@record
class EventPlan:
    """One VEVENT, as data; its properties are written in this order (see ical.py)."""
    uid: str
    summary: str
    start: datetime  # local time with its zone
    end: datetime
    location: str
    description: str
    rule: tuple[tuple[str, Any], ...] = ()  # RRULE parts (FREQ, INTERVAL or BYDAY, UNTIL); () for none
    exdates: tuple[datetime, ...] = ()
    recurrence_id: datetime | None = None  # an override of one occurrence of the series `uid`


@record
class FeedJob:
    """Everything ical.py needs to write one file: handed to the child whole (pickled)."""
    name: str
    events: tuple[tuple[EventPlan, FeedStamp], ...]
    zones: tuple[tuple[str, date, date], ...]  # (zone, first, last): the VTIMEZONEs and the dates they cover


def series_uid(team: str, series_id: str) -> str:
    return f"{team}.{series_id}@sigbot"


def extra_uid(team: str, series_id: str, extra_id: int) -> str:
    return f"{team}.{series_id}.extra-{extra_id}@sigbot"


def plan_events(schedule: TeamSchedule) -> list[EventPlan]:
    """The team's VEVENTs, without SEQUENCE and DTSTAMP (see `feed_job`)."""
    regular, of_extra, extras = latest_changes(schedule.changes)
    by_id = {s.id: s for s in schedule.series}
    events = []
    for s in schedule.series:
        rule = _rule(s)
        if s.until:
            # With a TZID'd DTSTART, UNTIL must be in UTC (RFC 5545 §3.3.10): the end of the last local day.
            # (A day short of the calendar's end at most, so that the shift to UTC cannot overflow.)
            last = datetime.combine(min(s.until, date.max - timedelta(days=1)), time(23, 59, 59), tzinfo=s.zone)
            rule += (("UNTIL", last.astimezone(timezone.utc)),)
        cancelled = [(day, ch) for (sid, day), ch in regular.items() if sid == s.id and ch.kind is ChangeKind.CANCEL]
        exdates = tuple(start.replace(tzinfo=s.zone) for day, _ in sorted(cancelled)
                        if (start := rule_start_on(s, day)) is not None)
        events.append(_event(schedule, s, series_uid(schedule.team, s.id), s.title, s.first, rule=rule,
                             exdates=exdates))
        for (sid, day), ch in sorted(regular.items()):
            original = rule_start_on(s, day) if sid == s.id else None
            if ch.kind is ChangeKind.MOVE and original is not None and ch.start is not None:
                events.append(_event(schedule, s, series_uid(schedule.team, s.id), s.title, ch.start,
                                     recurrence_id=original.replace(tzinfo=s.zone)))
    for extra in extras:
        of_extra_series = by_id.get(extra.series)
        change = of_extra.get(extra.id)
        if of_extra_series is None or extra.start is None or (change is not None and change.kind is ChangeKind.CANCEL):
            continue  # a cancelled extra leaves the feed; subscribed clients drop it on their next refresh
        start = change.start if change is not None and change.start is not None else extra.start
        events.append(_event(schedule, of_extra_series, extra_uid(schedule.team, of_extra_series.id, extra.id),
                             extra.title or of_extra_series.title, start))
    return events


def _rule(s: Series) -> tuple[tuple[str, Any], ...]:
    """The series' RRULE, without its UNTIL."""
    if s.every_weeks:
        return (("FREQ", "WEEKLY"), ("INTERVAL", s.every_weeks))
    assert s.monthly is not None, "a series is weekly or monthly: series_from_dict() refuses one that is neither"
    return (("FREQ", "MONTHLY"), ("BYDAY", f"{s.monthly.nth}{_WEEKDAY[s.monthly.weekday]}"))


def _event(schedule: TeamSchedule, s: Series, uid: str, title: str, local: datetime, **more: Any) -> EventPlan:
    begin = local.replace(tzinfo=s.zone)
    description = [f"Join: {s.location}" if s.location else "", f"Agenda and minutes: {schedule.agenda_url}"
                   if schedule.agenda_url else "", f"Series {s.id} of team {schedule.team} (sigbot)"]
    return EventPlan(uid, title, begin, begin + timedelta(minutes=s.duration_minutes), s.location or "",
                     "\n".join(line for line in description if line), **more)


def content_hash(events: Iterable[EventPlan]) -> str:
    """What an event's SEQUENCE follows: a digest of everything written for its UID (its overrides too)."""
    return hashlib.sha256(repr(tuple(events)).encode()).hexdigest()[:32]


Stamper = Callable[[str, dict[str, str]], dict[str, FeedStamp]]  # (team, {uid: hash}) -> {uid: FeedStamp}


def feed_job(schedules: Iterable[TeamSchedule], stamps: Stamper, name: str) -> FeedJob:
    """The whole feed as data: each event with the SEQUENCE and DTSTAMP `stamps` gives its UID
    (see ScheduleStore.feed_stamps), and the zones to describe."""
    schedules = list(schedules)
    events: list[tuple[EventPlan, FeedStamp]] = []
    for schedule in schedules:
        plans = plan_events(schedule)
        by_uid: dict[str, list[EventPlan]] = {}
        for plan in plans:
            by_uid.setdefault(plan.uid, []).append(plan)
        given = stamps(schedule.team, {uid: content_hash(group) for uid, group in by_uid.items()})
        events += [(plan, given[plan.uid]) for plan in plans]
    zones = tuple((zone, first, last) for zone, (first, last) in sorted(zone_spans(schedules).items()))
    return FeedJob(name, tuple(events), zones)


def write_feeds(jobs: list[FeedJob], apart: bool = False) -> list[bytes]:
    """Each feed's bytes: written here, or (`apart`) by one child process that imports icalendar and exits."""
    if apart:
        answer = run_apart("bot.schedule.ical", pickle.dumps(jobs), what="the calendar feeds")
        try:
            out: list[bytes] = pickle.loads(answer)  # our own child's answer, never the network's
        except (pickle.UnpicklingError, EOFError, ValueError) as exc:
            raise RuntimeError(f"the calendar feeds: the child's answer is unreadable ({exc})") from None
        return out
    from bot.schedule.ical import write_calendar

    return [write_calendar(job) for job in jobs]


def build_calendar(schedules: Iterable[TeamSchedule], stamps: Stamper, name: str, apart: bool = False) -> bytes:
    """One feed's bytes (see write_feeds)."""
    return write_feeds([feed_job(schedules, stamps, name)], apart)[0]


def zone_spans(schedules: Iterable[TeamSchedule]) -> dict[str, tuple[date, date]]:
    """Per zone, the local dates its VTIMEZONE must cover: from the earliest start the feed
    names to the end of the latest series (a day or two either side, for DTEND), or to the end
    of the year `OPEN_ENDED_YEARS` after the latest date named when a series never ends.
    A function of the schedule alone, never of the clock, so a rebuild gives the same bytes."""
    named: dict[str, list[date]] = {}
    open_ended: set[str] = set()
    for schedule in schedules:
        for s in schedule.series:
            days = named.setdefault(s.timezone, [])
            days.append(s.first.date())
            days += [c.start.date() for c in schedule.changes if c.series == s.id and c.start is not None]
            if s.until is None:
                open_ended.add(s.timezone)
            else:
                days.append(s.until)
    spans = {}
    for zone, days in named.items():
        first, last = (min(max(d, VTIMEZONE_YEARS[0]), VTIMEZONE_YEARS[1]) for d in (min(days), max(days)))
        end = date(last.year + OPEN_ENDED_YEARS, 12, 31) if zone in open_ended else last + timedelta(days=2)
        spans[zone] = (first - timedelta(days=1), min(end, VTIMEZONE_YEARS[1]))
    return spans
