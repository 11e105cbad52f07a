"""Benchmark: relay latency both ways beside the homeserver floor and the IRC floor.

sigbot runs as its own process between a room on a local Synapse and a
channel on a local ngIRCd. Everyone else lives in this process, so one clock
(time.monotonic) times every hop:

- Matrix -> IRC: Alice sends a line on Matrix; bob (a raw IRC client) receives
  sigbot's relayed copy. The same line reaching Watcher (a second Matrix
  client, always long-polling) is the homeserver floor: what any client that
  reads the room (sigbot included) cannot beat.
- IRC -> Matrix: bob says a line on IRC; Watcher receives sigbot's relayed
  copy. The same line reaching carol (a second raw IRC client) is the IRC floor.

A relayed line makes one homeserver hop and one IRC hop, so each direction is
compared with the sum of the two floors' medians: the difference is what
sigbot adds. Rounds are spaced wider than the token bucket's interval, so a
single line never waits for pacing. Target: within 25 ms of the floors.

    .venv/bin/python bench/relay_latency.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from common import p90, publish, with_synapse  # noqa: E402
from matrix_users import User, make_room  # noqa: E402
from servers.irc_client import IrcClient  # noqa: E402
from servers.ircd import IrcServer  # noqa: E402
from servers.synapse import Synapse  # noqa: E402
from test_relay import RelayBot  # noqa: E402

WARMUP = 3
SPACING_S = 0.3  # between rounds: longer than the bucket's interval below
BUCKET = "burst = 4\nline_interval = 0.25\n"


class Arrivals:
    """When each text was first seen, by whom; waiters wake as texts arrive."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self.changed = asyncio.Event()

    def mark(self, who: str, text: str) -> None:
        self.seen.setdefault((who, text), time.monotonic())
        self.changed.set()

    async def wait(self, who: str, text: str, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while (who, text) not in self.seen:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - time.monotonic()))
        return self.seen[(who, text)]


async def watch_matrix(user: User, room: str, arrivals: Arrivals) -> None:
    while True:
        resp = await user.client.sync(timeout=30_000)
        rooms = getattr(resp, "rooms", None)
        for event in (rooms.join[room].timeline.events if rooms and room in rooms.join else []):
            arrivals.mark("watcher", event.source.get("content", {}).get("body", ""))


async def watch_irc(client: IrcClient, who: str, arrivals: Arrivals) -> None:
    while True:
        msg = await client.expect(lambda m: m.command == "PRIVMSG", timeout=3600)
        arrivals.mark(who, msg.text or "")


async def measure(synapse: Synapse, ircd: IrcServer, tmp: Path, rounds: int) -> dict[str, list[float]]:
    channel = "#bench"
    alice, watcher = User(synapse, "Alice"), User(synapse, "Watcher")
    await alice.login()
    await watcher.login()
    bot = RelayBot(synapse, tmp, ircd, channel, irc_extra=BUCKET)
    room = await make_room(alice, bot.user_id, [watcher])
    bot.use_room(room)
    bob, carol = IrcClient(ircd.host, ircd.port), IrcClient(ircd.host, ircd.port)
    for client, nick in ((bob, "bob"), (carol, "carol")):
        await client.connect(nick)
        await client.join(channel)
    bot.start()
    arrivals = Arrivals()
    tasks: list[asyncio.Task] = []
    try:
        await bot.wait_ready()
        await bob.expect(lambda m: m.command == "JOIN" and m.nick == bot.nick, timeout=30)
        await watcher.client.sync(timeout=0)
        tasks = [asyncio.create_task(watch_matrix(watcher, room, arrivals)),
                 asyncio.create_task(watch_irc(bob, "bob", arrivals)),
                 asyncio.create_task(watch_irc(carol, "carol", arrivals))]
        zwsp_alice = "A\u200blice"
        times: dict[str, list[float]] = {k: [] for k in ("m2i", "i2m", "matrix_floor", "irc_floor")}
        for i in range(rounds + WARMUP):
            text = f"to irc {i}"
            start = time.monotonic()
            await alice.send(room, text)
            relayed = await arrivals.wait("bob", f"<{zwsp_alice}> {text}") - start
            floor_m = await arrivals.wait("watcher", text) - start
            await asyncio.sleep(SPACING_S)
            text = f"to matrix {i}"
            start = time.monotonic()
            await bob.privmsg(channel, text)
            floor_i = await arrivals.wait("carol", text) - start
            back = await arrivals.wait("watcher", f"<bob> {text}") - start
            await asyncio.sleep(SPACING_S)
            if i >= WARMUP:
                for key, value in (("m2i", relayed), ("i2m", back), ("matrix_floor", floor_m), ("irc_floor", floor_i)):
                    times[key].append(value * 1000)
        return times
    finally:
        for task in tasks:
            task.cancel()
        bot.stop()
        for client in (bob, carol):
            await client.quit()
        await alice.close()
        await watcher.close()


def report(times: dict[str, list[float]], rounds: int) -> str:
    med = {k: statistics.median(v) for k, v in times.items()}
    floors = med["matrix_floor"] + med["irc_floor"]
    rows = [
        "## Relay latency (issue 4)",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}; {rounds} rounds each way, alternating, "
        "local Synapse and ngIRCd on 127.0.0.1, sigbot as its own process; one line at a time (no token-bucket "
        "wait). One-way times on one clock: every client but sigbot lives in the benchmark's process.",
        "",
        "| path | median ms | p90 ms |",
        "|---|---|---|",
        f"| Matrix user → sigbot → IRC user | {med['m2i']:.1f} | {p90(times['m2i']):.1f} |",
        f"| IRC user → sigbot → Matrix user | {med['i2m']:.1f} | {p90(times['i2m']):.1f} |",
        f"| homeserver floor: Matrix user → Matrix user | {med['matrix_floor']:.1f} "
        f"| {p90(times['matrix_floor']):.1f} |",
        f"| IRC floor: IRC user → IRC user | {med['irc_floor']:.1f} | {p90(times['irc_floor']):.1f} |",
        "",
        f"A relayed line takes one homeserver hop and one IRC hop: floors together {floors:.1f} ms at the median.",
        f"sigbot adds {med['m2i'] - floors:.1f} ms (Matrix → IRC) and {med['i2m'] - floors:.1f} ms (IRC → Matrix) "
        "at the median. Target: within 25 ms of the floors.",
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    with IrcServer() as ircd:
        times = with_synapse(lambda synapse, tmp: asyncio.run(measure(synapse, ircd, tmp, args.rounds)))
    publish("relay", report(times, args.rounds))


if __name__ == "__main__":
    main()
