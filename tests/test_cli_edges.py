"""Every grammar the command line reads, attacked with generated input: never a traceback, never a hang.

Meeting logs for `notes replay` (random bytes, and lines in MeetBot's own
shapes with every chat command, clocks in and out of range, any date of the
calendar and any zone name), random arguments for every command of the click
tree, and random TOML documents for `check-config`. The rule for each call:
exit code 0, 1 (refused) or 2 (usage, config); a refusal is one line on
stderr (a config's problems one line each, under one heading); no
"unexpected error" (that line means an exception nobody handled); and each
call finishes within CALL_SECONDS, checked with SIGALRM so a hang fails the
test instead of stopping the suite. Commands run in-process through click's
CliRunner; example counts are kept small so the file runs in well under a
minute.
"""

import json
import logging
import math
import os
import re
import signal
import string
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_database_recovery import CONFIG  # a team with a database, as an admin has it

from bot.cli import main
from bot.config.sections import ROOT_SECTIONS, TEAM_SECTIONS
from bot.registry import build_registry

ROOT = Path(__file__).resolve().parents[1]
CALL_SECONDS = 10
# `serve` and `farm-agent` run until they are stopped once their arguments are
# good, so a bound on the call cannot tell them from a hang; their options are
# click types, and their own tests (test_site_*.py, test_farm_*.py) start them.
RUN_UNTIL_STOPPED = {("serve",), ("farm-agent",)}
EDGE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


class Hang(Exception):
    pass


