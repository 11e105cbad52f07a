"""The iCalendar feed (RFC 5545) of a team's series, built from the same data as `occurrences()`.

One VEVENT per series (DTSTART with its TZID, RRULE, UNTIL, EXDATE for
cancelled occurrences), one override per moved occurrence (same UID,
RECURRENCE-ID = the original start), one VEVENT per extra meeting, and the
VTIMEZONE of each zone used, covering the dates the feed spans. UIDs derive from team and series ids only, so
they never change between rebuilds (yaml2ical's fault, not repeated). SEQUENCE
and DTSTAMP come from the caller: the store raises an event's SEQUENCE when
its content changes (RFC 5545 §3.8.7.4).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone

from bot.schedule.expand import latest_changes, rule_start_on
from bot.schedule.model import ChangeKind, Series, TeamSchedule

if TYPE_CHECKING:  # a type only: the feed is built without the database
    from bot.schedule.store import FeedStamp

PRODID = "-//sigbot//schedule//EN"
_WEEKDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# A VTIMEZONE lists each offset change as a date (icalendar writes RDATEs), so it
# has to end somewhere: for a series without an end, this many years after the
# latest date the feed names. The feed is rebuilt whenever the schedule changes.
OPEN_ENDED_YEARS = 30
# Dates a VTIMEZONE ever covers: a configured `until = 9999-12-31` must not make it list
# eight thousand years of changes (nor overflow: icalendar steps past the last date).
VTIMEZONE_YEARS = (date(1900, 1, 2), date(2400, 12, 31))


def series_uid(team: str, series_id: str) -> str:
    return f"{team}.{series_id}@sigbot"


def extra_uid(team: str, series_id: str, extra_id: int) -> str:
    return f"{team}.{series_id}.extra-{extra_id}@sigbot"


def build_events(schedule: TeamSchedule) -> list[Event]:
    """The team's VEVENTs, without SEQUENCE and DTSTAMP (see `build_calendar`)."""
    regular, of_extra, extras = latest_changes(schedule.changes)
    by_id = {s.id: s for s in schedule.series}
    events = []
    for s in schedule.series:
        master = _event(schedule, s, series_uid(schedule.team, s.id), s.title, s.first)
        rule = _rule(s)
        if s.until:
            # With a TZID'd DTSTART, UNTIL must be in UTC (RFC 5545 §3.3.10): the end of the last local day.
            # (A day short of the calendar's end at most, so that the shift to UTC cannot overflow.)
            last = datetime.combine(min(s.until, date.max - timedelta(days=1)), time(23, 59, 59), tzinfo=s.zone)
            rule["UNTIL"] = last.astimezone(timezone.utc)
        master.add("rrule", rule)
        cancelled = [(day, ch) for (sid, day), ch in regular.items() if sid == s.id and ch.kind is ChangeKind.CANCEL]
        exdates = [start.replace(tzinfo=s.zone) for day, _ in sorted(cancelled)
                   if (start := rule_start_on(s, day)) is not None]
        if exdates:
            master.add("exdate", exdates)
        events.append(master)
        for (sid, day), ch in sorted(regular.items()):
            original = rule_start_on(s, day) if sid == s.id else None
            if ch.kind is ChangeKind.MOVE and original is not None and ch.start is not None:
                override = _event(schedule, s, series_uid(schedule.team, s.id), s.title, ch.start)
                override.add("recurrence-id", original.replace(tzinfo=s.zone))
                events.append(override)
    for extra in extras:
        of_extra_series = by_id.get(extra.series)
        change = of_extra.get(extra.id)
        if of_extra_series is None or extra.start is None or (change is not None and change.kind is ChangeKind.CANCEL):
            continue  # a cancelled extra leaves the feed; subscribed clients drop it on their next refresh
        start = change.start if change is not None and change.start is not None else extra.start
        events.append(_event(schedule, of_extra_series, extra_uid(schedule.team, of_extra_series.id, extra.id),
                             extra.title or of_extra_series.title, start))
    return events


def _rule(s: Series) -> dict[str, Any]:
    """The series' RRULE, without its UNTIL."""
    if s.every_weeks:
        return {"FREQ": "WEEKLY", "INTERVAL": s.every_weeks}
    assert s.monthly is not None, "a series is weekly or monthly: series_from_dict() refuses one that is neither"
    return {"FREQ": "MONTHLY", "BYDAY": f"{s.monthly.nth}{_WEEKDAY[s.monthly.weekday]}"}


def _event(schedule: TeamSchedule, s: Series, uid: str, title: str, local: datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("summary", title)
    begin = local.replace(tzinfo=s.zone)
    event.add("dtstart", begin)
    event.add("dtend", begin + timedelta(minutes=s.duration_minutes))
    if s.location:
        event.add("location", s.location)
    description = [f"Join: {s.location}" if s.location else "", f"Agenda and minutes: {schedule.agenda_url}"
                   if schedule.agenda_url else "", f"Series {s.id} of team {schedule.team} (sigbot)"]
    event.add("description", "\n".join(line for line in description if line))
    return event


def content_hash(events: Iterable[Event]) -> str:
    return hashlib.sha256(b"".join(e.to_ical() for e in events)).hexdigest()[:32]


Stamper = Callable[[str, dict[str, str]], dict[str, "FeedStamp"]]  # (team, {uid: hash}) -> {uid: FeedStamp}


def build_calendar(schedules: Iterable[TeamSchedule], stamps: Stamper, name: str) -> bytes:
    """The whole feed; `stamps` gives each UID its SEQUENCE and DTSTAMP (see ScheduleStore.feed_stamps)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    schedules = list(schedules)
    for schedule in schedules:
        events = build_events(schedule)
        by_uid: dict[str, list[Event]] = {}
        for event in events:
            by_uid.setdefault(str(event["uid"]), []).append(event)
        given = stamps(schedule.team, {uid: content_hash(group) for uid, group in by_uid.items()})
        for event in events:
            stamp = given[str(event["uid"])]
            event.add("sequence", stamp.sequence)
            event.add("dtstamp", stamp.stamp.astimezone(timezone.utc))
            cal.add_component(event)
    # The zones the events name (UTC ones are written with Z and need none, RFC 5545 §3.2.19),
    # in sorted order ahead of the events: icalendar's add_missing_timezones() walks a set,
    # so the order, and the file's bytes, changed with PYTHONHASHSEED.
    spans = zone_spans(schedules)
    for zone in sorted(cal.get_missing_tzids(), reverse=True):
        cal.subcomponents.insert(0, Timezone.from_tzinfo(ZoneInfo(zone), zone, *spans[zone]))
    ical: bytes = cal.to_ical()  # icalendar leaves to_ical() unannotated; it returns the file's bytes
    return ical


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
