"""Writes a planned feed (bot/schedule/feed.py's FeedJob) as iCalendar bytes, with icalendar.

The running bot runs this module as a child process (`python -P -m
bot.schedule.ical`: a list of jobs pickled on stdin, the list of the files'
bytes pickled on stdout), so that icalendar never stays in its memory; the
command line and the tests call `write_calendar` directly.
"""

from __future__ import annotations

import pickle
import sys
from datetime import timezone
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone

from bot.schedule.feed import PRODID, FeedJob


def write_calendar(job: FeedJob) -> bytes:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", job.name)
    for plan, stamp in job.events:
        event = Event()
        event.add("uid", plan.uid)
        event.add("summary", plan.summary)
        event.add("dtstart", plan.start)
        event.add("dtend", plan.end)
        if plan.location:
            event.add("location", plan.location)
        event.add("description", plan.description)
        if plan.rule:
            event.add("rrule", dict(plan.rule))
        if plan.exdates:
            event.add("exdate", list(plan.exdates))
        if plan.recurrence_id is not None:
            event.add("recurrence-id", plan.recurrence_id)
        event.add("sequence", stamp.sequence)
        event.add("dtstamp", stamp.stamp.astimezone(timezone.utc))
        cal.add_component(event)
    # The zones the events name (UTC ones are written with Z and need none, RFC 5545 §3.2.19),
    # in sorted order ahead of the events: icalendar's add_missing_timezones() walks a set,
    # so the order, and the file's bytes, changed with PYTHONHASHSEED.
    spans = {zone: (first, last) for zone, first, last in job.zones}
    for zone in sorted(cal.get_missing_tzids(), reverse=True):
        cal.subcomponents.insert(0, Timezone.from_tzinfo(ZoneInfo(zone), zone, *spans[zone]))
    ical: bytes = cal.to_ical()  # icalendar leaves to_ical() unannotated; it returns the file's bytes
    return ical


def main() -> int:
    jobs = pickle.load(sys.stdin.buffer)  # from the parent process (bot/core/apart.py), never from the network
    sys.stdout.buffer.write(pickle.dumps([write_calendar(job) for job in jobs]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
