"""Shared by the schedule tests: series in a few lines, and the feed read back by an independent expander."""

from __future__ import annotations

from datetime import date, datetime, timezone

import icalendar
import recurring_ical_events

from bot.config import Config, parse_config
from bot.schedule.feed import build_calendar
from bot.schedule.model import Change, ChangeKind, Monthly, Series, TeamSchedule
from bot.schedule.store import FeedStamp

STAMP = datetime(2025, 1, 1, tzinfo=timezone.utc)
ROOM = "!wg:localhost"
WG = {"id": "wg", "title": "Accelerator WG", "first": "2025-09-04T15:00", "every_weeks": 2,
      "location": "https://meet.example/wg", "chairs": ["@chair:localhost"]}


def make_config(tmp_path, **schedule) -> Config:
    """Team wg (Europe/Berlin, admin @admin) with series wg: Thursdays 15:00 every two weeks from 2025-09-04."""
    return parse_config({
        "bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
        "teams": [{"name": "wg", "matrix_room": ROOM, "timezone": "Europe/Berlin", "admins": ["@admin:localhost"],
                   "schedule": {"series": [WG], **schedule}}],
    }, tmp_path / "sigbot.toml")


def weekly(sid: str, first: str, every: int = 1, zone: str = "Europe/Berlin", until: str | None = None,
           **kw) -> Series:
    return Series(sid, kw.pop("title", sid.upper()), zone, datetime.fromisoformat(first), every_weeks=every,
                  until=date.fromisoformat(until) if until else None, **kw)


def monthly(sid: str, first: str, rule: str, zone: str = "Europe/Berlin", until: str | None = None, **kw) -> Series:
    return Series(sid, kw.pop("title", sid.upper()), zone, datetime.fromisoformat(first), monthly=Monthly.parse(rule),
                  until=date.fromisoformat(until) if until else None, **kw)


def cancel(n: int, sid: str, day: str, reason: str = "", target: int | None = None) -> Change:
    return Change(n, sid, ChangeKind.CANCEL, day=date.fromisoformat(day), reason=reason, target=target)


def move(n: int, sid: str, day: str, to: str, target: int | None = None) -> Change:
    return Change(n, sid, ChangeKind.MOVE, day=date.fromisoformat(day), start=datetime.fromisoformat(to),
                  target=target)


def extra(n: int, sid: str, at: str, title: str = "") -> Change:
    return Change(n, sid, ChangeKind.EXTRA, start=datetime.fromisoformat(at), title=title)


def feed_of(series, changes, team: str = "wg") -> bytes:
    return build_calendar([TeamSchedule(team, tuple(series), tuple(changes))],
                          lambda t, hashes: {uid: FeedStamp(0, STAMP) for uid in hashes}, team)


def expanded_by_ical(ics: bytes, start: datetime, end: datetime) -> list[tuple[datetime, datetime, str]]:
    """(start UTC, end UTC, summary) of each event the feed yields starting in [start, end), by
    recurring-ical-events."""
    cal = icalendar.Calendar.from_ical(ics)
    found = []
    for event in recurring_ical_events.of(cal).between(start, end):
        begin = event["DTSTART"].dt.astimezone(timezone.utc)
        if start <= begin < end:
            found.append((begin, event["DTEND"].dt.astimezone(timezone.utc), str(event["SUMMARY"])))
    return sorted(found)


def announced(occurrences) -> list[tuple[datetime, datetime, str]]:
    return sorted((o.start_utc, o.end_utc, o.title) for o in occurrences if not o.cancelled)
