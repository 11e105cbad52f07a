"""A real group's year of meetings (PyTorch Accelerator Integration WG, seed 003) as series and exceptions.

The group met on the first Thursday of each month at 10:00 UTC+8, switched to
every two weeks from 21 August ("Change to Bi-week meeting, next on 21st,
Aug."), cancelled 4 September and 2 October ("cancelled due to the holiday"),
held a "Temporary Meeting" on 25 September, and after 16 October met on
6 November, 20 November and 4 December: a bi-weekly series anchored anew.
"""

from datetime import datetime, timezone

from schedule_helpers import announced, cancel, expanded_by_ical, extra, feed_of, monthly, weekly

from bot.schedule.expand import occurrences

ZONE = "Asia/Shanghai"  # the notes say "10:00 AM (UTC+8)"
SERIES = [
    monthly("monthly", "2025-07-03T10:00", "first thursday", zone=ZONE, until="2025-08-07"),
    weekly("biweekly", "2025-08-21T10:00", every=2, zone=ZONE, until="2025-10-29"),
    weekly("biweekly-nov", "2025-11-06T10:00", every=2, zone=ZONE),
]
CHANGES = [
    cancel(1, "biweekly", "2025-09-04"),
    extra(2, "biweekly", "2025-09-25T10:00", "Temporary Meeting"),
    cancel(3, "biweekly", "2025-10-02", "holiday"),
]
# The headings of the seed's notes, newest first, as the group wrote them.
HEADINGS = """
2025-12-04 Next Meeting
2025-11-20 Meeting
2025-11-06 Meeting
2025-10-16 Meeting
2025-10-02 Meeting is cancelled due to the holiday
2025-09-25 Temporary Meeting
2025-09-18 Meeting
2025-09-04 Meeting is cancelled
2025-08-21 Meeting
2025-08-07 Meeting
2025-07-03 Meeting
"""
START, END = datetime(2025, 6, 1, tzinfo=timezone.utc), datetime(2025, 12, 5, tzinfo=timezone.utc)


def history() -> tuple[list[str], list[str]]:
    held, cancelled = [], []
    for line in HEADINGS.strip().splitlines():
        day, _, what = line.partition(" ")
        (cancelled if "cancelled" in what else held).append(day)
    return sorted(held), sorted(cancelled)


def test_the_expansion_gives_the_meetings_the_group_held_and_cancelled():
    found = occurrences(SERIES, CHANGES, START, END)
    held, cancelled = history()
    assert [f"{o.start:%Y-%m-%d}" for o in found if not o.cancelled] == held
    assert [f"{o.start:%Y-%m-%d}" for o in found if o.cancelled] == cancelled
    assert {f"{o.start_utc:%H:%M}" for o in found} == {"02:00"}  # 10:00 UTC+8
    assert [o.title for o in found if o.start.day == 25] == ["Temporary Meeting"]
    assert [o.reason for o in found if o.cancelled] == ["", "holiday"]


def test_the_feed_of_that_history_expands_to_the_same_meetings():
    assert expanded_by_ical(feed_of(SERIES, CHANGES), START, END) == announced(occurrences(SERIES, CHANGES, START, END))
