"""Schema migrations: small functions, only ever appended, applied at start.

Never edit or reorder a migration that has shipped; add a new one instead.
sqlite-utils records what it applied, so applying them twice is a no-op.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from bot.core.targets import load
from bot.features import single

MIGRATIONS = Migrations("sigbot")

# Each feature keeps its own tables with its own `Migrations("sigbot-<feature>")`
# in its store module, named by its declaration (bot/features.py) and applied
# after the core's. Each set is applied on its own and only once.
FEATURE_MIGRATIONS: list[str] = single("migrations")


def all_migrations() -> list[Migrations]:
    return [MIGRATIONS, *(load(target) for target in FEATURE_MIGRATIONS)]


@MIGRATIONS()
def m001_meetings_and_lines(db: Database) -> None:
    db.table("meetings").create(
        {
            "id": int,
            "team": str,
            "room": str,
            "name": str,
            "started": str,
            "ended": str,
            "status": str,  # running | ended
            "notes_path": str,
        },
        pk="id",
    )
    db.table("meetings").create_index(["room", "status"])
    # Every line said in a team room, stored before it is acted on. `handled`
    # turns 1 once its effects are recorded, so a crash in between is redone.
    db.table("lines").create(
        {
            "id": int,
            "team": str,
            "room": str,
            "meeting_id": int,
            "event_id": str,
            "network": str,
            "sender": str,
            "nick": str,
            "account": str,
            "kind": str,
            "text": str,
            "time": str,
            "privileged": int,
            "deleted": int,
            "handled": int,
            "edited": str,
        },
        pk="id",
        not_null={"team", "room", "network", "sender", "nick", "kind", "text", "time"},
        defaults={"privileged": 0, "deleted": 0, "handled": 0},
        foreign_keys=[("meeting_id", "meetings", "id")],
    )
    db.table("lines").create_index(["event_id"], unique=True)
    db.table("lines").create_index(["meeting_id"])
    db.table("lines").create_index(["handled"])
    db.table("kv").create({"key": str, "value": str}, pk="key")


@MIGRATIONS()
def m002_who_held_which_name(db: Database) -> None:
    # Who held which nick when a line was said on IRC (JSON [[name, identity], ...]): `#chair NAME`
    # binds that identity, so the fold needs it in the log, not only in the IRC client's memory.
    db.table("lines").add_column("seen", str)
