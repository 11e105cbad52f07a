"""Replaying MeetBot logs: hand-checked counts, golden files, and the CLI command."""

import json
import os
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.meeting.minutes import minutes_json
from bot.meeting.render import RenderContext, write_notes
from bot.meeting.replay import channel_from_name, parse_log, replay
from bot.registry import build_registry

SAMPLES = Path(__file__).resolve().parents[1] / "bot" / "samples"
GOLDEN = Path(__file__).resolve().parent / "golden"
FEDORA = SAMPLES / "fedora-ai-ml.2023-07-31-15.00.log.txt"


def test_a_replayed_log_has_the_items_meetbot_would_record():
    # Counted by hand from the log with MeetBot's rules: tflink's "#agreed" is
    # ignored (not a chair), "proposed #agreed" and "#123" are no commands, the
    # #undo removes "oops wrong", the bare URL line is a link.
    m = replay(FEDORA.read_text(), date(2023, 7, 31), "#fedora-ai-ml", build_registry())
    data = minutes_json(m)
    assert data["name"] == "Fedora AI/ML SIG" and data["channel"] == "#fedora-ai-ml"
    assert [t["title"] for t in data["topics"]] == [
        "Updates", "Group purpose", "Real time communication", "How to get hardware into the right hands"]
    assert [[i["kind"] for i in t["items"]] for t in data["topics"]] == [
        ["info", "link", "link", "info"], ["idea", "link", "link", "agreed"],
        ["info", "action", "action"], ["help", "idea", "rejected", "action", "action"]]
    assert [(a["text"], a["owners"]) for a in data["actions"]] == [
        ("jsteffan to follow up on the Matrix channel request", ["jsteffan"]),
        ("trix file the FAS group request", ["trix"]),
        ("tflink to ask about the beaker test farm", ["tflink"]),
        ("write a hardware lending policy", [])]
    assert [(a["nick"], a["lines"]) for a in data["attendees"]] == [
        ("trix", 16), ("jsteffan", 9), ("tflink", 7), ("zodbot", 6)]
    assert data["chairs"] == ["trix", "jsteffan"]
    assert data["started"] == "2023-07-31T15:00:02Z" and data["ended"] == "2023-07-31T15:13:00Z"
    links = [i["url"] for t in data["topics"] for i in t["items"] if i["kind"] == "link"]
    assert links[3] == "https://fedoraproject.org/wiki/SIGs/Python"


@pytest.mark.parametrize("log", sorted(SAMPLES.glob("*.log.txt")), ids=lambda p: p.name)
def test_rendered_minutes_match_the_golden_files(log: Path, tmp_path: Path):
    minutes = replay(log.read_text(), date(2000, 1, 1), channel_from_name(log), build_registry())
    md = write_notes(minutes, tmp_path, RenderContext("demo", "Europe/Berlin"))
    for produced in sorted(tmp_path.iterdir()):
        golden = GOLDEN / produced.name
        if os.environ.get("SIGBOT_UPDATE_GOLDEN"):
            GOLDEN.mkdir(exist_ok=True)
            golden.write_text(produced.read_text())
        assert produced.read_text() == golden.read_text(), f"{produced.name} differs from {golden}"
    assert md.exists()


def test_the_log_written_replays_to_the_same_minutes(tmp_path: Path):
    first = replay(FEDORA.read_text(), date(2023, 7, 31), "#fedora-ai-ml", build_registry())
    write_notes(first, tmp_path, RenderContext("t"))
    written = next(tmp_path.glob("*.log.txt")).read_text()
    again = replay(written, date(2023, 7, 31), "#fedora-ai-ml", build_registry())
    assert minutes_json(again) == minutes_json(first)


def test_log_lines_in_other_clients_formats_are_read():
    text = "[16:00] <@alice> #startmeeting x\n[16:01] <+bob> hi\n-!- carol has joined\n16:02:03 * bob waves\n"
    lines = parse_log(text, date(2024, 1, 1))
    assert [(ln.nick, ln.text, ln.kind.value) for ln in lines] == [
        ("alice", "#startmeeting x", "said"), ("bob", "hi", "said"), ("bob", "waves", "me")]


def test_a_meeting_past_midnight_keeps_counting_forward():
    lines = parse_log("23:59:00 <a> #startmeeting x\n00:01:00 <a> #endmeeting\n", date(2024, 1, 1))
    assert lines[1].time.date() == date(2024, 1, 2)


def test_the_replay_command_writes_the_three_files(tmp_path: Path):
    result = CliRunner().invoke(main, ["notes", "replay", str(FEDORA), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"2023-07-31-1500-fedora-ai-ml-sig.{ext}" for ext in ("json", "log.txt", "md")]
    assert json.loads((tmp_path / names[0]).read_text())["channel"] == "#fedora-ai-ml"


def test_replay_without_a_date_asks_for_one(tmp_path: Path):
    log = tmp_path / "meeting.log.txt"
    log.write_text(FEDORA.read_text())
    result = CliRunner().invoke(main, ["notes", "replay", str(log), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--date" in result.output


def test_replay_of_something_that_is_no_meeting_says_so(tmp_path: Path):
    log = tmp_path / "x.2024-01-01.log.txt"
    log.write_bytes(b"\xff\xfe not a log \x00\n12:00 <a> hello\n")
    result = CliRunner().invoke(main, ["notes", "replay", str(log), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "no #startmeeting" in result.output
