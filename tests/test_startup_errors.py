"""What an operator sees when sigbot cannot start: one clear line per problem and a non-zero exit, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

GOOD = '''[bot]
data_dir = "var"
[web]
listen = "127.0.0.1:0"
[matrix]
homeserver = "http://127.0.0.1:9"
user_id = "@bot:localhost"
password_env = "SIGBOT_TEST_PW"
[[teams]]
name = "wg"
matrix_room = "!room:localhost"
'''


def sigbot(tmp_path: Path, config: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    path = tmp_path / "sigbot.toml"
    path.write_text(config)
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(path), *args], cwd=tmp_path,
                          env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **(env or {})},
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("config, expected", [
    ("[bot\n", "not valid TOML"),
    (GOOD.replace('name = "wg"', 'name = "Not A Name"'), "teams[0].name"),
    (GOOD.replace('password_env = "SIGBOT_TEST_PW"', 'password = "hunter2"'), "secrets are never written"),
    (GOOD.replace('homeserver = "http://127.0.0.1:9"', 'homeserver = "matrix.example.org"'), "matrix.homeserver"),
    (GOOD + 'colour = "blue"\n', "unknown key"),
])
def test_a_broken_config_is_named_and_refused(tmp_path, config, expected):
    done = sigbot(tmp_path, config, "run", env={"SIGBOT_TEST_PW": "x"})
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_secret_is_named_before_connecting(tmp_path):
    done = sigbot(tmp_path, GOOD, "run")
    assert done.returncode == 2
    assert "matrix.password: environment variable SIGBOT_TEST_PW is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_homeserver_at_start_is_named(tmp_path):
    done = sigbot(tmp_path, GOOD, "run", env={"SIGBOT_TEST_PW": "x"})
    assert done.returncode == 1
    assert "cannot reach the Matrix homeserver http://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_config_file_says_how_to_start(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bot", "--config", str(tmp_path / "nope.toml"), "run"],
                          env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert done.returncode == 2
    assert "no such file" in done.stderr and "sigbot.example.toml" in done.stderr


@pytest.mark.parametrize("content, expected", [
    (b"\xff\xfe\x00p\x00w", "is not UTF-8 text"),
    (None, "not a regular file"),  # a folder named where the file should be
])
def test_a_password_file_that_cannot_be_read_as_text_is_named_before_connecting(tmp_path, content, expected):
    secret = tmp_path / "password"
    if content is None:
        secret.mkdir()
    else:
        secret.write_bytes(content)
    config = GOOD.replace('password_env = "SIGBOT_TEST_PW"', f'password_file = "{secret}"')
    for command in ("check-config", "run"):
        done = sigbot(tmp_path, config, command)
        assert done.returncode == 2, (command, done.stderr)
        assert "matrix.password:" in done.stderr and expected in done.stderr, (command, done.stderr)
        assert "Traceback" not in done.stderr and "unexpected error" not in done.stderr


def test_a_busy_web_port_is_one_clear_line(tmp_path):
    """`sigbot run` starts its web server after logging in; `sigbot serve` at once: both use start_web."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "notes").mkdir()
        done = sigbot(tmp_path, GOOD, "serve", "--notes", "notes", "--out", "site", "--listen", f"127.0.0.1:{port}")
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"Error: the web server cannot listen on 127.0.0.1:{port}: Address already in use "
        "(see [web] listen in the config)")
