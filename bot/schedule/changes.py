"""Run-time changes of a team's schedule, checked; shared by the chat commands and the CLI.

Each function checks its input against the expanded schedule (a date that has
no meeting, a series that does not exist, a time in the past) and raises
ScheduleError with a message fit for the person, storing nothing then.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from bot.config import Team
from bot.core.call import Speaker
from bot.core.message import quoted
from bot.core.record import record
from bot.schedule.config import series_from_dict, series_to_dict
from bot.schedule.expand import occurrences
from bot.schedule.model import Change, ChangeKind, Occurrence, ScheduleError, ScheduleSettings, Series
from bot.schedule.store import ScheduleStore

SECTION = "schedule"
# A moved or extra meeting lies at most this far ahead: the widest window `upcoming()` looks into.
FURTHEST_AHEAD = timedelta(days=36600)


def settings(team: Team) -> ScheduleSettings:
    return team.sections.get(SECTION) or ScheduleSettings()


@record
class TeamState:
    """A team's series and changes as they stand: the input of `occurrences()` and of the feed."""

    team: Team
    series: tuple[Series, ...]
    changes: tuple[Change, ...]

    def occurrences(self, start: datetime, end: datetime) -> list[Occurrence]:
        return occurrences(self.series, self.changes, start, end)

    def upcoming(self, now: datetime, count: int, include_cancelled: bool = True) -> list[Occurrence]:
        found: list[Occurrence] = []
        for days in (400, 3660, 36600):  # most schedules answer from the first window
            found = [
                o for o in self.occurrences(now, now + timedelta(days=days)) if include_cancelled or not o.cancelled
            ]
            if len(found) >= count:
                break
        return found[:count]

    def find(self, series_id: str) -> Series:
        s = next((s for s in self.series if s.id == series_id.lower()), None)
        if s is None:
            known = ", ".join(s.id for s in self.series) or "none yet"
            raise ScheduleError(f"team {self.team.name} has no series {quoted(series_id, 40)!r} "
                                f"(series: {known})")
        return s


def team_state(store: ScheduleStore, team: Team) -> TeamState:
    return TeamState(team, tuple(store.series(team.name, settings(team).series)), tuple(store.changes(team.name)))


def may_change(state: TeamState, speaker: Speaker, series_id: str | None) -> bool:
    """Team admins may change any series; a series' chairs (by any identity of theirs) may change it."""
    if speaker.privileged:
        return True
    who = speaker.ids
    named = [s for s in state.series if series_id is not None and s.id == series_id.lower()]
    return any(who & set(s.chairs) for s in named or state.series)  # unknown series: any chair hears why


def _occurrence_on(state: TeamState, s: Series, day: date) -> Occurrence:
    """The meeting of series `s` originally on local `day` (a regular one, else an extra)."""
    if not date.min + timedelta(days=3) <= day <= date.max - timedelta(days=62):  # the window looked at, below
        raise ScheduleError(f"series {s.id} has no meeting on {day}")
    lo = datetime.combine(day - timedelta(days=2), datetime.min.time(), tzinfo=s.zone)
    found = [o for o in occurrences(state.series, state.changes, lo, lo + timedelta(days=60)) if o.series == s.id]
    regular = [o for o in found if o.original is not None and o.original.date() == day]
    extras = [o for o in found if o.extra_id is not None and o.start.date() == day]
    if regular or extras:
        return (regular or extras)[0]
    hint = next((o for o in found if o.start.date() > day and not o.moved), None)
    after = f"; the next one is on {hint.start:%Y-%m-%d}" if hint else ""
    raise ScheduleError(f"series {s.id} has no meeting on {day}{after}")


def _not_past(occ: Occurrence, now: datetime) -> None:
    if occ.start <= now:
        raise ScheduleError(f"the {occ.series} meeting of {occ.start:%Y-%m-%d %H:%M} {occ.start.tzname()} "
                            "has already begun")


def cancel(store: ScheduleStore, state: TeamState, series_id: str, day: date, reason: str, by: str,
           now: datetime) -> Occurrence:
    s = state.find(series_id)
    occ = _occurrence_on(state, s, day)
    _not_past(occ, now)
    if occ.cancelled:
        raise ScheduleError(f"the {s.id} meeting of {day} is already cancelled")
    store.add_change(state.team.name, Change(0, s.id, ChangeKind.CANCEL, day=day, reason=reason.strip(),
                                             target=occ.extra_id), by, now)
    return occ


def _ahead(s: Series, start: datetime, now: datetime) -> None:
    """A new meeting time lies in the future, and not beyond `FURTHEST_AHEAD`: year 9999 is a typo
    for 2026, and neither the feed nor a calendar client can reckon around the calendar's end."""
    if start.replace(tzinfo=s.zone) <= now:
        raise ScheduleError(f"{start:%Y-%m-%d %H:%M} {s.timezone} is in the past")
    if start > (now + FURTHEST_AHEAD).astimezone(s.zone).replace(tzinfo=None):
        raise ScheduleError(f"{start:%Y-%m-%d} is more than {FURTHEST_AHEAD.days // 366} years ahead")


def move(store: ScheduleStore, state: TeamState, series_id: str, day: date, new_start: datetime, by: str,
         now: datetime) -> Occurrence:
    s = state.find(series_id)
    occ = _occurrence_on(state, s, day)
    _not_past(occ, now)
    _ahead(s, new_start, now)
    store.add_change(state.team.name, Change(0, s.id, ChangeKind.MOVE, day=day, start=new_start,
                                             target=occ.extra_id), by, now)
    return occ


def extra(store: ScheduleStore, state: TeamState, series_id: str, start: datetime, title: str, by: str,
          now: datetime) -> Change:
    s = state.find(series_id)
    _ahead(s, start, now)
    return store.add_change(state.team.name, Change(0, s.id, ChangeKind.EXTRA, start=start, title=title.strip()),
                            by, now)


def add_series(store: ScheduleStore, state: TeamState, data: dict[str, Any], now: datetime) -> Series:
    series = series_from_dict(data, state.team.timezone)
    if any(s.id == series.id for s in state.series):
        raise ScheduleError(f"team {state.team.name} already has a series {series.id!r}")
    store.set_series_keys(state.team.name, series.id, series_to_dict(series), now)
    return series


def end_series(store: ScheduleStore, state: TeamState, series_id: str, last: date, now: datetime) -> Series:
    """Change of cadence: end a series on `last` (inclusive), then add another."""
    s = state.find(series_id)
    if last < s.first.date():
        raise ScheduleError(f"{last} is before the series' first meeting ({s.first:%Y-%m-%d})")
    store.set_series_keys(state.team.name, s.id, {"until": last.isoformat()}, now)
    return s.ended_on(last)
