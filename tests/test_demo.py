"""`make demo` as a newcomer meets it: scripts/demo.py run for real (Synapse, ngIRCd,
`sigbot run`, the farm agent) with its state in a temporary folder, piped through
`cat` as `make demo | tee log` is; joined from a matrix-nio client with nothing but
what it prints; stopped with Ctrl-C (and SIGHUP, a closed terminal) the way a
terminal signals a pipeline, and checked with ps for anything left running."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from matrix_users import EncryptingUser, make_encrypted_room, seen_join
from nio import JoinResponse
from servers.synapse import free_port

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scripts" / "demo.py"
READY = "sigbot demo: ready."
START_LIMIT_S = 150.0  # a first run on a loaded machine: Synapse's config, users, room, sample data
STOP_LIMIT_S = 60.0  # the demo's own grace for an orderly stop, and then some


@dataclass
class Printed:
    """What the demo's printout gives a person to join with."""
    text: str
    homeserver: str
    user_id: str
    password: str
    bot_id: str
    alias: str
    room_id: str
    irc_port: int
    web: str


class DemoRun:
    """`python scripts/demo.py 2>&1 | cat` in a session of its own, as a shell without job
    control runs a pipeline: shell, demo and cat share one process group, the one a
    terminal's Ctrl-C goes to."""

    def __init__(self, state: Path, **ports: int) -> None:
        env = {**os.environ, "SIGBOT_DEMO_STATE": str(state), "PYTHONUNBUFFERED": "1"}
        for name in ("SIGBOT_DEMO_MATRIX_PORT", "SIGBOT_DEMO_IRC_PORT", "SIGBOT_DEMO_WEB_PORT"):
            env.pop(name, None)
        env.update({f"SIGBOT_DEMO_{name.upper()}_PORT": str(port) for name, port in ports.items()})
        self.shell = subprocess.Popen(["/bin/sh", "-c", f"'{sys.executable}' '{DEMO}' 2>&1 | cat"],
                                      stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                                      start_new_session=True)
        self.session = self.shell.pid  # the session's id, and the pipeline's process group
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.shell.stdout is not None
        for line in self.shell.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def output_until(self, last: str, timeout: float) -> str:
        """All the demo printed up to the line `last` (it fails if the output ends first)."""
        deadline = time.monotonic() + timeout
        while not self.lines or self.lines[-1] != last:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {last!r} within {timeout:.0f} s:\n" + "\n".join(self.lines)) from None
            assert line is not None, "the demo ended early:\n" + "\n".join(self.lines)
            self.lines.append(line)
        return "\n".join(self.lines)

    def processes(self) -> list[str]:
        """Every process still in the pipeline's session (a child the demo forgot would be here), as ps lists them."""
        listed = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "-s", str(self.session)], check=False,
                                capture_output=True, text=True).stdout
        return [line.strip() for line in listed.splitlines() if line.strip()]

    def signal_pipeline(self, signum: signal.Signals) -> None:
        """What a terminal sends to its foreground pipeline: SIGINT on Ctrl-C, SIGHUP when it is closed."""
        os.killpg(self.session, signum)

    def wait_all_gone(self) -> None:
        deadline = time.monotonic() + STOP_LIMIT_S
        while True:
            self.shell.poll()  # reaps the shell once it has exited: its zombie is no process left running
            left = self.processes()
            if not left:
                return
            assert time.monotonic() < deadline, f"still running {STOP_LIMIT_S:.0f} s after Ctrl-C:\n" + "\n".join(left)
            time.sleep(0.2)

    def kill(self) -> None:
        """Whatever happens in a test: nothing of this run outlives it."""
        for line in self.processes():
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass


def read_printout(text: str) -> Printed:
    def one(pattern: str) -> str:
        found = re.search(pattern, text)
        assert found, f"no {pattern!r} in the printout:\n{text}"
        return found[1]

    return Printed(text=text, homeserver=one(r"homeserver (http://127\.0\.0\.1:\d+)"),
                   user_id=one(r"user (@demo:localhost), password"), password=one(r"password (\w+);"),
                   bot_id=one(r"the bot is (@sigbot:localhost)"), alias=one(r"room (#demo:localhost) "),
                   room_id=one(r'"Demo WG", (![^)\s]+)\)'), irc_port=int(one(r"irssi -c 127\.0\.0\.1 -p (\d+) ")),
                   web=one(r"Archive   (http://127\.0\.0\.1:\d+)/"))


def demo_user(printed: Printed, store: Path) -> EncryptingUser:
    """The demo user in a client that encrypts as Element's does (tests/matrix_users.py),
    signed in with the printout's user id and password alone. The user exists already:
    the homeserver handed to the helper only names it."""
    homeserver = SimpleNamespace(base_url=printed.homeserver, register=lambda localpart, password: printed.user_id)
    user = EncryptingUser(homeserver, "Demo", store)
    user.password = printed.password
    return user


