"""The schedule's SQL: run-time changes, run-time series, people's zones, sent reminders, feed sequences.

Config series are never copied here: a run-time series (or a change to a
config series, such as ending it) is stored as the keys it sets, laid over
the config's on reading. Every query is parameterised.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from bot.schedule.config import series_from_dict, series_to_dict
from bot.schedule.model import Change, ChangeKind, FeedStamp, ScheduleError, Series
from bot.storage.db import inserted_id

MIGRATIONS = Migrations("sigbot-schedule")


@MIGRATIONS()
def m001_schedule(db: Database) -> None:
    db.table("schedule_changes").create(
        {"id": int, "team": str, "series": str, "kind": str, "day": str, "start": str, "title": str,
         "reason": str, "target": int, "by": str, "at": str},
        pk="id", not_null={"team", "series", "kind", "at"})
    db.table("schedule_changes").create_index(["team"])
    db.table("schedule_series").create({"team": str, "id": str, "data": str, "at": str}, pk=("team", "id"))
    db.table("schedule_people").create({"sender": str, "timezone": str}, pk="sender")
    # One row per reminder or cancellation notice said: never twice, even after a restart.
    db.table("schedule_sent").create({"team": str, "occurrence": str, "what": str, "at": str},
                               pk=("team", "occurrence", "what"))
    # The feed's SEQUENCE per UID, raised whenever that event's content changes.
    db.table("schedule_feed").create({"team": str, "uid": str, "hash": str, "sequence": int, "stamp": str},
                               pk=("team", "uid"))


class ScheduleStore:
    def __init__(self, db: Database):
        self.db = db

    # --- series and changes ------------------------------------------------

    def series(self, team: str, configured: tuple[Series, ...]) -> list[Series]:
        """The team's series: the config's, with run-time keys laid over them, then run-time ones."""
        stored = {r["id"]: json.loads(r["data"]) for r in self.db.query(
            "SELECT id, data FROM schedule_series WHERE team = ? ORDER BY at, id", [team])}
        out = []
        for s in configured:
            out.append(series_from_dict({**series_to_dict(s), **stored.pop(s.id, {})}, s.timezone))
        for data in stored.values():
            try:
                out.append(series_from_dict(data, data.get("timezone", "UTC")))
            except ScheduleError:
                continue  # stored by an older version with other rules; keep serving the rest
        return out

    def set_series_keys(self, team: str, sid: str, keys: dict[str, Any], at: datetime) -> None:
        rows = list(self.db.query("SELECT data FROM schedule_series WHERE team = ? AND id = ?", [team, sid]))
        data = {**(json.loads(rows[0]["data"]) if rows else {}), **keys}
        self.db.execute("INSERT INTO schedule_series (team, id, data, at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT(team, id) DO UPDATE SET data = excluded.data",
                        [team, sid, json.dumps(data, sort_keys=True), at.isoformat()])

    def changes(self, team: str) -> list[Change]:
        return [_change(r) for r in self.db.query("SELECT * FROM schedule_changes WHERE team = ? ORDER BY id", [team])]

    def add_change(self, team: str, change: Change, by: str, at: datetime) -> Change:
        cursor = self.db.execute(
            "INSERT INTO schedule_changes (team, series, kind, day, start, title, reason, target, by, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [team, change.series, change.kind.value, change.day.isoformat() if change.day else None,
             change.start.isoformat() if change.start else None, change.title, change.reason, change.target,
             by, at.isoformat()])
        return _change(self.db.table("schedule_changes").get(inserted_id(cursor)))

    # --- people ------------------------------------------------------------

    def person_zone(self, sender: str) -> str | None:
        rows = list(self.db.query("SELECT timezone FROM schedule_people WHERE sender = ?", [sender]))
        return rows[0]["timezone"] if rows else None

    def set_person_zone(self, sender: str, zone: str | None) -> None:
        if zone is None:
            self.db.execute("DELETE FROM schedule_people WHERE sender = ?", [sender])
        else:
            self.db.execute("INSERT INTO schedule_people (sender, timezone) VALUES (?, ?) "
                            "ON CONFLICT(sender) DO UPDATE SET timezone = excluded.timezone", [sender, zone])

    # --- reminders ---------------------------------------------------------

    def sent(self, team: str) -> set[tuple[str, str]]:
        return {(r["occurrence"], r["what"]) for r in self.db.query(
            "SELECT occurrence, what FROM schedule_sent WHERE team = ?", [team])}

    def mark_sent(self, team: str, occurrence: str, what: str, at: datetime) -> None:
        self.db.execute("INSERT OR IGNORE INTO schedule_sent (team, occurrence, what, at) VALUES (?, ?, ?, ?)",
                        [team, occurrence, what, at.isoformat()])

    # --- feed --------------------------------------------------------------

    def feed_stamps(self, team: str, hashes: dict[str, str], now: datetime) -> dict[str, FeedStamp]:
        """Each UID's SEQUENCE and DTSTAMP, raising the sequence of every UID whose content hash changed."""
        known = {r["uid"]: r for r in self.db.query("SELECT * FROM schedule_feed WHERE team = ?", [team])}
        out = {}
        for uid, digest in hashes.items():
            row = known.get(uid)
            if row is None or row["hash"] != digest:
                sequence = 0 if row is None else row["sequence"] + 1
                self.db.execute("INSERT INTO schedule_feed (team, uid, hash, sequence, stamp) VALUES (?, ?, ?, ?, ?) "
                                "ON CONFLICT(team, uid) DO UPDATE SET hash = excluded.hash, "
                                "sequence = excluded.sequence, stamp = excluded.stamp",
                                [team, uid, digest, sequence, now.isoformat()])
                out[uid] = FeedStamp(sequence, now)
            else:
                out[uid] = FeedStamp(row["sequence"], datetime.fromisoformat(row["stamp"]))
        return out


def _change(row: dict[str, Any]) -> Change:
    return Change(
        id=row["id"], series=row["series"], kind=ChangeKind(row["kind"]),
        day=date.fromisoformat(row["day"]) if row["day"] else None,
        start=datetime.fromisoformat(row["start"]) if row["start"] else None,
        title=row["title"] or "", reason=row["reason"] or "", target=row["target"],
    )
