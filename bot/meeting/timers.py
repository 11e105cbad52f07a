"""The meeting's timer service: end meetings left open past their team's limit."""

from __future__ import annotations

import asyncio
import logging

from bot.runtime import Runtime

log = logging.getLogger(__name__)
TIMER_SECONDS = 60


async def end_forgotten_meetings(rt: Runtime, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            rt.deliver(rt.dispatcher.end_forgotten_meetings(rt.now()))
        except Exception:
            log.exception("the meeting timer failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=TIMER_SECONDS)
        except asyncio.TimeoutError:
            pass
