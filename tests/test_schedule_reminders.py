"""Reminders: which are due is a pure function of (occurrences, sent, now); one service run with a fake clock."""

import asyncio
from datetime import datetime, timedelta, timezone

from schedule_helpers import cancel, make_config, move, weekly

from bot.core.message import Reply
from bot.dispatch import Dispatcher
from bot.registry import build_registry
from bot.runtime import Runtime
from bot.schedule.changes import team_state
from bot.schedule.expand import occurrences
from bot.schedule.model import Change, ChangeKind
from bot.schedule.reminders import CANCELLED, due_reminders, next_wake, reminder_service, sent_key
from bot.schedule.store import ScheduleStore
from bot.storage import open_store

UTC = timezone.utc
SERIES = [weekly("wg", "2025-10-16T15:00", every=2, location="https://meet.example/wg")]
START = datetime(2025, 10, 16, 13, 0, tzinfo=UTC)  # 15:00 Berlin
OFFSETS, GRACE = (timedelta(hours=24), timedelta(minutes=15)), timedelta(minutes=10)


def due_at(now, sent=frozenset(), changes=()):
    occ = occurrences(SERIES, changes, now - timedelta(days=1), now + timedelta(days=3))
    return [
        (f"{d.occurrence.start_utc:%m-%d %H:%M}", d.what) for d in due_reminders(occ, OFFSETS, GRACE, set(sent), now)
    ]


def test_a_reminder_is_due_from_its_time_until_its_grace_runs_out():
    assert due_at(START - timedelta(hours=24, minutes=1)) == []
    assert due_at(START - timedelta(hours=24)) == [("10-16 13:00", "24h")]
    assert due_at(START - timedelta(hours=23, minutes=51)) == [("10-16 13:00", "24h")]  # missed by 9 min: still sent
    assert due_at(START - timedelta(hours=23, minutes=50)) == []  # missed by 10 min: skipped
    assert due_at(START - timedelta(minutes=15)) == [("10-16 13:00", "15m")]
    assert due_at(START) == []  # the meeting has begun


def test_what_was_sent_is_not_due_again_after_a_restart():
    occ = occurrences(SERIES, [], START - timedelta(days=1), START + timedelta(days=1))[0]
    sent = {(sent_key(occ), "24h")}
    assert due_at(START - timedelta(hours=23, minutes=55), sent) == []
    assert next_wake([occ], OFFSETS, sent, START - timedelta(hours=23)) == START - timedelta(minutes=15)
    assert next_wake([occ], OFFSETS, sent | {(sent_key(occ), "15m")}, START - timedelta(hours=23)) is None


def test_a_cancelled_meeting_gets_one_notice_and_no_reminders():
    changes = [cancel(1, "wg", "2025-10-16", "holiday")]
    assert due_at(START - timedelta(hours=25), changes=changes) == []
    assert due_at(START - timedelta(hours=24), changes=changes) == [("10-16 13:00", CANCELLED)]
    # cancelled late (or the bot was down): the notice still goes out, until the meeting's time
    assert due_at(START - timedelta(minutes=14), changes=changes) == [("10-16 13:00", CANCELLED)]
    occ = occurrences(SERIES, changes, START - timedelta(days=1), START + timedelta(days=1))[0]
    assert due_at(START - timedelta(minutes=14), {(sent_key(occ), CANCELLED)}, changes) == []


def test_a_moved_meeting_is_reminded_of_again_at_its_new_time():
    occ = occurrences(SERIES, [], START - timedelta(days=1), START + timedelta(days=1))[0]
    sent = {(sent_key(occ), "24h")}
    changes = [move(1, "wg", "2025-10-16", "2025-10-17T15:00")]
    assert due_at(START, sent, changes) == [("10-17 13:00", "24h")]


def test_the_service_posts_due_reminders_with_the_fake_clock_and_never_twice_across_a_restart(tmp_path):
    config = make_config(tmp_path)
    team = config.team("wg")
    posted: list[Reply] = []

    async def serve(now: datetime) -> list[Reply]:
        """Run the service (a fresh start on the same database) until it posts once; return what it posted."""
        rt = Runtime(config, Dispatcher(config, open_store(config.database), build_registry()), now=lambda: now)
        got, stop = asyncio.Event(), asyncio.Event()
        before = len(posted)
        rt.deliver = lambda effects: (posted.extend(effects), got.set())
        task = asyncio.create_task(reminder_service(rt, stop))
        await asyncio.wait_for(got.wait(), 20)
        stop.set()
        await asyncio.wait_for(task, 20)
        return posted[before:]

    first = asyncio.run(serve(START - timedelta(hours=24, minutes=-1)))
    assert [r.room for r in first] == [team.home]
    assert first[0].text.startswith("Reminder: **Accelerator WG** (wg) starts in 23 h 59 min: "
                                    "Thu 2025-10-16 13:00 UTC · Thu 2025-10-16 15:00 Europe/Berlin")
    assert "Join: https://meet.example/wg" in first[0].text
    assert "agenda" in first[0].text.lower()
    store = ScheduleStore(open_store(config.database).db)
    store.add_change("wg", Change(0, "wg", ChangeKind.CANCEL, day=START.date(), reason="holiday"), "@chair:x", START)
    second = asyncio.run(serve(START - timedelta(hours=24, minutes=-2)))  # the 24h reminder is still within grace
    assert [r.text for r in second] == ["Cancelled: **Accelerator WG** (wg) of Thu 2025-10-16 13:00 UTC · "
                                        "Thu 2025-10-16 15:00 Europe/Berlin: holiday"]
    assert (config.notes_dir / "wg" / "calendar.ics").is_file()
    assert team_state(store, team).upcoming(START - timedelta(hours=1), 1)[0].cancelled


def test_a_reminder_carries_the_agenda_so_far(tmp_path):
    from bot.schedule.reminders import Due, reminder_text

    team = make_config(tmp_path).team("wg")
    occ = occurrences(SERIES, [], START - timedelta(days=1), START + timedelta(days=1))[0]
    agenda = [{"n": 1, "text": "OpenReg progress", "owner": "Jiahao", "carried": False},
              {"n": 2, "text": "Quality criteria", "owner": "Dmitry", "carried": True}]
    text = reminder_text(team, Due(occ, "15m"), START - timedelta(minutes=15), agenda)
    assert text.splitlines()[2:] == ["Agenda so far:", "1. OpenReg progress (Jiahao)",
                                     "2. Quality criteria (Dmitry, carried over)"]
