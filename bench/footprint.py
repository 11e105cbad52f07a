"""Benchmark: what an operator installs and what it costs to run (issue 14).

Builds the wheel from this checkout and installs it into a clean venv (what
`pip install` gives an operator), then measures, each beside its floor:

- the venv's size, with the largest distributions in it;
- the single-file farm agent's size (what a farm host downloads instead);
- the import time of `sigbot run`'s modules, beside importing matrix-nio alone
  (what every Matrix bot pays) and a bare interpreter, medians of several runs;
- the resident memory (VmRSS) of `sigbot run` serving the demo's team (schedule,
  loans, farm, relayed to an IRC channel), beside the echo client
  (bench/echo_client.py: a minimal matrix-nio bot), both in the same venv, both
  after answering the same number of commands, sigbot also after holding a
  meeting (minutes written, as in every two weeks of its life): at the first start, and after
  a restart over its own data (how it runs most of its life: feeds written).
  Goal: sigbot at most 60 MiB.

Writes bench/results-footprint.md.

    .venv/bin/python bench/footprint.py [--rounds 7] [--commands 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

from common import ROOT, publish, with_synapse
from matrix_users import BotProcess, User, make_room  # noqa: E402  (tests/ is on sys.path through common)
from servers.ircd import IrcServer  # noqa: E402

GOAL_RSS_MIB = 60.0
COMMANDS = ("!help", "!next", "!hw list", "!farm", "!agenda", "!actions")
MEETING = ("#startmeeting Demo WG", "#topic Farm", "#info gpu1 is back", "#action alice to check the runners",
           "#agreed ship it", "#endmeeting")


def install(tmp: Path) -> Path:
    """A clean venv with the wheel built from this checkout; returns its python."""
    dist, env_dir = tmp / "dist", tmp / "venv"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], check=True,
                   capture_output=True)
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    str(next(dist.glob("*.whl")))], check=True)
    return python


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def largest_distributions(python: Path, n: int = 6) -> list[tuple[str, float]]:
    site = next((python.parents[1] / "lib").glob("python*/site-packages"))
    sizes: dict[str, int] = {}
    for top in site.iterdir():
        if top.name.endswith((".dist-info", ".pth")) or top.name in ("pip", "__pycache__", "_distutils_hack"):
            continue
        sizes[top.name] = du(top) if top.is_dir() else top.stat().st_size
    return [(name, size / 2**20) for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:n]]


def import_ms(python: Path, code: str, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run([str(python), "-c", code], check=True, cwd=tempfile.gettempdir())
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


# The libraries `sigbot run` holds (what the brief and the issues name: matrix-nio, aiohttp's server,
# sqlite-utils with click), imported and nothing else: the floor under sigbot's own code and state.
# Of aiohttp's server, sigbot uses the low-level one (bot/web/app.py), not aiohttp.web's application layer.
# markdown-it is not held: replies are rendered by bot/chat/reply_markdown.py, the site by a child process.
LIBRARIES = ("nio", "aiohttp.web_server", "sqlite_utils", "click")


def imported_rss_mib(python: Path, modules: tuple[str, ...], rounds: int = 3) -> float:
    """VmRSS of an interpreter that imported `modules` and did nothing else (median of `rounds`)."""
    code = (f"import {', '.join(modules)}\n"
            "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS:')))")
    runs = [int(subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True,
                               cwd=tempfile.gettempdir()).stdout) / 1024 for _ in range(rounds)]
    return statistics.median(runs)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def running_rss(synapse, tmp: Path, python: Path, commands: int) -> dict:
    """sigbot run (the demo's team, relayed to ngIRCd) and the echo client, each after `commands` answers."""
    ircd = IrcServer()
    ircd.start()
    alice, echo = User(synapse, "Alice"), User(synapse, "Echo")
    await alice.login()
    bot = BotProcess(synapse, tmp, "", sigbot=python.with_name("sigbot"))
    room = await make_room(alice, bot.user_id, [])
    echo_room = await make_room(alice, echo.user_id, [])
    bot.use_room(room)
    bot.config.write_text(bot.config.read_text() + f'''irc_channels = ["#demo"]
admins = ["{alice.user_id}"]

[irc]
host = "{ircd.host}"
port = {ircd.port}
tls = false
nick = "sigbot"

[teams.schedule]
reminders = ["24h", "15m"]

[[teams.schedule.series]]
id = "wg"
title = "Demo WG meeting"
first = "2026-01-08T15:00"
every_weeks = 2

[teams.loans]
admins = ["{alice.user_id}"]

[teams.farm]
interval_seconds = 30

[[teams.farm.machines]]
name = "gpu1"
secret_env = "SIGBOT_TEST_PASSWORD"
''')
    echo_proc = subprocess.Popen([str(python), str(ROOT / "bench" / "echo_client.py"), synapse.base_url,
                                  echo.user_id, echo.password, echo_room], stdout=subprocess.PIPE, text=True)
    async def answered(n: int) -> tuple[float, float]:
        """Each bot answers `n` commands; then the medians of 5 readings of their VmRSS."""
        await bot.wait_ready(timeout=120)
        await alice.client.sync(timeout=0)
        # A meeting, as every two weeks of the bot's life: minutes rendered and written, the agenda and
        # actions carried. Memory after it is what a running bot holds, not only before its first meeting.
        for line in MEETING:
            await alice.send(room, line)
            if line.startswith(("#startmeeting", "#endmeeting")):
                await alice.wait_for_notice(room, "started" if line.startswith("#start") else "Minutes:", timeout=60)
        for i in range(n):
            await alice.send(room, COMMANDS[i % len(COMMANDS)])
            await alice.wait_for(room, lambda s: s.get("sender") == bot.user_id, timeout=60)
            await alice.send(echo_room, f"!echo {i}")
            await alice.wait_for(echo_room, lambda s: s.get("sender") == echo.user_id, timeout=60)
        await asyncio.sleep(2)
        samples = []
        for _ in range(5):
            samples.append((rss_mib(bot.proc.pid), rss_mib(echo_proc.pid)))
            await asyncio.sleep(1)
        return statistics.median(s for s, _ in samples), statistics.median(e for _, e in samples)

    bot.start()
    try:
        assert echo_proc.stdout.readline().strip() == "echo ready"
        first, echo_first = await answered(commands)
        # Then as it runs most of its life: restarted over its own data (feeds already written).
        bot.stop()
        bot.start()
        restarted, echo_later = await answered(commands)
        return {"sigbot": first, "echo": echo_first, "restarted": restarted, "echo_later": echo_later}
    finally:
        bot.stop()
        echo_proc.terminate()
        await alice.close()
        ircd.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7, help="import-time runs (median)")
    parser.add_argument("--commands", type=int, default=20, help="commands each bot answers before RSS is read")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        python = install(tmp)
        venv_mib = du(tmp / "venv") / 2**20
        biggest = largest_distributions(python)
        agent = tmp / "agent.pyz"
        subprocess.run([str(python.with_name("sigbot")), "farm", "bundle-agent", str(agent)], check=True,
                       capture_output=True)
        agent_kib = agent.stat().st_size / 1024
        bare = import_ms(python, "pass", args.rounds)
        nio_ms = import_ms(python, "import nio", args.rounds)
        run_ms = import_ms(python, "import bot.run", args.rounds)
        floor = imported_rss_mib(python, LIBRARIES)
        rss = with_synapse(lambda synapse, work: asyncio.run(running_rss(synapse, work, python, args.commands)))
    ratio = rss["sigbot"] / rss["echo"]
    rows = [
        "## Footprint: install size, import time, resident memory (issue 14)",
        "",
        f"Machine: {os.cpu_count()} cores. A clean venv with the wheel built from this checkout; "
        f"import times are medians of {args.rounds} runs; RSS is the median of 5 readings of VmRSS after each "
        f"bot answered {args.commands} commands, sigbot also after holding a meeting (its minutes written).",
        "",
        "| figure | sigbot | floor | ratio / goal |",
        "|---|---|---|---|",
        f"| venv size | {venv_mib:.1f} MiB | | |",
        f"| farm host download (single-file agent) | {agent_kib:.0f} KiB | | standard library only |",
        f"| import of `sigbot run`'s modules | {run_ms:.0f} ms | {nio_ms:.0f} ms (matrix-nio alone); "
        f"{bare:.0f} ms (bare Python) | {run_ms / nio_ms:.2f}x nio |",
        f"| RSS of `sigbot run`, the demo's team with IRC, first start | {rss['sigbot']:.1f} MiB | "
        f"{rss['echo']:.1f} MiB (echo client) | {ratio:.2f}x; goal <= {GOAL_RSS_MIB:.0f} MiB: "
        f"{'met' if rss['sigbot'] <= GOAL_RSS_MIB else 'NOT met'} |",
        f"| the same, restarted over its data | {rss['restarted']:.1f} MiB | {rss['echo_later']:.1f} MiB "
        f"(echo client) | {rss['restarted'] / rss['echo_later']:.2f}x; goal <= {GOAL_RSS_MIB:.0f} MiB: "
        f"{'met' if rss['restarted'] <= GOAL_RSS_MIB else 'NOT met'} |",
        f"| the libraries it is built on, imported and idle ({', '.join(LIBRARIES)}) | | {floor:.1f} MiB | "
        f"sigbot's own code and state: {rss['restarted'] - floor:.1f} MiB |",
        "",
        "Largest distributions in the venv: " + ", ".join(f"{n} {s:.1f} MiB" for n, s in biggest) + ".",
        "",
    ]
    publish("footprint", "\n".join(rows))


if __name__ == "__main__":
    main()
