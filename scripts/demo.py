"""The local demo: a whole working group on this machine, in one command (`make demo`).

It installs Synapse into .venv-synapse the first time (about a minute), starts
it and an IRC server (ngIRCd) on 127.0.0.1, registers the bot and a demo user,
creates the team room (alias #demo:localhost) and channel, loads a sample team
(a bi-weekly meeting series, agenda items, a small loan inventory, this machine
reporting as a farm host through `sigbot farm-agent`), imports sample meeting
logs into notes/demo/, and runs `sigbot run`, which relays the room and the
channel, builds the archive and serves it. Then it prints what a person needs
to join from Element, matrix-commander or irssi, and how to try an encrypted
direct chat with the bot.

State lives in var/demo/ (or $SIGBOT_DEMO_STATE): users, room, data and the
three ports, so a second run starts in seconds on the same ports and a client
that is signed in stays signed in. A port is chosen once (or through
$SIGBOT_DEMO_MATRIX_PORT, $SIGBOT_DEMO_IRC_PORT, $SIGBOT_DEMO_WEB_PORT) and
checked before anything starts; a taken one is reported in one line.

Stopping: the process `make demo` starts runs the demo itself as a worker in
a process group of its own, which every server and sigbot process it starts
joins (scripts/process_group.py says how and why). A SIGINT (Ctrl-C), SIGTERM
or SIGHUP stops the worker, which stops its servers in order; whatever is
still in the group after that is killed. The worker also stops when the
process that started it is gone without a word (SIGKILL).
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from process_group import STOP_SIGNALS, supervise  # noqa: E402
from servers.ircd import NGIRCD_BINARY, IrcServer  # noqa: E402
from servers.synapse import Synapse, ensure_synapse, synapse_venv  # noqa: E402

DEFAULT_STATE = ROOT / "var" / "demo"
STATE = Path(os.environ.get("SIGBOT_DEMO_STATE") or DEFAULT_STATE).resolve()
# The default demo writes its sample minutes beside the repository's own notes;
# a demo with its state elsewhere (the tests) keeps them there too.
NOTES = ROOT / "notes" if STATE == DEFAULT_STATE else STATE / "notes"
SIGBOT = str(Path(sys.executable).with_name("sigbot"))  # the installed command, as an operator runs it
CHANNEL = "#demo"
ALIAS = "demo"  # the room's alias is #demo:<server name>
DM_ALIAS = "sigbot-dm"  # what the printout has matrix-commander call its direct chat with the bot
WORKER = "SIGBOT_DEMO_WORKER"  # set in the worker's environment
READY = "sigbot demo: ready."  # the printout's last line (tests wait for it)
# The worker's orderly stop takes at most sigbot 15 s + farm agent 15 s + ngIRCd 5 s + Synapse 15 s.
STOP_GRACE_S = 55.0
STARTED = time.monotonic()

# Key in demo.json: (the port a person knows, if it is free at the first run;
# the variable that chooses another; what listens there).
PORTS = {
    "matrix_port": (8008, "SIGBOT_DEMO_MATRIX_PORT", "the Matrix homeserver (Synapse)"),
    "irc_port": (6667, "SIGBOT_DEMO_IRC_PORT", "the IRC server (ngIRCd)"),
    "web_port": (8080, "SIGBOT_DEMO_WEB_PORT", "sigbot's web server"),
}
# Otherwise a port below Linux's ephemeral range (32768-60999 by default), so that
# no outgoing connection of this machine takes the remembered port later.
SPARE_PORTS = range(20000, 32768)

INVENTORY = [
    "w7900-1 gpu vendor=AMD model=\"Radeon PRO W7900\" target=gfx1100 memory=48GB donor=AMD",
    "rx7900xtx-1 gpu vendor=AMD model=\"Radeon RX 7900 XTX\" target=gfx1100 memory=24GB",
    "mi300-lab lab-access vendor=AMD model=\"MI300X lab account\" target=gfx942",
]
AGENDA = ["ROCm 6.4 packaging status", "GPU test farm: who can host a runner?", "PyTorch with ROCm in rawhide"]


def say(text: str, err: bool = False) -> None:
    """Print, and carry on when nobody reads any more (tee stopped by the same Ctrl-C):
    the clean-up that follows must still run."""
    stream = sys.stderr if err else sys.stdout
    try:
        print(text, file=stream, flush=True)
    except OSError:  # BrokenPipeError; EIO from a terminal that hung up
        # Later lines, and Python's own flush at exit, go nowhere instead of raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


class Step:
    """A progress line per step, with the time it took; on failure, what failed and how to fix it."""

    def __init__(self, text: str, fix: str = "") -> None:
        self.text, self.fix = text, fix

    def __enter__(self) -> Step:
        say(f"[{time.monotonic() - STARTED:5.1f}s] {self.text} ...")
        self.start = time.monotonic()
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None:
            say(f"         done in {time.monotonic() - self.start:.1f}s")
            return False
        if kind in (KeyboardInterrupt, SystemExit):
            return False
        say(f"\nsigbot demo: failed while {self.text.lower()}: {exc}", err=True)
        if self.fix:
            say(f"  how to fix: {self.fix}", err=True)
        say(f"  logs: {STATE}/*.log; to start over: rm -rf {STATE}", err=True)
        raise SystemExit(1)


# --- ports -------------------------------------------------------------------

def choose_ports(demo: dict) -> None:
    """Each port: the one asked for in the environment, else the remembered one, else a new one."""
    for key, (usual, variable, _) in PORTS.items():
        asked = os.environ.get(variable, "").strip()
        if asked:
            if not asked.isdigit() or not 0 < int(asked) < 65536:
                fail(f"{variable}={asked} is not a port number (1-65535)")
            demo[key] = int(asked)
        elif key not in demo:
            taken = {demo.get(other) for other in PORTS}
            demo[key] = usual if usual not in taken and port_is_free(usual) else spare_port(taken)


def spare_port(taken: set) -> int:
    for port in random.sample(SPARE_PORTS, 200):
        if port not in taken and port_is_free(port):
            return port
    raise RuntimeError(f"no free port in {SPARE_PORTS.start}-{SPARE_PORTS.stop - 1}")


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the servers bind (all three set SO_REUSEADDR): a port the last run left in
        # TIME_WAIT is free to them, and must be free here too.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def check_ports(demo: dict) -> None:
    """Before any server starts: a taken port is one line saying which, by whom, and what to do."""
    for key, (_, variable, what) in PORTS.items():
        port = demo[key]
        if not port_is_free(port):
            other = spare_port({demo[k] for k in PORTS})
            fail(f"port {port} on 127.0.0.1, for {what}, is taken{holder(port)}; stop that program, "
                 f"or choose another port: {variable}={other} make demo (remembered in {STATE}/demo.json)")


def holder(port: int) -> str:
    """Who listens on the port, as far as `ss -ltnp` can tell (it names processes of other users only to root)."""
    try:
        listed = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], check=False, capture_output=True, text=True,
                                timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    found = re.search(r'users:\(\("([^"]+)",pid=(\d+)', listed)
    return f" by {found[1]} (pid {found[2]})" if found else ""


def fail(line: str) -> None:
    say(f"sigbot demo: {line}", err=True)
    raise SystemExit(1)


# --- the homeserver's users and room ------------------------------------------

def api(base: str, method: str, path: str, token: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body or {}).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"{}")


def load_state() -> dict:
    saved = STATE / "demo.json"
    return json.loads(saved.read_text()) if saved.exists() else {}


def save_state(demo: dict) -> None:
    (STATE / "demo.json").write_text(json.dumps(demo, indent=1))


def prepare(synapse: Synapse, demo: dict) -> None:
    """Users and room, made once and remembered in demo.json; the alias also for a room of an older demo."""
    if "room_id" not in demo:
        demo.update(bot_password=secrets.token_hex(12), user_password=secrets.token_hex(6),
                    farm_secret=secrets.token_hex(16))
        demo["bot_id"] = synapse.register("sigbot", demo["bot_password"])
        demo["user_id"] = synapse.register("demo", demo["user_password"], admin=True)
        token = synapse.login("demo", demo["user_password"])
        # room_alias_name: the alias also becomes the room's canonical alias.
        room = api(synapse.base_url, "POST", "/_matrix/client/v3/createRoom", token,
                   {"name": "Demo WG", "preset": "private_chat", "room_alias_name": ALIAS,
                    "invite": [demo["bot_id"]]})
        demo["room_id"], demo["alias"] = room["room_id"], f"#{ALIAS}:{synapse.server_name}"
    elif "alias" not in demo:
        demo["alias"] = add_alias(synapse, demo)
    save_state(demo)


def add_alias(synapse: Synapse, demo: dict) -> str:
    """Give the room of a demo made before rooms had an alias its alias, as createRoom would have."""
    alias = f"#{ALIAS}:{synapse.server_name}"
    token = synapse.login("demo", demo["user_password"])
    try:
        api(synapse.base_url, "PUT", "/_matrix/client/v3/directory/room/" + urllib.parse.quote(alias), token,
            {"room_id": demo["room_id"]})
    except urllib.error.HTTPError as error:
        if error.code != 409:  # 409: the alias exists already (an earlier run stopped halfway)
            raise
    api(synapse.base_url, "PUT", f"/_matrix/client/v3/rooms/{demo['room_id']}/state/m.room.canonical_alias",
        token, {"alias": alias})
    return alias


# --- sigbot ----------------------------------------------------------------------

def sigbot(config: Path, *args: str, env: dict | None = None) -> None:
    subprocess.run([SIGBOT, "--config", str(config), *args], cwd=STATE, check=True,
                   env=env, stdout=subprocess.DEVNULL)


def write_config(synapse: Synapse, ircd: IrcServer, demo: dict, host: str) -> Path:
    config = STATE / "sigbot.toml"
    config.write_text(f'''# Written by scripts/demo.py for the local demo.
[bot]
data_dir = "."
notes_dir = "{NOTES}"
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
    save_state(demo)


def split_words(line: str) -> list[str]:
    return [w.replace('"', "") for w in re.findall(r'\w+="[^"]*"|\S+', line)]


def wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    """Until sigbot's /healthz answers 200, which it does once the first sync with the homeserver is done."""
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


