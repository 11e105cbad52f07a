"""Action items followed across meetings: recorded from the minutes, listed, closed, published.

An action's owners are the people the minutes name in it (MeetBot's rule by
nick, display name or `#here` alias, see bot/meeting/minutes.py), stored as
the names shown and the identities they resolved to. It is open until an
owner, by identity, or a chair says `!done N`: the same nick on another
network, or taken later, closes nothing.
The open actions of a team are published to `notes/<team>/actions.json`
(docs/extending.md) each time they change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.agenda.agenda import AgendaError
from bot.agenda.store import ActionRecord, ActionStatus, AgendaStore
from bot.core.call import Speaker
from bot.core.commands import number_arg
from bot.core.files import write_json_if_changed
from bot.core.identity import named_identity
from bot.core.message import quoted
from bot.core.record import record
from bot.meeting.minutes import Minutes
from bot.meeting.render import md_escape

log = logging.getLogger(__name__)

LISTED_AT_START = 3  # open actions named at #startmeeting; the rest are counted
LISTED = 10  # open actions named by !actions


@record
class EarlierAction:
    """One line of the minutes' "Action items from earlier meetings" (templates/minutes.md.j2)."""

    n: int
    text: str
    meeting_date: str
    state: str  # Markdown, escaped: "open" or "done (closed by NICK)"


def owner_label(action: ActionRecord) -> str:
    return ", ".join(action.owners) or "unassigned"


def describe(action: ActionRecord) -> str:
    return f"#{action.n} {owner_label(action)}: {quoted(action.text)} ({action.meeting_date})"


def record_actions(store: AgendaStore, team: str, meeting_id: int, minutes: Minutes) -> None:
    """Every action of an ended meeting becomes an open action of its team (once per action)."""
    for action in minutes.actions:
        store.add_action(team, action.entry.text, list(action.owners), list(action.owner_ids), meeting_id,
                         f"{minutes.started:%Y-%m-%d}", action.entry.line)


def listing(store: AgendaStore, team: str, name: str) -> str:
    """The answer to `!actions [NAME]`."""
    actions = store.open_actions(team)
    if name:
        people = owners_named(store, actions, name)
        actions = [a for a in actions if people & set(a.owner_ids)]
    whose = f" of {quoted(name, 40)}" if name else ""
    if not actions:
        return f"There are no open actions{whose}."
    lines = [f"Open actions{whose} (!done N closes one):"] + [describe(a) for a in actions[:LISTED]]
    if len(actions) > LISTED:
        lines.append(f"… and {len(actions) - LISTED} more.")
    return "\n".join(lines)


def owners_named(store: AgendaStore, actions: list[ActionRecord], name: str) -> set[str]:
    """The identities `name` stands for among the owners of `actions` (a name as the minutes showed
    it, or an identity), with the identities each is linked to: `!actions NAME` follows people."""
    folded = name.casefold()
    named = {
        # strict=False: minutes recorded before identities were kept have owners but no owner_ids
        i
        for a in actions
        for shown, i in zip(a.owners, a.owner_ids, strict=False)
        if folded in (shown.casefold(), i.casefold())
    }
    if named_identity(name):
        named.add(name)
    return set().union(*(store.same_person(i) for i in named))


def close(store: AgendaStore, team: str, args: str, speaker: Speaker, now: datetime) -> str:
    """The answer to `!done N`: an owner (by any identity of theirs, never by nick) or a chair closes it."""
    n = number_arg(args.lstrip("#"))
    if n is None:
        raise AgendaError("Usage: !done N, with N from !actions.")
    action = store.action(team, n)
    if action is None:
        raise AgendaError(f"There is no action #{n}; say !actions for the open ones.")
    if action.status is ActionStatus.DONE:
        return f"Action #{action.n} was closed already by {action.closed_by}."
    if speaker.ids.isdisjoint(action.owner_ids) and not speaker.chair:
        raise AgendaError(f"Action #{action.n} belongs to {owner_label(action)}; only they or a chair can close it.")
    store.close_action(action.id, speaker.name, now)
    log.info("team %s: action %d closed by %s", team, action.n, speaker.id)
    return f"Closed action #{action.n}: {quoted(action.text)}"


def start_summary(actions: list[ActionRecord]) -> str | None:
    """The open actions, briefly, for #startmeeting (IRC-friendly: a few lines)."""
    if not actions:
        return None
    lines = [f"Open actions from earlier meetings ({len(actions)}):"] + [describe(a) for a in actions[:LISTED_AT_START]]
    if len(actions) > LISTED_AT_START:
        lines.append(f"… and {len(actions) - LISTED_AT_START} more: say !actions for all.")
    return "\n".join(lines)


def minutes_actions(store: AgendaStore, meeting_id: int, ended: datetime | None) -> tuple[EarlierAction, ...]:
    """The actions a meeting started with, and their state when it ended."""
    out = []
    for a in store.earlier_actions(meeting_id):
        done = a.status is ActionStatus.DONE and a.closed_at is not None and (ended is None or a.closed_at <= ended)
        state = f"done (closed by {md_escape(a.closed_by or '?')})" if done else "open"
        out.append(EarlierAction(a.n, f"#{a.n} {owner_label(a)}: {a.text}", a.meeting_date, state))
    return tuple(out)


def actions_document(
    store: AgendaStore, team: str, now: datetime, minutes_of: Callable[[int], str | None]
) -> dict[str, Any]:
    """`notes/<team>/actions.json` (shape in docs/extending.md); `minutes_of(meeting_id)` gives the .md path."""
    return {
        "team": team,
        "updated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "open": [{"n": a.n, "owner": owner_label(a), "text": a.text, "meeting": a.meeting_date,
                  "minutes": minutes_of(a.meeting_id)} for a in store.open_actions(team)],
    }


def write_actions_file(folder: Path, document: dict[str, Any]) -> bool:
    """Write `actions.json` atomically, only when the open actions changed; True if written."""
    return write_json_if_changed(folder / "actions.json", document)
