"""Benchmark: sigbot restarted to ready, beside a cold start (issue 16).

Ready means both: `/healthz` answers 200, and a `!help` sent then is
answered in the room. Each is timed from the moment `sigbot run` is started
as its own process. Three kinds of start, on a quiet room, in the same run:

- cold: a new bot with an empty data directory (logs in, first sync);
- restart after SIGTERM, and after SIGKILL: the same bot, from its stored
  session and sync token, as after a deploy or a crash.

A restart used to sit out the 30 s long poll of its first sync before
`/healthz` turned 200; the target is ready within 3 s. Reports the median and
p90 of --rounds rounds of each.

    .venv/bin/python bench/restart_ready.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import re
import statistics
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from common import p90, publish, with_synapse  # noqa: E402
from matrix_users import BotProcess, User, make_room  # noqa: E402
from servers.synapse import Synapse  # noqa: E402

KINDS = ("cold", "restart after SIGTERM", "restart after SIGKILL")
TARGET_S = 3.0
WEB_URL = re.compile(r"web server on (http://\S+?)/?$", re.MULTILINE)


def healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
    try:
        with opener.open(url + "/healthz", timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):  # 503 before the first sync, or not listening yet
        return False


async def time_to_ready(bot: BotProcess, user: User, room: str) -> tuple[float, float]:
    """Start the bot; seconds until /healthz is 200, and until a !help sent then is answered."""
    await user.client.sync(timeout=0)  # so that an older answer is not taken for this one
    started = time.perf_counter()
    bot.start()
    log = bot.tmp / f"bot-{bot.starts}.log"
    url = None
    while url is None or not await asyncio.to_thread(healthy, url):
        assert bot.proc and bot.proc.poll() is None, log.read_text()
        if url is None and (found := WEB_URL.search(log.read_text())):
            url = found[1]
        await asyncio.sleep(0.02)
    health = time.perf_counter() - started
    await user.send(room, "!help")
    await user.wait_for(room, lambda s: s.get("sender") == bot.user_id
                        and s.get("content", {}).get("msgtype") == "m.notice", timeout=60)
    return health, time.perf_counter() - started


async def measure(synapse: Synapse, tmp: Path, rounds: int) -> dict[str, list[tuple[float, float]]]:
    alice = User(synapse, "Alice")
    await alice.login()
    times: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
    try:
        for i in range(rounds):
            home = tmp / f"round-{i}"
            home.mkdir()
            bot = BotProcess(synapse, home, "")
            room = await make_room(alice, bot.user_id, [])
            bot.use_room(room)
            try:
                times["cold"].append(await time_to_ready(bot, alice, room))
                bot.stop()
                times["restart after SIGTERM"].append(await time_to_ready(bot, alice, room))
                bot.kill()
                times["restart after SIGKILL"].append(await time_to_ready(bot, alice, room))
            finally:
                bot.stop()
    finally:
        await alice.close()
    return times


def report(times: dict[str, list[tuple[float, float]]], rounds: int) -> str:
    rows = [
        "## Restart to ready (issue 16)",
        "",
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}; "
        f"{rounds} rounds, each a cold start then a restart after SIGTERM and one after SIGKILL of the same bot, "
        "on a quiet room of a local Synapse on 127.0.0.1. Seconds from starting `sigbot run`.",
        "",
        "| start | /healthz 200, median s | p90 s | `!help` answered, median s | p90 s |",
        "|---|---|---|---|---|",
    ]
    for kind in KINDS:
        health, answered = [h for h, _ in times[kind]], [a for _, a in times[kind]]
        rows.append(f"| {kind} | {statistics.median(health):.2f} | {p90(health):.2f} | "
                    f"{statistics.median(answered):.2f} | {p90(answered):.2f} |")
    worst = max(statistics.median([a for _, a in times[kind]]) for kind in KINDS[1:])
    rows += ["", f"Target: a restart ready (both) within {TARGET_S:.0f} s at the median: "
             f"{'met' if worst <= TARGET_S else 'NOT met'} ({worst:.2f} s). Before the fix a restart "
             "waited out its first sync's 30 s long poll before /healthz turned 200."]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    times = with_synapse(lambda synapse, tmp: asyncio.run(measure(synapse, tmp, args.rounds)))
    publish("restart", report(times, args.rounds))


if __name__ == "__main__":
    main()
