"""The iCalendar feed (RFC 5545) of a team's series, built from the same data as `occurrences()`.

One VEVENT per series (DTSTART with its TZID, RRULE, UNTIL, EXDATE for
cancelled occurrences), one override per moved occurrence (same UID,
RECURRENCE-ID = the original start), one VEVENT per extra meeting, and the
VTIMEZONE of each zone used. UIDs derive from team and series ids only, so
they never change between rebuilds (yaml2ical's fault, not repeated). SEQUENCE
and DTSTAMP come from the caller: the store raises an event's SEQUENCE when
its content changes (RFC 5545 §3.8.7.4).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from icalendar import Calendar, Event

from bot.schedule.expand import latest_changes, rule_start_on
from bot.schedule.model import Change, ChangeKind, Series

PRODID = "-//sigbot//schedule//EN"
_WEEKDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class TeamSchedule:
    team: str
    series: tuple[Series, ...]
    changes: tuple[Change, ...]
    agenda_url: str | None = None  # where the team's agenda and minutes are published


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
        rule: dict = ({"FREQ": "WEEKLY", "INTERVAL": s.every_weeks} if s.every_weeks else
                      {"FREQ": "MONTHLY", "BYDAY": f"{s.monthly.nth}{_WEEKDAY[s.monthly.weekday]}"})
        if s.until:
            # With a TZID'd DTSTART, UNTIL must be in UTC (RFC 5545 §3.3.10): the end of the last local day.
            last = datetime.combine(s.until, time(23, 59, 59), tzinfo=s.zone)
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
        s = by_id.get(extra.series)
        change = of_extra.get(extra.id)
        if s is None or extra.start is None or (change is not None and change.kind is ChangeKind.CANCEL):
            continue  # a cancelled extra leaves the feed; subscribed clients drop it on their next refresh
        start = change.start if change is not None and change.start is not None else extra.start
        events.append(_event(schedule, s, extra_uid(schedule.team, s.id, extra.id), extra.title or s.title, start))
    return events


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


Stamper = Callable[[str, dict[str, str]], dict]  # (team, {uid: hash}) -> {uid: FeedStamp}


def build_calendar(schedules: Iterable[TeamSchedule], stamps: Stamper, name: str) -> bytes:
    """The whole feed; `stamps` gives each UID its SEQUENCE and DTSTAMP (see ScheduleStore.feed_stamps)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
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
    cal.add_missing_timezones()
    return cal.to_ical()
