"""The schedule in conversation: !next, !schedule, !cancel, !move, !extra, !tz over a real SQLite file."""

import json
from datetime import datetime, timezone

import icalendar
import pytest
from schedule_helpers import ROOM, make_config
from test_dispatch import irc_line

from bot.config import ConfigError, parse_config
from bot.core.message import Message, Network, Reply
from bot.dispatch import Dispatcher
from bot.registry import build_registry
from bot.schedule.changes import settings, team_state
from bot.schedule.store import ScheduleStore
from bot.storage import open_store

NOW = datetime(2025, 10, 13, 8, 0, tzinfo=timezone.utc)  # a Monday; the WG meets Thursdays 15:00 Berlin


class Room:
    def __init__(self, tmp_path):
        self.config = make_config(tmp_path)
        self.events = 0
        self.boot()

    def boot(self):
        self.bot = Dispatcher(self.config, open_store(self.config.database), build_registry())

    def say(self, who: str, text: str, when: datetime = NOW) -> str:
        self.events += 1
        msg = Message(Network.MATRIX, ROOM, f"@{who}:localhost", who, text, when, event_id=f"$e{self.events}")
        return "\n".join(e.text for e in self.bot.handle(msg) if isinstance(e, Reply))

    def upcoming(self, count=4):
        state = team_state(ScheduleStore(self.bot.store.db), self.config.team("wg"))
        return [(f"{o.start:%m-%d %H:%M}", o.cancelled) for o in state.upcoming(NOW, count)]


@pytest.fixture
def room(tmp_path):
    return Room(tmp_path)


def test_next_gives_utc_the_team_zone_the_asked_zone_and_how_far(room):
    answer = room.say("alice", "!next America/New_York")
    assert "**Accelerator WG** (wg) in 3 days 5 h" in answer
    assert (
        "Thu 2025-10-16 13:00 UTC · Thu 2025-10-16 15:00 Europe/Berlin · Thu 2025-10-16 09:00 America/New_York"
        in answer
    )
    assert "Join: https://meet.example/wg" in answer


def test_a_persons_own_zone_is_used_in_answers_to_them(room):
    assert room.say("alice", "!tz set Asia/Shanghai") == "Your timezone is now Asia/Shanghai."
    assert "21:00 Asia/Shanghai" in room.say("alice", "!next")
    assert "Asia/Shanghai" not in room.say("bob", "!next")
    assert "unknown timezone 'Mars/Base'" in room.say("alice", "!tz set Mars/Base")
    assert "unknown timezone 'Nowhere'" in room.say("alice", "!next Nowhere")


def test_a_chair_cancels_moves_and_adds_and_schedule_shows_it(room):
    assert "Cancelled (national holiday)" in room.say("chair", "!cancel wg 2025-10-16 national holiday")
    assert "Moved" in room.say("admin", "!move wg 2025-10-30 2025-10-31 10:00")
    assert "Added **Temporary meeting** (wg)" in room.say("chair", "!extra wg 2025-10-23T09:00 Temporary meeting")
    assert room.upcoming() == [("10-16 15:00", True), ("10-23 09:00", False), ("10-31 10:00", False),
                               ("11-13 15:00", False)]
    shown = room.say("alice", "!schedule")
    assert "CANCELLED: national holiday — **Accelerator WG** (wg)" in shown
    assert "**Temporary meeting** (wg)" in shown and "(moved)" in shown
    assert "Temporary meeting" in room.say("alice", "!next")


def test_a_non_chair_may_not_change_the_schedule_and_nothing_changes(room):
    assert "Only team admins and the series' chairs" in room.say("mallory", "!cancel wg 2025-10-16")
    assert room.upcoming(1) == [("10-16 15:00", False)]


@pytest.mark.parametrize("command, answer", [
    ("!cancel wg 2025-10-17", "series wg has no meeting on 2025-10-17; the next one is on 2025-10-30"),
    ("!cancel nope 2025-10-16", "team wg has no series 'nope' (series: wg)"),
    ("!cancel wg 16.10.2025", "'16.10.2025' is not a date like 2025-10-02"),
    ("!cancel wg 2025-10-02", "has already begun"),
    ("!move wg 2025-10-16 2025-10-01T10:00", "is in the past"),
    ("!move wg 2025-10-16 tomorrow", "'TOMORROW' is not a date and time"),
    ("!extra wg 2025-10-20", "has no time of day"),
    ("!cancel", "Usage: !cancel SERIES DATE [REASON]"),
])
def test_bad_changes_get_a_clear_answer_and_change_nothing(room, command, answer):
    assert answer in room.say("chair", command)
    assert room.upcoming(2) == [("10-16 15:00", False), ("10-30 15:00", False)]


