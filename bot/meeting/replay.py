"""Read a MeetBot `.log.txt` (Debian's MeetBot, Fedora's zodbot, OpenDev) and fold it.

This imports a group's old IRC meetings into the archive, and it is how the
engine is checked against meetings MeetBot itself recorded. The line patterns
are MeetBot's own replay patterns: `[HH:MM:SS] <nick> text` (brackets, seconds
and the @/+ mode prefix optional) and `HH:MM:SS * nick text` for /me. Other
lines (joins, parts, topic changes by clients) are not part of a MeetBot log
and are skipped, as MeetBot skips them.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from bot.core.commands import Registry
from bot.core.message import LineKind
from bot.meeting.engine import fold, split_lines
from bot.meeting.minutes import Minutes, build_minutes
from bot.meeting.model import LogLine

_SAID = re.compile(r"\[?([0-9: ]*)\]? *<[@+%&~]?([^>]+)> ?(.*)")
_ME = re.compile(r"\[?([0-9: ]*)\]? *\* *([^ ]+) *(.*)")
_DATE_IN_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


# Minutes show every time in the team's zone as well as UTC, up to 14 hours
# either way: a day of margin at both ends of Python's calendar keeps that in range.
FIRST_DAY, LAST_DAY = date(1, 1, 2), date(9999, 12, 30)


class ReplayError(ValueError):
    pass


def _clock(text: str) -> time | None:
    for fmt in ("%H:%M:%S", "%H:%M"):
        try:
            return datetime.strptime(text.strip(), fmt).time()
        except ValueError:
            continue
    return None


def date_from_name(path: Path) -> date | None:
    match = _DATE_IN_NAME.search(path.name)
    if not match:
        return None
    try:
        return date(*map(int, match.groups()))
    except ValueError:
        return None


def channel_from_name(path: Path) -> str:
    """MeetBot's own rule: `#` and the file name up to its first dot."""
    return "#" + path.name.split(".")[0]


def parse_log(text: str, day: date) -> list[LogLine]:
    """Log lines with UTC times on `day`, rolling over at midnight; ReplayError for days out of range."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ReplayError(f"cannot place a meeting on {day.isoformat()}: give a date from "
                          f"{FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}")
    lines: list[LogLine] = []
    current = datetime.combine(day, time(0), timezone.utc)
    for raw in text.splitlines():
        raw = raw.rstrip("\r\n")
        said, me = _SAID.match(raw), _ME.match(raw)
        match, kind = (said, LineKind.SAID) if said else (me, LineKind.ME)
        if not match or not match.group(2).strip():
            continue
        stamp, nick, words = match.groups()
        clock = _clock(stamp) if stamp.strip() else None
        if clock is not None:
            candidate = datetime.combine(current.date(), clock, timezone.utc)
            if candidate < current - timedelta(hours=1):
                if candidate.date() >= LAST_DAY:
                    raise ReplayError(f"the line {raw[:60]!r} runs the meeting past {LAST_DAY.isoformat()} "
                                      "(each time the clock goes back, a day has passed)")
                candidate += timedelta(days=1)  # the meeting went past midnight
            current = candidate
        for part in split_lines(words) or [""]:
            lines.append(LogLine(len(lines) + 1, current, nick.strip(), nick.strip(), kind, part.strip()))
    return lines


def replay(text: str, day: date, channel: str, registry: Registry, name: str | None = None) -> Minutes:
    state = fold(parse_log(text, day), channel, registry)
    if state is None:
        raise ReplayError("no #startmeeting line found: this does not look like a MeetBot meeting log")
    if name:
        state.name = name
    return build_minutes(state)
