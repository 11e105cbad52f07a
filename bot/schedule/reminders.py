"""Reminders before each meeting, and a notice once for each cancelled one.

Which reminders are due is a pure function of (occurrences, what was sent,
now), so tests give it any time without sleeping. The service only wakes at
the right moments: it sleeps until the next due time (at most a minute, to
see changes made from the CLI or chat); every wake posts what is due, records
it as sent in the same step, and rewrites the published files. (One timer of
at most 60 s needs no scheduler library: asyncio's wait with a timeout is it.)

A reminder is sent once: what was said is stored per occurrence and its start
time, so a restart repeats nothing, while a reminder missed (the bot was down)
by less than the grace period is still sent; later than that it is skipped, as
a "24 hours before" reminder an hour before the meeting would mislead. A moved
meeting is reminded of anew, at its new time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from bot import metrics
from bot.config import Team
from bot.core.message import Effect, Reply
from bot.core.record import record
from bot.features import provided
from bot.runtime import Runtime, sleep_or_stop
from bot.schedule.changes import TeamState, settings, team_state
from bot.schedule.model import Occurrence, format_offset
from bot.schedule.publish import feeds_apart, publish, scheduled_teams
from bot.schedule.store import ScheduleStore
from bot.schedule.text import agenda_lines, how_far, title_of, when_line

log = logging.getLogger(__name__)
CANCELLED = "cancelled"  # the `what` of a cancellation notice
POLL = timedelta(seconds=60)  # the longest sleep: changes made elsewhere are seen within it
_NOTICE_WINDOW = timedelta(hours=24)  # with no reminders configured, cancellations are announced this early


@record
class Due:
    occurrence: Occurrence
    what: str  # an offset such as "24h", or CANCELLED

    @property
    def key(self) -> tuple[str, str]:
        return sent_key(self.occurrence), self.what


def sent_key(occ: Occurrence) -> str:
    """The occurrence and its start: a moved meeting gets its reminders again."""
    return f"{occ.key}@{occ.start_utc:%Y-%m-%dT%H:%MZ}"


def _planned(occ: Occurrence, offsets: tuple[timedelta, ...]) -> list[tuple[datetime, str]]:
    """(when, what) of every notice planned for one occurrence."""
    if occ.cancelled:
        return [(occ.start - max(offsets, default=_NOTICE_WINDOW), CANCELLED)]
    return [(occ.start - off, format_offset(off)) for off in offsets]


def due_reminders(occurrences: Iterable[Occurrence], offsets: tuple[timedelta, ...], grace: timedelta,
                  sent: set[tuple[str, str]], now: datetime) -> list[Due]:
    """What is to be posted at `now`: planned at or before now, not sent, not late past grace, meeting ahead.

    A cancellation notice has no grace: it is posted whenever the bot learns of
    it, until the meeting's start, since a late notice still saves a wasted trip.
    """
    due = []
    for occ in occurrences:
        if occ.start <= now:
            continue
        for at, what in _planned(occ, offsets):
            late = now - at
            if late >= timedelta(0) and (what == CANCELLED or late < grace) and (sent_key(occ), what) not in sent:
                due.append(Due(occ, what))
    return due


def next_wake(occurrences: Iterable[Occurrence], offsets: tuple[timedelta, ...], sent: set[tuple[str, str]],
              now: datetime) -> datetime | None:
    """The earliest planned notice after `now` that is not sent yet, or None."""
    times = [at for occ in occurrences for at, what in _planned(occ, offsets)
             if at > now and (sent_key(occ), what) not in sent]
    return min(times, default=None)


def window(team: Team, now: datetime) -> tuple[datetime, datetime]:
    """The occurrences whose notices can be due at `now` or planned soon after."""
    s = settings(team)
    lead = max(s.reminders, default=_NOTICE_WINDOW)
    return now - timedelta(minutes=1), now + lead + timedelta(days=2)


def reminder_text(team: Team, due: Due, now: datetime, agenda: list[dict[str, Any]] | None) -> str:
    occ = due.occurrence
    if due.what == CANCELLED:
        reason = f": {occ.reason}" if occ.reason else "."
        return f"Cancelled: {title_of(occ)} of {when_line(occ, [team.timezone])}{reason}"
    lines = [f"Reminder: {title_of(occ)} starts in {how_far(occ.start - now)}: {when_line(occ, [team.timezone])}"]
    if occ.location:
        lines.append(f"Join: {occ.location}")
    if agenda:
        lines.append("Agenda so far:")
        lines += agenda_lines(agenda)
    elif agenda is not None:
        lines.append("The agenda is empty so far: add items with !agenda add TEXT")
    return "\n".join(lines)


def remind(rt: Runtime, now: datetime) -> datetime | None:
    """Post and record every due notice of every team; returns the next planned time."""
    store = ScheduleStore(rt.store.db)
    agenda_items = provided("agenda_items")  # the agenda feature's, when it is there
    wakes = []
    for team in scheduled_teams(rt.config, store):
        state: TeamState = team_state(store, team)
        occ = state.occurrences(*window(team, now))
        s = settings(team)
        sent = store.sent(team.name)
        effects: list[Effect] = []
        agenda = None
        for item in due_reminders(occ, s.reminders, s.grace, sent, now):
            if item.what != CANCELLED and agenda is None and agenda_items is not None:
                agenda = agenda_items(store.db, team.name)
            effects.append(Reply(team.home, reminder_text(team, item, now, agenda)))
            store.mark_sent(team.name, *item.key, now)
            sent.add(item.key)
            metrics.REMINDERS.labels("cancellation" if item.what == CANCELLED else "meeting").inc()
        if effects:
            rt.deliver(effects)
        wakes.append(next_wake(occ, s.reminders, sent, now))
    return min((w for w in wakes if w is not None), default=None)


async def reminder_service(rt: Runtime, stop: asyncio.Event) -> None:
    """Wake at each planned notice and at least once a minute; post what is due. Meanwhile the
    feeds are written by a child process (bot/schedule/publish.py), after commands too."""
    with feeds_apart():
        while not stop.is_set():
            now = rt.now()
            try:
                planned = remind(rt, now)
                publish(rt.config, ScheduleStore(rt.store.db), now)
            except Exception:
                log.exception("schedule reminders failed; trying again in a minute")
                planned = None
            # rt.now() may be an injected clock: wake after the same span of real time.
            delay = min(planned - now, POLL) if planned is not None else POLL
            await sleep_or_stop(stop, max(delay.total_seconds(), 0.05))
