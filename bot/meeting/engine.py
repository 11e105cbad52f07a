"""Fold a meeting's log into its state, answering each line as MeetBot would.

`apply` takes the state and one new line and returns the effects to carry
out; `fold` replays a whole log and keeps only the state. Because the minutes
are built from `fold` alone, the same log always yields the same minutes, and
an edited or deleted line is handled by folding the corrected log again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace

from bot.core.commands import CommandCall, Registry, Role, Scope, number_arg
from bot.core.message import Effect, LineKind, React, Reply
from bot.meeting.model import Entry, ItemKind, LogLine, MeetingState

# MeetBot records a line that starts with one of these as a link.
_URL_START = re.compile(r"(?:https?|irc|ftp|ssh)://\S|mailto:\S", re.IGNORECASE)
# How the bot announces an agenda item at #startmeeting (bot/agenda writes it with agenda_line).
_AGENDA_LINE = re.compile(r"Agenda item (\d+) \([^()]*\): (.+)")


def split_lines(text: str) -> list[str]:
    """The physical lines of a message that carry words (one log line each)."""
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def begin(line: LogLine, room: str, name: str | None = None,
          agenda: Mapping[int, str] | None = None) -> MeetingState:
    """A new meeting whose first log line is `line` (its #startmeeting).

    `agenda` is the meeting's agenda as stored (the dispatcher's, from the
    agenda feature): given, it is the agenda and no line is read for one. Only a
    log with no database behind it (a `.log.txt` replayed) is read for the
    bot's announcement (`read_agenda`).
    """
    state = MeetingState(room=room, owner=line.nick, owner_id=line.sender, started=line.time, name=name)
    if agenda is not None:
        state.agenda, state.opening = dict(agenda), False
    return state


def is_chair(state: MeetingState, line: LogLine) -> bool:
    """Rights follow the identity a line came from, never the name it shows (bot/meeting/people.py)."""
    return line.privileged or not (line.linked | {line.sender}).isdisjoint(state.chair_ids())


def apply(state: MeetingState, line: LogLine, registry: Registry) -> list[Effect]:
    """Add one line to the meeting and act on the command it carries, if any (a replay's way: it parses)."""
    return apply_call(state, line, registry.parse(line.text) if line.kind is LineKind.SAID else None)


def apply_call(state: MeetingState, line: LogLine, call: CommandCall | None) -> list[Effect]:
    """`apply` for a line whose command (`call`, None for plain text) its caller has parsed already."""
    if not state.running:
        return []
    line = replace(line, number=len(state.lines) + 1)  # anchors count from #startmeeting
    state.lines.append(line)
    if line.kind is not LineKind.BOT:  # sigbot's own words are logged, but sigbot attends no meeting
        state.attendees[line.sender] = state.attendees.get(line.sender, 0) + 1
        names = state.names.setdefault(line.sender, [])
        if line.nick not in names:
            names.append(line.nick)
        state.attendee_networks.setdefault(line.sender, line.network)
    read_agenda(state, line)
    if line.kind is LineKind.TIMEOUT:
        state.ended, state.timed_out = line.time, True
        return []
    if line.kind is not LineKind.SAID:
        return []  # /me, notices and the bot's own words are logged, never obeyed
    if call is not None and call.command.scope is not Scope.MEETING:
        return []  # room commands (schedule, loans...) are not the meeting's business
    if call is None:
        if _URL_START.match(line.text):
            return add_item(state, line, ItemKind.LINK, line.text)
        return []
    if call.command.role is not Role.ANYONE and not is_chair(state, line):
        return [Reply(state.room, refusal(state, call))]
    effects: list[Effect] = call.command.handler(state, line, call)  # a meeting command's handler (commands.py)
    return effects


def agenda_line(n: int, text: str, note: str) -> str:
    """One announced agenda item, e.g. `Agenda item 2 (Alice, carried over): CI workflow`."""
    note = re.sub(r"[()\s]+", " ", note).strip()  # the parentheses delimit it
    return f"Agenda item {n} ({note}): {text}"


def read_agenda(state: MeetingState, line: LogLine) -> None:
    """Learn the agenda of a replayed `.log.txt` from the log itself, so that `#topic N` replays the same.

    Only for a log with no database behind it: a live or stored meeting gets
    its agenda as stored (`begin(agenda=...)`), and this does nothing (its
    `opening` is over from the start). A `.log.txt` has nothing but text: the
    agenda the bot announced at #startmeeting (lines written by
    `agenda_line`) is the only record of it there. Only the opening lines count:
    those said by the speaker of the meeting's second line (the bot, which
    answers #startmeeting) before anyone else speaks, so nobody can redefine
    an item later in the meeting.
    """
    if not state.opening or len(state.lines) < 2:
        return
    if len(state.lines) == 2:
        state.announcer = line.nick
    if line.nick != state.announcer:
        state.opening = False
        return
    match = _AGENDA_LINE.fullmatch(line.text)
    if match:
        state.agenda.setdefault(int(match[1]), match[2])


def agenda_topic(state: MeetingState, args: str) -> str:
    """The topic `#topic ARGS` sets: agenda item N for a bare announced number, else ARGS."""
    n = number_arg(args)
    return state.agenda[n] if n in state.agenda else args


def fold(lines: Iterable[LogLine], room: str, registry: Registry, require_start: bool = True,
         agenda: Mapping[int, str] | None = None) -> MeetingState | None:
    """The state of the meeting whose log is `lines`.

    A log read from a file starts at its first #startmeeting (`require_start`);
    a stored meeting starts at its first line even if that line was deleted.
    """
    state: MeetingState | None = None
    for line in lines:
        call = registry.parse(line.text) if line.kind is LineKind.SAID else None
        if state is None:
            if require_start and (call is None or not call.command.starts_meeting):
                continue  # lines before the meeting started are not part of it
            state = begin(line, room, agenda=agenda)
        apply_call(state, line, call)
        if not state.running:
            break
    return state


def refusal(state: MeetingState, call: CommandCall) -> str:
    chairs = ", ".join(state.chair_nicks())
    return f"Only the chairs can use {call.prefix}{call.word}. The chairs are: {chairs}."


def first_url(text: str) -> str | None:
    match = re.search(r"(?:https?|irc|ftp|ssh)://[^\s<>\"]+|mailto:[^\s<>\"]+", text, re.IGNORECASE)
    if not match:
        return None
    # As MeetBot does, a trailing '.' or ')' ends the sentence, not the URL.
    return match.group(0).rstrip(".)")


def add_item(state: MeetingState, line: LogLine, kind: ItemKind, text: str) -> list[Effect]:
    url = first_url(text) if kind is ItemKind.LINK else None
    state.entries.append(Entry(kind, text, line.nick, line.sender, line.time, line.number, url))
    return [React(state.room, line.event_id)]
