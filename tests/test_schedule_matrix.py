"""The schedule in a Matrix room on a real Synapse: sigbot runs in-process with an injected clock for reminders."""

import asyncio
import socket
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import aiohttp
import icalendar
import pytest
from matrix_users import User, make_room

from bot.config import load_config
from bot.run import run_bot

pytestmark = pytest.mark.synapse
BERLIN = ZoneInfo("Europe/Berlin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path, synapse, bot_id: str, room: str, chair: str, first: datetime, port: int):
    path = tmp_path / "sigbot.toml"
    path.write_text(
        f'[bot]\ndata_dir = "var"\nnotes_dir = "notes"\n\n[web]\nlisten = "127.0.0.1:{port}"\n\n'
        f'[matrix]\nhomeserver = "{synapse.base_url}"\nuser_id = "{bot_id}"\n'
        'password_env = "SIGBOT_SCHEDULE_PASSWORD"\n\n'
        f'[[teams]]\nname = "wg"\nmatrix_room = "{room}"\ntimezone = "Europe/Berlin"\n\n'
        f'[teams.schedule]\nreminders = ["24h", "15m"]\n\n'
        f'[[teams.schedule.series]]\nid = "wg"\ntitle = "Matrix WG"\nfirst = "{first:%Y-%m-%dT%H:%M}"\n'
        f'every_weeks = 1\nlocation = "https://meet.example/wg"\nchairs = ["{chair}"]\n'
    )
    return load_config(path)


def test_a_room_asks_changes_and_is_reminded_of_its_schedule(synapse, tmp_path, monkeypatch):
    async def scenario():
        alice, bob, carol = User(synapse, "Alice"), User(synapse, "Bob"), User(synapse, "Carol")
        for u in (alice, bob, carol):
            await u.login()
        password = "pw-" + uuid.uuid4().hex
        bot_id = synapse.register(f"sigbot-{uuid.uuid4().hex[:6]}", password)
        monkeypatch.setenv("SIGBOT_SCHEDULE_PASSWORD", password)
        room = await make_room(alice, bot_id, [bob, carol])
        # Commands answer by the homeserver's time; the first meeting is two days from today.
        today = datetime.now(BERLIN).date()
        first = datetime.combine(today + timedelta(days=2), datetime.min.time()).replace(hour=15)
        second = first + timedelta(days=7)
        port = free_port()
        config = write_config(tmp_path, synapse, bot_id, room, bob.user_id, first, port)
        # The bot's clock stands 14 minutes before the first meeting: the 15-minute reminder is due.
        fake_now = first.replace(tzinfo=BERLIN).astimezone(timezone.utc) - timedelta(minutes=14)
        stop = asyncio.Event()
        bot = asyncio.create_task(run_bot(config, now=lambda: fake_now, stop=stop))
        try:
            reminder = await alice.wait_for_notice(room, "Reminder:", timeout=60)
            assert "**Matrix WG** (wg) starts in 14 min" in reminder
            assert "Join: https://meet.example/wg" in reminder
            await asyncio.sleep(1.0)  # the bot's first sync, which skips history, is behind us

            await carol.send(room, "!next")
            answer = await carol.wait_for_notice(room, "Next:")
            assert f"{first:%a %Y-%m-%d %H:%M} Europe/Berlin" in answer and "UTC" in answer

            await carol.send(room, f"!cancel wg {second:%Y-%m-%d} I say so")
            assert "Only team admins" in await carol.wait_for_notice(room, "Only team admins")
            await bob.send(room, f"!cancel wg {second:%Y-%m-%d} holiday")
            assert "Cancelled (holiday)" in await bob.wait_for_notice(room, "Cancelled (holiday)")
            extra_day = first + timedelta(days=3)
            await bob.send(room, f"!extra wg {extra_day:%Y-%m-%d} 09:00 Temporary meeting")
            await bob.wait_for_notice(room, "Added")
            await alice.send(room, "!schedule")
            shown = await alice.wait_for_notice(room, "CANCELLED")
            assert "CANCELLED: holiday" in shown and "Temporary meeting" in shown

            for ics in ((tmp_path / "notes" / "wg" / "calendar.ics").read_bytes(),
                        await fetch(f"http://127.0.0.1:{port}/calendar/wg.ics"),
                        await fetch(f"http://127.0.0.1:{port}/calendar.ics")):
                events = icalendar.Calendar.from_ical(ics).walk("VEVENT")
                assert [d.dt for d in events[0]["EXDATE"].dts] == [second.replace(tzinfo=BERLIN)]
                assert [str(e["SUMMARY"]) for e in events[1:]] == ["Temporary meeting"]
        finally:
            stop.set()
            await asyncio.wait_for(bot, 30)
            for u in (alice, bob, carol):
                await u.close()

    asyncio.run(asyncio.wait_for(scenario(), 180))


async def fetch(url: str) -> bytes:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200 and resp.content_type == "text/calendar"
        return await resp.read()
