"""What a person on IRC sees: irssi (Debian's) in tmux, on the relayed channel.

sigbot runs as a process between a real Synapse room and a real ngIRCd
channel (tests/test_relay.py's `relayed`); carol reads the channel in irssi
1.4 inside a detached tmux session, and the test reads her screen with
`tmux capture-pane`, as a person would read it: text only (`-p`), and with
its colours and attributes (`-e`) to catch reverse video. irssi draws \\x11
(monospace) as a reverse-video `Q`; a line that starts with a space, glued
table cells or an unmarked split are only visible on a screen like this.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time

import pytest
from test_relay import from_bot, relayed, run

pytestmark = [pytest.mark.synapse, pytest.mark.ircd]

ZWSP = "\u200b"
REVERSE = "\x1b[7m"  # SGR 7, how tmux writes reverse video in `capture-pane -e`


class IrssiScreen:
    """irssi in a tmux session of its own (a private socket), wide enough that irssi never wraps a line."""

    def __init__(self, tmp_path, host: str, port: int, nick: str):
        for tool in ("irssi", "tmux"):
            assert shutil.which(tool), f"{tool} is missing: apt-get install irssi tmux (scripts/system-deps.sh)"
        self.socket = str(tmp_path / "tmux.sock")
        home = tmp_path / "irssi"
        home.mkdir()
        env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="xterm-256color")
        self._tmux("-u", "new-session", "-d", "-x", "1000", "-y", "80",
                   f"irssi --home={home} -c {host} -p {port} -n {nick}", env=env)

    def _tmux(self, *args: str, env: dict | None = None) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], check=True, capture_output=True, text=True,
                              env=env, timeout=30).stdout

    def type(self, line: str) -> None:
        self._tmux("send-keys", "-l", line)
        self._tmux("send-keys", "Enter")

    def text(self) -> list[str]:
        """The window's lines as they read, irssi's own bars left out."""
        return [line.rstrip() for line in self._tmux("capture-pane", "-p", "-S", "-200").split("\n") if line.strip()]

    def escapes(self) -> str:
        return self._tmux("capture-pane", "-p", "-e", "-S", "-200")

    async def shows(self, predicate, what: str, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while not predicate(lines := self.text()):
            if time.monotonic() > deadline:
                raise AssertionError(f"irssi did not show {what} in {timeout} s; screen:\n" + "\n".join(lines[-30:]))
            await asyncio.sleep(0.2)
        return lines

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=30, check=False)


def said_by(lines: list[str], bot_nick: str) -> list[str]:
    """The text after irssi's `HH:MM <bot> ` or `HH:MM -bot:#chan- `, one per line the bot said."""
    pattern = re.compile(
        r"^\d\d:\d\d (?:<[ @+]?" + re.escape(bot_nick) + r"> |-" + re.escape(bot_nick) + r":\S+- )(.*)$"
    )
    return [m.group(1) for line in lines if (m := pattern.match(line))]


def test_irssi_shows_matrix_formatting_tables_splits_edits_and_answers_as_a_person_would_type_them(
        synapse, ircd, tmp_path):
    async def scenario():
        async with relayed(synapse, ircd, tmp_path, ("bob",), team_extra="[teams.relay]\nzero_width_names = false") \
                as (alice, _, room, bot, channel, (bob,)):
            screen = IrssiScreen(tmp_path, ircd.host, ircd.port, "carol")
            try:
                await screen.shows(lambda lines: any("carol" in line for line in lines), "its connection", 60)
                screen.type(f"/join {channel}")
                await bob.expect(lambda m: m.command == "JOIN" and m.nick == "carol", timeout=60)

                await alice.send(room, "bold, italic and code", format="org.matrix.custom.html",
                                 formatted_body="<strong>bold</strong>, <em>italic</em> and <code>make test</code>")
                table = ("<table><thead><tr><th>machine</th><th>state</th><th>util</th></tr></thead><tbody>"
                         "<tr><td>vm</td><td>idle</td><td>-</td></tr>"
                         "<tr><td>gpu-box-2</td><td>busy</td><td>45 %</td></tr></tbody></table>")
                await alice.send(room, "a table", format="org.matrix.custom.html", formatted_body=table)
                first = await alice.send(room, "the build is broken on gfx90a")
                await from_bot(bob, bot, "broken")
                await alice.edit(room, first, "the build is fixed on gfx90a")
                long = " ".join(f"word{i}" for i in range(150))  # about 1,000 bytes: three IRC lines
                await alice.send(room, long)
                for i in range(5):
                    await alice.send(room, f"!agenda add item {i} of five")
                    await from_bot(bob, bot, f"as item {i + 1}.", command="NOTICE")
                await alice.send(room, "#startmeeting Screen WG")
                await from_bot(bob, bot, "Agenda item 5", command="NOTICE", timeout=60)

                lines = await screen.shows(lambda lines: any(line.startswith("Agenda item 5") for line in said_by(
                    lines, bot.nick)), "the agenda")
                said = said_by(lines, bot.nick)

                # Inline code as backticks: no Q glyph, no reverse video anywhere on the screen.
                assert "<Alice> bold, italic and `make test`" in said
                assert not any("QmakeQ" in line or "Qmake test" in line for line in lines)
                assert REVERSE not in screen.escapes()

                # The table lines up in columns, one row a line.
                at = said.index("<Alice> machine    state  util")
                assert said[at:at + 3] == ["<Alice> machine    state  util", "<Alice> vm         idle   -",
                                           "<Alice> gpu-box-2  busy   45 %"]

                # The edit names what changed.
                assert "<Alice> * broken → fixed" in said

                # The long line: three lines, marked where they go on, words whole and in order.
                pieces = [line for line in said if "word" in line]
                assert len(pieces) == 3 and all(p.startswith("<Alice> ") for p in pieces)
                assert pieces[0].endswith(" …") and pieces[1].startswith("<Alice> … ") and pieces[1].endswith(" …")
                assert pieces[2].startswith("<Alice> … ") and not pieces[2].endswith("…")
                words = " ".join(p.removeprefix("<Alice> ").removeprefix("… ").removesuffix(" …") for p in pieces)
                assert words == long

                # The meeting's answer and its five-item agenda reach IRC whole, no line starting with a space.
                start = next(i for i, line in enumerate(said) if line.startswith("Meeting 'Screen WG' started"))
                assert said[start + 1].startswith("Useful commands:")
                agenda = said[said.index("Agenda (#topic N takes item N):"):]
                assert agenda[1:6] == [f"Agenda item {n} (Alice): item {n - 1} of five" for n in range(1, 6)]
                assert not any("lines in all" in line for line in said)
                assert not any(line.startswith(" ") for line in said)
            finally:
                screen.close()

    run(scenario(), timeout=300)
