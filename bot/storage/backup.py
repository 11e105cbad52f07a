"""Backups of the database, and putting one back.

A backup is taken with SQLite's online backup API
(https://www.sqlite.org/backup.html) in one step: it reads one consistent
snapshot while the bot keeps writing (in WAL mode readers never block the
writer), so it is safe to run from cron beside a running bot. It is written
to `PATH.partial`, checked, switched to a single self-contained file
(journal_mode DELETE) and only then renamed to PATH, so a backup that exists
is whole.

A restore checks the backup first, copies it beside the database, moves the
current database (with its -wal and -shm) aside as `sigbot.db.before-restore-
<time>` and renames the copy into place: nothing is deleted, and the database
is never half-restored. It refuses while another process (the bot) has the
database open; the bot keeps its state in the database, so it picks up the
restored one when it starts again.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

from bot.storage.db import DatabaseDamaged, StoreError, check_integrity, is_damage, open_store, write_marker

_SIDE_FILES = ("-wal", "-shm")
_SQLITE_BUSY = 5


def backup(database: Path, dest: Path) -> None:
    """Copy the (checked) database to `dest`, which must not exist yet."""
    if dest.exists():
        raise StoreError(f"{dest} exists already: sigbot never overwrites a backup, give a new name")
    if not dest.parent.is_dir():
        raise StoreError(f"there is no folder {dest.parent} to write {dest.name} into")
    if not database.exists():
        raise StoreError(f"there is no database at {database} to back up")
    partial = dest.with_name(dest.name + ".partial")
    store = open_store(database)  # refuses a damaged or lost database: that is no backup
    try:
        partial.unlink(missing_ok=True)
        with closing(sqlite3.connect(partial)) as copy:
            store.db.conn.backup(copy)  # all pages in one step: one consistent snapshot
            copy.execute("PRAGMA journal_mode = DELETE")
            check_integrity(copy, partial)
        _fsync(partial)
        os.replace(partial, dest)
        _fsync(dest.parent)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise StoreError(f"cannot write the backup {dest}: {exc.strerror or exc}") from None
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise StoreError(f"cannot write the backup {dest}: {exc}") from None
    finally:
        store.db.conn.close()


def check_backup(source: Path) -> None:
    """Refuse anything but a whole sigbot database, before the current one is touched."""
    if not source.is_file():
        raise StoreError(f"there is no backup at {source}")
    try:
        with closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            check_integrity(conn, source)
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except DatabaseDamaged as exc:
        raise StoreError(f"{source} is no good as a backup: {exc.detail}") from None
    except sqlite3.Error as exc:  # not a database at all, or unreadable
        if is_damage(exc):
            raise StoreError(f"{source} is not a sigbot backup: {exc}") from None
        raise StoreError(f"cannot read {source}: {exc}") from None
    if not {"meetings", "lines", "kv"} <= tables:
        raise StoreError(f"{source} is not a sigbot backup (it has no meetings, lines and kv tables)")


def restore(source: Path, database: Path, now: datetime) -> Path | None:
    """Put the backup `source` in place of `database`; returns where the replaced database was moved."""
    check_backup(source)
    if database.exists() and source.resolve() == database.resolve():
        raise StoreError(f"{source} is the database itself, not a backup of it")
    if _in_use(database):
        raise StoreError(f"{database} is open in another process (is the bot running?): stop it, then restore")
    database.parent.mkdir(parents=True, exist_ok=True)
    incoming = database.with_name(database.name + ".restoring")
    try:
        incoming.unlink(missing_ok=True)
        with closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as src, \
                closing(sqlite3.connect(incoming)) as copy:
            src.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")
        _fsync(incoming)
        aside = None
        if database.exists() or any(database.with_name(database.name + s).exists() for s in _SIDE_FILES):
            aside = database.with_name(f"{database.name}.before-restore-{now:%Y%m%dT%H%M%S}")
            for suffix in ("", *_SIDE_FILES):  # the -wal holds committed data: it moves with its database
                current = database.with_name(database.name + suffix)
                if current.exists():
                    os.replace(current, aside.with_name(aside.name + suffix))
        os.replace(incoming, database)
        write_marker(database)
        _fsync(database.parent)
    except (OSError, sqlite3.Error) as exc:
        incoming.unlink(missing_ok=True)
        raise StoreError(f"cannot restore {source} to {database}: {getattr(exc, 'strerror', None) or exc}") from None
    return aside


def _in_use(database: Path) -> bool:
    """Whether another connection has the database open.

    In WAL mode every open connection holds a shared lock on the -shm file
    (https://www.sqlite.org/walformat.html#locks), and leaving WAL mode needs
    the database to itself: SQLITE_BUSY means someone else is there. Leaving
    WAL also folds the -wal into the file, so the database set aside is whole.
    """
    if not database.exists() or database.stat().st_size == 0:
        return False
    with closing(sqlite3.connect(database, timeout=0)) as conn:
        try:
            conn.execute("PRAGMA journal_mode = DELETE")
        except sqlite3.OperationalError as exc:
            return exc.sqlite_errorcode & 0xFF == _SQLITE_BUSY
        except sqlite3.DatabaseError:  # damaged: what a restore is for
            return False
    return False


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
