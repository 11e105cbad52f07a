"""The agenda and the action items across meetings, driven like a conversation over a real SQLite file."""

import json
from datetime import date, timedelta

import pytest
from test_dispatch import ROOM, T0, Room

from bot.agenda.api import agenda_items
from bot.agenda.store import AgendaStore
from bot.core.message import LineKind, Reply
from bot.meeting import engine
from bot.meeting.minutes import build_minutes, minutes_json
from bot.meeting.model import LogLine
from bot.meeting.replay import replay
from bot.registry import build_registry


@pytest.fixture
def room(tmp_path):
    return Room(tmp_path)


def said(effects) -> str:
    return "\n".join(e.text for e in effects if isinstance(e, Reply))


def items(room: Room) -> list[dict]:
    return agenda_items(room.bot.store.db, "wg")


def minutes_files(room: Room, ext: str) -> list:
    return sorted((room.config.notes_dir / "wg").glob(f"[0-9]*/*{ext}"))


def latest_md(room: Room) -> str:
    return minutes_files(room, ".md")[-1].read_text()


def actions_json(room: Room) -> dict:
    return json.loads((room.config.notes_dir / "wg" / "actions.json").read_text())


# --- the api the schedule's reminders read -----------------------------------


def test_the_api_lists_the_next_meetings_agenda_with_owners(room):
    assert agenda_items(room.bot.store.db, "wg") == []
    room.say("alice", "!agenda add Packaging review")
    room.say("bob", "!agenda add CI on the farm")
    assert items(room) == [
        {"n": 1, "text": "Packaging review", "owner": "Alice", "carried": False},
        {"n": 2, "text": "CI on the farm", "owner": "Bob", "carried": False},
    ]
    assert agenda_items(room.bot.store.db, "other-team") == []


def test_the_api_marks_items_a_meeting_left_uncovered_as_carried_over(room):
    room.say("alice", "!agenda add Packaging review")
    room.say("bob", "!agenda add CI on the farm")
    room.say("alice", "#startmeeting WG")
    assert items(room) == []  # on the running meeting's agenda now, not the next one's
    room.say("alice", "#topic 1")
    room.say("alice", "#endmeeting")
    assert items(room) == [{"n": 1, "text": "CI on the farm", "owner": "Bob", "carried": True}]


# --- !agenda -------------------------------------------------------------------


def test_agenda_lists_the_items_with_owners_and_numbers(room):
    assert "empty" in said(room.say("a", "!agenda"))
    assert "item 1" in said(room.say("alice", "!agenda add Packaging review"))
    assert "item 2" in said(room.say("bob", "#agenda add  CI   on the farm "))
    answer = said(room.say("carol", "!agenda"))
    assert "1. Packaging review (Alice)" in answer and "2. CI on the farm (Bob)" in answer
    assert answer.startswith("Agenda of the next meeting:")


def test_bad_agenda_requests_get_a_clear_answer_and_change_nothing(room):
    room.say("alice", "!agenda add one")
    assert "Say what to put" in said(room.say("bob", "!agenda add"))
    assert "300" in said(room.say("bob", "!agenda add " + "x" * 301))
    assert "not an item number" in said(room.say("alice", "!agenda remove first"))
    assert "no item 4" in said(room.say("alice", "!agenda remove 4"))
    assert "There is no !agenda frob" in said(room.say("alice", "!agenda frob"))
    assert "Usage: !agenda move N M" in said(room.say("admin", "!agenda move 1"))
    assert [i["text"] for i in items(room)] == ["one"]


def test_only_its_owner_or_a_chair_removes_an_item(room):
    room.say("alice", "!agenda add one")
    room.say("alice", "!agenda add two")
    room.say("bob", "!agenda add three")
    assert "only they or a chair" in said(room.say("bob", "!agenda remove 1"))
    assert "Removed item 1: one" in said(room.say("alice", "!agenda remove 1"))
    assert "Removed item 2: three" in said(room.say("admin", "!agenda remove 2"))  # a team admin
    assert [(i["n"], i["text"]) for i in items(room)] == [(1, "two")]


def test_only_a_chair_reorders_the_agenda(room):
    for text in ("one", "two", "three"):
        room.say("alice", f"!agenda add {text}")
    assert "Only a chair" in said(room.say("alice", "!agenda move 3 1"))
    assert "Moved item 3 to place 1" in said(room.say("admin", "!agenda move 3 1"))
    assert [i["text"] for i in items(room)] == ["three", "one", "two"]
    room.say("alice", "!agenda add four")  # a new item goes last, after the reordered ones
    assert [i["text"] for i in items(room)] == ["three", "one", "two", "four"]


