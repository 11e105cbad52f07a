"""Waiting in services and adapters: sleep until a time or until asked to stop.

No clock is read here: a service takes its time from `rt.now()`, so tests set it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

T = TypeVar("T")


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile.

    `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` loses a
    cancellation that arrives as the awaited thing finishes, and a loop around
    it then never ends (a shutdown that hangs). Every timed wait in bot/ uses
    `asyncio.timeout` for that reason (tests/test_timing.py).
    """
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        pass


async def within(seconds: float, awaitable: Awaitable[T]) -> T:
    """`await awaitable`, or TimeoutError after `seconds`: `wait_for` without its lost cancellations."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def ticks(stop: asyncio.Event, seconds: float) -> AsyncIterator[None]:
    """For a periodic service: yields at once and then every `seconds` until `stop`.

    The loop body catches and logs its own exceptions, so one failed round
    does not end the service.
    """
    while not stop.is_set():
        yield
        await sleep_or_stop(stop, seconds)
