"""Loan reminders: borrowers before and after the due date, admins at long overdue and weekly.

`due_notices()` is pure: given the loans, the settings, the time and the keys
already in the sent-log, it says what is to be sent now and which keys to
record. After a restart the same inputs give the same answer, so nothing is
sent twice and nothing due is skipped; when the bot was down through several
reminder times, only the latest is sent (the earlier ones are recorded as
passed). Notices for one person are joined into one direct message per run.

A new due date (an extension) starts a fresh set of reminders: the due date is
part of each key. The sent-log is committed before the messages are handed to
the adapters.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot import metrics
from bot.core.message import DirectMessage, Effect
from bot.core.record import record
from bot.loans.config import LoanSettings, settings_of
from bot.loans.desk import Desk
from bot.loans.model import OUT, Loan, State
from bot.loans.publish import publish
from bot.loans.store import LoanStore
from bot.runtime import Runtime, ticks

if TYPE_CHECKING:
    from bot.config import Config

log = logging.getLogger(__name__)
WAKE_SECONDS = 60.0  # how often the service looks; tests running in-process may lower it


@record
class Notice:
    user: str
    text: str


def _borrower_text(loan: Loan, due: datetime, now: datetime, tag: str) -> str:
    what = f"Loan #{loan.n} ({tag or loan.target})"
    days_before = (due.date() - now.date()).days
    if days_before > 0:
        return f"{what} is due back {due:%Y-%m-%d}, in {_days(days_before)}."
    if days_before == 0:
        return (
            f"{what} is due back today. Send it with !loan return {loan.n} TRACKING or ask !loan extend {loan.n} WEEKS."
        )
    return (f"{what} was due {due:%Y-%m-%d}: {_days(-days_before)} overdue. Please send it back "
            f"(!loan return {loan.n} TRACKING) or ask for more time (!loan extend {loan.n} WEEKS).")


def _days(k: int) -> str:
    return f"{k} day" + ("" if k == 1 else "s")


def due_notices(team: str, settings: LoanSettings, loans: list[Loan], tags: dict[int, str], now: datetime,
                sent: set[str], timezone: str = "UTC") -> tuple[list[Notice], set[str]]:
    """The notices due at `now` that `sent` does not hold yet, and the keys to record."""
    notices: list[Notice] = []
    record: set[str] = set()
    for loan in loans:
        if loan.state not in OUT or loan.due is None:
            continue
        tag = tags.get(loan.asset_id or -1, "")
        base = f"loan:{loan.n}:{loan.due.isoformat()}"
        passed = [d for d in settings.remind_days if loan.due - timedelta(days=d) <= now]
        if passed:
            latest = min(passed)
            if f"{base}:{latest}" not in sent:
                notices.append(Notice(loan.requester, _borrower_text(loan, loan.due, now, tag)))
            record |= {f"{base}:{d}" for d in passed}
        if now >= loan.due + timedelta(days=settings.admins_overdue_days) and f"{base}:admins" not in sent:
            text = (f"Loan #{loan.n} ({tag or loan.target}, {loan.requester_name}) is "
                    f"{loan.days_overdue(now)} days overdue (due {loan.due:%Y-%m-%d}).")
            notices += [Notice(admin, text) for admin in settings.admins]
            record.add(f"{base}:admins")
    slot = summary_slot(settings, now, timezone)
    key = f"summary:{team}:{slot.date().isoformat()}"
    if key not in sent:
        text = weekly_summary(team, settings, loans, now)
        notices += [Notice(admin, text) for admin in settings.admins if text]
        record.add(key)
    return notices, record - sent


def summary_slot(settings: LoanSettings, now: datetime, timezone: str) -> datetime:
    """The latest weekly summary time at or before `now`, in the team's zone."""
    local = now.astimezone(ZoneInfo(timezone))
    day = local.date() - timedelta(days=(local.weekday() - settings.summary_day) % 7)
    slot = datetime.combine(day, settings.summary_time, tzinfo=local.tzinfo)
    return slot if slot <= local else slot - timedelta(weeks=1)


def weekly_summary(team: str, settings: LoanSettings, loans: list[Loan], now: datetime) -> str:
    def ns(items: list[Loan]) -> str:
        return ", ".join(f"#{loan.n}" for loan in items) or "none"

    waiting = [loan for loan in loans if loan.state is State.SUBMITTED]
    soon = [loan for loan in loans if loan.state in OUT and loan.due and now <= loan.due <= now + timedelta(days=14)]
    overdue = [loan for loan in loans if loan.is_overdue(now)]
    unconfirmed = [loan for loan in loans if loan.state in (State.SHIPPED, State.ACCESS_GRANTED) and loan.shipped_at
                   and now - loan.shipped_at > timedelta(days=settings.unconfirmed_shipment_days)]
    if not (waiting or soon or overdue or unconfirmed):
        return ""  # a quiet week needs no message
    return (f"Weekly loans summary ({team}): waiting for a decision: {ns(waiting)}; due within 14 days: {ns(soon)}; "
            f"overdue: {ns(overdue)}; shipped but not confirmed after {settings.unconfirmed_shipment_days} days: "
            f"{ns(unconfirmed)}. Say !loan list for details.")


def digest(notices: list[Notice]) -> list[DirectMessage]:
    """One direct message per person, however many loans they are told about."""
    by_user: dict[str, list[str]] = defaultdict(list)
    for notice in notices:
        if notice.text not in by_user[notice.user]:
            by_user[notice.user].append(notice.text)
    return [DirectMessage(user, texts[0] if len(texts) == 1 else "\n".join(f"- {t}" for t in texts))
            for user, texts in by_user.items()]


def run_once(store: LoanStore, config: Config, now: datetime) -> list[Effect]:
    """One wake-up of the service: reminders, summary, closing finished loans, deleting expired details."""
    notices: list[Notice] = []
    with store.db.atomic():
        store.lock()
        for team in config.teams:
            settings = settings_of(team)
            _close_finished(store, team.name, settings, now)
            loans = store.loans(team.name)
            tags = {a.id: a.tag for a in store.assets(team.name)}
            due, record = due_notices(team.name, settings, loans, tags, now, store.sent_keys(), team.timezone)
            store.mark_sent(record, now)
            notices += due
        store.purge_private(now)
    for team in config.teams:
        publish(store, team.name, team.notes_dir, now)
    return list(digest(notices))


def _close_finished(store: LoanStore, team: str, settings: LoanSettings, now: datetime) -> None:
    desk = Desk(store, team, settings, now)
    for loan in store.loans(team, (State.RETURNED, State.DAMAGED)):
        if loan.checked_in_at and now >= loan.checked_in_at + timedelta(days=settings.address_retention_days):
            desk.close(loan.n)
            store.expire_private(loan.n, now)


async def loan_reminders(rt: Runtime, stop: asyncio.Event) -> None:
    store = LoanStore(rt.store.db)
    async for _ in ticks(stop, WAKE_SECONDS):
        try:
            effects = run_once(store, rt.config, rt.now())
            metrics.REMINDERS.labels("loan").inc(len(effects))
            rt.deliver(effects)
        except Exception:
            log.exception("the loan reminders failed")
