"""The loans' SQL: assets, requests, the append-only history, private shipping details, sent reminders.

Every query is parameterised and returns dataclasses from bot/loans/model.py.
Two rules live in the schema itself, so no code path can break them:
- one asset is held by at most one loan (a unique partial index), and it is
  taken only while `available` (a conditional UPDATE whose row count says who won);
- the history is append-only (triggers refuse UPDATE and DELETE).
Shipping addresses and contact details live only in `loan_private`, with an expiry;
the one-time links to the address form (`loan_address_links`) keep only a hash of their token.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from bot.core.record import record
from bot.loans.model import HOLDING, Asset, AssetStatus, Kind, Loan, State
from bot.storage.db import inserted_id

LOAN_MIGRATIONS = Migrations("sigbot-loans")

ASSET_FIELDS = ("kind", "vendor", "model", "target", "memory", "serial", "donor", "custodian", "location",
                "status", "notes")
_HOLDING_SQL = ", ".join(f"'{s.value}'" for s in sorted(HOLDING))


@LOAN_MIGRATIONS()
def m001_loans(db: Database) -> None:
    db.execute("""CREATE TABLE loan_assets (
        id INTEGER PRIMARY KEY, team TEXT NOT NULL, tag TEXT NOT NULL, kind TEXT NOT NULL,
        vendor TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '', target TEXT NOT NULL DEFAULT '',
        memory TEXT NOT NULL DEFAULT '', serial TEXT NOT NULL DEFAULT '', donor TEXT NOT NULL DEFAULT '',
        custodian TEXT NOT NULL DEFAULT '', location TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'available', notes TEXT NOT NULL DEFAULT '')""")
    db.execute("CREATE UNIQUE INDEX loan_assets_tag ON loan_assets (team, tag COLLATE NOCASE)")
    db.execute("""CREATE TABLE loan_requests (
        n INTEGER PRIMARY KEY, team TEXT NOT NULL, requester TEXT NOT NULL, requester_name TEXT NOT NULL,
        target TEXT NOT NULL, purpose TEXT NOT NULL, link TEXT NOT NULL DEFAULT '', weeks INTEGER NOT NULL,
        shipping INTEGER NOT NULL, state TEXT NOT NULL, submitted TEXT NOT NULL,
        asset_id INTEGER REFERENCES loan_assets (id), due TEXT, shipped_at TEXT, checked_in_at TEXT,
        extension_asked INTEGER NOT NULL DEFAULT 0, note TEXT NOT NULL DEFAULT '')""")
    db.execute("CREATE INDEX loan_requests_team_state ON loan_requests (team, state)")
    db.execute(f"CREATE UNIQUE INDEX loan_one_holder_per_asset ON loan_requests (asset_id) "
               f"WHERE state IN ({_HOLDING_SQL})")
    db.execute("""CREATE TABLE loan_events (
        id INTEGER PRIMARY KEY, team TEXT NOT NULL, loan INTEGER, asset TEXT, actor TEXT NOT NULL,
        time TEXT NOT NULL, action TEXT NOT NULL, from_state TEXT, to_state TEXT, note TEXT NOT NULL DEFAULT '')""")
    db.execute("CREATE INDEX loan_events_loan ON loan_events (loan)")
    db.execute("CREATE TRIGGER loan_events_no_update BEFORE UPDATE ON loan_events "
               "BEGIN SELECT RAISE(ABORT, 'loan_events is append-only'); END")
    db.execute("CREATE TRIGGER loan_events_no_delete BEFORE DELETE ON loan_events "
               "BEGIN SELECT RAISE(ABORT, 'loan_events is append-only'); END")
    # Private: given only in a direct message, deleted at `expires`.
    db.execute("""CREATE TABLE loan_private (
        loan INTEGER PRIMARY KEY REFERENCES loan_requests (n), details TEXT NOT NULL,
        given TEXT NOT NULL, expires TEXT NOT NULL)""")
    db.execute("CREATE TABLE loan_reminders_sent (key TEXT PRIMARY KEY, sent TEXT NOT NULL)")


@LOAN_MIGRATIONS()
def m002_address_links(db: Database) -> None:
    # One-time links to the address form (bot/loans/links.py): the SHA-256 of the token, never the token.
    db.execute("""CREATE TABLE loan_address_links (
        token_hash TEXT PRIMARY KEY, loan INTEGER NOT NULL REFERENCES loan_requests (n),
        borrower TEXT NOT NULL, created TEXT NOT NULL, expires TEXT NOT NULL, used TEXT)""")
    db.execute("CREATE INDEX loan_address_links_loan ON loan_address_links (loan)")


@record
class AddressLink:
    token_hash: str
    loan: int
    borrower: str
    expires: datetime
    used: datetime | None


@record
class Event:
    team: str
    loan: int | None
    asset: str | None
    actor: str
    time: datetime
    action: str
    from_state: str | None
    to_state: str | None
    note: str


class LoanStore:
    def __init__(self, db: Database):
        self.db = db

    def lock(self) -> None:
        """Take the database's write lock now, before reading what a change depends on.

        A transaction that read first and wrote later could find its snapshot
        stale when another connection committed in between (SQLITE_BUSY_SNAPSHOT,
        not retried); writing first makes the second writer wait its turn instead.
        """
        self.db.execute("UPDATE loan_reminders_sent SET key = key WHERE 0")

    # --- assets --------------------------------------------------------------

    def add_asset(self, team: str, tag: str, fields: dict[str, str]) -> Asset:
        """A new asset; ValueError when the team already has that tag."""
        row = {"team": team, "tag": tag, **{k: v for k, v in fields.items() if k in ASSET_FIELDS}}
        cols = ", ".join(row)
        try:
            cur = self.db.execute(f"INSERT INTO loan_assets ({cols}) VALUES ({', '.join('?' * len(row))})",
                                  list(row.values()))
        except sqlite3.IntegrityError:
            raise ValueError(f"there is already an asset {tag}") from None
        return self.asset_by_id(inserted_id(cur))

    def asset(self, team: str, tag: str) -> Asset | None:
        rows = list(self.db.query("SELECT * FROM loan_assets WHERE team = ? AND tag = ? COLLATE NOCASE",
                                  [team, tag]))
        return _asset(rows[0]) if rows else None

    def asset_by_id(self, asset_id: int) -> Asset:
        return _asset(next(self.db.query("SELECT * FROM loan_assets WHERE id = ?", [asset_id])))

    def assets(self, team: str) -> list[Asset]:
        return [_asset(r) for r in self.db.query("SELECT * FROM loan_assets WHERE team = ? ORDER BY tag", [team])]

    def update_asset(self, asset_id: int, fields: dict[str, str]) -> None:
        fields = {k: v for k, v in fields.items() if k in ASSET_FIELDS}
        if fields:
            sets = ", ".join(f"{k} = ?" for k in fields)
            self.db.execute(f"UPDATE loan_assets SET {sets} WHERE id = ?", [*fields.values(), asset_id])

    def take_asset(self, asset_id: int) -> bool:
        """Reserve an asset only if it is available now; False when someone else took it first."""
        cur = self.db.execute("UPDATE loan_assets SET status = 'reserved' WHERE id = ? AND status = 'available'",
                              [asset_id])
        return cur.rowcount == 1

    def set_asset_status(self, asset_id: int, status: AssetStatus, only_from: Iterable[AssetStatus]) -> bool:
        froms = [s.value for s in only_from]
        cur = self.db.execute(
            f"UPDATE loan_assets SET status = ? WHERE id = ? AND status IN ({', '.join('?' * len(froms))})",
            [status.value, asset_id, *froms])
        return cur.rowcount == 1

    # --- loans ---------------------------------------------------------------

    def add_loan(self, team: str, requester: str, requester_name: str, target: str, purpose: str, link: str,
                 weeks: int, shipping: bool, now: datetime) -> Loan:
        cur = self.db.execute(
            "INSERT INTO loan_requests (team, requester, requester_name, target, purpose, link, weeks, shipping,"
            " state, submitted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [team, requester, requester_name, target, purpose, link, weeks, int(shipping), State.SUBMITTED.value,
             now.isoformat()])
        loan = self.loan(inserted_id(cur))
        assert loan is not None, "a loan just inserted is missing"
        return loan

    def loan(self, n: int) -> Loan | None:
        rows = list(self.db.query("SELECT * FROM loan_requests WHERE n = ?", [n]))
        return _loan(rows[0]) if rows else None

    def loans(self, team: str | None = None, states: Iterable[State] | None = None) -> list[Loan]:
        sql, args = "SELECT * FROM loan_requests WHERE 1", []
        if team is not None:
            sql, args = sql + " AND team = ?", [team]
        if states is not None:
            wanted = [s.value for s in states]
            sql += f" AND state IN ({', '.join('?' * len(wanted))})"
            args += wanted
        return [_loan(r) for r in self.db.query(sql + " ORDER BY n", args)]

    def holder_of(self, asset_id: int) -> Loan | None:
        rows = list(self.db.query(f"SELECT * FROM loan_requests WHERE asset_id = ? AND state IN ({_HOLDING_SQL})",
                                  [asset_id]))
        return _loan(rows[0]) if rows else None

    def move(self, n: int, from_state: State, to_state: State, **fields: object) -> bool:
        """Change a loan's state only if it is still `from_state`; False when it changed meanwhile."""
        values = {"state": to_state.value, **{k: _sql_value(v) for k, v in fields.items()}}
        sets = ", ".join(f"{k} = ?" for k in values)
        cur = self.db.execute(f"UPDATE loan_requests SET {sets} WHERE n = ? AND state = ?",
                              [*values.values(), n, from_state.value])
        return cur.rowcount == 1

    def set_fields(self, n: int, **fields: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE loan_requests SET {sets} WHERE n = ?", [*map(_sql_value, fields.values()), n])

    # --- history -------------------------------------------------------------

    def add_event(self, team: str, actor: str, now: datetime, action: str, *, loan: int | None = None,
                  asset: str | None = None, from_state: str | None = None, to_state: str | None = None,
                  note: str = "") -> None:
        self.db.execute(
            "INSERT INTO loan_events (team, loan, asset, actor, time, action, from_state, to_state, note)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [team, loan, asset, actor, now.isoformat(), action, from_state, to_state, note])

    def events(self, loan: int | None = None, asset: str | None = None, team: str | None = None) -> list[Event]:
        if loan is not None:
            rows = self.db.query("SELECT * FROM loan_events WHERE loan = ? ORDER BY id", [loan])
        else:
            rows = self.db.query("SELECT * FROM loan_events WHERE team = ? AND asset = ? COLLATE NOCASE ORDER BY id",
                                 [team, asset])
        return [Event(r["team"], r["loan"], r["asset"], r["actor"], datetime.fromisoformat(r["time"]), r["action"],
                      r["from_state"], r["to_state"], r["note"]) for r in rows]

    # --- private details (never published, deleted at expiry) ---------------

    def set_private(self, n: int, details: str, now: datetime, expires: datetime) -> None:
        self.db.execute(
            "INSERT INTO loan_private (loan, details, given, expires) VALUES (?, ?, ?, ?) ON CONFLICT (loan)"
            " DO UPDATE SET details = excluded.details, given = excluded.given, expires = excluded.expires",
            [n, details, now.isoformat(), expires.isoformat()])

    def private(self, n: int) -> str | None:
        rows = list(self.db.query("SELECT details FROM loan_private WHERE loan = ?", [n]))
        return rows[0]["details"] if rows else None

    def expire_private(self, n: int, expires: datetime) -> None:
        self.db.execute("UPDATE loan_private SET expires = min(expires, ?) WHERE loan = ?", [expires.isoformat(), n])

    def purge_private(self, now: datetime) -> int:
        return self.db.execute("DELETE FROM loan_private WHERE expires <= ?", [now.isoformat()]).rowcount

    # --- one-time links to the address form ---------------------------------

    def add_address_link(self, token_hash: str, n: int, borrower: str, now: datetime, expires: datetime) -> None:
        """A new link for loan `n`; it replaces the loan's earlier links, and expired ones are forgotten."""
        self.db.execute("DELETE FROM loan_address_links WHERE loan = ? OR expires <= ?", [n, now.isoformat()])
        self.db.execute("INSERT INTO loan_address_links (token_hash, loan, borrower, created, expires)"
                        " VALUES (?, ?, ?, ?, ?)", [token_hash, n, borrower, now.isoformat(), expires.isoformat()])

    def address_link(self, token_hash: str) -> AddressLink | None:
        rows = list(self.db.query("SELECT * FROM loan_address_links WHERE token_hash = ?", [token_hash]))
        if not rows:
            return None
        r = rows[0]
        return AddressLink(r["token_hash"], r["loan"], r["borrower"], datetime.fromisoformat(r["expires"]),
                           _time(r["used"]))

    def use_address_link(self, token_hash: str, now: datetime) -> bool:
        """Spend a link: True for exactly one caller, while it is unused and unexpired."""
        cur = self.db.execute("UPDATE loan_address_links SET used = ? WHERE token_hash = ? AND used IS NULL"
                              " AND expires > ?", [now.isoformat(), token_hash, now.isoformat()])
        return cur.rowcount == 1

    # --- reminders sent ------------------------------------------------------

    def sent_keys(self) -> set[str]:
        return {r["key"] for r in self.db.query("SELECT key FROM loan_reminders_sent")}

    def mark_sent(self, keys: Iterable[str], now: datetime) -> None:
        for key in keys:
            self.db.execute("INSERT OR IGNORE INTO loan_reminders_sent (key, sent) VALUES (?, ?)",
                            [key, now.isoformat()])


def _sql_value(value: object) -> object:
    """A column's value as SQLite stores it: times as ISO text, booleans as 0 or 1."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _asset(row: dict[str, Any]) -> Asset:
    return Asset(id=row["id"], team=row["team"], tag=row["tag"], kind=Kind(row["kind"]),
                 status=AssetStatus(row["status"]),
                 **{k: row[k] for k in ASSET_FIELDS if k not in ("kind", "status")})


def _loan(row: dict[str, Any]) -> Loan:
    return Loan(
        n=row["n"], team=row["team"], requester=row["requester"], requester_name=row["requester_name"],
        target=row["target"], purpose=row["purpose"], link=row["link"], weeks=row["weeks"],
        shipping=bool(row["shipping"]), state=State(row["state"]), submitted=datetime.fromisoformat(row["submitted"]),
        asset_id=row["asset_id"], due=_time(row["due"]), shipped_at=_time(row["shipped_at"]),
        checked_in_at=_time(row["checked_in_at"]), extension_asked=row["extension_asked"], note=row["note"],
    )
