"""Config: one TOML file, every problem reported at once with its key path."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]


def errors_of(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.errors


def test_the_example_config_is_valid(monkeypatch):
    monkeypatch.setenv("SIGBOT_MATRIX_PASSWORD", "x")
    config = load_config(ROOT / "sigbot.example.toml")
    assert config.team("ai-ml").timezone == "Europe/Berlin"
    assert config.team_for_room("#FEDORA-AI-ML").name == "ai-ml"


def test_every_error_is_reported_with_its_key_path():
    errors = errors_of({
        "bot": {"notes_dir": 3, "colour": "blue"},
        "teams": [
            {"name": "Bad Name", "matrix_room": "not-a-room", "timezone": "Europe/Berln",
             "irc_channels": ["nochannel"], "chair_power_level": "high"},
            {"name": "ok"},
        ],
    })
    for expected in ("bot.notes_dir: must be str", "bot.colour: unknown key", "teams[0].name:",
                     "teams[0].matrix_room:", "teams[0].timezone: unknown timezone 'Europe/Berln'",
                     "teams[0].irc_channels[0]:", "teams[0].chair_power_level: must be int",
                     "teams[1]: give matrix_room, irc_channels or both"):
        assert any(e.startswith(expected) for e in errors), (expected, errors)


def test_a_secret_written_in_the_file_is_refused_and_not_repeated():
    errors = errors_of({"matrix": {"homeserver": "https://m.org", "user_id": "@b:m.org", "password": "hunter2"},
                        "teams": [{"name": "a", "irc_channels": ["#a"]}]})
    assert any("matrix.password: secrets are never written in the config" in e for e in errors)
    assert not any("hunter2" in e for e in errors)


def test_one_room_in_two_teams_is_refused_as_double_bridging():
    errors = errors_of({"teams": [{"name": "a", "irc_channels": ["#x"]}, {"name": "b", "irc_channels": ["#X"]}]})
    assert any("already used by team a" in e for e in errors)


def test_check_config_exits_non_zero_and_lists_problems(tmp_path):
    bad = tmp_path / "sigbot.toml"
    bad.write_text('[[teams]]\nname = "x"\ntimezone = "Mars/Olympus"\n')
    result = CliRunner().invoke(main, ["check-config", str(bad)])
    assert result.exit_code == 2
    assert "teams[0].timezone" in result.output and "teams[0]: give matrix_room" in result.output
    assert "Traceback" not in result.output


def test_check_config_says_which_secret_is_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("SIGBOT_MATRIX_PASSWORD", raising=False)
    result = CliRunner().invoke(main, ["check-config", str(ROOT / "sigbot.example.toml")])
    assert result.exit_code == 2 and "environment variable SIGBOT_MATRIX_PASSWORD is not set" in result.output


def test_broken_toml_and_missing_files_get_a_clear_answer(tmp_path):
    broken = tmp_path / "b.toml"
    broken.write_text("[teams\n")
    for path, words in ((broken, "not valid TOML"), (tmp_path / "none.toml", "no such file")):
        result = CliRunner().invoke(main, ["check-config", str(path)])
        assert result.exit_code == 2 and words in result.output


def test_a_secret_never_shows_its_value(monkeypatch):
    monkeypatch.setenv("SIGBOT_MATRIX_PASSWORD", "hunter2")
    config = load_config(ROOT / "sigbot.example.toml")
    assert "hunter2" not in repr(config) and config.matrix.password.get() == "hunter2"


def test_a_listen_address_that_is_not_host_and_port_is_named_before_anything_binds():
    for listen in ("8080", "localhost:http", "127.0.0.1:70000", "127.0.0.1:-1", "a b:80", ""):
        errors = errors_of({"web": {"listen": listen}, "teams": [{"name": "a", "irc_channels": ["#a"]}]})
        assert any(e.startswith("web.listen:") and "is not host:port" in e for e in errors), (listen, errors)
    for listen in ("127.0.0.1:0", "[::1]:8080", ":8080", "sig.example.org:443"):
        parse_config({"web": {"listen": listen}, "teams": [{"name": "a", "irc_channels": ["#a"]}]})


def test_numbers_that_are_not_finite_or_overflow_a_timeout_are_refused_with_their_key():
    for value in (float("nan"), float("inf"), 1e300, -1.0):
        errors = errors_of({"bot": {"meeting_timeout_hours": value},
                            "teams": [{"name": "a", "irc_channels": ["#a"], "meeting_timeout_hours": value}]})
        assert any(e.startswith("bot.meeting_timeout_hours:") for e in errors), (value, errors)
        assert any(e.startswith("teams[0].meeting_timeout_hours:") for e in errors), (value, errors)
    errors = errors_of({"irc": {"host": "irc.example.org", "ping_interval": float("nan")}, "teams": []})
    assert "irc.ping_interval: must be a finite number, not nan" in errors


def test_a_folder_of_zones_is_an_unknown_timezone_not_a_crash():
    errors = errors_of({"teams": [{"name": "a", "irc_channels": ["#a"], "timezone": "America"}]})
    assert "teams[0].timezone: unknown timezone 'America' (use an IANA name such as Europe/Berlin)" in errors
