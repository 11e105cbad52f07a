"""`occurrences()`: the single source of truth for when meetings take place.

`!next`, `!schedule`, the reminders, schedule.json and the .ics feed all
derive from it (the feed is tested against it with an independent RFC 5545
expander). The rule runs on local dates and wall-clock times in the series'
zone, so daylight-saving changes move the UTC time, never the local one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta

from bot.schedule.model import Change, ChangeKind, Occurrence, Series

_FAR = timedelta(days=2)  # local dates around the UTC window: zones are at most 14 h off UTC


def rule_starts(series: Series, lo: date, hi: date) -> Iterator[datetime]:
    """The naive local starts the series' rule gives on dates lo..hi (inclusive), before exceptions."""
    first = series.first
    last = min(hi, series.until) if series.until else hi
    if series.every_weeks:
        step = 7 * series.every_weeks
        skip = max(0, (lo - first.date()).days // step)
        day = first.date() + timedelta(days=skip * step)
        while day <= last:
            if day >= lo:
                yield datetime.combine(day, first.time())
            day += timedelta(days=step)
    elif series.monthly:
        year, month = max(first.date(), lo).year, max(first.date(), lo).month
        while date(year, month, 1) <= last:
            day = series.monthly.day_in(year, month)
            if lo <= day <= last and day >= first.date():
                yield datetime.combine(day, first.time())
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def rule_start_on(series: Series, day: date) -> datetime | None:
    """The series' regular local start on `day`, or None when the rule has no meeting that day."""
    return next(rule_starts(series, day, day), None)


def latest_changes(changes: Iterable[Change]) -> tuple[dict[tuple[str, date], Change], dict[int, Change], list[Change]]:
    """(cancel/move by series and day, cancel/move of extras by extra id, extras); the latest change wins."""
    regular: dict[tuple[str, date], Change] = {}
    of_extra: dict[int, Change] = {}
    extras: list[Change] = []
    for change in sorted(changes, key=lambda c: c.id):
        if change.kind is ChangeKind.EXTRA:
            extras.append(change)
        elif change.target is not None:
            of_extra[change.target] = change
        elif change.day is not None:
            regular[(change.series, change.day)] = change
    return regular, of_extra, extras


def occurrences(series: Iterable[Series], changes: Iterable[Change], start: datetime,
                end: datetime) -> list[Occurrence]:
    """Every occurrence starting in [start, end) (aware datetimes), cancelled ones included, by start."""
    by_id = {s.id: s for s in series}
    regular, of_extra, extras = latest_changes(changes)
    found: list[Occurrence] = []
    for s in by_id.values():
        lo = start.astimezone(s.zone).date() - _FAR
        hi = end.astimezone(s.zone).date() + _FAR
        for local in rule_starts(s, lo, hi):
            change = regular.get((s.id, local.date()))
            if change is not None and change.kind is ChangeKind.MOVE:
                continue  # placed at its new time below, wherever its original date lies
            found.append(_occurrence(s, local, f"{s.id}/{local:%Y-%m-%dT%H:%M}", local, change))
    for (series_id, day), change in regular.items():
        of_move = by_id.get(series_id)
        original = rule_start_on(of_move, day) if of_move else None
        if change.kind is ChangeKind.MOVE and of_move and original is not None and change.start is not None:
            found.append(_occurrence(of_move, change.start, f"{of_move.id}/{original:%Y-%m-%dT%H:%M}", original, None,
                                     moved=True))
    for extra in extras:
        of_extra_series = by_id.get(extra.series)
        if of_extra_series is None or extra.start is None:
            continue
        change = of_extra.get(extra.id)
        moved_to = change.start if change is not None and change.kind is ChangeKind.MOVE else None
        moved = moved_to is not None
        local = moved_to if moved_to is not None else extra.start
        found.append(_occurrence(of_extra_series, local, f"{of_extra_series.id}/extra-{extra.id}", None,
                                 change if not moved else None, moved=moved,
                                 title=extra.title or of_extra_series.title, extra_id=extra.id))
    return sorted((o for o in found if start <= o.start < end), key=lambda o: (o.start_utc, o.series, o.key))


def _occurrence(s: Series, local: datetime, key: str, original: datetime | None, change: Change | None,
                moved: bool = False, title: str | None = None, extra_id: int | None = None) -> Occurrence:
    begin = local.replace(tzinfo=s.zone)
    cancelled = change is not None and change.kind is ChangeKind.CANCEL
    return Occurrence(
        series=s.id, title=title or s.title, start=begin, end=(begin + s.duration).astimezone(s.zone),
        location=s.location, key=key, original=original, cancelled=cancelled,
        reason=change.reason if cancelled and change else "", moved=moved, extra_id=extra_id,
    )