async def join_and_ask(printed: Printed, store: Path) -> None:
    """Join the room by the printed alias and get an answer to !help there, then the same
    in an encrypted direct chat with the bot, as the printout says to try."""
    user = demo_user(printed, store)
    try:
        await user.login()
        joined = await user.client.join(printed.alias)
        assert isinstance(joined, JoinResponse) and joined.room_id == printed.room_id, joined
        await user.send(printed.room_id, "!help")
        assert "!help COMMAND" in await user.wait_for_notice(printed.room_id, "Commands start with")

        dm = await make_encrypted_room(user, printed.bot_id, direct=True)
        await seen_join(user, dm, printed.bot_id)
        await user.send(dm, "!help")
        await user.wait_for_notice(dm, "Commands start with")
        said = {e["type"] for e in await user.raw_events(dm) if e["sender"] == printed.bot_id and "state_key" not in e}
        assert said == {"m.room.encrypted"}, said
    finally:
        await user.close()


def call(printed: Printed, method: str, path: str, body: dict | None = None, token: str = "") -> dict:
    """The homeserver's client API, straight to loopback (never through a proxy from the environment)."""
    request = urllib.request.Request(printed.homeserver + "/_matrix/client/v3" + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30) as reply:
        return json.load(reply)


def alias_path(printed: Printed) -> str:
    return "/directory/room/" + urllib.parse.quote(printed.alias)


def as_an_older_demo_left_it(printed: Printed, state: Path) -> None:
    """What a demo from before rooms had aliases leaves: the room has none, and demo.json no word of one."""
    login = call(printed, "POST", "/login", {"type": "m.login.password", "password": printed.password,
                                            "identifier": {"type": "m.id.user", "user": printed.user_id}})
    call(printed, "DELETE", alias_path(printed), token=login["access_token"])
    demo = json.loads((state / "demo.json").read_text())
    del demo["alias"]
    (state / "demo.json").write_text(json.dumps(demo))


def spare_ports() -> dict[str, int]:
    ports: dict[str, int] = {}
    while len(set(ports.values())) < 3:
        ports = {name: free_port() for name in ("matrix", "irc", "web")}
    return ports


@pytest.mark.synapse
@pytest.mark.ircd
def test_a_newcomer_joins_by_the_printed_alias_ctrl_c_through_a_pipe_stops_everything_and_the_next_run_keeps_the_ports(
        tmp_path):
    ports = spare_ports()
    first = DemoRun(tmp_path / "demo", **ports)
    try:
        printed = read_printout(first.output_until(READY, START_LIMIT_S))
        assert printed.homeserver == f"http://127.0.0.1:{ports['matrix']}"
        assert (printed.irc_port, printed.web) == (ports["irc"], f"http://127.0.0.1:{ports['web']}")
        # A ready-made command for matrix-commander, and how to open an encrypted direct chat.
        assert (f"--homeserver {printed.homeserver} --user-login @demo:localhost --password {printed.password}"
                in printed.text and "--room-default '#demo:localhost'" in printed.text)
        assert "Encrypted direct chat with the bot" in printed.text
        assert "Start chat with @sigbot:localhost" in printed.text
        assert "--room-dm-create @sigbot:localhost --room-dm-create-allow-duplicates --alias sigbot-dm" in printed.text
        assert "-r '#sigbot-dm:localhost' -m '!help'" in printed.text
        running = "\n".join(first.processes())
        for part in ("synapse.app.homeserver", "ngircd", "sigbot.toml run", "farm-agent"):
            assert part in running, running

        asyncio.run(asyncio.wait_for(join_and_ask(printed, tmp_path / "keys"), 180))
        as_an_older_demo_left_it(printed, tmp_path / "demo")

        first.signal_pipeline(signal.SIGINT)
        first.wait_all_gone()
    finally:
        first.kill()

    # The second run is given no ports: it takes the ones the first remembered; and it
    # gives the room its alias back.
    second = DemoRun(tmp_path / "demo")
    try:
        again = read_printout(second.output_until(READY, START_LIMIT_S))
        assert (again.homeserver, again.irc_port, again.web) == (printed.homeserver, printed.irc_port, printed.web)
        assert (again.room_id, again.password) == (printed.room_id, printed.password)
        assert call(again, "GET", alias_path(again))["room_id"] == printed.room_id
        second.signal_pipeline(signal.SIGHUP)  # the terminal window closed
        second.wait_all_gone()
    finally:
        second.kill()


def test_a_taken_port_is_reported_in_one_line_naming_the_port_its_holder_and_how_to_choose_another(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        free = spare_ports()  # the other two: free, so that the taken one is the one reported
        env = {**os.environ, "SIGBOT_DEMO_STATE": str(tmp_path / "demo"), "SIGBOT_DEMO_IRC_PORT": str(taken),
               "SIGBOT_DEMO_MATRIX_PORT": str(free["matrix"]), "SIGBOT_DEMO_WEB_PORT": str(free["web"])}
        done = subprocess.run([sys.executable, str(DEMO)], check=False, env=env, capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""  # nothing was started
    [line] = done.stderr.splitlines()
    assert line.startswith(f"sigbot demo: port {taken} on 127.0.0.1, for the IRC server (ngIRCd), is taken by ")
    assert f"(pid {os.getpid()})" in line  # ss -ltnp names the holder: this test
    assert re.search(r"choose another port: SIGBOT_DEMO_IRC_PORT=\d+ make demo", line), line
