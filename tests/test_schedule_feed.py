"""The .ics feed, read back by an independent expander (recurring-ical-events), equals occurrences()."""

import hashlib
import re
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import icalendar
from hypothesis import given, settings
from hypothesis import strategies as st
from schedule_helpers import STAMP, announced, cancel, expanded_by_ical, extra, feed_of, monthly, move, weekly

from bot.schedule.expand import occurrences
from bot.schedule.feed import build_calendar
from bot.schedule.model import Change, ChangeKind, FeedStamp, Monthly, TeamSchedule
from bot.schedule.store import ScheduleStore
from bot.storage import open_store

UTC = timezone.utc
AUTUMN = (datetime(2025, 9, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC))  # Europe's DST ends 26 October


def same_meetings(series, changes, start, end) -> None:
    """The feed expands to what sigbot announces, read with the zone names known to the expander
    and again with them renamed, so that only the feed's own VTIMEZONEs give the offsets."""
    ics = feed_of(series, changes)
    expected = announced(occurrences(series, changes, start, end))
    assert expanded_by_ical(ics, start, end) == expected
    assert expanded_by_ical(unknown_zones(ics), start, end) == expected


def unknown_zones(ics: bytes) -> bytes:
    """The feed with every TZID renamed to one no tz database has (lines unfolded first, RFC 5545 §3.1).
    The name is new for each feed: icalendar keeps the zone it built for a TZID for the process."""
    unique = hashlib.sha256(ics).hexdigest()[:16].encode()
    return re.sub(rb"TZID([:=])", rb"TZID\1X-Unknown-" + unique + b"/", ics.replace(b"\r\n ", b""))


def test_a_berlin_meeting_stays_at_15_local_across_the_dst_change_and_the_feed_agrees():
    series = [weekly("wg", "2025-10-16T15:00")]
    found = occurrences(series, [], *AUTUMN)
    assert {o.start.strftime("%H:%M") for o in found} == {"15:00"}
    assert {o.start_utc.strftime("%H:%M") for o in found} == {"13:00", "14:00"}
    same_meetings(series, [], *AUTUMN)


def test_cancellations_moves_extras_and_a_cadence_change_agree_with_the_feed():
    series = [weekly("wg", "2025-09-04T15:00", every=2, until="2025-10-30"),
              weekly("wg2", "2025-11-06T09:30", every=1, title="Weekly WG"),
              monthly("mo", "2025-09-26T17:00", "last friday", zone="America/New_York")]
    changes = [
        cancel(1, "wg", "2025-09-18", "holiday"),
        move(2, "wg", "2025-10-02", "2025-10-03T11:00"),
        extra(3, "wg", "2025-10-22T08:00", "Temporary meeting"),
        move(4, "wg2", "2025-11-13", "2025-11-12T09:30"),
        cancel(5, "mo", "2025-10-31"),
        extra(6, "mo", "2025-11-05T12:00"),
        cancel(7, "mo", "2025-11-05", target=6),
        move(8, "wg", "2025-10-30", "2025-10-30T16:00"),
        cancel(9, "wg", "2025-10-30"),  # moved, then cancelled
    ]
    found = occurrences(series, changes, *AUTUMN)
    assert [o.start.strftime("%m-%d %H:%M") for o in found if o.series == "wg" and not o.cancelled] == [
        "09-04 15:00", "10-03 11:00", "10-16 15:00", "10-22 08:00"]
    assert [o.key for o in found if o.cancelled] == ["wg/2025-09-18T15:00", "wg/2025-10-30T15:00",
                                                     "mo/2025-10-31T17:00", "mo/extra-6"]
    same_meetings(series, changes, *AUTUMN)


def test_the_feed_carries_tzid_vtimezone_rrule_until_exdate_and_overrides():
    series = [weekly("wg", "2025-09-04T15:00", every=2, until="2025-10-30", location="https://meet.example/wg"),
              monthly("mo", "2025-09-05T17:00", "first friday", zone="America/New_York")]
    ics = feed_of(series, [cancel(1, "wg", "2025-09-18"), move(2, "wg", "2025-10-02", "2025-10-03T11:00"),
                           extra(3, "wg", "2025-10-22T08:00", "Temporary")]).decode()
    unfolded = ics.replace("\r\n ", "")
    assert "DTSTART;TZID=Europe/Berlin:20250904T150000" in unfolded
    assert "RRULE:FREQ=WEEKLY;UNTIL=20251030T225959Z;INTERVAL=2" in unfolded
    assert "RRULE:FREQ=MONTHLY;BYDAY=1FR" in unfolded
    assert "EXDATE;TZID=Europe/Berlin:20250918T150000" in unfolded
    assert "RECURRENCE-ID;TZID=Europe/Berlin:20251002T150000" in unfolded
    assert "TZID:Europe/Berlin" in unfolded and "TZID:America/New_York" in unfolded
    assert "LOCATION:https://meet.example/wg" in unfolded
    cal = icalendar.Calendar.from_ical(ics)
    uids = [str(e["UID"]) for e in cal.walk("VEVENT")]
    assert uids == ["wg.wg@sigbot", "wg.wg@sigbot", "wg.mo@sigbot", "wg.wg.extra-3@sigbot"]
    assert all("DTSTAMP" in e and "SEQUENCE" in e for e in cal.walk("VEVENT"))
    assert monthly("last", "2025-10-31T10:00", "last friday").monthly == Monthly(-1, 4)
    assert "BYDAY=-1FR" in feed_of([monthly("last", "2025-10-31T10:00", "last friday")], []).decode()


