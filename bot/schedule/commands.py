"""The schedule's chat commands: !next, !schedule, !cancel, !move, !extra, !tz.

Handlers read the schedule through `occurrences()` (via TeamState) and change
it through bot/schedule/changes.py, the same functions the CLI uses. Times
typed by people are local to the series' zone; answers give UTC, the team's
zone and the asker's own zone (`!tz set`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime

from bot.config import Team
from bot.core.call import Call, Publish
from bot.core.commands import Registry, Role, Scope
from bot.core.message import Effect, Reply, quoted
from bot.schedule import changes
from bot.schedule.changes import TeamState, may_change, team_state
from bot.schedule.model import ScheduleError, check_zone, parse_day, parse_local
from bot.schedule.publish import publish
from bot.schedule.store import ScheduleStore
from bot.schedule.text import how_far, title_of, when_line

log = logging.getLogger(__name__)
SCHEDULE_COMMANDS = Registry()
SHOWN = 5  # occurrences listed by !schedule
_TIME = re.compile(r"\d{1,2}:\d{2}")


# A change a chair asks for: (store, state, words, now) -> the answer; raises ScheduleError.
Act = Callable[[ScheduleStore, TeamState, list[str], datetime], str]


def _store(call: Call) -> ScheduleStore:
    return ScheduleStore(call.db)


def _team(call: Call) -> Team:
    """The team of the room the command was said in. It is None only in a direct message,
    where of the schedule's commands only !tz runs, and !tz asks for no team."""
    assert call.team is not None, "a schedule command that needs a team ran in a direct message"
    return call.team


def _zones(call: Call, asked: str | None = None) -> list[str]:
    own = _store(call).person_zone(call.message.sender)
    return [_team(call).timezone, *(z for z in (own, asked) if z)]


def _answer(call: Call, text: str) -> list[Effect]:
    return [Reply(call.message.room, text)]


def _take_datetime(words: list[str]) -> tuple[datetime, list[str]]:
    """A local date-time from the front of `words`: `2025-10-03T10:00` or `2025-10-03 10:00`."""
    if not words:
        raise ScheduleError("give a date and time like 2025-10-03T10:00")
    if len(words) > 1 and "T" not in words[0].upper() and _TIME.fullmatch(words[1]):
        return parse_local(f"{words[0]}T{words[1]}"), words[2:]
    return parse_local(words[0].upper()), words[1:]


@SCHEDULE_COMMANDS.command("next", role=Role.ANYONE, scope=Scope.ROOM,
                           summary="when the team's next meeting is: UTC, the team's zone, your zone, how far away",
                           usage="next [TIMEZONE]", examples=("!next", "!next America/New_York"))
def next_meeting(call: Call) -> list[Effect]:
    asked = call.args.split()[0] if call.args.split() else None
    try:
        zones = _zones(call, check_zone(asked) if asked else None)
    except ScheduleError as exc:
        return _answer(call, f"{exc}.")
    now = call.message.time
    team = _team(call)
    upcoming = team_state(_store(call), team).upcoming(now, 1, include_cancelled=False)
    if not upcoming:
        return _answer(call, f"No meeting of team {team.name} is scheduled.")
    occ = upcoming[0]
    lines = [f"Next: {title_of(occ)} in {how_far(occ.start - now)}", when_line(occ, zones)]
    if occ.location:
        lines.append(f"Join: {occ.location}")
    return _answer(call, "\n".join(lines))


@SCHEDULE_COMMANDS.command("schedule", role=Role.ANYONE, scope=Scope.ROOM,
                           summary="the next few meetings of the team, cancelled ones marked",
                           usage="schedule", examples=("!schedule",))
def schedule(call: Call) -> list[Effect]:
    zones = _zones(call)
    team = _team(call)
    upcoming = team_state(_store(call), team).upcoming(call.message.time, SHOWN)
    if not upcoming:
        return _answer(call, f"No meeting of team {team.name} is scheduled.")
    lines = []
    for occ in upcoming:
        mark = f"CANCELLED{': ' + occ.reason if occ.reason else ''} — " if occ.cancelled else ""
        moved = " (moved)" if occ.moved else ""
        lines.append(f"- {mark}{title_of(occ)}{moved}: {when_line(occ, zones)}")
    return _answer(call, "\n".join(lines))


def _change(call: Call, usage: str, act: Act) -> Sequence[Effect | Publish]:
    """Check rights and input, apply `act(store, state, words, now)`, publish the files, answer."""
    words = call.args.split()
    if not words:
        return _answer(call, f"Usage: !{usage}")
    store = _store(call)
    state: TeamState = team_state(store, _team(call))
    if not may_change(state, call.speaker, words[0]):
        return _answer(call, "Only team admins and the series' chairs may change the schedule.")
    try:
        text = act(store, state, words, call.message.time)
    except ScheduleError as exc:
        return _answer(call, f"{exc}. Usage: !{usage}")
    config, now = call.config, call.message.time
    return [*_answer(call, text), Publish("the schedule's files", lambda: publish(config, ScheduleStore(call.db), now))]


