"""How occurrences are said in chat: short lines that fit IRC, times in UTC and local zones."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.schedule.model import Occurrence


def at_zone(when: datetime, zone: str) -> str:
    local = when.astimezone(ZoneInfo(zone))
    return f"{local:%a %Y-%m-%d %H:%M} {zone}"


def when_line(occ: Occurrence, zones: list[str]) -> str:
    """`Thu 2025-10-16 13:00 UTC · Thu 2025-10-16 15:00 Europe/Berlin` with each zone said once."""
    shown = ["UTC"] + [z for i, z in enumerate(zones) if z and z != "UTC" and z not in zones[:i]]
    return " · ".join(at_zone(occ.start, z) for z in shown)


def how_far(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} day{'s' * (days != 1)}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def title_of(occ: Occurrence) -> str:
    return f"**{occ.title}** ({occ.series})"


def agenda_lines(items: list[dict[str, Any]]) -> list[str]:
    return [f"{i['n']}. {i['text']} ({i['owner']}{', carried over' if i.get('carried') else ''})" for i in items]