def test_changes_survive_a_restart_and_write_the_feed_and_schedule_json(room):
    room.say("chair", "!cancel wg 2025-10-16 holiday")
    room.boot()
    assert room.upcoming(1) == [("10-16 15:00", True)]
    notes = room.config.notes_dir
    data = json.loads((notes / "wg" / "schedule.json").read_text())
    assert data["next"][0] == {"series": "wg", "title": "Accelerator WG", "start": "2025-10-16T13:00:00+00:00",
                               "end": "2025-10-16T14:00:00+00:00", "location": "https://meet.example/wg",
                               "cancelled": True, "reason": "holiday"}
    for path in (notes / "wg" / "calendar.ics", notes / "calendar.ics"):
        event = icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT")[0]
        assert [d.dt.isoformat() for d in event["EXDATE"].dts] == ["2025-10-16T15:00:00+02:00"]


def test_the_config_checks_series_and_reminders(tmp_path):
    config = make_config(tmp_path, reminders=["2d", "1h30m"], grace="5m")
    s = settings(config.team("wg"))
    assert [r.total_seconds() for r in s.reminders] == [172800, 5400] and s.grace.total_seconds() == 300
    bad = {"id": "Bad Id", "first": "2025-09-05T15:00", "monthly": "first thursday", "colour": "red"}
    with pytest.raises(ConfigError) as err:
        parse_config(
            {
                "teams": [
                    {
                        "name": "wg",
                        "matrix_room": ROOM,
                        "schedule": {
                            "reminders": ["soon"],
                            "series": [
                                bad,
                                {"id": "m", "first": "2025-09-05T15:00", "monthly": "first thursday"},
                                {"id": "w", "first": "2025-09-05", "every_weeks": 2, "timezone": "X/Y"},
                            ],
                        },
                    }
                ]
            }
        )
    text = "\n".join(err.value.errors)
    assert "teams[0].schedule.reminders[0]: 'soon' is not a duration" in text
    assert "teams[0].schedule.series[0].colour: unknown key" in text
    assert "teams[0].schedule.series[0]: id 'Bad Id' must be lower-case" in text
    assert "teams[0].schedule.series[1]: first 2025-09-05 is not the first thursday of its month" in text
    assert "teams[0].schedule.series[2]: unknown timezone 'X/Y'" in text


def test_a_series_chair_changes_the_schedule_from_their_linked_irc_account_only(room):
    def irc(text: str, account: str | None) -> str:
        room.events += 1
        msg = irc_line(ROOM, "chair", text, NOW, room.events, account, host="198.51.100.66")
        return "\n".join(e.text for e in room.bot.handle(msg) if isinstance(e, Reply))

    assert "Only team admins and the series' chairs" in irc("!cancel wg 2025-10-16 from IRC", "chairacct")
    room.say("chair", "!linkto irc chairacct")
    assert "Linked" in irc("!linkto matrix @chair:localhost", "chairacct")
    assert "Only team admins and the series' chairs" in irc("!cancel wg 2025-10-16 the nick", None)
    assert "Cancelled (from IRC)" in irc("!cancel wg 2025-10-16 from IRC", "chairacct")
    assert room.upcoming(1) == [("10-16 15:00", True)]


def test_a_feed_is_built_only_when_its_inputs_change_and_again_when_its_file_is_gone(room, monkeypatch):
    """Every minute, and at each start, the schedule is published; the .ics is built (icalendar) only when the
    series, changes or URL it is made from changed (bot/schedule/publish.py), so the bytes never go stale."""
    from bot.schedule import publish as pub

    built: list[str] = []
    real = pub._build
    monkeypatch.setattr(pub, "_build",
                        lambda store, feeds, now: built.extend(n for n, _ in feeds) or real(store, feeds, now))
    store, team_feed = ScheduleStore(room.bot.store.db), room.config.team("wg").notes_dir / "calendar.ics"
    pub.publish(room.config, store, NOW)
    assert built == ["wg meetings", "sigbot meetings"]
    first = team_feed.read_bytes()
    room.boot()  # a restart: the digests are on disk
    pub.publish(room.config, ScheduleStore(room.bot.store.db), NOW)
    assert built == ["wg meetings", "sigbot meetings"] and team_feed.read_bytes() == first
    assert "Cancelled" in room.say("chair", "!cancel wg 2025-10-16 holiday")  # publishes after the commit
    assert built[2:] == ["wg meetings", "sigbot meetings"]
    assert b"EXDATE" in team_feed.read_bytes() and b"EXDATE" not in first
    team_feed.unlink()
    pub.publish(room.config, ScheduleStore(room.bot.store.db), NOW)
    assert built[4:] == ["wg meetings"] and b"EXDATE" in team_feed.read_bytes()
    (room.config.data_dir / "feeds.json").write_text("{not json")  # damaged: built once more, no error
    pub.publish(room.config, ScheduleStore(room.bot.store.db), NOW)
    assert built[5:] == ["wg meetings", "sigbot meetings"]