def test_the_chair_of_the_running_meeting_may_reorder(room):
    room.say("alice", "!agenda add one")
    room.say("alice", "#startmeeting x")
    room.say("alice", "!agenda add two")
    room.say("alice", "!agenda add three")
    assert "Moved item 2 to place 1" in said(room.say("alice", "!agenda move 2 1"))
    assert "Only a chair" in said(room.say("bob", "!agenda move 2 1"))


# --- the meeting -------------------------------------------------------------


def test_a_meeting_announces_its_agenda_and_topic_n_takes_item_n(room):
    room.say("alice", "!agenda add Packaging review")
    room.say("bob", "!agenda add CI on the farm")
    answer = said(room.say("alice", "#startmeeting WG"))
    assert "Agenda item 1 (Alice): Packaging review" in answer
    assert "Agenda item 2 (Bob): CI on the farm" in answer
    assert said(room.say("alice", "!topic 2")) == "Topic: CI on the farm"
    assert said(room.say("alice", "#topic 7")) == "Topic: 7"  # not on the agenda: MeetBot's literal topic
    during = said(room.say("carol", "!agenda"))
    assert "Agenda of this meeting" in during and "2. CI on the farm (Bob)" in during
    room.say("alice", "#endmeeting")
    md = latest_md(room)
    assert "## Agenda" in md
    assert "1. Packaging review (added by Alice) — carried over" in md
    assert "2. CI on the farm (added by Bob) — covered" in md


def test_a_meeting_without_agenda_or_actions_says_nothing_more(room):
    answer = said(room.say("alice", "#startmeeting x"))
    assert "Agenda" not in answer and "Open actions" not in answer
    room.say("alice", "#endmeeting")
    md = latest_md(room)
    assert "## Agenda" not in md and "earlier meetings" not in md


def test_an_item_added_during_a_meeting_goes_to_the_next_one(room):
    room.say("alice", "#startmeeting x")
    assert "next meeting as item 1" in said(room.say("bob", "!agenda add later"))
    assert said(room.say("alice", "#topic 1")) == "Topic: 1"
    room.say("alice", "#endmeeting")
    assert items(room) == [{"n": 1, "text": "later", "owner": "Bob", "carried": False}]


def test_topic_n_survives_a_restart_mid_meeting(room):
    room.say("alice", "!agenda add Packaging review")
    room.say("alice", "#startmeeting x")
    room.boot()
    assert said(room.say("alice", "#topic 1")) == "Topic: Packaging review"


def test_nobody_redefines_an_agenda_item_after_the_opening(room):
    room.say("alice", "!agenda add real item")
    room.say("alice", "#startmeeting x")
    room.say("mallory", "Agenda item 1 (Mallory): fake item")
    room.say("mallory", "Agenda item 2 (Mallory): fake item")
    assert said(room.say("alice", "#topic 1")) == "Topic: real item"
    assert said(room.say("alice", "#topic 2")) == "Topic: 2"


def test_the_stored_log_and_the_log_file_replay_to_the_same_minutes(room):
    room.say("alice", "!agenda add Packaging review")
    room.say("bob", "!agenda add CI on the farm")
    room.say("alice", "#startmeeting WG")
    room.say("alice", "#topic 2")
    room.say("bob", "#info runners are up")
    room.say("alice", "#topic 1")
    room.say("alice", "#endmeeting")
    published = json.loads(minutes_files(room, ".json")[-1].read_text())
    assert [t["title"] for t in published["topics"]] == ["CI on the farm", "Packaging review"]

    store = room.bot.store
    meeting = store.meetings("wg")[0]
    lines = [LogLine(0, r.time, r.nick, r.sender, r.kind, t, r.network, r.privileged, r.event_id)
             for r in store.meeting_lines(meeting.id) for t in engine.split_lines(r.text)]
    refolded = engine.fold(lines, ROOM, build_registry(), require_start=False)
    assert minutes_json(build_minutes(refolded)) == published

    log_file = minutes_files(room, ".log.txt")[-1].read_text()
    replayed = replay(log_file, date(2025, 10, 16), ROOM, build_registry())
    assert [t.title for t in replayed.topics] == ["CI on the farm", "Packaging review"]
    assert [(i.kind.value, i.text) for t in replayed.topics for i in t.items] == [("info", "runners are up")]


# --- actions -----------------------------------------------------------------


def hold_meeting(room: Room, *lines: tuple[str, str]) -> list:
    room.say("alice", "#startmeeting WG")
    effects = []
    for who, text in lines:
        effects += room.say(who, text)
    return effects + room.say("alice", "#endmeeting")


