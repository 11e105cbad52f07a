"""The agenda's and the action items' SQL: their tables, migrations and queries.

Agenda items wait for the team's next meeting (`meeting_id` NULL). When a
meeting starts they are taken onto its agenda (`meeting_id` set, numbered in
`agenda_meetings`); when it ends, the items it covered are closed and the rest
go back to waiting, counted as carried over. Actions are copied from the
minutes of each ended meeting, numbered per team, and stay open until closed.
`action_meetings` records which open actions a meeting started with, so its
minutes can say what became of them. `identity_links` joins a Matrix id and
an IRC services account that one person has linked (`!linkto`), so that their
actions follow them across networks.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from bot.core.record import record
from bot.storage.db import inserted_id

AGENDA_MIGRATIONS = Migrations("sigbot-agenda")


class ItemStatus(StrEnum):
    OPEN = "open"  # waiting for a meeting, or on the agenda of the running one
    COVERED = "covered"
    REMOVED = "removed"


class ActionStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


@AGENDA_MIGRATIONS()
def m001_agenda_and_actions(db: Database) -> None:
    db.table("agenda_items").create(
        {
            "id": int,
            "team": str,
            "text": str,
            "owner": str,  # nick of who added it
            "owner_id": str,  # their stable id (Matrix ID, irc:ACCOUNT...)
            "added": str,
            "position": int,  # order in the list of the next meeting
            "status": str,
            "meeting_id": int,  # the meeting whose agenda holds it; NULL: the next one
            "carried": int,  # how many meetings it was on without being covered
            "closed_by": str,
        },
        pk="id",
        not_null={"team", "text", "owner", "owner_id", "added", "position", "status"},
        defaults={"carried": 0},
    )
    db.table("agenda_items").create_index(["team", "status", "meeting_id"])
    db.table("agenda_meetings").create(
        {"meeting_id": int, "n": int, "item_id": int, "covered": int, "done": int},
        pk=("meeting_id", "n"),
        defaults={"covered": 0, "done": 0},
    )
    db.table("actions").create(
        {
            "id": int,
            "team": str,
            "n": int,  # the number people use (!done N), per team
            "text": str,
            "owners": str,  # JSON list of nicks
            "owner_ids": str,  # JSON list of stable ids, same order
            "meeting_id": int,
            "meeting_date": str,  # YYYY-MM-DD (UTC)
            "line": int,  # the action's line in its meeting's log
            "status": str,
            "closed_by": str,
            "closed_at": str,
        },
        pk="id",
        not_null={"team", "n", "text", "owners", "owner_ids", "meeting_id", "meeting_date", "status"},
    )
    db.table("actions").create_index(["team", "n"], unique=True)
    db.table("actions").create_index(["meeting_id", "line"], unique=True)
    db.table("action_meetings").create({"meeting_id": int, "action_id": int}, pk=("meeting_id", "action_id"))


@AGENDA_MIGRATIONS()
def m002_identity_links(db: Database) -> None:
    """One person's Matrix id and IRC services account, linked by `!linkto` (bot/agenda/links.py)."""
    db.table("identity_links").create(
        {"matrix_id": str, "irc_account": str, "status": str, "since": str},
        pk="matrix_id",
        not_null={"irc_account", "status", "since"},
    )
    # An account is linked to one Matrix id at most; several may ask for it (only one is confirmed).
    db.execute("CREATE UNIQUE INDEX identity_links_account ON identity_links (irc_account)"
               " WHERE status = 'linked'")


class LinkStatus(StrEnum):
    PENDING = "pending"  # asked for from Matrix, not yet confirmed from IRC
    LINKED = "linked"


@record
class IdentityLink:
    matrix_id: str
    irc_account: str
    status: LinkStatus
    since: datetime


@record
class AgendaItem:
    id: int
    team: str
    text: str
    owner: str
    owner_id: str
    added: datetime
    status: ItemStatus
    meeting_id: int | None
    carried: int


@record
class MeetingItem:
    """An item as it stood on one meeting's agenda."""

    n: int
    item: AgendaItem
    covered: bool


@record
class ActionRecord:
    id: int
    team: str
    n: int
    text: str
    owners: tuple[str, ...]
    owner_ids: tuple[str, ...]
    meeting_id: int
    meeting_date: str
    status: ActionStatus
    closed_by: str | None
    closed_at: datetime | None


def _item(row: dict[str, Any]) -> AgendaItem:
    return AgendaItem(row["id"], row["team"], row["text"], row["owner"], row["owner_id"],
                      datetime.fromisoformat(row["added"]), ItemStatus(row["status"]), row["meeting_id"],
                      row["carried"] or 0)


