"""What the live bot's parts share: the Runtime, and the features' services and web routes.

`sigbot run` builds one `Runtime`, starts the chat adapters, the web server
and every feature's services, and stops them all on SIGTERM. Features declare
them in their feature.py (bot/features.py lists the features):

- services: "module:function", an `async def service(rt: Runtime, stop: asyncio.Event)`
  that runs until `stop` is set (timers, reminders, scrapers). Effects it
  produces go to `rt.deliver(effects)`; time comes from `rt.now()`.
- web_routes: "module:function", a `def add_routes(rt: Runtime, app: App)` (bot/web/app.py)
  that adds the feature's pages and endpoints to sigbot's one web server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bot.config import Config
from bot.core.message import Effect
from bot.core.targets import load
from bot.core.timing import sleep_or_stop, ticks
from bot.dispatch import Dispatcher
from bot.features import targets
from bot.storage import Store

# What the live bot's parts import from here; sleep_or_stop and ticks come from bot.core.timing,
# offered here too so that a service needs one import for its runtime.
__all__ = ["SERVICES", "WEB_ROUTES", "Runtime", "sleep_or_stop", "start_services", "ticks"]

log = logging.getLogger(__name__)

SERVICES: list[str] = targets("services")
WEB_ROUTES: list[str] = targets("web_routes")  # the site's come last: it catches every other GET path


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


def start_services(rt: Runtime, stop: asyncio.Event) -> list[asyncio.Task[None]]:
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