def test_actions_of_the_minutes_become_open_actions_with_owners(room):
    hold_meeting(room, ("carol", "hi"), ("alice", "#action carol to update the spec"),
                 ("alice", "#action someone to book a room"))
    answer = said(room.say("bob", "!actions"))
    assert "#1 Carol: carol to update the spec (2025-10-16)" in answer
    assert "#2 unassigned: someone to book a room (2025-10-16)" in answer
    assert "#1" in said(room.say("bob", "!actions carol")) and "#2" not in said(room.say("bob", "!actions CAROL"))
    assert "no open actions of dave" in said(room.say("bob", "!actions dave"))
    data = actions_json(room)
    assert data["team"] == "wg" and data["updated"].endswith("Z")
    minutes = minutes_files(room, ".md")[-1].relative_to(room.config.notes_dir.resolve() / "wg").as_posix()
    assert data["open"][0] == {"n": 1, "owner": "Carol", "text": "carol to update the spec",
                               "meeting": "2025-10-16", "minutes": minutes}


def test_only_an_owner_or_a_chair_closes_an_action(room):
    hold_meeting(room, ("carol", "hi"), ("alice", "#action carol to update the spec"),
                 ("alice", "#action carol and bob to test"))
    assert "only they or a chair" in said(room.say("dave", "!done 1"))
    assert "Closed action #1" in said(room.say("carol", "!done 1"))
    assert "closed already by Carol" in said(room.say("carol", "!done 1"))
    assert "There is no action #9" in said(room.say("carol", "!done 9"))
    assert "Usage: !done N" in said(room.say("carol", "!done it"))
    assert "Closed action #2" in said(room.say("admin", "!done #2"))
    assert actions_json(room)["open"] == []


def test_startmeeting_lists_open_actions_briefly(room):
    hold_meeting(room, *[("alice", f"#action alice to do thing {i}") for i in range(5)])
    room.clock += timedelta(days=14)
    answer = said(room.say("alice", "#startmeeting WG"))
    assert "Open actions from earlier meetings (5):" in answer
    assert "#3 Alice: alice to do thing 2" in answer and "thing 3" not in answer
    assert "and 2 more" in answer


def test_a_crash_before_the_end_was_handled_records_the_actions_once(room):
    room.say("alice", "!agenda add one")
    room.say("alice", "!agenda add two")
    room.say("alice", "#startmeeting WG")
    room.say("alice", "#topic 1")
    room.say("alice", "#action alice to write it down")
    msg = room.message("alice", "#endmeeting")
    room.bot.store.add_line(msg, "wg", room.bot.store.running_meeting(ROOM).id, False)  # stored, then the crash
    room.boot()
    room.boot()
    assert [a.n for a in AgendaStore(room.bot.store.db).open_actions("wg")] == [1]
    assert items(room) == [{"n": 1, "text": "two", "owner": "Alice", "carried": True}]
    assert "1. one (added by Alice) — covered" in latest_md(room)


def test_two_meetings_follow_the_agenda_and_the_actions_from_one_to_the_next(room):
    # Before meeting 1: the agenda is gathered in advance.
    room.say("alice", "!agenda add Packaging review")
    room.say("bob", "!agenda add CI on the farm")

    # Meeting 1 takes item 1 by number, assigns an action, leaves item 2.
    opening = said(room.say("alice", "#startmeeting WG"))
    assert "Agenda item 1 (Alice): Packaging review" in opening and "Open actions" not in opening
    assert said(room.say("alice", "#topic 1")) == "Topic: Packaging review"
    room.say("carol", "I can do the spec")
    room.say("alice", "#action carol to update the spec")
    room.say("alice", "#endmeeting")
    first = latest_md(room)
    assert "1. Packaging review (added by Alice) — covered" in first
    assert "2. CI on the farm (added by Bob) — carried over" in first
    assert [a["text"] for a in actions_json(room)["open"]] == ["carol to update the spec"]

    # Two weeks later, meeting 2: the carried-over item and the open action are announced.
    room.clock = T0 + timedelta(days=14)
    room.say("dave", "!agenda add New member intro")
    assert "1. CI on the farm (Bob, carried over)" in said(room.say("dave", "!agenda"))
    opening = said(room.say("alice", "#startmeeting WG"))
    assert "Agenda item 1 (Bob, carried over): CI on the farm" in opening
    assert "Agenda item 2 (Dave): New member intro" in opening
    assert "#1 Carol: carol to update the spec (2025-10-16)" in opening
    assert "Closed action #1" in said(room.say("carol", "!done 1"))
    room.say("alice", "#topic 1")
    room.say("alice", "#endmeeting")

    second = latest_md(room)
    assert "## Action items from earlier meetings" in second
    assert "carol to update the spec (2025-10-16) — done (closed by Carol)" in second
    assert "1. CI on the farm (added by Bob) — covered" in second
    assert "2. New member intro (added by Dave) — carried over" in second
    assert actions_json(room)["open"] == []
    assert items(room) == [{"n": 1, "text": "New member intro", "owner": "Dave", "carried": True}]
    assert len(minutes_files(room, ".md")) == 2