# --- what a person reads ----------------------------------------------------------

def printout(synapse: Synapse, ircd: IrcServer, demo: dict, web: str) -> str:
    """How to join from Element, matrix-commander and irssi, and how to try an encrypted direct chat."""
    here = Path.cwd()
    state = STATE.relative_to(here) if STATE.is_relative_to(here) else STATE
    # Its own credentials and store in the demo's folder: leaves a person's own matrix-commander login alone.
    mc = f"matrix-commander -c {state}/matrix-commander/credentials.json -s {state}/matrix-commander/store"
    hs, user, bot, alias = synapse.base_url, demo["user_id"], demo["bot_id"], demo["alias"]
    login = (f"{mc} --login password --homeserver {hs} --user-login {user} --password {demo['user_password']}"
             f" --device demo-cli --room-default '{alias}'")  # one line to copy
    return f"""
sigbot is running a demo working group on this machine. Join it:

  Matrix    homeserver {hs}
            user {user}, password {demo["user_password"]}; the bot is {bot}
            room {alias} ("Demo WG", {demo["room_id"]}), already joined
    Element   Sign in, Edit the homeserver: {hs}, username {user.split(":")[0][1:]}, the password
    matrix-commander (sign in once; then say something, and read what came since)
      {login}
      {mc} -m '!help'
      {mc} --listen once
  Encrypted direct chat with the bot (docs/encryption.md):
    Element   Start chat with {bot} (Element encrypts direct chats), say !help
    matrix-commander (its direct chats are encrypted; it counts the team room as one, hence "duplicates";
      run one at a time: two at once share one device, and its keys go astray)
      {mc} --room-dm-create {bot} --room-dm-create-allow-duplicates --alias {DM_ALIAS}
      {mc} -r '#{DM_ALIAS}:{synapse.server_name}' -m '!help'
      {mc} --listen once
  IRC       server {ircd.host} port {ircd.port} (no TLS), channel {CHANNEL}
      irssi -c {ircd.host} -p {ircd.port} -n you, then /join {CHANNEL}
  Archive   {web}/   (minutes, search, calendar, loans, farm)
  Calendar  {web}/calendar/demo.ics

Try: !help, !next, !agenda, !hw list, !loan request gfx1100 for testing, !farm,
then #startmeeting Demo, #topic 1, #info ..., #action ..., #endmeeting.
Logs: {STATE}/sigbot.log. State and ports: {STATE}/demo.json. Ctrl-C stops everything.
{READY}"""