def test_uids_are_stable_and_sequence_rises_with_each_change_of_an_event():
    store = ScheduleStore(open_store(":memory:").db)
    series = [weekly("wg", "2025-09-04T15:00")]

    def stamps(changes, when):
        from bot.schedule.feed import build_calendar
        from bot.schedule.model import TeamSchedule

        ics = build_calendar([TeamSchedule("wg", tuple(series), tuple(changes))],
                             lambda t, h: store.feed_stamps(t, h, when), "wg")
        return {(str(e["UID"]), e.get("RECURRENCE-ID") is not None): (int(e["SEQUENCE"]), e["DTSTAMP"].dt)
                for e in icalendar.Calendar.from_ical(ics).walk("VEVENT")}

    later = STAMP + timedelta(days=1)
    first = stamps([], STAMP)
    assert first == {("wg.wg@sigbot", False): (0, STAMP)}
    assert stamps([], later) == first  # rebuilt unchanged: same sequence and stamp
    changed = stamps([cancel(1, "wg", "2025-09-11")], later)
    assert changed == {("wg.wg@sigbot", False): (1, later)}
    moved = stamps([cancel(1, "wg", "2025-09-11"), move(2, "wg", "2025-09-18", "2025-09-19T10:00")], later)
    assert moved[("wg.wg@sigbot", True)][0] == 2


ZONES = ["Europe/Berlin", "America/New_York", "Asia/Shanghai", "Australia/Sydney", "UTC"]
WEEKDAY_RULES = [f"{n} {d}" for n in ("first", "second", "third", "fourth", "last")
                 for d in ("monday", "tuesday", "wednesday", "thursday", "friday")]


@st.composite
def schedules(draw):
    """One to three series (weekly or monthly, some ended) and random cancels, moves and extras."""
    series = []
    for i in range(draw(st.integers(1, 3))):
        zone = draw(st.sampled_from(ZONES))
        # 05:00-22:45 local: no wall-clock time that a DST change skips or repeats (their reading differs by client)
        at = f"{draw(st.integers(5, 22)):02d}:{draw(st.sampled_from([0, 15, 30, 45])):02d}"
        day = date(2025, 1, 1) + timedelta(days=draw(st.integers(0, 300)))
        until = (day + timedelta(days=draw(st.integers(0, 400)))).isoformat() if draw(st.booleans()) else None
        if draw(st.booleans()):
            series.append(weekly(f"s{i}", f"{day}T{at}", every=draw(st.integers(1, 4)), zone=zone, until=until))
        else:
            rule = Monthly.parse(draw(st.sampled_from(WEEKDAY_RULES)))
            first = rule.day_in(day.year, day.month)
            series.append(monthly(f"s{i}", f"{first}T{at}", str(rule), zone=zone, until=until))
    start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 200)))
    end = start + timedelta(days=draw(st.integers(30, 500)))
    occ = occurrences(series, [], start, end)
    changes: list[Change] = []
    for n in range(1, draw(st.integers(0, 8)) + 1):
        kind = draw(st.sampled_from(list(ChangeKind)))
        if kind is ChangeKind.EXTRA or not occ:
            s = draw(st.sampled_from(series))
            when = start + timedelta(hours=draw(st.integers(0, 24 * 300)))
            local = when.astimezone(s.zone).replace(tzinfo=None, minute=0)
            if not 5 <= local.hour <= 22:
                local = local.replace(hour=12)
            changes.append(Change(n, s.id, ChangeKind.EXTRA, start=local, title=f"extra {n}"))
            continue
        o = draw(st.sampled_from(occ))
        if o.original is None:
            continue
        if kind is ChangeKind.CANCEL:
            changes.append(Change(n, o.series, kind, day=o.original.date(), reason="r"))
        else:
            to = o.original + timedelta(hours=draw(st.integers(-72, 72)))
            to = to.replace(hour=max(5, min(22, to.hour)))
            changes.append(Change(n, o.series, kind, day=o.original.date(), start=to))
    return series, changes, start, end


@settings(max_examples=60, deadline=None)
@given(schedules())
def test_any_schedule_expands_in_the_feed_exactly_as_sigbot_announces_it(case):
    series, changes, start, end = case
    same_meetings(series, changes, start, end)


