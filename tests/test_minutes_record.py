"""What the minutes and their JSON name: the room as people know it, each person's network, and
never sigbot itself as an attendee (issue 19). The meeting is folded by the real engine; the team
comes from a real config."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.core.message import LineKind, Message, Network
from bot.dispatch import Dispatcher
from bot.meeting.engine import fold
from bot.meeting.minutes import build_minutes
from bot.meeting.model import LogLine
from bot.meeting.render import RenderContext, render_markdown, team_context, write_notes
from bot.registry import build_registry
from bot.storage import open_store

ROOM_ID = "!_tyPgzBqWxYz:example.org"
START = datetime(2026, 12, 1, 5, 30, tzinfo=timezone.utc)


def bridged_meeting():
    """Half the meeting on Matrix, half on IRC, with sigbot's own answers in the log (LineKind.BOT)."""
    said = [("@alice:example.org", "alice", "matrix", LineKind.SAID, "#startmeeting GPU sync"),
            ("@sigbot:example.org", "sigbot", "cli", LineKind.BOT, "Meeting started. Chairs: alice."),
            ("irc:bob", "bob", "irc", LineKind.SAID, "#info farm vm is back"),
            ("@sigbot:example.org", "sigbot", "cli", LineKind.BOT, "Noted."),
            ("@alice:example.org", "alice", "matrix", LineKind.SAID, "#action bob to update the driver"),
            ("@alice:example.org", "alice", "matrix", LineKind.SAID, "#endmeeting")]
    lines = [LogLine(n, START + timedelta(minutes=n), nick, sender, kind, text, network)
             for n, (sender, nick, network, kind, text) in enumerate(said, 1)]
    state = fold(lines, ROOM_ID, build_registry())
    assert state is not None
    return build_minutes(state)


def team(tmp_path: Path):
    config = parse_config({"bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
                           "teams": [{"name": "gpu", "matrix_room": "#gpu:example.org",
                                      "irc_channels": ["#gpu-wg"], "timezone": "Europe/Berlin"}]},
                          tmp_path / "sigbot.toml")
    return config.teams[0]


def test_the_minutes_name_the_room_by_alias_and_irc_channel_never_by_its_opaque_id(tmp_path):
    md = write_notes(bridged_meeting(), tmp_path, team_context(team(tmp_path)))
    text = md.read_text()
    assert "- **Room:** #gpu:example.org · IRC: #gpu-wg\n" in text
    assert ROOM_ID not in text
    record = json.loads(md.with_suffix(".json").read_text())
    assert record["room"] == {"id": ROOM_ID, "name": None, "alias": "#gpu:example.org", "irc_channels": ["#gpu-wg"]}
    assert record["channel"] == ROOM_ID  # the id stays, for tools that read it


def test_a_room_name_is_shown_before_its_alias():
    ctx = RenderContext("gpu", room_name="GPU working group", room_alias="#gpu:example.org", irc_channels=("#gpu",))
    assert "- **Room:** GPU working group (#gpu:example.org) · IRC: #gpu\n" in render_markdown(bridged_meeting(), ctx)


def test_sigbot_is_no_attendee_though_its_lines_stay_in_the_log(tmp_path):
    minutes = bridged_meeting()
    assert [a.nick for a in minutes.attendees] == ["alice", "bob"]
    md = write_notes(minutes, tmp_path, RenderContext("gpu"))
    record = json.loads(md.with_suffix(".json").read_text())
    assert [a["nick"] for a in record["attendees"]] == ["alice", "bob"]
    assert "<sigbot> Noted." in md.with_suffix("").with_suffix(".log.txt").read_text()


def test_attendees_show_their_network_when_the_meeting_spanned_two(tmp_path):
    text = write_notes(bridged_meeting(), tmp_path, RenderContext("gpu")).read_text()
    assert "- **Attendees:** alice (Matrix), bob (IRC)\n" in text
    assert "- alice (Matrix): 3\n- bob (IRC): 1\n" in text


def test_a_meeting_through_the_dispatcher_lists_only_people_though_the_bot_answered(tmp_path):
    config = parse_config({"bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
                           "teams": [{"name": "wg", "matrix_room": "!wg:localhost"}]}, tmp_path / "sigbot.toml")
    dispatcher = Dispatcher(config, open_store(config.database), build_registry())
    for n, text in enumerate(["#startmeeting Sync", "#info hello", "#endmeeting"]):
        dispatcher.handle(Message(Network.MATRIX, "!wg:localhost", "@a:localhost", "a", text,
                                  START + timedelta(seconds=n), event_id=f"$e{n}"))
    record = json.loads(next((tmp_path / "notes/wg").rglob("*-sync.json")).read_text())
    log = next((tmp_path / "notes/wg").rglob("*.log.txt")).read_text().splitlines()
    assert [a["nick"] for a in record["attendees"]] == ["a"]
    assert len(log) > 3 and any("<a>" not in line for line in log)  # the bot's answers are in the log


def test_the_running_bot_renders_minutes_in_a_child_the_same_and_holds_no_jinja2(tmp_path):
    """bot/meeting/apart.py (issue 14: memory): `sigbot run` renders each meeting's Markdown in a child
    process, so jinja2 is not resident after the first meeting. The child's Markdown is byte for byte the
    in-process one, with every section a team fills (agenda, earlier actions) and a team's own template;
    the parent never imports jinja2; a child that fails is one RuntimeError naming why."""
    from bot.agenda.actions import EarlierAction
    from bot.agenda.agenda import MinutesAgendaItem
    from bot.meeting.apart import render_apart

    ctx = team_context(team(tmp_path), room_name="GPU \u202eWG", agenda=(
        MinutesAgendaItem("Driver *update*", "alice", True, False), MinutesAgendaItem("CI", "bob", False, True)),
        earlier_actions=(EarlierAction(3, "bob to [fix](x) CI", "2026-11-17", "open"),))
    minutes = bridged_meeting()
    assert render_apart(minutes, ctx) == render_markdown(minutes, ctx)
    own = tmp_path / "templates"
    own.mkdir()
    (own / "minutes.md.j2").write_text("# {{ m.name | md }} ({{ ctx.agenda | length }} items)\n")
    assert render_apart(minutes, ctx, own) == render_markdown(minutes, ctx, own) == "# GPU sync (2 items)\n"

    probe = ("import sys; from bot.meeting.apart import render_apart; from tests.test_minutes_record import *; "
             f"md = render_apart(bridged_meeting(), team_context(team(Path({str(tmp_path)!r})))); "
             "print('## Action items' in md, 'jinja2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1]).stdout
    assert out.split() == ["True", "False"], out

    (own / "minutes.md.j2").write_text("{{ no_such_name }}\n")
    with pytest.raises(RuntimeError, match="the minutes exited with 1: .*no_such_name"):
        render_apart(minutes, ctx, own)
