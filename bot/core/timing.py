"""Waiting in services and adapters: sleep until a time or until asked to stop.

No clock is read here: a service takes its time from `rt.now()`, so tests set it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


async def ticks(stop: asyncio.Event, seconds: float) -> AsyncIterator[None]:
    """For a periodic service: yields at once and then every `seconds` until `stop`.

    The loop body catches and logs its own exceptions, so one failed round
    does not end the service.
    """
    while not stop.is_set():
        yield
        await sleep_or_stop(stop, seconds)