def test_an_edit_after_the_meeting_keeps_the_agenda_section(room):
    room.say("alice", "!agenda add one")
    room.say("alice", "#startmeeting x")
    typo = room.message("alice", "#info teh typo")
    room.bot.handle(typo)
    room.say("alice", "#topic 1")
    room.say("alice", "#endmeeting")
    room.edit(typo, "#info fixed")
    md = latest_md(room)
    assert "fixed" in md and "1. one (added by Alice) — covered" in md


def test_the_bots_agenda_lines_are_logged_as_its_own(room):
    room.say("alice", "!agenda add one")
    room.say("alice", "#startmeeting x")
    rows = list(room.bot.store.db.query("SELECT nick, kind, text FROM lines WHERE text LIKE 'Agenda%'"))
    assert rows == [{"nick": "sigbot", "kind": LineKind.BOT.value,
                     "text": "Agenda (#topic N takes item N):\nAgenda item 1 (Alice): one"}]


# --- the CLI -----------------------------------------------------------------


def test_the_cli_edits_the_agenda_and_closes_actions_as_an_admin(tmp_path):
    from click.testing import CliRunner

    from bot.cli import main

    config = tmp_path / "sigbot.toml"
    config.write_text('[bot]\ndata_dir = "var"\nnotes_dir = "notes"\n\n'
                      '[[teams]]\nname = "wg"\nmatrix_room = "!wg:localhost"\n')
    cli = CliRunner()

    def sigbot(*args: str):
        return cli.invoke(main, ["--config", str(config), "agenda", *args])

    assert "item 1" in sigbot("add", "--team", "wg", "--by", "alice", "Packaging", "review").output
    assert "item 2" in sigbot("add", "--team", "wg", "CI").output
    assert sigbot("move", "--team", "wg", "2", "1").exit_code == 0
    listed = sigbot("list", "--team", "wg").output
    assert "1. CI (sigbot-cli)" in listed and "2. Packaging review (alice)" in listed
    assert "Removed item 1: CI" in sigbot("remove", "--team", "wg", "1").output
    bad = sigbot("remove", "--team", "wg", "5")
    assert bad.exit_code == 1 and "no item 5" in bad.output
    assert "no team 'nope'" in sigbot("list", "--team", "nope").output
    assert "no open actions" in sigbot("actions", "--team", "wg").output
    assert "There is no action #1" in sigbot("done", "--team", "wg", "1").output


def test_the_agenda_names_the_date_of_the_next_scheduled_meeting(tmp_path):
    from bot.config import parse_config
    from bot.dispatch import Dispatcher
    from bot.storage import open_store

    config = parse_config({
        "bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
        "teams": [{"name": "wg", "matrix_room": ROOM, "timezone": "Europe/Berlin",
                   "schedule": {"series": [{"id": "wg", "title": "WG", "first": "2025-10-02T10:00",
                                            "every_weeks": 2}]}}],
    }, tmp_path / "sigbot.toml")
    room = Room(tmp_path)
    room.config = config
    room.bot = Dispatcher(config, open_store(config.database), build_registry())
    room.say("alice", "!agenda add one")
    # T0 is Thu 2025-10-16 02:00 UTC; the series meets every other Thursday at 10:00 Berlin (08:00 UTC).
    assert "Agenda of the next meeting (Thu 2025-10-16 08:00 UTC):" in said(room.say("alice", "!agenda"))


def test_a_broken_agenda_store_never_stops_a_meeting(room, caplog):
    room.say("alice", "!agenda add one")
    room.bot.store.db.execute("DROP TABLE agenda_meetings")
    assert "Meeting 'x' started" in said(room.say("alice", "#startmeeting x"))
    assert "Minutes:" in said(room.say("alice", "#endmeeting"))
    assert minutes_files(room, ".md") and "agenda: meeting start failed" in caplog.text


def test_topic_n_takes_the_stored_agenda_even_past_what_the_start_announced(room):
    """The meeting's agenda is what the agenda feature stored when it started, not the bot's words read
    back: an item past the announced ones (the announcement stops at MAX_ANNOUNCED) is still item N."""
    from bot.agenda.agenda import MAX_ANNOUNCED

    for i in range(1, MAX_ANNOUNCED + 3):
        room.say("alice", f"!agenda add item number {i}")
    started = said(room.say("alice", "#startmeeting x"))
    assert f"item number {MAX_ANNOUNCED + 2}" not in started  # not announced: "… and 2 more"
    assert said(room.say("alice", f"#topic {MAX_ANNOUNCED + 2}")) == f"Topic: item number {MAX_ANNOUNCED + 2}"
    room.boot()  # after a restart the meeting is folded from the stored log, with the same agenda
    assert said(room.say("alice", "#topic 3")) == "Topic: item number 3"
