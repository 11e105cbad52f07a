"""Where a message becomes a stored line and then effects: the heart of `sigbot run`.

Order matters and is the durability promise: a line is committed to the
database (handled = 0) before anything acts on it; its effects and the change
of meeting state are committed together with handled = 1. After a crash,
`recover()` acts on the lines that were stored but not handled, in order, and
writes notes for meetings that ended before their notes were written.

Meeting state is never stored as such: it is the fold of the meeting's lines
(see bot/meeting/engine.py), cached in memory and rebuilt after an edit, a
redaction or a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot import metrics
from bot.config import Config, Team
from bot.core.call import Call, Publish, Speaker
from bot.core.commands import Command, CommandCall, Registry, Role, Scope
from bot.core.feature import HOOKS
from bot.core.identity import is_stable
from bot.core.message import (
    DirectMessage,
    Effect,
    LineKind,
    MeetingEnded,
    Message,
    Network,
    React,
    Redact,
    Relay,
    Reply,
)
from bot.core.privacy import contact_details
from bot.features import hooks, provided
from bot.meeting import engine
from bot.meeting.minutes import Minutes, build_minutes
from bot.meeting.model import LogLine, MeetingState
from bot.meeting.paths import meeting_dir
from bot.meeting.render import Renderer, render_markdown, team_context, write_notes
from bot.storage import LineRecord, MeetingRecord, Store

log = logging.getLogger(__name__)


DIRECT = ""  # the `team` of a line said in a direct message (no team room is involved)


Parsed = tuple[str, CommandCall | None]  # a physical line and the command it carries

RELAYED = (LineKind.SAID, LineKind.ME, LineKind.NOTICE)  # what people say; never the bot's own words
SCRUBBED = "[private: removed]"  # what the log keeps of a line that held private details
PRIVATE_HINT = ("That looked like an address or a phone number, so I did not keep it or pass it to the other "
                "network. To give a shipping address for a loan, send it to me in a direct message: "
                "!loan address N DETAILS")
PRIVATE_NOTE = ("{name}: I removed a message that looked like private details. Give them to me in a direct "
                "message; I have written to you there.")
REDACT_REASON = "private details: give them to the bot in a direct message"


class Dispatcher:
    def __init__(self, config: Config, store: Store, registry: Registry, bot_nick: str = "sigbot"):
        self.config = config
        self.store = store
        self.registry = registry
        self.bot_nick = bot_nick
        self._states: dict[int, MeetingState] = {}
        # What the features do when a meeting starts, ends and is published (their feature.py `hooks`).
        self._hooks = {name: hooks(name) for name in HOOKS}
        # One person's identities on both networks, as linked with `!linkto` (the agenda feature's).
        self._same_person = provided("same_person")
        # Called as hook(team name, path of the .md, minutes) after a meeting's notes are written
        # (the archive site rebuilds and commits from there); a hook must only queue work.
        self.notes_written: list[Callable[[str, Path, Minutes], None]] = []
        # The name people know a room by (the Matrix adapter's m.room.name), for the minutes' header.
        self.room_title: Callable[[str], str] = lambda room: ""
        # How the minutes' Markdown is rendered: here, or (`sigbot run`) in a child process (bot/meeting/apart.py).
        self.render_minutes: Renderer = render_markdown

    # --- entry points used by the adapters ----------------------------------

    def handle(self, msg: Message) -> list[Effect]:
        """The one way in for a line said anywhere: store it, decide, act; returns the effects.

        A line that holds private details (an address or phone number said in a
        team room, or what a command declares private, such as `!loan address`)
        is stored as SCRUBBED before anything else happens, is never relayed, and
        its sender is told privately why. Every other line said in a team room
        is relayed to the team's other network (a `Relay` effect, first, so it
        arrives before the bot's answer). A redelivered event id is ignored.
        """
        if msg.edits:
            return self._edit(msg)
        if msg.direct:
            return self._direct(msg)
        team = self.config.team_for_room(msg.room)
        if team is None:
            log.debug("ignoring a message in %s: no team uses that room", msg.room)
            return []
        lines = self._parse(msg.kind, msg.text)  # the one time a line's commands are read
        calls = _private(lines)
        exposed = msg.kind is not LineKind.BOT and contact_details(msg.text)
        withheld = exposed or bool(calls)
        running = self.store.running_meeting(msg.room)
        record = self.store.add_line(_scrubbed(msg) if withheld else msg, team.name,
                                     running.id if running else None, self._privileged(team, msg))
        if record is None:
            return []
        metrics.EVENTS.labels(msg.network.value).inc()
        # A line private by its shape is not acted on (the scrubbed text is); one a command declares
        # private is acted on by that command alone, with its words in memory only.
        effects = self._act(team, record, msg, [(SCRUBBED, None)] if withheld else lines, [] if exposed else calls)
        if exposed:
            return self._withheld(msg) + effects
        if withheld:
            return self._redacted(msg) + effects
        if msg.kind in RELAYED:
            effects.insert(0, Relay(team.name, msg))
        return effects

    def _parse(self, kind: LineKind, text: str) -> list[Parsed]:
        """Each physical line of a line said, with the command it carries (None: plain text)."""
        return [(t, self.registry.parse(t) if kind is LineKind.SAID else None) for t in _physical(kind, text)]

    def _withheld(self, msg: Message) -> list[Effect]:
        """A team-room line with private details: removed where it was said, its sender told privately."""
        told = (Reply(f"irc:{msg.nick}", PRIVATE_HINT) if msg.network is Network.IRC
                else DirectMessage(msg.sender, PRIVATE_HINT))
        return [*self._redacted(msg), told, Reply(msg.room, PRIVATE_NOTE.format(name=msg.nick))]

    def _redacted(self, msg: Message) -> list[Effect]:
        if msg.network is Network.MATRIX and msg.event_id:
            return [Redact(msg.room, msg.event_id, REDACT_REASON)]
        return []  # IRC cannot take a line back; it never reached the other network

    def _edit(self, msg: Message) -> list[Effect]:
        """An edited message replaces its logged line (the meeting is folded again) and is relayed as an edit."""
        assert msg.edits is not None
        team = None if msg.direct else self.config.team_for_room(msg.room)
        if team is None:
            return []  # what is edited in a direct chat may be private: it is not stored
        if contact_details(msg.text) or _private(self._parse(msg.kind, msg.text)):
            record = self.store.line_by_event(msg.edits)
            if record is not None:
                self.store.scrub_line(record.id, SCRUBBED)
            effects = self._refold(record)
            original = [Redact(msg.room, msg.edits, REDACT_REASON)] if msg.network is Network.MATRIX else []
            return original + self._withheld(msg) + effects
        record = self.store.edit_line(msg.edits, msg.text, msg.time)
        return [Relay(team.name, msg), *self._refold(record)]

    def redact(self, event_id: str) -> list[Effect]:
        """A deleted message leaves the log; the meeting is folded again."""
        record = self.store.delete_line(event_id)
        return self._refold(record)

    def end_meeting_of(self, team_name: str, now: datetime, by: str) -> list[Effect]:
        """End a team's running meeting as if a chair said #endmeeting (the CLI's way)."""
        team = self.config.team(team_name)
        for room in team.rooms() if team else ():
            if self.store.running_meeting(room):
                return self.handle(Message(Network.CLI, room, by, by, "#endmeeting", now, privileged=True))
        return []

    def recover(self) -> list[Effect]:
        """Finish what a crash interrupted. Call once at start, before new messages."""
        effects: list[Effect] = []
        for record in self.store.unhandled_lines():
            if record.team == DIRECT:
                effects += self._act_direct(record, _message(record), self._parse_direct(record.kind, record.text))
                continue
            team = self.config.team(record.team)
            if team is None:
                self.store.mark_handled(record.id)
                continue
            effects += self._act(team, record, _message(record), self._parse(record.kind, record.text))
        for meeting in self.store.meetings_without_notes():
            effects += self._publish(meeting)
        return effects

    def end_forgotten_meetings(self, now: datetime) -> list[Effect]:
        """End meetings left open past their team's limit (called by a timer)."""
        effects: list[Effect] = []
        for meeting in self.store.running_meetings():
            team = self.config.team(meeting.team)
            if team is None or now - meeting.started < timedelta(hours=team.meeting_timeout_hours):
                continue
            text = f"This meeting was open for more than {team.meeting_timeout_hours:g} hours and is now ended."
            ended: list[tuple[MeetingRecord, MeetingState]] = []
            with self.store.transaction():
                self._say(team, meeting.room, text, now, LineKind.TIMEOUT, ended)
            effects.append(Reply(meeting.room, text))
            for record, state in ended:
                effects += self._publish(record, state)
        return effects

    # --- internals ----------------------------------------------------------

    def _privileged(self, team: Team, msg: Message) -> bool:
        """Team admin (by any identity of the person), Matrix power level or room creator, IRC host cloak."""
        ids = self._linked(msg.sender) | {msg.sender} | ({f"irc:{msg.account}"} if msg.account else set())
        return msg.privileged or not ids.isdisjoint(team.admins)

    def _act(self, team: Team, record: LineRecord, msg: Message, lines: Sequence[Parsed],
             private_calls: Sequence[CommandCall] = ()) -> list[Effect]:
        """Act on the stored `record`, whose physical lines and their commands are `lines`."""
        effects: list[Effect] = []
        ended: list[tuple[MeetingRecord, MeetingState]] = []
        with self.store.transaction():
            for text, call in lines:
                effects += self._act_on_line(team, record, msg, text, call)
                record = self.store.line(record.id)  # a #startmeeting may have assigned it a meeting
            for call in private_calls:  # their words are in memory only: the stored line is scrubbed
                effects += self._run(call, team, msg, record)
            effects = self._log_replies(team, msg.room, effects, msg.time, ended)
            self.store.mark_handled(record.id)
        # Files are written after the commit; a crash here is finished by recover().
        effects = _published(effects)
        for meeting, state in ended:
            effects += self._publish(meeting, state)
        return _one_reaction_per_event(effects)

    def _act_on_line(self, team: Team, record: LineRecord, msg: Message, text: str,
                     call: CommandCall | None) -> list[Effect]:
        if call is not None:
            metrics.COMMANDS.labels(call.command.name).inc()
        effects: list[Effect] = []
        meeting = self.store.meeting(record.meeting_id) if record.meeting_id else None
        if call is None and meeting is None:
            return effects  # plain words outside a meeting: stored, and nothing more to do
        line = self._log_line(record, text)  # the speaker's links looked up once for the line
        started = meeting is None and call is not None and call.command.starts_meeting
        if started:
            meeting = self.store.start_meeting(team.name, record.room, record.time)
            self.store.assign_line(record.id, meeting.id)
            self._states[meeting.id] = engine.begin(line, record.room)
        if meeting is not None and meeting.status == "running":
            effects += engine.apply_call(self._state(meeting, record.id), line, call)
        elif call and call.command.outside:
            effects.append(Reply(record.room, call.command.outside(call)))
        if started and meeting is not None:  # the agenda and the open actions, said (and logged) right after the start
            for hook in self._hooks["meeting_started"]:
                effects += hook(self.store.db, team.name, meeting.id, record.room)
            # The agenda the meeting took, as stored: what `#topic N` takes (never read back from the
            # bot's announcement, which is only words for people and the .log.txt).
            state = self._states[meeting.id]
            state.agenda, state.opening = dict(self._agenda(meeting.id)), False
        if call and call.command.scope is Scope.ROOM:
            effects += self._run(call, team, msg, record, line)
        return effects

    def _run(self, call: CommandCall, team: Team | None, msg: Message, record: LineRecord,
             line: LogLine | None = None) -> list[Effect]:
        """Run a room command's handler, after checking the role it declares: the one place rights are checked.
        `line` is the physical line the command came on, when the caller has made it."""
        line = line or self._log_line(record, msg.text)
        meeting = self.store.running_meeting(msg.room) if team is not None else None
        chairs = meeting is not None and engine.is_chair(self._state(meeting, record.id), line)
        speaker = Speaker(msg.sender, msg.nick, record.privileged, chairs, line.linked)
        room_call = Call(team, msg, call.args, speaker, self.config, self.store.db, meeting.id if meeting else None)
        refusal = _refusal(call, room_call)
        if refusal:
            return [Reply(msg.room, refusal)]
        return list(call.command.handler(room_call))

    def _direct(self, msg: Message) -> list[Effect]:
        """A line said to the bot in a direct message. What looks private is stored scrubbed (a direct chat
        may be given an address; it is acted on in memory and never kept); nothing is relayed."""
        call = self._parse_direct(msg.kind, msg.text)
        private = _is_private(call) or bool(contact_details(msg.text))
        record = self.store.add_line(_scrubbed(msg) if private else msg, DIRECT, None, False)
        return self._act_direct(record, msg, call) if record else []

    def _parse_direct(self, kind: LineKind, text: str) -> CommandCall | None:
        """A direct message is one command, whole: its arguments may span lines (an address)."""
        return self.registry.parse(text.strip()) if kind is LineKind.SAID else None

    def _act_direct(self, record: LineRecord, msg: Message, call: CommandCall | None) -> list[Effect]:
        """A direct message: only commands declared `direct=True` run; answers stay in the DM."""
        effects: list[Effect]
        with self.store.transaction():
            if msg.kind is not LineKind.SAID:
                effects = []  # notices and emotes are never commands
            elif call is None:
                effects = [Reply(msg.room, "I answer commands here. Say !help for the list.")]
            elif call.command.outside:
                effects = [Reply(msg.room, call.command.outside(call))]
            elif not call.command.direct:
                effects = [Reply(msg.room, f"!{call.command.name} works in your team's room, not in a direct message.")]
            else:
                effects = self._run(call, None, msg, record)
            self.store.mark_handled(record.id)
        return _published(effects)

    def _state(self, meeting: MeetingRecord, before: int) -> MeetingState:
        """The meeting's state, folding its stored lines older than line `before` if not cached."""
        state = self._states.get(meeting.id)
        if state is None:
            records = [r for r in self.store.meeting_lines(meeting.id) if r.id < before]
            agenda = self._agenda(meeting.id)
            lines = self._log_lines(records)
            state = engine.fold(lines, meeting.room, self.registry, require_start=False, agenda=agenda)
            state = state or engine.begin(self._log_line(self.store.line(before), ""), meeting.room, agenda=agenda)
            self._states[meeting.id] = state
        return state

    def _agenda(self, meeting_id: int) -> dict[int, str]:
        """The agenda meeting `meeting_id` took when it started, as the features stored it."""
        agenda: dict[int, str] = {}
        for hook in self._hooks["meeting_agenda"]:
            agenda.update(hook(self.store.db, meeting_id))
        return agenda

    def _log_replies(self, team: Team, room: str, effects: list[Effect], when: datetime,
                     ended: list[tuple[MeetingRecord, MeetingState]]) -> list[Effect]:
        """Log the bot's words into a running meeting; end meetings that were ended."""
        out: list[Effect] = []
        for effect in effects:
            if isinstance(effect, MeetingEnded):
                self._end(room, when, ended)
                continue
            if isinstance(effect, Reply):
                self._say(team, room, effect.text, when, LineKind.BOT, ended)
            out.append(effect)
        return out

    def _end(self, room: str, when: datetime, ended: list[tuple[MeetingRecord, MeetingState]]) -> None:
        meeting = self.store.running_meeting(room)
        if meeting is None:
            return
        state = self._states.pop(meeting.id)
        self.store.end_meeting(meeting.id, state.ended or when, state.name)
        minutes = build_minutes(state)
        for hook in self._hooks["meeting_ended"]:
            hook(self.store.db, meeting.team, meeting.id, minutes)
        ended.append((self.store.meeting(meeting.id), state))

    def _say(self, team: Team, room: str, text: str, when: datetime, kind: LineKind,
             ended: list[tuple[MeetingRecord, MeetingState]]) -> None:
        """Record the bot's own words in a running meeting's log, as MeetBot does."""
        running = self.store.running_meeting(room)
        if running is None:
            return
        msg = Message(Network.CLI, room, self.bot_nick, self.bot_nick, text, when, kind)
        record = self.store.add_line(msg, team.name, running.id, True, handled=True)
        assert record is not None  # no event id, so never a duplicate
        state = self._state(running, record.id)
        for line_text in _physical(record.kind, record.text):
            engine.apply_call(state, self._log_line(record, line_text), None)  # the bot's words obey nothing
        if not state.running:
            self._end(room, when, ended)

    def _refold(self, record: LineRecord | None) -> list[Effect]:
        if record is None or record.meeting_id is None:
            return []
        self._states.pop(record.meeting_id, None)
        meeting = self.store.meeting(record.meeting_id)
        if meeting.status == "ended":
            return self._publish(meeting)  # the minutes follow the corrected log
        return []

    def _publish(self, meeting: MeetingRecord, state: MeetingState | None = None) -> list[Effect]:
        team = self.config.team(meeting.team)
        if team is None:
            return []
        if state is None:
            state = engine.fold(self._log_lines(self.store.meeting_lines(meeting.id)), meeting.room, self.registry,
                                require_start=False, agenda=self._agenda(meeting.id))
            if state is None:
                return []
        minutes = build_minutes(state)
        folder = meeting_dir(team.notes_dir.parent, team.notes_dir.name, minutes.started)
        sections: dict[str, Any] = {}
        for hook in self._hooks["minutes_sections"]:
            sections.update(hook(self.store.db, meeting.id, meeting.ended))
        context = team_context(team, room_name=self.room_title(meeting.room), **sections)
        path = write_notes(minutes, folder, context, team.template_dir, self.render_minutes)
        self.store.set_notes_path(meeting.id, str(path))
        for hook in self._hooks["notes_written"]:
            hook(self.store.db, team, meeting.ended or minutes.ended)
        for hook in self.notes_written:
            try:
                hook(team.name, path, minutes)
            except Exception:
                log.exception("a notes_written hook failed; the notes are written")
        return [Reply(meeting.room, f"Meeting ended. Minutes: {self._link(path)}")]

    def _linked(self, identity: str) -> frozenset[str]:
        """The identities `identity` is confirmed linked to (`!linkto`, the agenda feature's), itself excluded."""
        if self._same_person is None or not is_stable(identity):
            return frozenset()  # a nick or a mask is linked to nothing: anyone may take it
        return frozenset(self._same_person(self.store.db, identity)) - {identity}

    def _log_lines(self, records: list[LineRecord]) -> list[LogLine]:
        linked = {sender: self._linked(sender) for sender in {r.sender for r in records}}
        return [self._log_line(r, text, linked[r.sender]) for r in records for text in _physical(r.kind, r.text)]

    def _log_line(self, record: LineRecord, text: str, linked: frozenset[str] | None = None) -> LogLine:
        return LogLine(0, record.time, record.nick, record.sender, record.kind, text, record.network,
                       record.privileged, record.event_id, seen=record.seen,
                       linked=self._linked(record.sender) if linked is None else linked)

    def _link(self, path: Path) -> str:
        base = self.config.web_public_url
        if base:
            try:
                rel = path.with_suffix("").relative_to(self.config.notes_dir.resolve())
                return f"{base.rstrip('/')}/{rel.as_posix()}.html"
            except ValueError:
                pass
        return str(path)


