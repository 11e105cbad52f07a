"""A whole loan through a real Synapse, with sigbot in-process on an injected clock, and a scan for leaks.

Request, approve (an asset is allocated), the address given in a direct chat,
ship, confirm, an overdue reminder arriving as a direct message once the clock
is moved past the due date, return, check-in. Then everything the bot said in
the team room, the notes folder (loans.json included), the bot's log output
and its stored lines are searched for the test's fake address.
"""

import asyncio
import logging
import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from matrix_users import User, make_room

from bot.config import parse_config
from bot.loans import reminders
from bot.run import run_bot

pytestmark = pytest.mark.synapse

STREET = "Zyxwvut Lane"  # a word that appears nowhere else
ADDRESS = f"Ada Lovelace, 12 {STREET}, 4242 Engine City, +44 20 7946 0958"


class Captured(logging.Handler):
    """Every log line sigbot's own code writes, at every level, as text.

    The test users' matrix-nio clients share the process and log their own
    messages, so nio's loggers are left out (sigbot runs nio at WARNING).
    """

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("bot", "sigbot")):
            self.lines.append(self.format(record))


async def accept_direct_chat(user: User, timeout: float = 30) -> str:
    """Join the direct chat the bot opens with `user`; its room id."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        resp = await user.client.sync(timeout=1000)
        invites = getattr(getattr(resp, "rooms", None), "invite", {}) or {}
        for room_id in invites:
            await user.client.join(room_id)
            return room_id
    raise AssertionError(f"{user.display} got no direct chat from the bot")


async def wait_log(handler: Captured, text: str, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not any(text in line for line in handler.lines):
        assert loop.time() < deadline, f"the bot never logged {text!r}"
        await asyncio.sleep(0.1)


def test_a_whole_loan_over_matrix_with_the_address_only_in_a_direct_chat(synapse, tmp_path, monkeypatch):
    monkeypatch.setattr(reminders, "WAKE_SECONDS", 0.3)
    captured = Captured()
    logging.getLogger().addHandler(captured)
    monkeypatch.setattr(logging.getLogger(), "level", logging.DEBUG)
    monkeypatch.setattr(logging.getLogger("nio"), "level", logging.WARNING)
    # An earlier in-process `sigbot ... run` (the CLI edge tests) may have set sigbot's own loggers'
    # levels (setup_logging); this test reads their INFO lines, so it sets them back for its run.
    for name in ("bot", "sigbot"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)

    async def scenario():
        ada, trix = User(synapse, "Ada"), User(synapse, "Trix")
        for u in (ada, trix):
            await u.login()
        bot_password = "pw-" + uuid.uuid4().hex
        bot_id = synapse.register(f"sigbot-{uuid.uuid4().hex[:6]}", bot_password)
        os.environ["SIGBOT_LOANS_TEST_PASSWORD"] = bot_password
        room = await make_room(trix, bot_id, [ada])
        config = parse_config({
            "bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
            "web": {"listen": "127.0.0.1:0"},
            "matrix": {"homeserver": synapse.base_url, "user_id": bot_id,
                       "password_env": "SIGBOT_LOANS_TEST_PASSWORD"},
            "teams": [{"name": "wg", "matrix_room": room, "timezone": "Europe/Berlin",
                       "loans": {"admins": [trix.user_id], "default_weeks": 4}}],
        }, tmp_path / "sigbot.toml")
        clock = {"shift": timedelta(0)}
        stop = asyncio.Event()
        bot = asyncio.create_task(run_bot(config, now=lambda: datetime.now(timezone.utc) + clock["shift"], stop=stop))
        try:
            await wait_log(captured, "matrix: synced; reading new messages")

            async def said(user: User, text: str, answer: str, where: str = room) -> str:
                await user.send(where, text)
                return await user.wait_for_notice(where, answer)

            await said(trix, '!hw add w7900-1 gpu vendor=AMD model="Radeon PRO W7900" target=gfx1100', "Added")
            assert "1st in the gfx1100 queue" in await said(ada, "!loan request gfx1100 for rocBLAS CI", "#1")
            await said(trix, "!loan approve 1", "reserved for it")
            dm = await accept_direct_chat(ada)
            assert "!loan address 1" in await ada.wait_for_notice(dm, "reserved for you")
            # Said in the room by mistake: refused, and the bot does not repeat it.
            await said(ada, f"!loan address 1 {ADDRESS}", "direct message")
            await said(ada, f"!loan address 1 {ADDRESS}", "stored privately", where=dm)
            await said(trix, "!loan ship 1 DHL 4711", "is shipped")
            await said(ada, "!loan received 1", "is active")

            clock["shift"] = timedelta(weeks=4, days=8)  # the loan is now 8 days overdue
            assert "8 days overdue" in await ada.wait_for_notice(dm, "overdue", timeout=30)

            await said(ada, "!loan return 1 UPS 99", "on its way back")
            await said(trix, "!loan checkin 1 fine", "checked in")
            assert "available" in await said(trix, "!hw show w7900-1", "w7900-1")

            history = await trix.client.room_messages(room, start=trix.client.next_batch, limit=500)
            bot_said = [e.source["content"].get("body", "") for e in history.chunk if e.sender == bot_id]
            assert len(bot_said) >= 10
            for text in bot_said:
                assert STREET not in text and "7946" not in text
        finally:
            stop.set()
            await asyncio.wait_for(bot, 30)
            for u in (ada, trix):
                await u.close()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 240))
    finally:
        logging.getLogger().removeHandler(captured)
    files = [p for p in (tmp_path / "notes").rglob("*") if p.is_file()]
    assert tmp_path / "notes" / "wg" / "loans.json" in files
    for path in files:
        assert STREET not in path.read_text(errors="replace"), path
    assert not any(STREET in line for line in captured.lines)
    import sqlite3

    db = sqlite3.connect(tmp_path / "var" / "sigbot.db")
    assert not any(STREET in text for (text,) in db.execute("SELECT text FROM lines"))
    assert not any(STREET in (note or "") for (note,) in db.execute("SELECT note FROM loan_events"))
