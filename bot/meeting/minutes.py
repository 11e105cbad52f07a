"""From a folded meeting to its minutes: the data, the JSON and MeetBot's text log.

Rendering to Markdown lives in `render.py`; here is what the minutes say,
independent of how they look.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any, TypedDict

from bot.core.identity import IdentityKind, is_stable, kind_of
from bot.core.message import LineKind
from bot.core.record import record
from bot.meeting import people
from bot.meeting.model import Entry, ItemKind, LogLine, MeetingState


@record
class TopicBlock:
    entry: Entry | None  # None: the items said before the first #topic
    items: tuple[Entry, ...]

    @property
    def title(self) -> str | None:
        return self.entry.text if self.entry else None


@record
class Action:
    entry: Entry
    owners: tuple[str, ...]  # the names shown for them
    owner_ids: tuple[str, ...] = ()  # the identities they resolved to, same order


@record
class Attendee:
    nick: str  # the name shown: distinct for distinct people (bot/meeting/people.py)
    lines: int
    sender: str  # the identity
    network: str
    says_network: bool = False  # the name shown already names the network: `alice (IRC, no account)`


@record
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
    shown = people.labels(state)
    entries = [replace(e, nick=shown.get(e.sender, e.nick)) for e in state.entries]  # credited to identities
    for entry in entries:
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
        Attendee(shown[who], count, who, state.attendee_networks.get(who, ""),
                 people.says_network(state, who, shown[who]))
        for who, count in order if not _stood_in_for(state, who)
    )
    actions = tuple(_action(state, e, attendees) for e in entries if e.kind is ItemKind.ACTION)
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


def _stood_in_for(state: MeetingState, who: str) -> bool:
    """A bare name listed by `#nick` (or chaired on a replayed log) before someone with a Matrix id or
    services account spoke under it: that person is the attendee, the placeholder is not a second one."""
    return (kind_of(who) is IdentityKind.NAME and not state.attendees[who]
            and who.casefold() in people.stable_names(state))


def _action(state: MeetingState, entry: Entry, attendees: tuple[Attendee, ...]) -> Action:
    """The people an action names (by a name they spoke under or a `#here` alias), as identities.

    Where a name is shared, someone with a Matrix id or services account is meant
    rather than a nick without an account: owning an action is a right (`!done`).
    """
    matched: dict[str, set[str]] = {}
    for a in sorted(attendees, key=lambda a: a.nick.lower()):
        names = [*state.names.get(a.sender, [a.sender]), *state.aliases.get(a.sender, [])]
        hits = {n.casefold() for n in names if mentions(entry.text, n)}
        if hits:
            matched[a.sender] = hits
    taken = set().union(*(hits for who, hits in matched.items() if is_stable(who)))
    owners = [a for a in sorted(attendees, key=lambda a: a.nick.lower())
              if a.sender in matched and (is_stable(a.sender) or not matched[a.sender] <= taken)]
    return Action(entry, tuple(a.nick for a in owners), tuple(a.sender for a in owners))


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _item_json(e: Entry) -> dict[str, Any]:
    return {
        "kind": e.kind.value,
        "text": e.text,
        "author": e.nick,
        "author_id": e.sender,
        "time": _iso(e.time),
        "url": e.url,
        "line": e.line,
    }


class RoomJson(TypedDict):
    """The `room` object of a meeting's `.json`: where the meeting was, as people know it."""

    id: str
    name: str | None
    alias: str | None
    irc_channels: list[str]


def minutes_json(m: Minutes, room: RoomJson | None = None) -> dict[str, Any]:
    """The `.json` beside the minutes (shape fixed by the foundation issue). `room` (RenderContext.room)
    names the room: its id, display name, alias and relayed IRC channels; `channel` stays the id."""
    return {
        "name": m.name,
        "channel": m.room,
        "room": room or {"id": m.room, "name": None, "alias": None, "irc_channels": []},
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
            {
                "text": a.entry.text,
                "author": a.entry.nick,
                "time": _iso(a.entry.time),
                "owners": list(a.owners),
                "line": a.entry.line,
            }
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