@contextmanager
def bounded(seconds: int = CALL_SECONDS):
    def ring(signum, frame):
        raise Hang(f"no answer in {seconds} s")
    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def sigbot(folder: Path, *args: str):
    """One call as a shell would make it, bounded, leaving logging as it found it (`run` sets it up)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with bounded():
            return CliRunner().invoke(main, ["--config", str(folder / "sigbot.toml"), *args])
    finally:
        root.handlers[:], root.level = handlers, level


def answered_in_one_line(result, args) -> None:
    """Exit 0, or 1/2 with one line on stderr (or one per problem); never a traceback or an unhandled exception."""
    assert not isinstance(result.exception, Hang), args
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.output and "unexpected error" not in result.output, (args, result.output)
    if result.exit_code:
        lines = result.stderr.splitlines()
        assert lines, (args, result.output)
        heading = re.fullmatch(r"sigbot: .* has (\d+) problem\(s\):", lines[0])
        if heading:  # a config: every problem on its own line
            assert len(lines) == 1 + int(heading[1]) and all(ln.startswith("  - ") for ln in lines[1:]), lines
        elif len(lines) > 1:  # a file's problems (hw import), one line each
            assert all(ln.startswith("  - ") for ln in lines), (args, lines)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli")
    (path / "sigbot.toml").write_text(CONFIG)
    (path / "notes").mkdir()
    return path


# --- meeting logs for `notes replay` ----------------------------------------------------------------------

COMMANDS = sorted({f"#{word}" for cmd in build_registry() for word in cmd.words})
NICKS = st.sampled_from(["alice", "bob", "@chair", "+voice", "zodbot", "a b", ">", "", "ünï"])
CLOCK = st.builds(lambda h, m, s, brackets: ("[{}]" if brackets else "{}").format(f"{h:02d}:{m:02d}:{s:02d}"),
                  st.integers(0, 30), st.integers(0, 70), st.integers(0, 70), st.booleans())
WORDS = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=40)
LINE = st.one_of(
    st.builds(lambda c, n, cmd, w: f"{c} <{n}> {cmd} {w}", CLOCK, NICKS, st.sampled_from(COMMANDS), WORDS),
    st.builds(lambda c, n, w: f"{c} <{n}> {w}", CLOCK, NICKS, WORDS),
    st.builds(lambda c, n, w: f"{c} * {n} {w}", CLOCK, NICKS, WORDS),
    WORDS,
)
LOG = st.lists(LINE, max_size=30).map(lambda lines: ["00:00:01 <alice> #startmeeting x", *lines]).map("\n".join)
ZONES = st.one_of(st.sampled_from(["UTC", "Asia/Tokyo", "Pacific/Kiritimati", "Etc/GMT+12", "America/New_York"]),
                  st.sampled_from(["", "Not/AZone", "America", "../etc", "/etc/localtime", "UTC ", "Europe/Berlin/"]),
                  WORDS)
DAYS = st.dates(date(1, 1, 1), date(9999, 12, 31))


def replay_call(folder: Path, content: bytes, day: date, zone: str, name: str | None = None):
    log = folder / "wg.log.txt"
    log.write_bytes(content)
    args = ["notes", "replay", str(log), "--out", str(folder / "minutes"), "--date", day.isoformat(),
            "--timezone", zone, *(["--name", name] if name is not None else [])]
    result = sigbot(folder, *args)
    answered_in_one_line(result, args)
    return result


@EDGE
@given(content=st.binary(max_size=2000), day=DAYS)
def test_random_bytes_as_a_meeting_log_are_refused_in_one_line(folder, content, day):
    replay_call(folder, content, day, "UTC")


@EDGE
@given(text=LOG, day=DAYS, zone=ZONES, name=st.none() | WORDS)
@example(text="00:30 <a> #startmeeting x\n23:50 <a> hi\n00:10 <a> #endmeeting", day=date(1, 1, 1), zone="UTC",
         name=None)
@example(text="00:30 <a> #startmeeting x\n23:50 <a> hi\n00:10 <a> #endmeeting", day=date(9999, 12, 31),
         zone="Asia/Tokyo", name=None)
@example(text="00:00:01 <alice> #startmeeting x", day=date(2024, 1, 1), zone="Not/AZone", name=None)
@example(text="00:00:01 <alice> #startmeeting x", day=date(2024, 1, 1), zone="", name=None)
def test_meetbot_shaped_logs_on_any_day_in_any_zone_give_minutes_or_one_line(folder, text, day, zone, name):
    result = replay_call(folder, text.encode("utf-8", "surrogatepass"), day, zone, name)
    if result.exit_code == 0:
        written = Path(result.stdout.split("  (")[0])
        assert written.is_file() and written.with_suffix("").with_suffix(".json").is_file()


def test_a_meeting_at_the_ends_of_the_calendar_is_refused_in_words(folder):
    past_midnight = b"00:30 <a> #startmeeting x\n23:50 <a> hi\n00:10 <a> #endmeeting\n"
    assert (
        "give a date from 0001-01-02 to 9999-12-30" in replay_call(folder, past_midnight, date(1, 1, 1), "UTC").stderr
    )
    assert "runs the meeting past 9999-12-30" in replay_call(folder, past_midnight, date(9999, 12, 30), "UTC").stderr
    assert "unknown timezone 'Not/AZone'" in replay_call(folder, past_midnight, date(2024, 1, 1), "Not/AZone").stderr


def test_a_capture_that_is_not_utf8_is_read_with_replacements_not_a_traceback(folder, tmp_path):
    capture = tmp_path / "apps.csv"
    capture.write_bytes(b"\xff\xfe pid, name\n")
    result = sigbot(folder, "farm", "parse", "--format", "nvidia-smi-csv", str(capture), "--apps", str(capture))
    answered_in_one_line(result, "apps.csv")  # --apps once decoded strictly: a UnicodeDecodeError
    assert result.exit_code == 0 and json.loads(result.stdout)["host"] == "unknown"


# --- arguments for every command ------------------------------------------------------------------------

def leaves(command: click.Command, path: tuple[str, ...] = ()):
    """Every command a user can name, as click resolves it (the features' are imported when named)."""
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from leaves(sub, (*path, name))
    else:
        yield path, command


LEAVES = [(path, command) for path, command in leaves(main) if path not in RUN_UNTIL_STOPPED]
SHAPES = ["wg", "nope", "1", "0", "-1", "99999999999999999999999", "2099-01-16", "0001-01-01", "9999-12-31",
          "18:00", "25:99", "gfx1100", "@ada:localhost", "irc:ada", "for", "-", "", " ", "--", "-x", "a=b",
          "var/sigbot.db", "sigbot.toml", "/", "nowhere/x.db", "Europe/Berlin", "Not/AZone", "1e309", "nan"]


def arguments_for(command: click.Command):
    """Options with values (so that commands get past their required options), flags, and bare words."""
    value = st.one_of(st.sampled_from(SHAPES), WORDS)
    pieces = [value.map(lambda v: [v])]
    for param in command.params:
        if isinstance(param, click.Option):
            name = st.sampled_from(param.opts)
            pieces.append(name.map(lambda n: [n]) if param.is_flag else st.tuples(name, value).map(list))
    return st.lists(st.one_of(pieces), max_size=6).map(lambda chunks: [word for chunk in chunks for word in chunk])


@st.composite
def command_lines(draw):
    path, command = draw(st.sampled_from(LEAVES))
    return [*path, *draw(arguments_for(command))]


def test_the_walk_reaches_every_command():
    names = {" ".join(path) for path, _ in LEAVES}
    assert {"check-config", "run", "notes replay", "meeting list", "hw list", "backup", "restore",
            "schedule add", "loans request", "agenda move"} <= names


@settings(EDGE, max_examples=150)
@given(args=command_lines())
@example(args=["meeting", "list", "--team", "\x7f"])
@example(args=["restore", "sigbot.toml"])
@example(args=["backup", "/"])
def test_random_arguments_to_every_command_give_an_answer_or_one_line(folder, args, monkeypatch):
    monkeypatch.chdir(folder)  # files a command writes (a backup, an .ics) stay in the test's folder
    answered_in_one_line(sigbot(folder, *args), args)


# --- config files for `check-config` ---------------------------------------------------------------------

EXAMPLE = (ROOT / "sigbot.example.toml").read_text()
KEYS = sorted(set(re.findall(r"^#? *([a-z_]+) *=", EXAMPLE, re.M)))
SCALAR = st.one_of(st.integers(-(2**70), 2**70), st.floats(), st.booleans(), WORDS,
                   st.sampled_from(["Europe/Berlin", "America", "#chan", "!room:localhost", "@u:localhost",
                                    "http://127.0.0.1:9", "var"]))
VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(KEYS), inner, max_size=3), max_leaves=8)
SECTIONS = sorted({"bot", "matrix", "irc", "web", *ROOT_SECTIONS})


