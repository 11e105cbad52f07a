"""`[teams.schedule]`: a team's meeting series, reminder offsets and grace.

    [teams.schedule]
    reminders = ["24h", "15m"]     # before each occurrence (default)
    grace = "10m"                  # a reminder missed by less is still sent after a restart

    [[teams.schedule.series]]
    id = "wg"
    title = "Accelerator Integration WG"
    timezone = "Asia/Shanghai"     # default: the team's
    first = "2025-08-21T10:00"     # local date-time of the first occurrence
    every_weeks = 2                # or: monthly = "first thursday"
    until = "2025-12-31"           # optional, last date (inclusive)
    duration_minutes = 60
    location = "https://zoom.us/j/82730425910"
    chairs = ["@zesheng:matrix.org"]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.schedule.expand import rule_start_on
from bot.schedule.model import (
    SERIES_ID,
    Monthly,
    ScheduleError,
    ScheduleSettings,
    Series,
    check_zone,
    parse_day,
    parse_local,
    parse_offset,
)

if TYPE_CHECKING:
    from bot.config.load import Checker
    from bot.config.sections import SectionContext

SERIES_KEYS = {"id", "title", "timezone", "first", "every_weeks", "monthly", "until", "duration_minutes",
               "location", "chairs"}


def parse_team(c: Checker, data: dict[str, Any], path: str, ctx: SectionContext) -> ScheduleSettings:
    c.table(data, path, {"reminders", "grace", "series"})
    offsets = []
    for i, text in enumerate(c.get(data, "reminders", path, list, ["24h", "15m"])):
        try:
            offsets.append(parse_offset(str(text)))
        except ScheduleError as exc:
            c.error(f"{path}.reminders[{i}]", str(exc))
    try:
        grace = parse_offset(c.get(data, "grace", path, str, "10m"))
    except ScheduleError as exc:
        c.error(f"{path}.grace", str(exc))
        grace = parse_offset("10m")
    series = []
    for i, entry in enumerate(c.get(data, "series", path, list, [])):
        where = f"{path}.series[{i}]"
        if not isinstance(entry, dict):
            c.error(where, "must be a table ([[teams.schedule.series]])")
            continue
        c.table(entry, where, SERIES_KEYS)
        try:
            series.append(series_from_dict(entry, ctx.timezone))
        except ScheduleError as exc:
            c.error(where, str(exc))
    ids = [s.id for s in series]
    for twice in sorted({i for i in ids if ids.count(i) > 1}):
        c.error(f"{path}.series", f"series id {twice!r} is used twice")
    return ScheduleSettings(tuple(series), tuple(sorted(set(offsets), reverse=True)), grace)


def series_from_dict(data: dict[str, Any], default_zone: str) -> Series:
    """A checked Series from its user-facing keys (config entries and `schedule add` alike)."""
    def typed(key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = data.get(key, default)
        if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            raise ScheduleError(f"{key} has the wrong type ({type(value).__name__})")
        return value

    sid = typed("id", str)
    if not sid or not SERIES_ID.fullmatch(sid):
        raise ScheduleError(f"id {sid!r} must be lower-case letters, digits and dashes (at most 40)")
    if not typed("first", str):
        raise ScheduleError("first is required (the local date-time of the first meeting, 2025-08-21T10:00)")
    every, monthly = typed("every_weeks", int), typed("monthly", str)
    if (every is None) == (monthly is None):
        raise ScheduleError("give either every_weeks (1, 2, ...) or monthly (\"first thursday\")")
    if every is not None and not 1 <= every <= 52:
        raise ScheduleError(f"every_weeks must be 1 to 52, not {every}")
    duration = typed("duration_minutes", int, 60)
    if not 1 <= duration <= 24 * 60:
        raise ScheduleError(f"duration_minutes must be 1 to 1440, not {duration}")
    chairs = typed("chairs", list, [])
    if not all(isinstance(ch, str) and ch.strip() for ch in chairs):
        raise ScheduleError("chairs must be Matrix ids (@user:server) or irc:ACCOUNT")
    until = typed("until", (str,))
    series = Series(
        id=sid, title=typed("title", str) or sid, timezone=check_zone(typed("timezone", str) or default_zone),
        first=parse_local(data["first"]), every_weeks=every, monthly=Monthly.parse(monthly) if monthly else None,
        until=parse_day(until) if until else None, duration_minutes=duration,
        location=typed("location", str, ""), chairs=tuple(chairs),
    )
    if series.monthly and rule_start_on(series, series.first.date()) is None:
        raise ScheduleError(f"first {series.first:%Y-%m-%d} is not the {series.monthly} of its month")
    if series.until and series.until < series.first.date():
        raise ScheduleError(f"until {series.until} is before first {series.first:%Y-%m-%d}")
    return series


def series_to_dict(series: Series) -> dict[str, Any]:
    """The user-facing keys of a series (stored for run-time series; the inverse of series_from_dict)."""
    out: dict[str, Any] = {"id": series.id, "title": series.title, "timezone": series.timezone,
                           "first": f"{series.first:%Y-%m-%dT%H:%M}", "duration_minutes": series.duration_minutes,
                           "location": series.location, "chairs": list(series.chairs)}
    if series.every_weeks:
        out["every_weeks"] = series.every_weeks
    else:
        out["monthly"] = str(series.monthly)
    if series.until:
        out["until"] = series.until.isoformat()
    return out
