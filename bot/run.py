"""`sigbot run`: the live bot. Logging, signals, the adapters and the timers."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable
from datetime import datetime, timezone

from bot.app import build_dispatcher
from bot.chat.matrix import MatrixAdapter
from bot.config import Config
from bot.meeting.apart import render_apart
from bot.relay.bridge import start_relay
from bot.runtime import Runtime, start_services
from bot.web.server import build_app, start_web

log = logging.getLogger("sigbot")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(fmt: str, level: str = "INFO") -> None:
    """sigbot's own loggers at `level`; libraries (nio logs every request at INFO,
    aiohttp every access) only warn, unless `level` is DEBUG."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=level if level == "DEBUG" else logging.WARNING, handlers=[handler], force=True)
    for name in ("sigbot", "bot"):
        logging.getLogger(name).setLevel(level)


async def run_bot(config: Config, now: Callable[[], datetime] | None = None,
                  stop: asyncio.Event | None = None) -> None:
    """The live bot until SIGTERM/SIGINT or `stop`. Tests run it in-process with their own clock `now`."""
    if config.matrix is None:
        raise SystemExit("sigbot run: the config has no [matrix] section; see sigbot.example.toml")
    dispatcher = build_dispatcher(config)
    rt = Runtime(config, dispatcher)
    if now is not None:
        rt.now = now
    adapter = MatrixAdapter(config, dispatcher)
    rt.state["matrix"] = adapter
    dispatcher.room_title = adapter.room_title
    dispatcher.render_minutes = render_apart  # jinja2 is not kept in the long-running process
    if stop is None:  # the real process; in-process tests pass their own `stop`
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await adapter.login()
    await adapter.join_rooms()
    log.info("sigbot is up as %s in %d room(s)", config.matrix.user_id, len(adapter.room_ids))
    rt.deliver = adapter.deliver
    # With [irc], the relay connects and makes rt.deliver answer on both networks.
    irc = [start_relay(rt, adapter, stop)] if config.irc is not None else []
    rt.deliver(dispatcher.recover())
    web_runner = await start_web(build_app(rt), config.web_listen)
    tasks = [asyncio.create_task(adapter.sync_forever(stop)), *irc, *start_services(rt, stop)]
    await stop.wait()
    log.info("stopping (meeting state is already stored)")
    for task in tasks:
        task.cancel()
    await web_runner.cleanup()
    await adapter.close()
