"""`sigbot run`: the live bot. Logging, signals, the adapters and the timers."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from datetime import datetime, timezone

from bot.app import build_dispatcher
from bot.chat.matrix import MatrixAdapter, sleep_or_stop
from bot.config import Config

log = logging.getLogger("sigbot")
TIMER_SECONDS = 60


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(fmt: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("nio").setLevel(logging.WARNING)  # nio logs every request at INFO


async def run_bot(config: Config) -> None:
    if config.matrix is None:
        raise SystemExit("sigbot run: the config has no [matrix] section; see sigbot.example.toml")
    dispatcher = build_dispatcher(config)
    adapter = MatrixAdapter(config, dispatcher)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await adapter.login()
    await adapter.join_rooms()
    log.info("sigbot is up as %s in %d room(s)", config.matrix.user_id, len(adapter.room_ids))
    adapter.deliver(dispatcher.recover())
    tasks = [asyncio.create_task(adapter.sync_forever(stop)), asyncio.create_task(_timers(dispatcher, adapter, stop))]
    await stop.wait()
    log.info("stopping (meeting state is already stored)")
    for task in tasks:
        task.cancel()
    await adapter.close()


async def _timers(dispatcher, adapter: MatrixAdapter, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            adapter.deliver(dispatcher.end_forgotten_meetings(datetime.now(timezone.utc)))
        except Exception:
            log.exception("timer failed")
        await sleep_or_stop(stop, TIMER_SECONDS)
