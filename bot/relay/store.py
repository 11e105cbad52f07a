"""The relay's table: long messages kept whole, served as pastes by the web server.

A message from Matrix longer than a team's `max_lines` is sent to IRC as its
first lines and a link; the whole text lives here under an unguessable id.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from bot.core.record import record

MIGRATIONS = Migrations("sigbot-relay")


@MIGRATIONS()
def m001_pastes(db: Database) -> None:
    db.table("relay_pastes").create({"id": str, "team": str, "author": str, "text": str, "created": str}, pk="id",
                              not_null={"team", "author", "text", "created"})


@record
class Paste:
    id: str
    team: str
    author: str
    text: str
    created: datetime


def add_paste(db: Database, team: str, author: str, text: str, now: datetime,
              new_id: Callable[[], str] = lambda: secrets.token_urlsafe(12)) -> Paste:
    paste = Paste(new_id(), team, author, text, now)
    db.execute("INSERT INTO relay_pastes (id, team, author, text, created) VALUES (?, ?, ?, ?, ?)",
               [paste.id, team, author, text, now.isoformat()])
    return paste


def get_paste(db: Database, paste_id: str) -> Paste | None:
    rows = list(db.query("SELECT * FROM relay_pastes WHERE id = ?", [paste_id]))
    if not rows:
        return None
    row = rows[0]
    return Paste(row["id"], row["team"], row["author"], row["text"], datetime.fromisoformat(row["created"]))
