"""Run sigbot's farm endpoint and a real `sigbot farm-agent` on one GPU machine, on loopback.

    python3 tests/farm/loopback_run.py --seconds 30 --out DIR

Starts sigbot's web app (bot/web/server.py) on 127.0.0.1 with one team whose
one machine is this host, runs `sigbot farm-agent --interval 5` against it for
`--seconds`, then prints what sigbot stored, its `!farm` answers, and writes
status.json and the plots into DIR.  Used to check the agent on a real GPU
(see tests/farm/fixtures/README.md); CI runs the same path with a fake
nvidia-smi (tests/test_farm_live.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path


async def main(seconds: int, out: Path) -> int:
    from bot.config import parse_config
    from bot.core.message import Message, Network
    from bot.dispatch import Dispatcher
    from bot.farm.service import publish, tick
    from bot.farm.store import FarmStore
    from bot.registry import build_registry
    from bot.runtime import Runtime
    from bot.storage import open_store
    from bot.web.server import build_app, start_web

    host = socket.gethostname().split(".")[0] or "gpu"
    listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
    gpus = sum(line.startswith("GPU ") for line in listed.splitlines())
    secret = secrets.token_hex(16)
    os.environ["LOOPBACK_FARM_SECRET"] = secret
    work = Path(tempfile.mkdtemp())
    config = parse_config({"bot": {"notes_dir": str(out / "notes"), "data_dir": str(work)},
                           "teams": [{"name": "farm", "irc_channels": ["#farm"], "farm": {
                               "interval_seconds": 5, "machines": [
                                   {"name": host, "gpus": gpus, "secret_env": "LOOPBACK_FARM_SECRET"}]}}]},
                          work / "sigbot.toml")
    rt = Runtime(config, Dispatcher(config, open_store(work / "db.sqlite"), build_registry()))
    runner = await start_web(build_app(rt), "127.0.0.1:0")
    url = rt.state["web_url"]
    agent = await asyncio.create_subprocess_exec(
        shutil.which("sigbot") or "sigbot", "farm-agent", "--url", url + "/farm/report", "--host", host,
        "--interval", "5", "--secret-env", "LOOPBACK_FARM_SECRET")
    await asyncio.sleep(seconds)
    agent.terminate()
    await agent.wait()
    store = FarmStore(rt.store.db)
    seen = store.host("farm", host)
    print(f"== {store.counts()['farm_samples']} samples stored; last report:")
    print(json.dumps(seen.report.to_json() if seen else None, indent=2))
    now = datetime.now(timezone.utc)
    print("== alerts:", [e.text for e in tick(rt, now)])
    for text in ("!farm", f"!farm {host}"):
        msg = Message(Network.IRC, "#farm", "irc:me", "me", text, now, event_id=text)
        print(f"== {text}\n" + "\n".join(e.text for e in rt.dispatcher.handle(msg)))
    publish(rt, now)
    async_get = __import__("aiohttp").ClientSession
    async with async_get() as session:
        async with session.get(f"{url}/farm/farm/{host}-day.svg") as response:
            print(f"== GET /farm/farm/{host}-day.svg -> {response.status}, {len(await response.read())} bytes")
    await runner.cleanup()
    return 0 if seen else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.seconds, args.out)))
