"""Timed waits that never lose a cancellation (bot/core/timing.py).

On Python 3.11, `asyncio.wait_for` returns normally when the task is
cancelled in the same loop step as the awaited thing finishes: the
cancellation is lost, and a loop around it (the IRC read loop) never ends,
so a shutdown hangs. These tests make exactly that race happen.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.timing import sleep_or_stop, within

BOT = Path(__file__).resolve().parents[1] / "bot"


async def cancelled_as_it_finishes(make_wait, finish) -> bool:
    """Start `make_wait()`, then in one step finish what it waits for and cancel it: was it cancelled?"""
    task = asyncio.create_task(make_wait())
    await asyncio.sleep(0)  # the task is waiting now
    finish()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False


def test_a_sleep_cancelled_as_stop_is_set_is_cancelled():
    async def scenario() -> bool:
        stop = asyncio.Event()
        return await cancelled_as_it_finishes(lambda: sleep_or_stop(stop, 30), stop.set)

    assert asyncio.run(scenario())


def test_a_timed_wait_cancelled_as_its_line_arrives_is_cancelled():
    async def scenario() -> bool:
        reader = asyncio.StreamReader()
        return await cancelled_as_it_finishes(lambda: within(30, reader.readline()),
                                              lambda: reader.feed_data(b"PING :x\r\n"))

    assert asyncio.run(scenario())


def test_the_race_is_real_with_wait_for_on_this_python():
    """The check above can fail: with wait_for the same race loses the cancellation (fixed in 3.12)."""
    import sys

    async def scenario() -> bool:
        stop = asyncio.Event()
        return await cancelled_as_it_finishes(lambda: asyncio.wait_for(stop.wait(), 30), stop.set)

    assert asyncio.run(scenario()) is (sys.version_info >= (3, 12))


def test_no_module_of_bot_uses_wait_for():
    found = [str(p.relative_to(BOT)) for p in sorted(BOT.rglob("*.py")) if "wait_for(" in p.read_text("utf-8")]
    assert len(list(BOT.rglob("*.py"))) > 100 and not found, f"use bot.core.timing.within in {found}"