# --- the worker: everything the demo runs ----------------------------------------

def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # the supervisor's SIGTERM stops the worker as Ctrl-C would


def run_demo() -> None:
    """The demo itself, in the worker; everything it starts is in the worker's process group."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _interrupt)
    supervisor = os.getppid()
    STATE.mkdir(parents=True, exist_ok=True)
    demo = load_state()
    choose_ports(demo)
    check_ports(demo)
    save_state(demo)
    host = re.sub(r"[^A-Za-z0-9.\-_]", "-", socket.gethostname())[:60] or "demo-host"
    with Step(f"Importing the sample meeting logs into {NOTES / 'demo'}/"):
        subprocess.run([SIGBOT, "demo", "--out", str(NOTES / "demo")], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    with Step("Installing Synapse into .venv-synapse (first run only: about a minute)",
              "check that PyPI is reachable, or delete .venv-synapse and run again"):
        python = ensure_synapse(synapse_venv())
    synapse = Synapse(python, STATE / "synapse", port=demo["matrix_port"], own_session=False)
    procs: list[subprocess.Popen] = []
    ircd: IrcServer | None = None
    try:
        with Step(f"Starting Synapse on 127.0.0.1:{synapse.port}", f"see {STATE}/synapse/synapse.log"):
            synapse.start()
        with Step("Registering the bot and the demo user, creating the room"):
            prepare(synapse, demo)
        with Step(f"Starting the IRC server (ngIRCd) on 127.0.0.1:{demo['irc_port']}",
                  "" if NGIRCD_BINARY.exists() else "install it: sudo apt-get install ngircd (make demo does this)"):
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
            with open(STATE / "sigbot.log", "a") as log:  # the child keeps its own copy
                procs.append(subprocess.Popen([SIGBOT, "--config", str(config), "run"],
                                              cwd=STATE, env=env, stdout=log, stderr=log))
            wait_for(f"{web}/healthz", procs[0], STATE / "sigbot.log")
        with Step(f"Starting `sigbot farm-agent` for this machine ({host})"), \
                open(STATE / "farm-agent.log", "a") as log:
            procs.append(subprocess.Popen(
                [SIGBOT, "farm-agent", "--url", f"{web}/farm/report", "--host", host,
                 "--secret-env", "SIGBOT_DEMO_FARM_SECRET", "--interval", "30"],
                cwd=STATE, env=env, stdout=log, stderr=log))
        say(printout(synapse, ircd, demo, web))
        # Also stop when the supervisor is gone without a word (SIGKILL): this process is then re-parented.
        while all(p.poll() is None for p in procs) and os.getppid() == supervisor:
            time.sleep(1)
        if os.getppid() == supervisor:
            say(f"sigbot demo: a process stopped; see {STATE}/sigbot.log and farm-agent.log", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        for signum in STOP_SIGNALS:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(signum, signal.SIG_IGN)
        say("stopping ...")
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


def main() -> None:
    if os.environ.get(WORKER) == "1":
        try:
            run_demo()
        except KeyboardInterrupt:
            pass  # stopped before anything was started that needs stopping
    else:
        sys.exit(supervise([sys.executable, str(Path(__file__).resolve())], {**os.environ, WORKER: "1"},
                           STOP_GRACE_S))


if __name__ == "__main__":
    main()
