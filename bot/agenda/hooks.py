"""What the dispatcher calls when a meeting starts, ends and is published.

Each hook runs inside the dispatcher's transaction for the line that caused it
(so a crash redoes it whole, and `recover()` redoes it once), in a savepoint of
its own: if the agenda feature fails, the failure is logged and the meeting
goes on without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot.agenda.actions import actions_document, minutes_actions, record_actions, start_summary, write_actions_file
from bot.agenda.agenda import announcement, covered_numbers, minutes_agenda
from bot.agenda.store import AgendaStore
from bot.config import Team
from bot.core.message import Effect, Reply
from bot.meeting.minutes import Minutes
from bot.meeting.paths import contained, slugify
from bot.storage import Store

if TYPE_CHECKING:  # the type only: features speak SQL through their stores
    from sqlite_utils import Database

log = logging.getLogger(__name__)
T = TypeVar("T")


def _guarded(db: Database, what: str, default: T, work: Callable[[], T]) -> T:
    try:
        with db.atomic():
            return work()
    except Exception:
        log.exception("agenda: %s failed; the meeting goes on without it", what)
        return default


def meeting_started(db: Database, team: str, meeting_id: int, room: str) -> list[Effect]:
    """Take the waiting agenda onto the new meeting; announce it and the open actions."""
    def work() -> list[Effect]:
        store = AgendaStore(db)
        agenda = announcement(store.take_onto_meeting(team, meeting_id))
        actions = start_summary(store.note_open_actions(team, meeting_id))
        effects: list[Effect] = []
        if agenda:  # whole on IRC too: people there follow the meeting by its agenda
            effects.append(Reply(room, agenda, whole=True))
        if actions:
            effects.append(Reply(room, actions))
        return effects

    return _guarded(db, "meeting start", [], work)


def meeting_ended(db: Database, team: str, meeting_id: int, minutes: Minutes) -> None:
    """Close the covered items, roll the rest over, and open the meeting's actions."""
    def work() -> None:
        store = AgendaStore(db)
        store.close_meeting_agenda(meeting_id, covered_numbers(store.meeting_items(meeting_id), minutes))
        record_actions(store, team, meeting_id, minutes)

    _guarded(db, "meeting end", None, work)


def meeting_agenda(db: Database, meeting_id: int) -> dict[int, str]:
    """The agenda meeting `meeting_id` took when it started: N -> the item's text (what `#topic N` takes)."""
    return _guarded(db, "reading the meeting's agenda", {},
                    lambda: {e.n: e.item.text for e in AgendaStore(db).meeting_items(meeting_id)})


def minutes_sections(db: Database, meeting_id: int, ended: datetime | None) -> dict[str, Any]:
    """The RenderContext fields `agenda` and `earlier_actions` of a meeting's minutes."""
    def work() -> dict[str, Any]:  # RenderContext fields, by name (bot/meeting/render.py)
        store = AgendaStore(db)
        return {"agenda": minutes_agenda(store, meeting_id),
                "earlier_actions": minutes_actions(store, meeting_id, ended)}

    return _guarded(db, "minutes sections", {}, work)


def team_folder(team: Team) -> Path:
    """`notes/<team>/`, the folder the team's minutes go to (see bot/meeting/paths.py)."""
    return contained(team.notes_dir.parent, slugify(team.notes_dir.name, "team"))


def publish_actions(db: Database, team: Team, now: datetime) -> None:
    """Rewrite `notes/<team>/actions.json` if the open actions changed."""
    folder = team_folder(team)
    core = Store(db)

    def minutes_of(meeting_id: int) -> str | None:
        path = core.meeting(meeting_id).notes_path
        if not path:
            return None
        try:
            return Path(path).resolve().relative_to(folder).as_posix()
        except ValueError:
            return None

    def work() -> None:
        write_actions_file(folder, actions_document(AgendaStore(db), team.name, now, minutes_of))

    _guarded(db, "writing actions.json", None, work)
