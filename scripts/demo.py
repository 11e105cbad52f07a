"""The local demo: a whole working group on this machine, in one command (`make demo`).

It installs Synapse into .venv-synapse the first time (about a minute), starts
it and an IRC server (ngIRCd) on 127.0.0.1, registers the bot and a demo user,
creates the team room and channel, loads a sample team (a bi-weekly meeting
series, agenda items, a small loan inventory, this machine reporting as a farm
host through `sigbot farm-agent`), imports sample meeting logs into
notes/demo/, and runs `sigbot run`, which relays the room and the channel,
builds the archive and serves it. Ctrl-C stops everything it started. State
lives in var/demo/, so a second run reuses users, room and data and starts in
seconds.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers.ircd import IrcServer  # noqa: E402
from servers.synapse import Synapse, ensure_synapse, free_port, synapse_venv  # noqa: E402

STATE = ROOT / "var" / "demo"
SIGBOT = str(Path(sys.executable).with_name("sigbot"))  # the installed command, as an operator runs it
CHANNEL = "#demo"
STARTED = time.monotonic()

INVENTORY = [
    "w7900-1 gpu vendor=AMD model=\"Radeon PRO W7900\" target=gfx1100 memory=48GB donor=AMD",
    "rx7900xtx-1 gpu vendor=AMD model=\"Radeon RX 7900 XTX\" target=gfx1100 memory=24GB",
    "mi300-lab lab-access vendor=AMD model=\"MI300X lab account\" target=gfx942",
]
AGENDA = ["ROCm 6.4 packaging status", "GPU test farm: who can host a runner?", "PyTorch with ROCm in rawhide"]


class Step:
    """A progress line per step, with the time it took; on failure, what failed and how to fix it."""

    def __init__(self, text: str, fix: str = "") -> None:
        self.text, self.fix = text, fix

    def __enter__(self) -> "Step":
        print(f"[{time.monotonic() - STARTED:5.1f}s] {self.text} ...", flush=True)
        self.start = time.monotonic()
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None:
            print(f"         done in {time.monotonic() - self.start:.1f}s", flush=True)
            return False
        if kind is KeyboardInterrupt:
            return False
        print(f"\nsigbot demo: failed while {self.text.lower()}: {exc}", file=sys.stderr)
        if self.fix:
            print(f"  how to fix: {self.fix}", file=sys.stderr)
        print(f"  logs: {STATE}/*.log; to start over: rm -rf {STATE}", file=sys.stderr)
        raise SystemExit(1)


def api(base: str, method: str, path: str, token: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body or {}).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"{}")


def sigbot(config: Path, *args: str, env: dict | None = None) -> None:
    subprocess.run([SIGBOT, "--config", str(config), *args], cwd=STATE, check=True,
                   env=env, stdout=subprocess.DEVNULL)


def prepare(synapse: Synapse) -> dict:
    """Users and room, made once and remembered in var/demo/demo.json."""
    saved = STATE / "demo.json"
    if saved.exists():
        return json.loads(saved.read_text())
    demo = {"bot_password": secrets.token_hex(12), "user_password": secrets.token_hex(6),
            "farm_secret": secrets.token_hex(16), "web_port": free_port(), "irc_port": free_port()}
    demo["bot_id"] = synapse.register("sigbot", demo["bot_password"])
    demo["user_id"] = synapse.register("demo", demo["user_password"], admin=True)
    token = synapse.login("demo", demo["user_password"])
    room = api(synapse.base_url, "POST", "/_matrix/client/v3/createRoom", token,
               {"name": "Demo WG", "preset": "private_chat", "invite": [demo["bot_id"]]})
    demo["room_id"] = room["room_id"]
    saved.write_text(json.dumps(demo))
    return demo


def write_config(synapse: Synapse, ircd: IrcServer, demo: dict, host: str) -> Path:
    config = STATE / "sigbot.toml"
    config.write_text(f'''# Written by scripts/demo.py for the local demo.
[bot]
data_dir = "."
notes_dir = "{ROOT / "notes"}"
admin_contact = "{demo["user_id"]} (the demo user)"

[web]
listen = "127.0.0.1:{demo["web_port"]}"
public_url = "http://127.0.0.1:{demo["web_port"]}"

[site]
out = "site"

[matrix]
homeserver = "{synapse.base_url}"
user_id = "{demo["bot_id"]}"
password_env = "SIGBOT_DEMO_PASSWORD"

[irc]
host = "{ircd.host}"
port = {ircd.port}
tls = false
nick = "sigbot"

[[teams]]
name = "demo"
matrix_room = "{demo["room_id"]}"
irc_channels = ["{CHANNEL}"]
timezone = "Europe/Berlin"
admins = ["{demo["user_id"]}"]

[teams.schedule]
reminders = ["24h", "15m"]

[[teams.schedule.series]]
id = "wg"
title = "Demo WG meeting"
first = "2026-01-08T15:00"
every_weeks = 2
location = "this room, and {CHANNEL} on IRC"

[teams.loans]
admins = ["{demo["user_id"]}"]

[teams.farm]
interval_seconds = 30

[[teams.farm.machines]]
name = "{host}"
secret_env = "SIGBOT_DEMO_FARM_SECRET"
''')
    return config


def seed(config: Path, demo: dict) -> None:
    """The sample team's agenda and inventory, once."""
    if demo.get("seeded"):
        return
    for line in INVENTORY:
        sigbot(config, "hw", "add", *split_words(line))
    for item in AGENDA:
        sigbot(config, "agenda", "add", "--team", "demo", "--by", "demo", item)
    demo["seeded"] = True
    (STATE / "demo.json").write_text(json.dumps(demo))


