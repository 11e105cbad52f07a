"""The core's SQL (meetings, lines, kv). Every query is parameterised; callers get dataclasses.

Features keep their own tables in their own `store.py` (bot/loans/store.py, ...),
on the same `Database`, with their own migrations (see migrations.py). No other
module writes SQL.

The database runs in WAL mode with synchronous=FULL: a line acknowledged as
stored survives a crash of the process and of the machine. open_store checks
it before writing anything (SQLite's quick_check) and refuses a damaged file,
or a missing or empty one where sigbot had created one, with a StoreError whose
text is the operator's one line; backups and restores are in backup.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.core.message import LineKind, Message
from bot.core.record import record
from bot.storage.migrations import all_migrations

STATEMENTS = 32  # prepared statements kept per connection


@record
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
    seen: tuple[tuple[str, str], ...] = ()  # who held which name when it was said (Message.seen)


@record
class MeetingRecord:
    id: int
    team: str
    room: str
    name: str | None
    started: datetime
    ended: datetime | None
    status: str
    notes_path: str | None


def _line(row: dict[str, Any]) -> LineRecord:
    return LineRecord(
        id=row["id"], team=row["team"], room=row["room"], meeting_id=row["meeting_id"],
        event_id=row["event_id"], network=row["network"], sender=row["sender"], nick=row["nick"],
        kind=LineKind(row["kind"]), text=row["text"], time=datetime.fromisoformat(row["time"]),
        privileged=bool(row["privileged"]), deleted=bool(row["deleted"]), handled=bool(row["handled"]),
        seen=tuple((str(name), str(who)) for name, who in json.loads(row.get("seen") or "[]")),
    )


def _meeting(row: dict[str, Any]) -> MeetingRecord:
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
            "seen": json.dumps([list(pair) for pair in msg.seen]) if msg.seen else None,
        }
        try:
            cursor = self.db.execute(
                "INSERT INTO lines (team, room, meeting_id, event_id, network, sender, nick, account, kind,"
                " text, time, privileged, deleted, handled, seen) VALUES (:team, :room, :meeting_id, :event_id,"
                " :network, :sender, :nick, :account, :kind, :text, :time, :privileged, :deleted, :handled,"
                " :seen)",
                row,
            )
        except sqlite3.IntegrityError:
            return None
        return self.line(inserted_id(cursor))

    def line(self, line_id: int) -> LineRecord:
        return _line(self.db.table("lines").get(line_id))

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
        return self.meeting(inserted_id(cursor))

    def meeting(self, meeting_id: int) -> MeetingRecord:
        return _meeting(self.db.table("meetings").get(meeting_id))

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
        self.db.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )


# SQLite's primary result codes for a damaged file (https://www.sqlite.org/rescode.html);
# the extended codes (SQLITE_CORRUPT_INDEX, ...) keep them in their low byte.
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


class StoreError(Exception):
    """A database sigbot must not use as it is. Its text is the one line an operator reads."""


class DatabaseDamaged(StoreError, sqlite3.DatabaseError):
    """Also an SQLITE_CORRUPT sqlite3.DatabaseError: code that keeps its work when storing fails (the
    Matrix sync loop keeps its batch) treats a damaged value read at run time as it treats SQLite's own."""

    def __init__(self, path: Path | str, detail: str):
        self.detail = detail
        self.sqlite_errorcode, self.sqlite_errorname = _SQLITE_CORRUPT, "SQLITE_CORRUPT"
        super().__init__(f"the database {path} is damaged: {detail}; restore it from a backup "
                         "(sigbot restore BACKUP, see docs/backup.md)")


class DatabaseMissing(StoreError):
    def __init__(self, path: Path, how: str):
        super().__init__(f"the database {path} {how}, but {marker_path(path)} says sigbot created it before: "
                         "restore it from a backup (sigbot restore BACKUP), or start with an empty one "
                         "(sigbot run --init)")


def is_damage(exc: sqlite3.Error) -> bool:
    """Whether SQLite refused because the file itself is damaged (not locked, read-only or full)."""
    return (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just added. The stubs say `int | None`: None only before any
    INSERT on the cursor, which never happens here, so a None is a bug worth stopping on."""
    rowid = cursor.lastrowid
    assert rowid is not None, "inserted_id() after a statement that inserted no row"
    return rowid


def marker_path(database: Path) -> Path:
    """The file beside the database that records that it was created.

    SQLite treats a missing or zero-byte file as a new, empty database, so
    without it a lost database would come back empty and nobody would be told.
    It is written when the database is first opened, and by `sigbot restore`.
    """
    return database.with_name(database.name + ".created")


def check_integrity(conn: sqlite3.Connection, path: Path | str) -> None:
    """SQLite's quick_check (the b-trees and pages, not the indexes' contents), before anything is written."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            raise DatabaseDamaged(path, str(exc)) from None
        raise
    if problems != ["ok"]:
        raise DatabaseDamaged(path, "; ".join(problems[:3]))


def _text_of(path: Path | str) -> Callable[[bytes], str]:
    # quick_check does not look inside values: a flipped byte in a stored text
    # is only noticed when it is read. Python would raise a UnicodeDecodeError
    # from deep inside a query; this names the file and the way out instead.
    def text(value: bytes) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatabaseDamaged(path, f"a stored text is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    return text


def _refuse_lost(path: Path, init: bool) -> None:
    if init or not marker_path(path).exists():
        return
    if not path.exists():
        raise DatabaseMissing(path, "is missing")
    if path.stat().st_size == 0:
        raise DatabaseMissing(path, "is empty (0 bytes)")


def write_marker(path: Path) -> None:
    marker = marker_path(path)
    try:
        marker.write_text(f"sigbot created {path.name} here. If it is ever missing or empty, sigbot refuses to start\n"
                          "instead of starting over with an empty database: see docs/backup.md.\n", encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"cannot write {marker}: {exc.strerror or exc}") from None


def open_store(path: Path | str, init: bool = False) -> Store:
    """Open (creating if needed) the database, check it, and apply pending migrations.

    Refuses, with a StoreError, a damaged database (leaving the file as it
    was) and a missing or empty one that sigbot created before, unless
    `init` asks for a new, empty one.
    """
    memory = str(path) == ":memory:"
    if not memory:
        path = Path(path)
        _refuse_lost(path, init)
        path.parent.mkdir(parents=True, exist_ok=True)
    # A small statement cache: the bot's hot statements are few, and each cached one holds SQLite's
    # compiled program (128, Python's default, kept about 0.25 MiB for statements run once at start).
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, cached_statements=STATEMENTS)
    conn.text_factory = _text_of(path)
    try:
        check_integrity(conn, path)
        # No sqlite-utils plugins: a package installed beside sigbot must not run code inside its
        # database connection (and scanning every installed distribution for them costs memory).
        db = Database(conn, execute_plugins=False)
        if not memory:
            db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
        for migrations in all_migrations():
            migrations.apply(db)
        if isinstance(path, Path) and (init or not marker_path(path).exists()):  # a Path exactly when not memory
            write_marker(path)
    except DatabaseDamaged:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        if is_damage(exc):
            raise DatabaseDamaged(path, str(exc)) from None
        raise
    except BaseException:
        conn.close()
        raise
    return Store(db)