def _physical(kind: LineKind, text: str) -> list[str]:
    return [text] if kind is LineKind.TIMEOUT else engine.split_lines(text) or [""]


def _is_private(call: CommandCall | None) -> bool:
    """Whether `call`'s command declares these arguments private (`!loan address`)."""
    return call is not None and call.command.private is not None and call.command.private(call.args)


def _private(lines: Sequence[Parsed]) -> list[CommandCall]:
    """The commands among `lines` whose arguments their command declares private."""
    return [c for _, c in lines if c is not None and _is_private(c)]


def _message(record: LineRecord) -> Message:
    return Message(Network(record.network), record.room, record.sender, record.nick, record.text, record.time,
                   record.kind, record.event_id, record.privileged, direct=record.team == DIRECT, seen=record.seen)


def _scrubbed(msg: Message) -> Message:
    return replace(msg, text=SCRUBBED, formatted=None, attachment=None)


def _refusal(call: CommandCall, room_call: Call) -> str | None:
    """Why the speaker may not run this command, or None. Rights rest on identities (Speaker)."""
    command: Command = call.command
    if command.role is Role.ANYONE:
        return None
    speaker = room_call.speaker
    if command.role is Role.CHAIR and (speaker.chair or (command.also is not None and command.also(room_call))):
        return None
    if command.role is Role.ADMIN and speaker.privileged:
        return None
    who = command.holders or ("the chairs" if command.role is Role.CHAIR else "team admins")
    return f"Only {who} can use {call.prefix}{call.word}."


def _published(effects: list[Effect]) -> list[Effect]:
    """Write the files handlers asked to publish (after the commit), keep the other effects."""
    out: list[Effect] = []
    for effect in effects:
        if isinstance(effect, Publish):
            try:
                effect.write()
            except (OSError, RuntimeError):  # RuntimeError: a child process writing it failed (bot/core/apart.py)
                log.exception("could not write %s; it is written again at the next change", effect.what)
        else:
            out.append(effect)
    return out


def _one_reaction_per_event(effects: list[Effect]) -> list[Effect]:
    seen: set[str | None] = set()
    out = []
    for effect in effects:
        if isinstance(effect, React):
            if effect.event_id in seen:
                continue
            seen.add(effect.event_id)
        out.append(effect)
    return out


