"""From a folded meeting to its minutes: the data, the JSON and MeetBot's text log.

Rendering to Markdown lives in `render.py`; here is what the minutes say,
independent of how they look.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from bot.core.message import LineKind
from bot.meeting.model import Entry, ItemKind, LogLine, MeetingState


@dataclass(frozen=True)
class TopicBlock:
    entry: Entry | None  # None: the items said before the first #topic
    items: tuple[Entry, ...]

    @property
    def title(self) -> str | None:
        return self.entry.text if self.entry else None


@dataclass(frozen=True)
class Action:
    entry: Entry
    owners: tuple[str, ...]


@dataclass(frozen=True)
class Attendee:
    nick: str
    lines: int
    sender: str
    network: str


@dataclass(frozen=True)
class Minutes:
    name: str | None
    room: str
    started: datetime
    ended: datetime
    timed_out: bool
    chairs: tuple[str, ...]
    topics: tuple[TopicBlock, ...]
    actions: tuple[Action, ...]
    attendees: tuple[Attendee, ...]
    lines: tuple[LogLine, ...]

    def by_person(self) -> list[tuple[str, list[Entry]]]:
        """Actions grouped by owner, in MeetBot's order; UNASSIGNED last."""
        groups: list[tuple[str, list[Entry]]] = []
        for nick in sorted((a.nick for a in self.attendees), key=str.lower):
            owned = [a.entry for a in self.actions if nick in a.owners]
            if owned:
                groups.append((nick, owned))
        unassigned = [a.entry for a in self.actions if not a.owners]
        if unassigned:
            groups.append(("UNASSIGNED", unassigned))
        return groups

    def decisions(self) -> list[Entry]:
        return [e for t in self.topics for e in t.items if e.kind in (ItemKind.AGREED, ItemKind.REJECTED)]


def mentions(text: str, name: str) -> bool:
    """Whether `name` appears in `text` as a whole word, ignoring case."""
    return re.search(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text, re.IGNORECASE) is not None


def build_minutes(state: MeetingState) -> Minutes:
    ended = state.ended or (state.lines[-1].time if state.lines else state.started)
    topics: list[TopicBlock] = []
    current: Entry | None = None
    items: list[Entry] = []
    for entry in state.entries:
        if entry.kind is ItemKind.TOPIC:
            if current is not None or items:
                topics.append(TopicBlock(current, tuple(items)))
            current, items = entry, []
        else:
            items.append(entry)
    if current is not None or items:
        topics.append(TopicBlock(current, tuple(items)))

    # Stable sort: equal counts keep the order in which people first spoke.
    order = sorted(state.attendees.items(), key=lambda kv: -kv[1])
    attendees = tuple(
        Attendee(nick, count, state.attendee_ids.get(nick, nick), state.attendee_networks.get(nick, ""))
        for nick, count in order
    )
    names = {a.nick: [a.nick, *state.aliases.get(a.nick, [])] for a in attendees}
    actions = tuple(
        Action(e, tuple(n for n in sorted(names, key=str.lower) if any(mentions(e.text, x) for x in names[n])))
        for e in state.entries
        if e.kind is ItemKind.ACTION
    )
    return Minutes(
        name=state.name,
        room=state.room,
        started=state.started,
        ended=ended,
        timed_out=state.timed_out,
        chairs=tuple(state.chair_nicks()),
        topics=tuple(topics),
        actions=actions,
        attendees=attendees,
        lines=tuple(state.lines),
    )


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _item_json(e: Entry) -> dict:
    return {
        "kind": e.kind.value,
        "text": e.text,
        "author": e.nick,
        "author_id": e.sender,
        "time": _iso(e.time),
        "url": e.url,
        "line": e.line,
    }


def minutes_json(m: Minutes) -> dict:
    """The `.json` beside the minutes (shape fixed by the foundation issue)."""
    return {
        "name": m.name,
        "channel": m.room,
        "started": _iso(m.started),
        "ended": _iso(m.ended),
        "chairs": list(m.chairs),
        "topics": [
            {
                "title": t.title,
                "author": t.entry.nick if t.entry else None,
                "time": _iso(t.entry.time) if t.entry else None,
                "line": t.entry.line if t.entry else None,
                "items": [_item_json(e) for e in t.items],
            }
            for t in m.topics
        ],
        "actions": [
            {"text": a.entry.text, "author": a.entry.nick, "time": _iso(a.entry.time), "owners": list(a.owners), "line": a.entry.line}
            for a in m.actions
        ],
        "attendees": [{"nick": a.nick, "lines": a.lines, "id": a.sender, "network": a.network} for a in m.attendees],
        "timed_out": m.timed_out,
    }


def log_text(lines: tuple[LogLine, ...] | list[LogLine]) -> str:
    """The raw log in MeetBot's own `.log.txt` format (replayable)."""
    out = []
    for line in lines:
        if line.kind is LineKind.ME:
            out.append(f"{line.time:%H:%M:%S} * {line.nick} {line.text}")
        else:
            out.append(f"{line.time:%H:%M:%S} <{line.nick}> {line.text}")
    return "\n".join(out) + "\n"
