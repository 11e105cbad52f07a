"""What the live bot's parts share, and the lists of feature services and web routes.

`sigbot run` builds one `Runtime`, starts the chat adapters, the web server
and every service named in SERVICES, and stops them all on SIGTERM.

A feature plugs in by appending one line to a list below:

- SERVICES: "module:function", an `async def service(rt: Runtime, stop: asyncio.Event)`
  that runs until `stop` is set (timers, reminders, scrapers). Effects it
  produces go to `rt.deliver(effects)`; time comes from `rt.now()`.
- WEB_ROUTES: "module:function", a `def add_routes(rt: Runtime, app: web.Application)`
  that adds the feature's pages and endpoints to sigbot's one web server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bot.config import Config
from bot.core.message import Effect
from bot.core.targets import load
from bot.dispatch import Dispatcher
from bot.storage import Store

log = logging.getLogger(__name__)

SERVICES: list[str] = [
    "bot.meeting.timers:end_forgotten_meetings",
    "bot.schedule.reminders:reminder_service",
    "bot.loans.reminders:loan_reminders",
    "bot.farm.service:watch",
    "bot.farm.scrape:scrape",
    "bot.site.publish:publish_service",
]

WEB_ROUTES: list[str] = [
    "bot.schedule.web:add_routes",
    "bot.relay.web:add_routes",
    "bot.farm.web:add_routes",
    "bot.site.routes:add_routes",  # last: the site catches every other GET path
]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Runtime:
    config: Config
    dispatcher: Dispatcher
    deliver: Callable[[list[Effect]], None] = lambda effects: None  # set once the adapters are up
    now: Callable[[], datetime] = _utcnow
    state: dict[str, Any] = field(default_factory=dict)  # adapters and services publish themselves here

    @property
    def store(self) -> Store:
        return self.dispatcher.store


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass


async def ticks(stop: asyncio.Event, seconds: float) -> AsyncIterator[None]:
    """For a periodic service: yields at once and then every `seconds` until `stop`.

    The loop body catches and logs its own exceptions, so one failed round
    does not end the service.
    """
    while not stop.is_set():
        yield
        await sleep_or_stop(stop, seconds)


def start_services(rt: Runtime, stop: asyncio.Event) -> list[asyncio.Task]:
    return [asyncio.create_task(_guarded(target, rt, stop), name=target) for target in SERVICES]


async def _guarded(target: str, rt: Runtime, stop: asyncio.Event) -> None:
    """A service that crashes is logged and started again: one broken feature must not stop the bot."""
    while not stop.is_set():
        try:
            await load(target)(rt, stop)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("service %s failed; restarting it in 10 s", target)
            await sleep_or_stop(stop, 10)
