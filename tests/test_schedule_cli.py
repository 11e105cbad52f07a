"""`sigbot schedule ...`: the same changes as the chat commands, from the command line."""

import icalendar
from click.testing import CliRunner

from bot.cli import main

CONFIG = """
[bot]
data_dir = "var"
notes_dir = "notes"

[[teams]]
name = "wg"
matrix_room = "!wg:localhost"
timezone = "Asia/Shanghai"

[[teams.schedule.series]]
id = "wg"
title = "Accelerator Integration WG"
first = "2099-01-01T10:00"
every_weeks = 2
"""


def sigbot(tmp_path, *args):
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "sigbot.toml"), "schedule", *args])
    return result.exit_code, result.output


def test_the_cli_cancels_moves_adds_ends_and_writes_the_feed(tmp_path):
    (tmp_path / "sigbot.toml").write_text(CONFIG)
    assert sigbot(tmp_path, "cancel", "wg", "2099-01-15", "--reason", "national holiday")[0] == 0
    assert sigbot(tmp_path, "move", "wg", "2099-01-29", "2099-01-30T10:00")[0] == 0
    assert sigbot(tmp_path, "extra", "wg", "2099-01-08T09:00", "--title", "Temporary meeting")[0] == 0
    assert sigbot(tmp_path, "end", "wg", "2099-02-28")[0] == 0
    assert sigbot(tmp_path, "add", "monthly", "--title", "Monthly WG", "--first", "2099-03-05T10:00",
                  "--monthly", "first thursday")[0] == 0
    code, out = sigbot(tmp_path, "list", "--count", "7")
    assert code == 0
    rows = [line.split()[2] + " " + ("CANCELLED" if "CANCELLED" in line else line.split()[-1])
            for line in out.splitlines() if line.startswith("  ")]
    assert rows == ["2099-01-01 WG", "2099-01-08 meeting", "2099-01-15 CANCELLED", "2099-01-30 WG",
                    "2099-02-12 WG", "2099-02-26 WG", "2099-03-05 WG"]
    assert "national holiday" in out
    code, out = sigbot(tmp_path, "ics", "--out", str(tmp_path / "feed.ics"))
    assert code == 0
    for path in (
        tmp_path / "feed.ics",
        tmp_path / "notes" / "wg" / "calendar.ics",
        tmp_path / "notes" / "calendar.ics",
    ):
        uids = {str(e["UID"]) for e in icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT")}
        assert uids == {"wg.wg@sigbot", "wg.monthly@sigbot", "wg.wg.extra-3@sigbot"}


def test_the_cli_refuses_bad_input_clearly(tmp_path):
    (tmp_path / "sigbot.toml").write_text(CONFIG)
    assert sigbot(tmp_path, "cancel", "wg", "2099-01-16") == (
        1, "Error: series wg has no meeting on 2099-01-16; the next one is on 2099-01-29\n")
    assert sigbot(tmp_path, "cancel", "nope", "2099-01-15")[1] == "Error: team wg has no series 'nope' (series: wg)\n"
    assert "is not the first friday" in sigbot(tmp_path, "add", "m", "--title", "M", "--first", "2099-03-05T10:00",
                                               "--monthly", "first friday")[1]
    assert "no team 'other'" in sigbot(tmp_path, "list", "--team", "other")[1]
