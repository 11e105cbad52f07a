"""Benchmark: one sigbot process serving 50 teams, a meeting running in each, 10 messages a second.

Every message is an `#info` line, which sigbot acknowledges with a reaction.
The handling delay of a line is the reaction's server timestamp minus the
line's server timestamp (both stamped by the same Synapse, so no client clock
is involved). The floor, measured in the same run, is the same delay for a
minimal echo client (bench/echo_client.py) answering `!echo` in a room of its
own once a second through the same homeserver. The bot's memory (RSS, from
/proc) is sampled every 5 seconds. Reports per-minute medians, so growth over
time shows, and writes bench/results-load.md.

    .venv/bin/python bench/load_teams.py [--teams 50] [--rate 10] [--seconds 180]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from common import p90, publish, with_synapse  # noqa: E402
from matrix_users import BotProcess, User  # noqa: E402
from nio import RoomCreateResponse, RoomPreset  # noqa: E402
from servers.synapse import Synapse  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Observer:
    """Syncs as one member of every room and records server timestamps of lines and answers."""

    def __init__(self, user: User, bot_id: str, echo_id: str):
        self.user, self.bot_id, self.echo_id = user, bot_id, echo_id
        self.sent: dict[str, int] = {}  # event id -> server ts of our lines
        self.acked: dict[str, int] = {}  # event id -> server ts of sigbot's reaction
        self.echo_asked: dict[str, int] = {}  # "!echo N" body -> ts
        self.echo_answered: dict[str, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        client = self.user.client
        token = client.next_batch
        while not stop.is_set():
            resp = await client.sync(timeout=1000, since=token)
            token = getattr(resp, "next_batch", token)
            for room in getattr(getattr(resp, "rooms", None), "join", {}).values():
                for event in room.timeline.events:
                    self.see(event.source)

    def see(self, e: dict) -> None:
        ts, sender, content = e.get("origin_server_ts", 0), e.get("sender"), e.get("content", {})
        if e.get("type") == "m.reaction" and sender == self.bot_id:
            self.acked[content.get("m.relates_to", {}).get("event_id")] = ts
        elif e.get("type") == "m.room.message":
            body = content.get("body", "")
            if sender == self.echo_id:
                self.echo_answered[body.lstrip("!")] = ts
            elif body.startswith("!echo"):
                self.echo_asked[body.lstrip("!")] = ts
            elif body.startswith("#info load"):
                self.sent[e["event_id"]] = ts


async def make_rooms(owner: User, members: list[User], invite: list[str], n: int) -> list[str]:
    rooms = []
    for i in range(n):
        resp = await owner.client.room_create(name=f"Team {i}", preset=RoomPreset.private_chat,
                                              invite=invite + [m.user_id for m in members])
        assert isinstance(resp, RoomCreateResponse), resp
        for m in members:
            await m.client.join(resp.room_id)
        rooms.append(resp.room_id)
    return rooms


async def measure(synapse: Synapse, tmp: Path, teams: int, rate: float, seconds: float) -> dict:
    users = [User(synapse, name) for name in ("Alice", "Bob", "Carol", "Dave")]
    for u in users:
        await u.login()
    echo = User(synapse, "Echo")
    bot = BotProcess(synapse, tmp, "")
    rooms = await make_rooms(users[0], users[1:], [bot.user_id], teams)
    echo_room = (await make_rooms(users[0], [], [echo.user_id], 1))[0]
    bot.config.write_text(
        bot.config.read_text().split("[[teams]]")[0]
        + "".join(f'[[teams]]\nname = "t{i:02d}"\nmatrix_room = "{room}"\n\n' for i, room in enumerate(rooms)))
    echo_proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "echo_client.py"), synapse.base_url,
                                  echo.user_id, echo.password, echo_room], stdout=subprocess.PIPE, text=True)
    bot.start()
    try:
        assert echo_proc.stdout.readline().strip() == "echo ready"
        await bot.wait_ready(timeout=120)
        for i, room in enumerate(rooms):
            await users[0].send(room, f"#startmeeting Load {i}")
        await users[0].client.sync(timeout=0)
        observer = Observer(users[0], bot.user_id, echo.user_id)
        stop = asyncio.Event()
        watching = asyncio.create_task(observer.run(stop))
        rss: list[tuple[float, float]] = []
        start = time.monotonic()
        k = 0
        while (elapsed := time.monotonic() - start) < seconds:
            due = start + k / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            room, user = rooms[k % teams], users[k % len(users)]
            await user.send(room, f"#info load line {k}")
            if k % int(rate) == 0:
                await users[0].send(echo_room, f"!echo {k}")
                if k % int(rate * 5) == 0:
                    rss.append((elapsed, rss_mib(bot.proc.pid)))
            k += 1
        await asyncio.sleep(10)  # let the last answers arrive
        stop.set()
        await watching
        return {"observer": observer, "rss": rss, "sent": k, "start_ts": min(observer.sent.values())}
    finally:
        bot.stop()
        echo_proc.terminate()
        for u in users:
            await u.close()


def report(result: dict, teams: int, rate: float, seconds: float) -> str:
    obs: Observer = result["observer"]
    t0 = result["start_ts"]
    delays = [(ts - t0, obs.acked[e] - ts) for e, ts in obs.sent.items() if e in obs.acked]
    floor = [obs.echo_answered[b] - ts for b, ts in obs.echo_asked.items() if b in obs.echo_answered]
    lost = len(obs.sent) - len(delays)
    rows = [
        f"## {teams} teams, a meeting in each, {rate:g} lines/s for {seconds:g} s (issue 9)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        "local Synapse on 127.0.0.1. Delay = server timestamp of sigbot's reaction minus that of the line.",
        "",
        "| minute | lines | median delay ms | p90 ms |",
        "|---|---|---|---|",
    ]
    per_minute: dict[int, list[float]] = {}
    for at, d in delays:
        per_minute.setdefault(int(at // 60000), []).append(d)
    for minute, ds in sorted(per_minute.items()):
        rows.append(f"| {minute + 1} | {len(ds)} | {statistics.median(ds):.0f} | {p90(ds):.0f} |")
    first, last = per_minute[min(per_minute)], per_minute[max(per_minute)]
    all_d = [d for _, d in delays]
    rows += [
        "",
        "| figure | value |",
        "|---|---|",
        f"| lines sent / acknowledged | {result['sent']} / {len(delays)} ({lost} without a reaction) |",
        f"| sigbot delay, median / p90 ms | {statistics.median(all_d):.0f} / {p90(all_d):.0f} |",
        f"| floor (echo client) delay, median / p90 ms | {statistics.median(floor):.0f} / {p90(floor):.0f} |",
        f"| ratio sigbot / floor at the median | {statistics.median(all_d) / statistics.median(floor):.2f} |",
        f"| growth: last minute's median / first minute's | {statistics.median(last) / statistics.median(first):.2f} |",
        f"| RSS first / last / max MiB | {result['rss'][0][1]:.1f} / {result['rss'][-1][1]:.1f} / "
        f"{max(r for _, r in result['rss']):.1f} |",
        "",
        "Targets: the delay does not grow over the run (growth near 1.0) and RSS stays bounded.",
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--teams", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args()
    result = with_synapse(lambda synapse, tmp: asyncio.run(measure(synapse, tmp, args.teams, args.rate, args.seconds)))
    publish("load", report(result, args.teams, args.rate, args.seconds))


if __name__ == "__main__":
    main()