def test_an_open_ended_series_keeps_its_local_time_decades_on_by_the_feeds_own_vtimezone():
    series = [
        weekly("wg", "2025-10-16T15:00"),
        monthly("mo", "2025-09-05T17:00", "first friday", zone="America/New_York"),
    ]
    ics = feed_of(series, [])
    assert b"to 2038" not in ics  # icalendar's default span, which ended open series in 2038
    for year in (2039, 2054):  # summer and winter, far beyond 2038
        same_meetings(series, [], datetime(year, 6, 1, tzinfo=UTC), datetime(year + 1, 1, 15, tzinfo=UTC))
    summer = expanded_by_ical(unknown_zones(ics), datetime(2054, 7, 1, tzinfo=UTC), datetime(2054, 7, 8, tzinfo=UTC))
    assert [(begin.hour, title) for begin, _, title in summer] == [(13, "WG"), (21, "MO")]  # 15:00 CEST, 17:00 EDT


def test_each_vtimezone_covers_the_years_its_series_span_and_no_more():
    series = [weekly("wg", "2025-09-04T15:00", until="2027-06-30"),
              weekly("ny", "2026-03-02T09:00", zone="America/New_York")]
    cal = icalendar.Calendar.from_ical(feed_of(series, [extra(1, "wg", "2028-01-10T10:00")]))
    comments = {str(tz["TZID"]): str(tz["COMMENT"]) for tz in cal.walk("VTIMEZONE")}
    assert comments == {"Europe/Berlin": "This timezone only works from 2025-09-03 to 2028-01-12.",
                        "America/New_York": "This timezone only works from 2026-03-01 to 2056-12-31."}
    changes = [str(c.get("DTSTART").dt.year) for tz in cal.walk("VTIMEZONE") if tz["TZID"] == "Europe/Berlin"
               for c in tz.walk() if c.name in ("STANDARD", "DAYLIGHT")]
    assert min(changes) == "2025" and max(changes) <= "2028"


def test_a_series_running_to_the_last_day_of_the_calendar_still_gives_a_feed():
    series = [weekly("ny", "2026-01-01T10:00", zone="America/New_York", until="9999-12-31"),
              weekly("wg", "0001-01-01T10:00")]
    cal = icalendar.Calendar.from_ical(feed_of(series, [extra(1, "wg", "9999-12-31T10:00")]))
    assert {str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")} == {"America/New_York", "Europe/Berlin"}
    assert all("2400-12-31" in str(tz["COMMENT"]) for tz in cal.walk("VTIMEZONE"))  # bounded, not 8,000 years
    same_meetings(series[:1], [], datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC))


def test_a_feed_written_by_the_child_process_is_the_same_file():
    """The running bot writes feeds in a child (bot/schedule/ical.py); the command line in process."""
    series = [weekly("wg", "2025-09-04T15:00", every=2, until="2025-10-30", location="https://meet.example/wg"),
              monthly("mo", "2025-09-05T17:00", "first friday", zone="America/New_York"),
              weekly("utc", "2025-09-01T09:00", zone="UTC")]
    changes = [cancel(1, "wg", "2025-09-18"), move(2, "wg", "2025-10-02", "2025-10-03T11:00"),
               extra(3, "wg", "2025-10-22T08:00", "Temporary \u202e\"quoted\", ;semi"), cancel(4, "mo", "2025-10-03")]
    schedules = [TeamSchedule("wg", tuple(series), tuple(changes))]
    here = build_calendar(schedules, lambda t, hashes: {uid: FeedStamp(t != "wg", STAMP) for uid in hashes}, "wg")
    apart = build_calendar(schedules, lambda t, hashes: {uid: FeedStamp(t != "wg", STAMP) for uid in hashes}, "wg",
                           apart=True)
    assert apart == here and b"RECURRENCE-ID" in here and b"America/New_York" in here


def test_the_running_schedule_writes_its_feeds_without_holding_icalendar(tmp_path):
    probe = f"""
import sys
from datetime import datetime, timezone
from bot.config import parse_config
from bot.schedule.publish import feeds_apart, publish
from bot.schedule.store import ScheduleStore
from bot.storage import open_store
config = parse_config({{"bot": {{"data_dir": {str(tmp_path / "var")!r}, "notes_dir": {str(tmp_path / "notes")!r}}},
    "teams": [{{"name": "wg", "matrix_room": "!wg:x", "schedule": {{"series": [
        {{"id": "wg", "title": "WG", "first": "2025-09-04T15:00", "every_weeks": 2}}]}}}}]}})
store = open_store({str(tmp_path / "var" / "sigbot.db")!r})
import bot.schedule.feed as feed
children, real = [], feed.run_apart
feed.run_apart = lambda *args, **kw: children.append(args[0]) or real(*args, **kw)
with feeds_apart():
    written = publish(config, ScheduleStore(store.db), datetime(2025, 9, 1, tzinfo=timezone.utc))
print(len(written), len(children), "icalendar" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    # Two feeds and schedule.json; both feeds from one child process, which imported icalendar in our place.
    assert done.stdout.split() == ["3", "1", "False"], done.stderr
    events = icalendar.Calendar.from_ical((tmp_path / "notes" / "wg" / "calendar.ics").read_bytes()).walk("VEVENT")
    assert [str(e["UID"]) for e in events] == ["wg.wg@sigbot"]
