"""The dispatcher over a real SQLite file: store first, act after, survive a crash."""

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.core.message import LineKind, Message, Network, React, Relay, Reply
from bot.dispatch import Dispatcher
from bot.registry import build_registry
from bot.storage import open_store

ROOM = "!wg:localhost"
T0 = datetime(2025, 10, 16, 2, 0, tzinfo=timezone.utc)


def irc_line(room: str, nick: str, text: str, when: datetime, n: int, account: str | None = None,
             host: str = "203.0.113.9") -> Message:
    """Line `n` said by `nick` on IRC, as the IRC bridge hands it in (bot/relay/bridge.py `_message`): its
    sender is `irc:ACCOUNT` for a user identified to services, `nick!~nick@host` for one who is not."""
    sender = f"irc:{account}" if account else f"{nick}!~{nick}@{host}"
    return Message(Network.IRC, room, sender, nick, text, when, account=account, event_id=f"irc:{n}")


class Room:
    """A team room as the adapters see it: numbered events, a clock, a database."""

    def __init__(self, tmp_path: Path, timeout_hours: float = 4):
        self.config = parse_config({
            "bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
            "teams": [{"name": "wg", "matrix_room": ROOM, "timezone": "Asia/Shanghai",
                       "admins": ["@admin:localhost"], "meeting_timeout_hours": timeout_hours}],
        }, tmp_path / "sigbot.toml")
        self.events = 0
        self.clock = T0
        self.boot()

    def boot(self):
        """Start (or restart after a crash) a dispatcher on the same database."""
        self.bot = Dispatcher(self.config, open_store(self.config.database), build_registry())
        return self.bot.recover()

    def message(self, who: str, text: str, kind=LineKind.SAID) -> Message:
        self.events += 1
        self.clock += timedelta(seconds=20)
        return Message(Network.MATRIX, ROOM, f"@{who}:localhost", who.capitalize(), text, self.clock, kind,
                       event_id=f"$ev{self.events}")

    def say(self, who: str, text: str, kind=LineKind.SAID):
        """What the bot does in this room. Relay effects (the line's copy for IRC) are left out here:
        tests/test_one_path.py follows them."""
        return [e for e in self.bot.handle(self.message(who, text, kind)) if not isinstance(e, Relay)]

    def edit(self, original: Message, text: str):
        """`original` edited to `text`, as the Matrix adapter hands an edit in (one road in)."""
        self.events += 1
        edit = replace(original, text=text, event_id=f"$ev{self.events}", edits=original.event_id, time=self.clock)
        return [e for e in self.bot.handle(edit) if not isinstance(e, Relay)]

    def notes(self) -> dict:
        # minutes only, not notes/<team>/actions.json
        files = list((self.config.notes_dir / "wg").glob("[0-9]*/*.json"))
        assert len(files) == 1, files
        return json.loads(files[0].read_text())


@pytest.fixture
def room(tmp_path):
    return Room(tmp_path)


def test_a_whole_meeting_writes_notes_into_the_team_folder(room):
    room.say("zeshengzong", "#startmeeting Accelerator Integration WG")
    room.say("zeshengzong", "#topic CI workflow")
    room.say("fffrog", "#info OpenReg supports streams and events")
    room.say("zeshengzong", "#action fffrog to write the developer guide")
    effects = room.say("zeshengzong", "#endmeeting")
    assert any(isinstance(e, Reply) and "Minutes:" in e.text for e in effects)
    data = room.notes()
    assert data["name"] == "Accelerator Integration WG"
    assert data["actions"][0]["owners"] == ["Fffrog"]
    path = next((room.config.notes_dir / "wg" / "2025").glob("*.md"))
    assert path.name == "2025-10-16-0200-accelerator-integration-wg.md"
    assert "10:00" in path.read_text()  # the team's zone, Asia/Shanghai


def test_item_commands_get_a_reaction_and_no_message(room):
    room.say("a", "#startmeeting x")
    effects = room.say("a", "#info quiet")
    assert [type(e) for e in effects] == [React]


def test_a_redelivered_event_is_handled_once(room):
    room.say("a", "#startmeeting x")
    msg = room.message("a", "#info once")
    room.bot.handle(msg)
    assert room.bot.handle(msg) == []
    room.say("a", "#endmeeting")
    assert len(room.notes()["topics"][0]["items"]) == 1


def test_a_crash_after_storing_a_line_loses_nothing(room):
    room.say("a", "#startmeeting x")
    room.say("b", "#info before the crash")
    # The line is stored (handled=0) and the process dies before acting on it.
    msg = room.message("b", "#action b to restart things")
    room.bot.store.add_line(msg, "wg", room.bot.store.running_meeting(ROOM).id, False)
    room.boot()
    room.say("a", "#endmeeting")
    data = room.notes()
    assert [i["text"] for i in data["topics"][0]["items"]] == ["before the crash", "b to restart things"]