def split_words(line: str) -> list[str]:
    return [w.replace('"', "") for w in re.findall(r'\w+="[^"]*"|\S+', line)]


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the demo as Ctrl-C does: everything it started stops too


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    STATE.mkdir(parents=True, exist_ok=True)
    host = re.sub(r"[^A-Za-z0-9.\-_]", "-", socket.gethostname())[:60] or "demo-host"
    with Step("Importing the sample meeting logs into notes/demo/"):
        subprocess.run([SIGBOT, "demo"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    with Step("Installing Synapse into .venv-synapse (first run only: about a minute)",
              "check that PyPI is reachable, or delete .venv-synapse and run again"):
        python = ensure_synapse(synapse_venv())
    synapse = Synapse(python, STATE / "synapse")
    procs: list[subprocess.Popen] = []
    ircd: IrcServer | None = None
    try:
        with Step("Starting Synapse on 127.0.0.1", f"see {STATE}/synapse/synapse.log"):
            synapse.start()
        with Step("Registering the bot and the demo user, creating the room"):
            demo = prepare(synapse)
        with Step("Starting the IRC server (ngIRCd) on 127.0.0.1",
                  "install it: sudo apt-get install ngircd (make demo does this)"):
            ircd = IrcServer(port=demo["irc_port"])
            ircd.start()
        config = write_config(synapse, ircd, demo, host)
        env = {**os.environ, "SIGBOT_DEMO_PASSWORD": demo["bot_password"],
               "SIGBOT_DEMO_FARM_SECRET": demo["farm_secret"]}
        with Step("Checking the config and loading the sample team (series, agenda, inventory)"):
            sigbot(config, "check-config", env=env)
            seed(config, demo)
        web = f"http://127.0.0.1:{demo['web_port']}"
        with Step("Starting sigbot (Matrix, IRC relay, schedule, loans, farm, archive)",
                  f"see {STATE}/sigbot.log"):
            log = open(STATE / "sigbot.log", "a")
            procs.append(subprocess.Popen([SIGBOT, "--config", str(config), "run"],
                                          cwd=STATE, env=env, stdout=log, stderr=log))
            wait_for(f"{web}/healthz", procs[0], STATE / "sigbot.log")
        with Step(f"Starting `sigbot farm-agent` for this machine ({host})"):
            agent_log = open(STATE / "farm-agent.log", "a")
            procs.append(subprocess.Popen(
                [SIGBOT, "farm-agent", "--url", f"{web}/farm/report", "--host", host,
                 "--secret-env", "SIGBOT_DEMO_FARM_SECRET", "--interval", "30"],
                cwd=STATE, env=env, stdout=agent_log, stderr=agent_log))
        print(f"""
sigbot is running a demo working group on this machine. Take part:

  Matrix    homeserver {synapse.base_url}
            user "demo", password {demo["user_password"]} (any Matrix client, e.g. Element)
            room "Demo WG" ({demo["room_id"]}), already joined
  IRC       server {ircd.host} port {ircd.port} (no TLS), channel {CHANNEL}
            e.g. irssi -c {ircd.host} -p {ircd.port} -n you, then /join {CHANNEL}
  Archive   {web}/   (minutes, search, calendar, loans, farm)
  Calendar  {web}/calendar/demo.ics

Try: !help, !next, !agenda, !hw list, !loan request gfx1100 for testing, !farm,
then #startmeeting Demo, #topic 1, #info ..., #action ..., #endmeeting.
Logs: {STATE}/sigbot.log. Ctrl-C stops everything.
""", flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        print(f"sigbot demo: a process stopped; see {STATE}/sigbot.log and farm-agent.log", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping ...", flush=True)
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        if ircd is not None:
            ircd.close()
        synapse.stop()


def wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("sigbot exited: " + log.read_text()[-2000:])
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"sigbot did not become healthy at {url} in {timeout:.0f} s")


if __name__ == "__main__":
    main()
