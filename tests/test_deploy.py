"""The systemd units in deploy/ are valid, hardened, and run commands that exist with arguments they accept."""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main as sigbot_cli
from bot.farm.host import cli as agent_cli

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SIGBOT = Path(sys.executable).with_name("sigbot")


def unit(name: str) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    text = (DEPLOY / name).read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            keys.setdefault(key.strip(), []).append(value.strip())
    return keys


@pytest.mark.parametrize("name", ["sigbot.service", "sigbot-farm-agent.service"])
def test_systemd_accepts_the_unit(name, tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze (Debian's systemd package) is needed to check the units"
    text = (DEPLOY / name).read_text().replace("/opt/sigbot/bin/sigbot", str(SIGBOT))
    text = text.replace("/opt/sigbot-farm-agent/sigbot-farm-agent.pyz", str(tmp_path / "agent.pyz"))
    (tmp_path / name).write_text(text)
    done = subprocess.run([analyze, "verify", str(tmp_path / name)], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


@pytest.mark.parametrize("name", ["sigbot.service", "sigbot-farm-agent.service"])
def test_the_unit_keeps_state_secrets_and_limits_as_operators_expect(name):
    keys = unit(name)
    assert keys["StateDirectory"] and keys["LimitNOFILE"] and keys["LoadCredential"]
    assert all(k in keys for k in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp"))
    assert "EnvironmentFile" not in keys  # secrets come as credentials (files), not environment variables


def test_the_bot_unit_runs_commands_sigbot_accepts():
    keys = unit("sigbot.service")
    for command in keys["ExecStartPre"] + keys["ExecStart"]:
        argv = shlex.split(command)[1:]
        # --help after the command: click parses every option given before it, then stops.
        with pytest.raises(SystemExit) as done:
            sigbot_cli.main(argv + ["--help"], prog_name="sigbot", standalone_mode=True)
        assert done.value.code == 0, command


def test_the_agent_unit_runs_the_bundle_with_arguments_it_accepts():
    argv = shlex.split(unit("sigbot-farm-agent.service")["ExecStart"][0])
    assert argv[:2] == ["/usr/bin/python3", "/opt/sigbot-farm-agent/sigbot-farm-agent.pyz"]
    args = agent_cli.parser().parse_args(argv[2:])
    assert args.url.endswith("/farm/report") and args.secret_file and args.interval == 60
