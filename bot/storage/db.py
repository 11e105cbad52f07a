"""The core's SQL (meetings, lines, kv). Every query is parameterised; callers get dataclasses.

Features keep their own tables in their own `store.py` (bot/loans/store.py, ...),
on the same `Database`, with their own migrations (see migrations.py). No other
module writes SQL.

The database runs in WAL mode with synchronous=FULL: a line acknowledged as
stored survives a crash of the process and of the machine.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlite_utils import Database

from bot.core.message import LineKind, Message
from bot.storage.migrations import all_migrations


@dataclass(frozen=True)
class LineRecord:
    id: int
    team: str
    room: str
    meeting_id: int | None
    event_id: str | None
    network: str
    sender: str
    nick: str
    kind: LineKind
    text: str
    time: datetime
    privileged: bool
    deleted: bool
    handled: bool


@dataclass(frozen=True)
class MeetingRecord:
    id: int
    team: str
    room: str
    name: str | None
    started: datetime
    ended: datetime | None
    status: str
    notes_path: str | None


def _line(row: dict) -> LineRecord:
    return LineRecord(
        id=row["id"], team=row["team"], room=row["room"], meeting_id=row["meeting_id"],
        event_id=row["event_id"], network=row["network"], sender=row["sender"], nick=row["nick"],
        kind=LineKind(row["kind"]), text=row["text"], time=datetime.fromisoformat(row["time"]),
        privileged=bool(row["privileged"]), deleted=bool(row["deleted"]), handled=bool(row["handled"]),
    )


def _meeting(row: dict) -> MeetingRecord:
    return MeetingRecord(
        id=row["id"], team=row["team"], room=row["room"], name=row["name"],
        started=datetime.fromisoformat(row["started"]),
        ended=datetime.fromisoformat(row["ended"]) if row["ended"] else None,
        status=row["status"], notes_path=row["notes_path"],
    )


class Store:
    def __init__(self, db: Database):
        self.db = db

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.db.atomic():
            yield

    # --- lines -------------------------------------------------------------

    def add_line(self, msg: Message, team: str, meeting_id: int | None, privileged: bool,
                 handled: bool = False) -> LineRecord | None:
        """Store one line; None when its event id was stored before (a redelivery)."""
        row = {
            "team": team, "room": msg.room, "meeting_id": meeting_id, "event_id": msg.event_id,
            "network": msg.network.value, "sender": msg.sender, "nick": msg.nick, "account": msg.account,
            "kind": msg.kind.value, "text": msg.text, "time": msg.time.isoformat(),
            "privileged": int(privileged), "deleted": 0, "handled": int(handled),
        }
        try:
            cursor = self.db.execute(
                "INSERT INTO lines (team, room, meeting_id, event_id, network, sender, nick, account, kind,"
                " text, time, privileged, deleted, handled) VALUES (:team, :room, :meeting_id, :event_id,"
                " :network, :sender, :nick, :account, :kind, :text, :time, :privileged, :deleted, :handled)",
                row,
            )
        except sqlite3.IntegrityError:
            return None
        return self.line(cursor.lastrowid)

    def line(self, line_id: int) -> LineRecord:
        return _line(self.db["lines"].get(line_id))

    def line_by_event(self, event_id: str) -> LineRecord | None:
        rows = list(self.db.query("SELECT * FROM lines WHERE event_id = ?", [event_id]))
        return _line(rows[0]) if rows else None

    def mark_handled(self, line_id: int) -> None:
        self.db.execute("UPDATE lines SET handled = 1 WHERE id = ?", [line_id])

    def scrub_line(self, line_id: int, text: str = "[private: removed]") -> None:
        """Forget what a line said (private data given in a direct message), keeping that it was said."""
        self.db.execute("UPDATE lines SET text = ? WHERE id = ?", [text, line_id])

    def unhandled_lines(self) -> list[LineRecord]:
        return [_line(r) for r in self.db.query("SELECT * FROM lines WHERE handled = 0 ORDER BY id")]

    def assign_line(self, line_id: int, meeting_id: int) -> None:
        self.db.execute("UPDATE lines SET meeting_id = ? WHERE id = ?", [meeting_id, line_id])

    def edit_line(self, event_id: str, text: str, when: datetime) -> LineRecord | None:
        self.db.execute("UPDATE lines SET text = ?, edited = ? WHERE event_id = ? AND deleted = 0",
                        [text, when.isoformat(), event_id])
        return self.line_by_event(event_id)

    def delete_line(self, event_id: str) -> LineRecord | None:
        self.db.execute("UPDATE lines SET deleted = 1 WHERE event_id = ?", [event_id])
        return self.line_by_event(event_id)

    def meeting_lines(self, meeting_id: int) -> list[LineRecord]:
        return [_line(r) for r in self.db.query(
            "SELECT * FROM lines WHERE meeting_id = ? AND deleted = 0 ORDER BY id", [meeting_id])]

    # --- meetings ----------------------------------------------------------

    def start_meeting(self, team: str, room: str, started: datetime) -> MeetingRecord:
        cursor = self.db.execute(
            "INSERT INTO meetings (team, room, started, status) VALUES (?, ?, ?, 'running')",
            [team, room, started.isoformat()],
        )
        return self.meeting(cursor.lastrowid)

    def meeting(self, meeting_id: int) -> MeetingRecord:
        return _meeting(self.db["meetings"].get(meeting_id))

    def running_meeting(self, room: str) -> MeetingRecord | None:
        rows = list(self.db.query(
            "SELECT * FROM meetings WHERE room = ? AND status = 'running' ORDER BY id DESC LIMIT 1", [room]))
        return _meeting(rows[0]) if rows else None

    def running_meetings(self) -> list[MeetingRecord]:
        return [_meeting(r) for r in self.db.query("SELECT * FROM meetings WHERE status = 'running' ORDER BY id")]

    def end_meeting(self, meeting_id: int, ended: datetime, name: str | None) -> None:
        self.db.execute("UPDATE meetings SET status = 'ended', ended = ?, name = ? WHERE id = ?",
                        [ended.isoformat(), name, meeting_id])

    def set_notes_path(self, meeting_id: int, path: str) -> None:
        self.db.execute("UPDATE meetings SET notes_path = ? WHERE id = ?", [path, meeting_id])

    def meetings_without_notes(self) -> list[MeetingRecord]:
        return [_meeting(r) for r in self.db.query(
            "SELECT * FROM meetings WHERE status = 'ended' AND notes_path IS NULL ORDER BY id")]

    def meetings(self, team: str | None = None, limit: int = 50) -> list[MeetingRecord]:
        if team:
            rows = self.db.query("SELECT * FROM meetings WHERE team = ? ORDER BY id DESC LIMIT ?", [team, limit])
        else:
            rows = self.db.query("SELECT * FROM meetings ORDER BY id DESC LIMIT ?", [limit])
        return [_meeting(r) for r in rows]

    # --- small state (sync tokens and the like) ----------------------------

    def get_value(self, key: str) -> str | None:
        rows = list(self.db.query("SELECT value FROM kv WHERE key = ?", [key]))
        return rows[0]["value"] if rows else None

    def set_value(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        [key, value])


def open_store(path: Path | str) -> Store:
    """Open (creating if needed) the database and apply pending migrations."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db = Database(conn)
    if str(path) != ":memory:":
        db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    for migrations in all_migrations():
        migrations.apply(db)
    return Store(db)
