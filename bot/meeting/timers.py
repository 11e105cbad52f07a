"""The meeting's timer service: end meetings left open past their team's limit."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.core.timing import ticks

if TYPE_CHECKING:  # the meeting engine sits below the runtime: no import at run time
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
TIMER_SECONDS = 60


async def end_forgotten_meetings(rt: Runtime, stop: asyncio.Event) -> None:
    async for _ in ticks(stop, TIMER_SECONDS):
        try:
            rt.deliver(rt.dispatcher.end_forgotten_meetings(rt.now()))
        except Exception:
            log.exception("the meeting timer failed")
