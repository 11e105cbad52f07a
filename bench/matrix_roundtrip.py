"""Benchmark: a command's round trip through sigbot beside the echo-client floor.

A user sends `!help` and waits for sigbot's answer, and sends `!echo N` and
waits for the echo client's answer, alternately, through the same local
Synapse. Both answerers are separate processes. Reports median and p90 of each
and their ratio (target: sigbot within 1.10 of the floor).

    .venv/bin/python bench/matrix_roundtrip.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from common import p90, publish, with_synapse  # noqa: E402
from matrix_users import BotProcess, User, make_room  # noqa: E402
from servers.synapse import Synapse  # noqa: E402


async def first_notice_after(user: User, room: str, sender: str, timeout: float = 30) -> None:
    await user.wait_for(room, lambda s: s.get("sender") == sender and s.get("content", {}).get("msgtype") == "m.notice",
                        timeout)


async def measure(synapse: Synapse, tmp: Path, rounds: int) -> dict[str, list[float]]:
    alice = User(synapse, "Alice")
    await alice.login()
    echo = User(synapse, "Echo")
    bot = BotProcess(synapse, tmp, "")
    room = await make_room(alice, bot.user_id, [], chair=None)
    await alice.client.room_invite(room, echo.user_id)
    bot.use_room(room)
    echo_proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "echo_client.py"), synapse.base_url,
                                  echo.user_id, echo.password, room], stdout=subprocess.PIPE, text=True)
    bot.start()
    try:
        assert echo_proc.stdout.readline().strip() == "echo ready"
        await bot.wait_ready()
        await alice.client.sync(timeout=0)
        times: dict[str, list[float]] = {"sigbot": [], "floor": []}
        for i in range(rounds + 3):  # the first rounds warm both up and are not counted
            for name, text, sender in (("sigbot", "!help", bot.user_id), ("floor", f"!echo {i}", echo.user_id)):
                start = time.perf_counter()
                await alice.send(room, text)
                await first_notice_after(alice, room, sender)
                if i >= 3:
                    times[name].append((time.perf_counter() - start) * 1000)
        return times
    finally:
        bot.stop()
        echo_proc.terminate()
        await alice.close()


def report(times: dict[str, list[float]], rounds: int) -> str:
    s, f = times["sigbot"], times["floor"]
    rows = [
        "## Matrix command round trip (issue 3)",
        "",
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}; "
        f"{rounds} rounds each, alternating, local Synapse on 127.0.0.1.",
        "",
        "| path | median ms | p90 ms |",
        "|---|---|---|",
        f"| user → sigbot `!help` → user | {statistics.median(s):.1f} | {p90(s):.1f} |",
        f"| user → echo client → user (floor) | {statistics.median(f):.1f} | {p90(f):.1f} |",
        f"| ratio sigbot / floor | {statistics.median(s) / statistics.median(f):.2f} | {p90(s) / p90(f):.2f} |",
        "",
        "Target: ratio within 1.10 at the median.",
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    times = with_synapse(lambda synapse, tmp: asyncio.run(measure(synapse, tmp, args.rounds)))
    publish("matrix", report(times, args.rounds))


if __name__ == "__main__":
    main()