def test_a_crash_before_the_notes_were_written_is_finished_at_start(room):
    room.say("a", "#startmeeting x")
    room.say("a", "#info hello")
    meeting = room.bot.store.running_meeting(ROOM)
    room.bot.store.end_meeting(meeting.id, room.clock, "x")  # ended, but died before writing
    effects = room.boot()
    assert any("Minutes:" in getattr(e, "text", "") for e in effects)
    assert room.notes()["topics"][0]["items"][0]["text"] == "hello"


def test_a_restart_mid_meeting_rebuilds_the_state_from_the_log(room):
    room.say("a", "#startmeeting x")
    room.say("a", "#chair @b:localhost")  # b has not spoken yet: named by Matrix id (bot/meeting/people.py)
    room.boot()
    room.say("b", "#agreed decided after the restart")
    room.say("b", "#endmeeting")
    assert room.notes()["topics"][0]["items"][0]["kind"] == "agreed"


def test_an_edit_replaces_its_line_and_a_redaction_removes_it(room):
    room.say("a", "#startmeeting x")
    typo = room.message("a", "#info teh typo")
    room.bot.handle(typo)
    gone = room.message("a", "#info to be deleted")
    room.bot.handle(gone)
    room.edit(typo, "#info the fix")
    room.bot.redact(gone.event_id)
    room.say("a", "#endmeeting")
    data = room.notes()
    assert [i["text"] for i in data["topics"][0]["items"]] == ["the fix"]
    log = next((room.config.notes_dir / "wg").rglob("*.log.txt")).read_text()
    assert "teh typo" not in log and "to be deleted" not in log and "the fix" in log


def test_an_edit_after_the_meeting_rewrites_its_minutes(room):
    room.say("a", "#startmeeting x")
    typo = room.message("a", "#info teh typo")
    room.bot.handle(typo)
    room.say("a", "#endmeeting")
    room.edit(typo, "#info fixed later")
    assert room.notes()["topics"][0]["items"][0]["text"] == "fixed later"


def test_a_team_admin_is_a_chair_of_every_meeting(room):
    room.say("a", "#startmeeting x")
    room.say("admin", "#topic set by the admin")
    room.say("admin", "#endmeeting")
    assert room.notes()["topics"][0]["title"] == "set by the admin"


def test_the_bots_words_in_a_meeting_are_logged_as_meetbot_does_but_it_is_no_attendee(room):
    room.say("a", "#startmeeting x")
    room.say("a", "#chair b")
    room.say("a", "#endmeeting")
    data = room.notes()
    log = next((room.config.notes_dir / "wg").rglob("*.log.txt")).read_text()
    # two lines for the start announcement, one for "Current chairs", one for the end, as MeetBot logs them
    assert sum(line.split(" ", 2)[1] == "<sigbot>" for line in log.splitlines()) >= 3
    # but the record lists people, not the bot (issue 19: MeetBot listed itself)
    assert "sigbot" not in [a["nick"] for a in data["attendees"]]


def test_a_forgotten_meeting_is_ended_with_a_notice(tmp_path):
    room = Room(tmp_path, timeout_hours=4)
    room.say("a", "#startmeeting forgotten")
    assert room.bot.end_forgotten_meetings(T0 + timedelta(hours=3)) == []
    effects = room.bot.end_forgotten_meetings(T0 + timedelta(hours=4, minutes=1))
    texts = [e.text for e in effects if isinstance(e, Reply)]
    assert any("more than 4 hours" in t for t in texts) and any("Minutes:" in t for t in texts)
    assert room.notes()["timed_out"] is True
    assert room.bot.store.running_meeting(ROOM) is None


def test_help_works_outside_a_meeting_and_items_outside_stay_quiet(room):
    assert "Meetings:" in room.say("a", "!help")[0].text
    assert room.say("a", "#info nothing is running") == []


def test_the_cli_way_to_end_a_meeting(room):
    room.say("a", "#startmeeting x")
    effects = room.bot.end_meeting_of("wg", room.clock + timedelta(minutes=5), by="admin-cli")
    assert any("Minutes:" in getattr(e, "text", "") for e in effects)


def test_lines_outside_meetings_are_stored_too(room):
    room.say("a", "just chatting")
    rows = list(room.bot.store.db.query("SELECT text, meeting_id FROM lines"))
    assert rows == [{"text": "just chatting", "meeting_id": None}]


def test_migrations_applied_twice_change_nothing(tmp_path):
    store = open_store(tmp_path / "x.db")
    before = store.db.schema
    store = open_store(tmp_path / "x.db")
    assert store.db.schema == before