def toml(value) -> str:
    """A value as TOML, inline (enough to write any document these strategies make)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + "}"


@st.composite
def documents(draw):
    doc = {"bot": {"data_dir": "var"}, "teams": [{"name": "wg", "matrix_room": "!wg:localhost"}]}
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.sampled_from(["section", "team", "team-section"]))
        if where == "section":
            doc.setdefault(draw(st.sampled_from(SECTIONS)), {})
            section = doc[draw(st.sampled_from([k for k in doc if k != "teams"]))]
        elif where == "team":
            section = doc["teams"][0]
        else:
            section = doc["teams"][0].setdefault(draw(st.sampled_from(sorted(TEAM_SECTIONS))), {})
        if isinstance(section, dict):
            section[draw(st.sampled_from(KEYS))] = draw(VALUE)
    return "\n".join(f"{json.dumps(key)} = {toml(value)}" for key, value in doc.items()) + "\n"


def check(folder: Path, text: str):
    path = folder / "candidate.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = sigbot(folder, "check-config", str(path))
    answered_in_one_line(result, text[:200])
    assert result.exit_code in (0, 2), result.output
    return result


@EDGE
@given(text=documents())
def test_random_config_documents_are_accepted_or_their_problems_listed(folder, text):
    check(folder, text)


@EDGE
@given(cut=st.integers(0, len(EXAMPLE)), insert=st.text(string.printable, max_size=12))
def test_the_example_config_cut_and_spliced_anywhere_is_checked_in_lines(folder, cut, insert):
    check(folder, EXAMPLE[:cut] + insert + EXAMPLE[cut:])


@pytest.mark.parametrize("text, expected", [
    ("a = " + "[" * 5000 + "]" * 5000 + "\n", "line 1, a: arrays or tables are nested more than 32 deep"),
    ("[bot]\nmeeting_timeout_hours = " + "1" * 5000 + "\n",
     "line 2, bot.meeting_timeout_hours: an integer of 5000 digits"),
    ("[bot]\ndata_dir = 'var'\n[[teams]]\nname = 'wg'\nmatrix_room = '!wg:localhost'\nchair_power_level = "
     + "9" * 30 + "\n", f"teams[0].chair_power_level: {'9' * 30} is outside TOML's 64-bit integers"),
    ("x = " + "{a = " * 200 + "1" + "}" * 200 + "\n", "nested more than 32 deep"),
])
def test_toml_too_deep_or_too_long_is_refused_with_its_key_path(folder, text, expected):
    assert expected in check(folder, text).stderr


# --- the one place that answers what nobody expected -----------------------------------------------------

@contextmanager
def a_command_that_fails_unexpectedly():
    @click.command("explode")
    def explode():
        {}["boom"]

    main.add_command(explode)
    try:
        yield
    finally:
        del main.commands["explode"]


def test_an_unexpected_error_is_one_line_and_its_traceback_is_logged_once(folder, caplog):
    with a_command_that_fails_unexpectedly():
        result = sigbot(folder, "explode")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr == ("Error: unexpected error in explode: KeyError: 'boom' "
                             "(--log-level DEBUG shows where; please report it)\n")
    logged = [r for r in caplog.records if r.exc_info]  # pytest's handler stands for the log `run` sets up
    assert len(logged) == 1 and logged[0].exc_info[0] is KeyError


def test_log_level_debug_shows_the_traceback_before_the_one_line(folder):
    with a_command_that_fails_unexpectedly():
        result = sigbot(folder, "--log-level", "DEBUG", "explode")
    assert result.exit_code == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.splitlines()[-1].startswith("Error: unexpected error in explode: KeyError: 'boom'")


def test_a_file_name_with_a_newline_and_an_escape_stays_on_one_line(folder):
    result = sigbot(folder, "check-config", "a\nb\x1b[31m")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["sigbot: a\\nb\\x1b[31m has 1 problem(s):",
                                          "  - a\\nb\\x1b[31m: no such file (copy sigbot.example.toml to start)"]


@pytest.mark.parametrize("listen", ["127.0.0.1:99999", "", "x", ":", "[::1]:80:1", "127.0.0.1:-1", "localhost:0x50"])
def test_serve_refuses_a_listen_address_before_building_or_binding(folder, listen, tmp_path):
    result = sigbot(folder, "serve", "--notes", str(folder / "notes"), "--out", str(tmp_path / "site"),
                    "--listen", listen)
    answered_in_one_line(result, listen)
    assert result.exit_code == 2 and "is not host:port" in result.stderr
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize("kind", ["device", "fifo", "folder", "huge"])
def test_a_named_file_that_would_never_end_is_refused_not_read(folder, tmp_path, kind):
    if kind == "device":
        named = Path("/dev/zero")
    elif kind == "fifo":
        named = tmp_path / "pipe"
        os.mkfifo(named)  # open() alone would wait for a writer forever
    elif kind == "folder":
        named = tmp_path
    else:
        named = tmp_path / "huge.toml"
        with open(named, "wb") as f:
            f.truncate(65 * 1024 * 1024)  # sparse: past both limits, no disk used
    for args in (["check-config", str(named)], ["--config", str(named), "meeting", "list"],
                 ["notes", "replay", str(named), "--out", str(tmp_path / "out"), "--date", "2024-01-01"],
                 ["farm", "parse", "--format", "nvidia-smi-csv", str(named)],
                 ["farm", "parse", "--format", "nvidia-smi-csv", "-", "--apps", str(named)]):
        result = sigbot(folder, *args)
        answered_in_one_line(result, args)
        why = result.stderr.lower()
        assert result.exit_code in (1, 2), (args, result.stderr)
        assert "not a regular file" in why or "larger than" in why or "is a directory" in why, (args, why)