def _series_chair(call: Call) -> bool:
    """A chair of one of the team's series holds the chair role for the schedule's commands."""
    return call.team is not None and may_change(team_state(_store(call), call.team), call.speaker, None)


@SCHEDULE_COMMANDS.command("cancel", role=Role.CHAIR, scope=Scope.ROOM, also=_series_chair,
                           holders="team admins and the series' chairs",
                           summary="cancel one meeting of a series (its reminders stop; a notice is posted)",
                           usage="cancel SERIES DATE [REASON]", examples=("!cancel wg 2025-10-02 national holiday",))
def cancel(call: Call) -> Sequence[Effect | Publish]:
    def act(store: ScheduleStore, state: TeamState, words: list[str], now: datetime) -> str:
        if len(words) < 2:
            raise ScheduleError("give the series and the date")
        occ = changes.cancel(store, state, words[0], parse_day(words[1]), " ".join(words[2:]),
                             call.message.sender, now)
        reason = f" ({' '.join(words[2:])})" if words[2:] else ""
        return f"Cancelled{reason}: {title_of(occ)} of {when_line(occ, [_team(call).timezone])}"
    return _change(call, "cancel SERIES DATE [REASON]", act)


@SCHEDULE_COMMANDS.command("move", role=Role.CHAIR, scope=Scope.ROOM, also=_series_chair,
                           holders="team admins and the series' chairs",
                           summary="move one meeting of a series to another date and time (local to the series)",
                           usage="move SERIES DATE NEW_DATETIME", examples=("!move wg 2025-10-02 2025-10-03T10:00",))
def move(call: Call) -> Sequence[Effect | Publish]:
    def act(store: ScheduleStore, state: TeamState, words: list[str], now: datetime) -> str:
        if len(words) < 2:
            raise ScheduleError("give the series, the date and the new date and time")
        new_start, rest = _take_datetime(words[2:])
        if rest:
            raise ScheduleError(f"unexpected {quoted(' '.join(rest), 40)!r}")
        occ = changes.move(store, state, words[0], parse_day(words[1]), new_start, call.message.sender, now)
        moved = team_state(store, _team(call)).find(words[0])
        return (f"Moved {title_of(occ)} of {occ.start:%Y-%m-%d %H:%M} to "
                f"{new_start:%a %Y-%m-%d %H:%M} {moved.timezone}")
    return _change(call, "move SERIES DATE NEW_DATETIME", act)


@SCHEDULE_COMMANDS.command("extra", role=Role.CHAIR, scope=Scope.ROOM, also=_series_chair,
                           holders="team admins and the series' chairs",
                           summary="add a one-off meeting to a series, with its own title",
                           usage="extra SERIES DATETIME [TITLE]",
                           examples=("!extra wg 2025-09-25T10:00 Temporary meeting",))
def extra(call: Call) -> Sequence[Effect | Publish]:
    def act(store: ScheduleStore, state: TeamState, words: list[str], now: datetime) -> str:
        start, rest = _take_datetime(words[1:])
        change = changes.extra(store, state, words[0], start, " ".join(rest), call.message.sender, now)
        s = state.find(words[0])
        return f"Added **{change.title or s.title}** ({s.id}) on {start:%a %Y-%m-%d %H:%M} {s.timezone}"
    return _change(call, "extra SERIES DATETIME [TITLE]", act)


@SCHEDULE_COMMANDS.command("tz", role=Role.ANYONE, scope=Scope.ROOM, direct=True,
                           summary="set your own timezone, used in answers to you (alone: show it; unset: forget it)",
                           usage="tz [set ZONE]", examples=("!tz set Asia/Shanghai", "!tz", "!tz unset"))
def tz(call: Call) -> list[Effect]:
    store = _store(call)
    words = call.args.split()
    if not words:
        zone = store.person_zone(call.message.sender)
        return _answer(call, f"Your timezone is {zone}." if zone else "You have not set a timezone: !tz set ZONE")
    if words[0] == "unset" and len(words) == 1:
        store.set_person_zone(call.message.sender, None)
        return _answer(call, "Your timezone is forgotten.")
    if words[0] != "set" or len(words) != 2:
        return _answer(call, "Usage: !tz set ZONE (or !tz alone, or !tz unset)")
    try:
        zone = check_zone(words[1])
    except ScheduleError as exc:
        return _answer(call, f"{exc}.")
    store.set_person_zone(call.message.sender, zone)
    return _answer(call, f"Your timezone is now {zone}.")