def _link(row: dict[str, Any]) -> IdentityLink:
    return IdentityLink(row["matrix_id"], row["irc_account"], LinkStatus(row["status"]),
                        datetime.fromisoformat(row["since"]))


def _action(row: dict[str, Any]) -> ActionRecord:
    return ActionRecord(row["id"], row["team"], row["n"], row["text"], tuple(json.loads(row["owners"])),
                        tuple(json.loads(row["owner_ids"])), row["meeting_id"], row["meeting_date"],
                        ActionStatus(row["status"]), row["closed_by"],
                        datetime.fromisoformat(row["closed_at"]) if row["closed_at"] else None)


class AgendaStore:
    """Queries over the shared database (`dispatcher.store.db`); callers own the transaction."""

    def __init__(self, db: Database):
        self.db = db

    # --- agenda items --------------------------------------------------------

    def waiting(self, team: str) -> list[AgendaItem]:
        """The agenda of the team's next meeting, in order."""
        return [_item(r) for r in self.db.query(
            "SELECT * FROM agenda_items WHERE team = ? AND status = 'open' AND meeting_id IS NULL"
            " ORDER BY position, id", [team])]

    def add_item(self, team: str, text: str, owner: str, owner_id: str, added: datetime) -> AgendaItem:
        last = list(self.db.query("SELECT MAX(position) AS p FROM agenda_items WHERE team = ?", [team]))[0]["p"]
        cursor = self.db.execute(
            "INSERT INTO agenda_items (team, text, owner, owner_id, added, position, status, carried)"
            " VALUES (?, ?, ?, ?, ?, ?, 'open', 0)",
            [team, text, owner, owner_id, added.isoformat(), (last or 0) + 1])
        return _item(self.db.table("agenda_items").get(inserted_id(cursor)))

    def remove_item(self, item_id: int, by: str) -> None:
        self.db.execute("UPDATE agenda_items SET status = 'removed', closed_by = ? WHERE id = ?", [by, item_id])

    def reorder(self, items: list[AgendaItem]) -> None:
        """Give `items` the positions 1, 2, ... in the order given."""
        for position, item in enumerate(items, 1):
            self.db.execute("UPDATE agenda_items SET position = ? WHERE id = ?", [position, item.id])

    def take_onto_meeting(self, team: str, meeting_id: int) -> list[MeetingItem]:
        """Put the waiting items on a starting meeting's agenda, numbered 1, 2, ... (once)."""
        if not self.meeting_items(meeting_id):
            for n, item in enumerate(self.waiting(team), 1):
                self.db.execute("INSERT INTO agenda_meetings (meeting_id, n, item_id) VALUES (?, ?, ?)",
                                [meeting_id, n, item.id])
                self.db.execute("UPDATE agenda_items SET meeting_id = ? WHERE id = ?", [meeting_id, item.id])
        return self.meeting_items(meeting_id)

    def meeting_items(self, meeting_id: int) -> list[MeetingItem]:
        rows = self.db.query(
            "SELECT a.*, m.n AS n, m.covered AS covered FROM agenda_meetings m JOIN agenda_items a"
            " ON a.id = m.item_id WHERE m.meeting_id = ? ORDER BY m.n", [meeting_id])
        return [MeetingItem(r["n"], _item(r), bool(r["covered"])) for r in rows]

    def close_meeting_agenda(self, meeting_id: int, covered: set[int]) -> bool:
        """Close the items numbered in `covered`; the rest wait for the next meeting, carried over.

        Returns False (and changes nothing) if this meeting's agenda was closed before.
        """
        rows = list(self.db.query("SELECT done FROM agenda_meetings WHERE meeting_id = ? LIMIT 1", [meeting_id]))
        if not rows or rows[0]["done"]:
            return False
        for entry in self.meeting_items(meeting_id):
            if entry.item.status is not ItemStatus.OPEN:
                continue  # removed while the meeting ran
            if entry.n in covered:
                self.db.execute("UPDATE agenda_items SET status = 'covered' WHERE id = ?", [entry.item.id])
            else:
                self.db.execute("UPDATE agenda_items SET meeting_id = NULL, carried = carried + 1 WHERE id = ?",
                                [entry.item.id])
        for n in covered:
            self.db.execute("UPDATE agenda_meetings SET covered = 1 WHERE meeting_id = ? AND n = ?", [meeting_id, n])
        self.db.execute("UPDATE agenda_meetings SET done = 1 WHERE meeting_id = ?", [meeting_id])
        return True

    # --- actions -------------------------------------------------------------

    def add_action(self, team: str, text: str, owners: list[str], owner_ids: list[str], meeting_id: int,
                   meeting_date: str, line: int) -> None:
        """Record one action of an ended meeting; a second call for the same line changes nothing."""
        if list(self.db.query("SELECT 1 FROM actions WHERE meeting_id = ? AND line = ?", [meeting_id, line])):
            return
        last = list(self.db.query("SELECT MAX(n) AS n FROM actions WHERE team = ?", [team]))[0]["n"]
        self.db.execute(
            "INSERT INTO actions (team, n, text, owners, owner_ids, meeting_id, meeting_date, line, status)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open')",
            [team, (last or 0) + 1, text, json.dumps(owners), json.dumps(owner_ids), meeting_id, meeting_date, line])

    def open_actions(self, team: str) -> list[ActionRecord]:
        return [_action(r) for r in self.db.query(
            "SELECT * FROM actions WHERE team = ? AND status = 'open' ORDER BY n", [team])]

    def action(self, team: str, n: int) -> ActionRecord | None:
        rows = list(self.db.query("SELECT * FROM actions WHERE team = ? AND n = ?", [team, n]))
        return _action(rows[0]) if rows else None

    def close_action(self, action_id: int, by: str, when: datetime) -> None:
        self.db.execute("UPDATE actions SET status = 'done', closed_by = ?, closed_at = ? WHERE id = ?",
                        [by, when.isoformat(), action_id])

    def note_open_actions(self, team: str, meeting_id: int) -> list[ActionRecord]:
        """Remember which actions were open when a meeting started (once); returns them."""
        for action in self.open_actions(team):
            self.db.execute("INSERT OR IGNORE INTO action_meetings (meeting_id, action_id) VALUES (?, ?)",
                            [meeting_id, action.id])
        return self.earlier_actions(meeting_id)

    # --- identity links ----------------------------------------------------

    def link_of(self, identity: str) -> IdentityLink | None:
        """The link (pending or confirmed) that `identity` (a Matrix id or `irc:ACCOUNT`) is part of."""
        if identity.startswith("irc:"):
            rows = self.db.query("SELECT * FROM identity_links WHERE irc_account = ? AND status = 'linked'",
                                 [identity.removeprefix("irc:")])
        else:
            rows = self.db.query("SELECT * FROM identity_links WHERE matrix_id = ?", [identity])
        return next((_link(r) for r in rows), None)

    def ask_link(self, matrix_id: str, irc_account: str, when: datetime) -> None:
        """Record that `matrix_id` asks to be linked to `irc_account` (replacing what it asked before)."""
        self.db.execute("DELETE FROM identity_links WHERE matrix_id = ?", [matrix_id])
        self.db.execute(
            "INSERT INTO identity_links (matrix_id, irc_account, status, since) VALUES (?, ?, 'pending', ?)",
            [matrix_id, irc_account, when.isoformat()],
        )

    def confirm_link(self, matrix_id: str, irc_account: str, when: datetime) -> bool:
        """Confirm a pending link; False if `matrix_id` did not ask for this account."""
        rows = list(self.db.query("SELECT 1 FROM identity_links WHERE matrix_id = ? AND irc_account = ?"
                                  " AND status = 'pending'", [matrix_id, irc_account]))
        if not rows:
            return False
        self.db.execute("DELETE FROM identity_links WHERE irc_account = ? AND matrix_id != ?", [irc_account, matrix_id])
        self.db.execute("UPDATE identity_links SET status = 'linked', since = ? WHERE matrix_id = ?",
                        [when.isoformat(), matrix_id])
        return True

    def unlink(self, identity: str) -> bool:
        """Remove the link (or request) `identity` is part of; False if there was none."""
        link = self.link_of(identity)
        if link is not None:
            self.db.execute("DELETE FROM identity_links WHERE matrix_id = ?", [link.matrix_id])
        return link is not None

    def same_person(self, identity: str) -> set[str]:
        """`identity` and the identity it is linked to (confirmed links only)."""
        link = self.link_of(identity)
        if link is None or link.status is not LinkStatus.LINKED:
            return {identity}
        return {identity, link.matrix_id, f"irc:{link.irc_account}"}

    def earlier_actions(self, meeting_id: int) -> list[ActionRecord]:
        """The actions that were open when the meeting started, in order."""
        return [_action(r) for r in self.db.query(
            "SELECT a.* FROM action_meetings m JOIN actions a ON a.id = m.action_id WHERE m.meeting_id = ?"
            " ORDER BY a.n", [meeting_id])]
