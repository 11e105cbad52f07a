"""The agenda of a team's next meeting: adding, listing, reordering, and what a meeting does with it.

Items wait for the next meeting. At #startmeeting the bot announces them, one
line each in the form the meeting engine reads back (`engine.agenda_line`), so
`#topic N` takes item N both live and when a log is replayed. When the meeting
ends, an item is covered if one of its topics has the item's text; the others
roll over to the next meeting, marked carried over.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from bot.agenda.store import AgendaItem, AgendaStore, ItemStatus, MeetingItem
from bot.core.call import Speaker
from bot.core.commands import number_arg
from bot.core.message import quoted
from bot.core.record import record
from bot.meeting.engine import agenda_line
from bot.meeting.minutes import Minutes
from bot.meeting.model import ItemKind

log = logging.getLogger(__name__)

MAX_TEXT = 300  # characters of one item: an agenda line must fit an IRC message
MAX_ANNOUNCED = 20  # items announced at #startmeeting; the rest are listed by !agenda


class AgendaError(ValueError):
    """A request that cannot be done; the message is the answer to give."""


@record
class MinutesAgendaItem:
    """One line of the minutes' Agenda section (read by templates/minutes.md.j2)."""

    text: str
    author: str
    covered: bool
    carried: bool  # not covered: it rolls over to the next meeting


def clean_text(text: str) -> str:
    """One line of at most MAX_TEXT characters, or AgendaError."""
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise AgendaError("Say what to put on the agenda: !agenda add TEXT")
    if len(text) > MAX_TEXT:
        raise AgendaError(f"That is {len(text)} characters; an agenda item may have {MAX_TEXT}. Shorten it.")
    return text


def number(text: str, count: int) -> int:
    """A 1-based item number from user input, checked against `count` items."""
    n = number_arg(text)
    if n is None:
        raise AgendaError(f"{quoted(text, 40)!r} is not an item number; say !agenda to see the numbers.")
    if not 1 <= n <= count:
        raise AgendaError(f"There is no item {n}: the agenda has {count} item(s)." if count
                          else "The agenda of the next meeting is empty.")
    return n


def describe(n: int, item: AgendaItem) -> str:
    carried = ", carried over" if item.carried else ""
    return f"{n}. {item.text} ({item.owner}{carried})"


def add_item(store: AgendaStore, team: str, text: str, nick: str, sender: str, now: datetime) -> str:
    item = store.add_item(team, clean_text(text), nick, sender, now)
    n = len(store.waiting(team))
    log.info("team %s: agenda item %d added by %s", team, item.id, sender)
    return f"Added to the agenda of the next meeting as item {n}."


def listing(store: AgendaStore, team: str, running_meeting: int | None, next_label: str) -> str:
    """The answer to `!agenda`: the running meeting's agenda, and the next meeting's."""
    lines = []
    if running_meeting is not None:
        items = store.meeting_items(running_meeting)
        if items:
            lines.append("Agenda of this meeting (#topic N takes item N):")
            lines += [describe(e.n, e.item) for e in items]
    waiting = store.waiting(team)
    if waiting:
        lines.append(f"Agenda of the {next_label}:")
        lines += [describe(n, item) for n, item in enumerate(waiting, 1)]
    if not lines:
        return f"The agenda of the {next_label} is empty. Add to it with !agenda add TEXT."
    return "\n".join(lines)


def remove_item(store: AgendaStore, team: str, args: str, speaker: Speaker) -> str:
    """`!agenda remove N`: by whoever added item N (by any identity of theirs, never a nick) or a chair."""
    waiting = store.waiting(team)
    n = number(args, len(waiting))
    item = waiting[n - 1]
    if item.owner_id not in speaker.ids and not speaker.chair:
        raise AgendaError(f"Item {n} was added by {item.owner}; only they or a chair can remove it.")
    store.remove_item(item.id, speaker.id)
    store.reorder([i for i in waiting if i.id != item.id])
    return f"Removed item {n}: {item.text}"


def move_item(store: AgendaStore, team: str, args: str) -> str:
    parts = args.split()
    if len(parts) != 2:
        raise AgendaError("Usage: !agenda move N M (put item N at place M)")
    waiting = store.waiting(team)
    n, m = number(parts[0], len(waiting)), number(parts[1], len(waiting))
    item = waiting.pop(n - 1)
    waiting.insert(m - 1, item)
    store.reorder(waiting)
    return f"Moved item {n} to place {m}: {item.text}"


def announcement(items: list[MeetingItem]) -> str | None:
    """What the bot says at #startmeeting about the agenda, or None for an empty one."""
    if not items:
        return None
    shown = items[:MAX_ANNOUNCED]
    lines = ["Agenda (#topic N takes item N):"]
    lines += [agenda_line(e.n, e.item.text, e.item.owner + (", carried over" if e.item.carried else ""))
              for e in shown]
    if len(items) > len(shown):
        lines.append(f"… and {len(items) - len(shown)} more: say !agenda for all.")
    return "\n".join(lines)


def covered_numbers(items: list[MeetingItem], minutes: Minutes) -> set[int]:
    """The items a meeting covered: those that one of its topics names exactly."""
    topics = {t.entry.text.strip().casefold() for t in minutes.topics
              if t.entry is not None and t.entry.kind is ItemKind.TOPIC}
    return {e.n for e in items if e.item.text.casefold() in topics}


def minutes_agenda(store: AgendaStore, meeting_id: int) -> tuple[MinutesAgendaItem, ...]:
    return tuple(MinutesAgendaItem(e.item.text, e.item.owner, e.covered, not e.covered)
                 for e in store.meeting_items(meeting_id) if e.item.status is not ItemStatus.REMOVED)
