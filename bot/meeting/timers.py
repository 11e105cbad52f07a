"""The meeting's timer service: end meetings left open past their team's limit."""

from __future__ import annotations

import asyncio
import logging

from bot.runtime import Runtime, ticks

log = logging.getLogger(__name__)
TIMER_SECONDS = 60


async def end_forgotten_meetings(rt: Runtime, stop: asyncio.Event) -> None:
    async for _ in ticks(stop, TIMER_SECONDS):
        try:
            rt.deliver(rt.dispatcher.end_forgotten_meetings(rt.now()))
        except Exception:
            log.exception("the meeting timer failed")
