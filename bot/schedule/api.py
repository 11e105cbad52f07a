"""What the schedule offers other features (declared in feature.py as `provides`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.config import Team
from bot.schedule.changes import team_state
from bot.schedule.store import ScheduleStore

if TYPE_CHECKING:  # a type only: the library stays in the store (tests/test_layers.py)
    from sqlite_utils import Database


def next_meeting(db: Database, team: Team, now: datetime) -> datetime | None:
    """When the team's next meeting starts (UTC-aware), or None when none is scheduled."""
    upcoming = team_state(ScheduleStore(db), team).upcoming(now, 1, include_cancelled=False)
    return upcoming[0].start if upcoming else None
