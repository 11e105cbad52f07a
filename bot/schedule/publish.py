"""The schedule's published files: notes/<team>/calendar.ics, notes/calendar.ics, notes/<team>/schedule.json.

Written at start and after every change, each atomically (temporary file and
rename) and only when its content changed, so a static copy of notes/ always
carries a whole feed. The web server serves the same bytes.

A feed is built only when what it is made from changed: the digest of its
inputs (series, changes, its URL and name) is kept per file in
`<data_dir>/feeds.json`, so the minute's check, and a restart, cost a digest.
A feed file that is missing is written again. While the schedule's service
runs (`sigbot run`), the file is written by a child process (bot/schedule/feed.py),
so the bot never holds icalendar (memory, issue 14).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import Config, Team
from bot.core.files import write_if_changed, write_json_if_changed
from bot.schedule.changes import TeamState, settings, team_state
from bot.schedule.feed import feed_job, write_feeds
from bot.schedule.model import FeedStamp, TeamSchedule
from bot.schedule.store import ScheduleStore

log = logging.getLogger(__name__)
NEXT_COUNT = 10  # occurrences listed in schedule.json


def scheduled_teams(config: Config, store: ScheduleStore) -> list[Team]:
    """Teams that have a series (in the config or added at run time)."""
    return [t for t in config.teams if settings(t).series or store.series(t.name, ())]


def team_schedule(config: Config, team: Team, state: TeamState) -> TeamSchedule:
    url = f"{config.web_public_url.rstrip('/')}/{team.name}/" if config.web_public_url else None
    return TeamSchedule(team.name, state.series, state.changes, url)


def _feed_name(team: Team | None) -> str:
    return f"{team.name} meetings" if team is not None else "sigbot meetings"


_apart = False  # feeds are written in this process (the command line, tests) unless the service runs


@contextmanager
def feeds_apart() -> Iterator[None]:
    """While the schedule's service runs (`sigbot run`), every feed is written by a child process."""
    global _apart
    before, _apart = _apart, True
    try:
        yield
    finally:
        _apart = before


def _build(store: ScheduleStore, feeds: list[tuple[str, list[TeamSchedule]]], now: datetime) -> list[bytes]:
    """The bytes of each (name, schedules) feed: all of them by one child process while the service runs."""
    def stamps(team: str, hashes: dict[str, str]) -> dict[str, FeedStamp]:
        return store.feed_stamps(team, hashes, now)

    return write_feeds([feed_job(schedules, stamps, name) for name, schedules in feeds], apart=_apart)


def feed(config: Config, store: ScheduleStore, team: Team | None, now: datetime) -> bytes:
    """The .ics of one team, or of every team with a schedule (team None)."""
    teams = [team] if team is not None else scheduled_teams(config, store)
    schedules = [team_schedule(config, t, team_state(store, t)) for t in teams]
    return _build(store, [(_feed_name(team), schedules)], now)[0]


def schedule_json(team: Team, state: TeamState, now: datetime) -> dict[str, Any]:
    upcoming = state.upcoming(now, NEXT_COUNT)
    return {
        "team": team.name, "timezone": team.timezone, "updated": now.isoformat(),
        "next": [{"series": o.series, "title": o.title, "start": o.start_utc.isoformat(),
                  "end": o.end_utc.isoformat(), "location": o.location, "cancelled": o.cancelled,
                  "reason": o.reason} for o in upcoming],
    }


def publish(config: Config, store: ScheduleStore, now: datetime) -> list[Path]:
    """Write every feed and schedule.json that changed; returns the paths written."""
    built_from = _read_digests(config)
    digests = dict(built_from)

    stale: list[tuple[Path, str, list[TeamSchedule]]] = []

    def check_feed(path: Path, name: str, schedules: list[TeamSchedule]) -> None:
        digest = hashlib.sha256(repr((name, schedules)).encode()).hexdigest()
        if built_from.get(str(path)) == digest and path.is_file():
            return  # made from the same inputs: the same bytes
        digests[str(path)] = digest
        stale.append((path, name, schedules))

    written = []
    teams = scheduled_teams(config, store)
    schedules = []
    for team in teams:  # each team's state read once, for its feed, its schedule.json and the all-teams feed
        state = team_state(store, team)
        schedules.append(team_schedule(config, team, state))
        check_feed(team.notes_dir / "calendar.ics", _feed_name(team), schedules[-1:])
        path = team.notes_dir / "schedule.json"
        if write_json_if_changed(path, schedule_json(team, state, now)):
            written.append(path)
    if teams:
        check_feed(config.notes_dir / "calendar.ics", _feed_name(None), schedules)
    if stale:  # built together: one child process for all of them
        built = _build(store, [(name, feed_schedules) for _, name, feed_schedules in stale], now)
        written += [path for (path, _, _), data in zip(stale, built, strict=True) if write_if_changed(path, data)]
    if digests != built_from:
        write_json_if_changed(config.data_dir / "feeds.json", {"built_from": digests}, volatile=())
    return written


def _read_digests(config: Config) -> dict[str, str]:
    """{feed path: digest of the inputs it was last written from}; empty when unknown or unreadable."""
    try:
        data = json.loads((config.data_dir / "feeds.json").read_text(encoding="utf-8"))
        digests = data["built_from"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # a missing or damaged record only means building the feeds once more
    if not isinstance(digests, dict):
        return {}
    return {k: v for k, v in digests.items() if isinstance(k, str) and isinstance(v, str)}
