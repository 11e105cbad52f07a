"""The schedule's published files: notes/<team>/calendar.ics, notes/calendar.ics, notes/<team>/schedule.json.

Written at start and after every change, each atomically (temporary file and
rename) and only when its content changed, so a static copy of notes/ always
carries a whole feed. The web server serves the same bytes.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import Config, Team
from bot.core.files import write_if_changed, write_json_if_changed
from bot.schedule.changes import settings, team_state
from bot.schedule.feed import TeamSchedule, build_calendar
from bot.schedule.store import ScheduleStore

log = logging.getLogger(__name__)
NEXT_COUNT = 10  # occurrences listed in schedule.json


def scheduled_teams(config: Config, store: ScheduleStore) -> list[Team]:
    """Teams that have a series (in the config or added at run time)."""
    return [t for t in config.teams if settings(t).series or store.series(t.name, ())]


def team_schedule(config: Config, store: ScheduleStore, team: Team) -> TeamSchedule:
    state = team_state(store, team)
    url = f"{config.web_public_url.rstrip('/')}/{team.name}/" if config.web_public_url else None
    return TeamSchedule(team.name, state.series, state.changes, url)


def feed(config: Config, store: ScheduleStore, team: Team | None, now: datetime) -> bytes:
    """The .ics of one team, or of every team with a schedule (team None)."""
    teams = [team] if team is not None else scheduled_teams(config, store)
    name = f"{team.name} meetings" if team is not None else "sigbot meetings"
    return build_calendar([team_schedule(config, store, t) for t in teams],
                          lambda t, hashes: store.feed_stamps(t, hashes, now), name)


def schedule_json(store: ScheduleStore, team: Team, now: datetime) -> dict[str, Any]:
    upcoming = team_state(store, team).upcoming(now, NEXT_COUNT)
    return {
        "team": team.name, "timezone": team.timezone, "updated": now.isoformat(),
        "next": [{"series": o.series, "title": o.title, "start": o.start_utc.isoformat(),
                  "end": o.end_utc.isoformat(), "location": o.location, "cancelled": o.cancelled,
                  "reason": o.reason} for o in upcoming],
    }


def publish(config: Config, store: ScheduleStore, now: datetime) -> list[Path]:
    """Write every feed and schedule.json that changed; returns the paths written."""
    written = []
    teams = scheduled_teams(config, store)
    for team in teams:
        if write_if_changed(team.notes_dir / "calendar.ics", feed(config, store, team, now)):
            written.append(team.notes_dir / "calendar.ics")
        data = schedule_json(store, team, now)
        path = team.notes_dir / "schedule.json"
        if write_json_if_changed(path, data):
            written.append(path)
    if teams and write_if_changed(config.notes_dir / "calendar.ics", feed(config, store, None, now)):
        written.append(config.notes_dir / "calendar.ics")
    return written
