"""Identity on a Libera-like network: rights follow the services account, never the nick.

The network is InspIRCd 3 linked to Atheme 7 services (tests/servers/services.py),
with SASL, account-notify, extended-join and account-tag as on Libera. sigbot
runs in-process against it and a real Synapse; people on IRC are raw clients
that log in with SASL or not. `trix` is the only IRC admin (`irc:trix`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from matrix_users import User, make_room
from servers.irc_client import IrcClient
from servers.services import ServicesNetwork, nickserv, start_or_fail
from test_loans_matrix import Captured

from bot.config import parse_config
from bot.run import run_bot

pytestmark = [pytest.mark.synapse, pytest.mark.ircd]

ACCOUNTS = ("trix", "ada", "mallory")  # trix is the team's admin; ada borrows; mallory is someone else
WAIT = 30.0
ADD_GPU = '!hw add w7900-1 gpu vendor=AMD model="Radeon PRO W7900" target=gfx1100'


@pytest.fixture(scope="module")
def passwords(services: ServicesNetwork) -> dict[str, str]:
    """The NickServ accounts of this module, registered once."""
    chosen = {account: "pw-" + uuid.uuid4().hex for account in ACCOUNTS}

    async def register_all() -> None:
        for account, password in chosen.items():
            await services.register(account, password)

    asyncio.run(asyncio.wait_for(register_all(), 120))
    return chosen


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch):
    """sigbot's own log lines, from INFO up."""
    handler = Captured()
    root = logging.getLogger()
    root.addHandler(handler)
    monkeypatch.setattr(root, "level", logging.INFO)
    monkeypatch.setattr(logging.getLogger("nio"), "level", logging.WARNING)
    yield handler
    root.removeHandler(handler)


@dataclass
class Team:
    """The bot as the team sees it on IRC: its nick, its channel, and how to wait for its answers."""

    nick: str
    account: str
    channel: str

    async def answer(self, person: IrcClient, contains: str, timeout: float = WAIT) -> str:
        """The bot's next NOTICE in the channel that contains ``contains``, as ``person`` sees it."""
        said = await person.expect(lambda m: m.command == "NOTICE" and m.nick == self.nick
                                   and m.target == self.channel and contains in (m.text or ""), timeout)
        return said.text or ""

    async def asks(self, person: IrcClient, text: str, answer: str) -> str:
        await person.privmsg(self.channel, text)
        return await self.answer(person, answer)


@asynccontextmanager
async def sigbot_on(services: ServicesNetwork, synapse, tmp_path, people: list[IrcClient],
                    before_start: Callable[[Team], Awaitable[None]] | None = None,
                    web: dict | None = None) -> AsyncIterator[Team]:
    """sigbot logged in to its own NickServ account, in a fresh channel with ``people`` (already connected)."""
    account, irc_password = f"sigbot{uuid.uuid4().hex[:6]}", "pw-" + uuid.uuid4().hex
    await services.register(account, irc_password)
    team = Team(nick=account, account=account, channel=f"#wg-{uuid.uuid4().hex[:6]}")
    owner = User(synapse, "Owner")
    await owner.login()
    matrix_password = "pw-" + uuid.uuid4().hex
    bot_id = synapse.register(f"sigbot-{uuid.uuid4().hex[:6]}", matrix_password)
    room = await make_room(owner, bot_id, [])
    os.environ["SIGBOT_SERVICES_MATRIX"], os.environ["SIGBOT_SERVICES_IRC"] = matrix_password, irc_password
    config = parse_config({
        "bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
        "web": web or {"listen": "127.0.0.1:0"},
        "matrix": {"homeserver": synapse.base_url, "user_id": bot_id, "password_env": "SIGBOT_SERVICES_MATRIX"},
        "irc": {"host": services.host, "port": services.port, "tls": False, "nick": account,
                "sasl_account": account, "sasl_password_env": "SIGBOT_SERVICES_IRC", "line_interval": 0.2},
        "teams": [{"name": "wg", "matrix_room": room, "irc_channels": [team.channel],
                   "timezone": "Europe/Berlin", "admins": ["irc:trix"]}],
    }, tmp_path / "sigbot.toml")
    for person in people:
        await person.join(team.channel)
    if before_start is not None:
        await before_start(team)
    stop = asyncio.Event()
    bot = asyncio.create_task(run_bot(config, stop=stop))
    try:
        await people[0].expect(lambda m: m.command == "JOIN" and m.nick in (account, account + "_")
                               and m.params[0] == team.channel, timeout=60)
        yield team
    finally:
        stop.set()
        await asyncio.wait_for(bot, 30)
        await owner.close()
        for person in people:
            await person.quit()
        for name in ("SIGBOT_SERVICES_MATRIX", "SIGBOT_SERVICES_IRC"):
            os.environ.pop(name, None)


def run(coro) -> None:
    """Run a scenario (at most 240 s), then make sure nothing it started is left running.

    asyncio.run() would wait forever for a task that ignores its cancellation
    (a whole CI run hung here once); this loop gives such tasks 15 s and then
    fails the test naming them, so a stall is a named failure, not a timeout.
    """
    async def main() -> None:
        try:
            await asyncio.wait_for(coro, 240)
        finally:
            me = asyncio.current_task()
            left = [task for task in asyncio.all_tasks() if task is not me]
            for task in left:
                task.cancel()
            _, stuck = await asyncio.wait(left, timeout=15) if left else (set(), set())
            assert not stuck, f"tasks that ignored their cancellation: {[t.get_coro() for t in stuck]}"

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


async def connected(services: ServicesNetwork, nick: str, account: str | None = None, password: str = "",
                    caps: set[str] | None = None) -> IrcClient:
    person = services.client(account, password)
    await person.connect(nick, caps=caps)
    return person


async def people(services: ServicesNetwork, passwords: dict[str, str], *nicks: str) -> list[IrcClient]:
    """One client per nick; a nick that is one of ACCOUNTS logs in to that account with SASL."""
    return [await connected(services, nick, nick if nick in passwords else None, passwords.get(nick, ""))
            for nick in nicks]


# --- the network itself -------------------------------------------------------


def test_without_the_daemons_the_fixture_fails_naming_the_packages() -> None:
    with pytest.raises(pytest.fail.Exception, match="apt-get install inspircd atheme-services"):
        start_or_fail(ServicesNetwork(atheme=Path("/nonexistent/atheme-services")))


def test_the_network_offers_what_libera_offers(services: ServicesNetwork) -> None:
    async def scenario() -> None:
        person = await connected(services, f"p{uuid.uuid4().hex[:6]}", caps=set())
        assert {"sasl", "account-notify", "extended-join", "account-tag", "server-time", "echo-message",
                "message-tags", "multi-prefix", "chghost", "away-notify", "batch"} <= person.server_caps
        offer = next(m for m in person.history if m.command == "CAP" and "sasl=" in (m.text or ""))
        assert "sasl=PLAIN,EXTERNAL" in (offer.text or "").split()
        isupport = " ".join(" ".join(m.params) for m in person.history if m.command == "005")
        assert "WHOX" in isupport.split() and "CASEMAPPING=rfc1459" in isupport.split()
        await person.quit()

    run(scenario())


# --- sigbot on it -----------------------------------------------------------------


def test_the_bot_logs_in_with_sasl_and_joins_under_its_account(services, passwords, synapse, tmp_path, captured):
    async def scenario() -> None:
        watcher = await connected(services, f"w{uuid.uuid4().hex[:6]}", caps={"extended-join"})
        async with sigbot_on(services, synapse, tmp_path, [watcher]) as team:
            watcher.clear()
            await watcher.send_raw(f"WHO {team.channel} %na")  # WHOX: nick and account
            reply = await watcher.expect(lambda m: m.command == "354" and m.params[1] == team.nick, WAIT)
            assert reply.params[2] == team.account
        joined = next(m for m in watcher.history if m.command == "JOIN" and m.nick == team.nick)
        assert joined.params[1] == team.account  # extended-join: JOIN #chan ACCOUNT :realname

    run(scenario())
    assert any("logged in to services as sigbot" in line for line in captured.lines)


def test_trix_logged_in_as_trix_chairs_a_meeting_and_approves_a_loan_from_irc(
        services, passwords, synapse, tmp_path, captured):
    async def scenario() -> None:
        bob, trix, ada = everyone = await people(services, passwords, "bob", "trix", "ada")
        async with sigbot_on(services, synapse, tmp_path, everyone) as team:
            assert "The chair is bob" in await team.asks(bob, "#startmeeting services", "started")
            # Not the meeting's chair, but an admin by account: a chair by right.
            assert await team.asks(trix, "#topic Loans", "Topic:") == "Topic: Loans"
            await team.asks(trix, "#meetingname identity", "meeting name has been set to 'identity'")
            await team.asks(trix, ADD_GPU, "Added")
            assert "1st in the gfx1100 queue" in await team.asks(ada, "!loan request gfx1100 for rocBLAS CI", "#1")
            await team.asks(trix, "!loan approve 1", "Loan #1 is approved and w7900-1 is reserved for it")
            await team.asks(trix, "#endmeeting", "Meeting ended")

    run(scenario())


def test_an_impostor_with_the_nick_trix_but_no_or_another_account_is_refused(
        services, passwords, synapse, tmp_path, captured):
    async def scenario() -> None:
        bob, trix, ada = everyone = await people(services, passwords, "bob", "trix", "ada")
        async with sigbot_on(services, synapse, tmp_path, everyone) as team:
            await team.asks(trix, ADD_GPU, "Added")
            await trix.quit()  # the real trix leaves; the nick is free for anyone
            await team.asks(bob, "#startmeeting services", "started")
            await team.asks(ada, "!loan request gfx1100 for rocBLAS CI", "#1")
            # Neither without an account nor logged in to mallory's account does the nick trix carry rights.
            for account in (None, "mallory"):
                impostor = await connected(services, "trix", account, passwords.get(account or "", ""))
                await impostor.join(team.channel)
                await team.asks(impostor, "#topic Taken over", "Only the chairs can use #topic")
                await team.asks(impostor, "#endmeeting", "Only the chairs can use #endmeeting")
                refused = await team.asks(impostor, "!loan approve 1", "#1")
                assert "loan admin" in refused and "approved" not in refused
                await impostor.quit()
            assert "submitted" in await team.asks(bob, "!loan show 1", "#1")

    run(scenario())


def test_logging_out_removes_trixs_rights_and_logging_in_brings_them_back(
        services, passwords, synapse, tmp_path, captured):
    async def scenario() -> None:
        bob, trix, ada = everyone = await people(services, passwords, "bob", "trix", "ada")
        async with sigbot_on(services, synapse, tmp_path, everyone) as team:
            await team.asks(trix, ADD_GPU, "Added")
            await team.asks(ada, "!loan request gfx1100 for rocBLAS CI", "#1")
            await team.asks(bob, "#startmeeting services", "started")
            assert await team.asks(trix, "#topic One", "Topic:") == "Topic: One"
            await nickserv(trix, "LOGOUT", "logged out")
            await team.asks(trix, "#topic Two", "Only the chairs can use #topic")
            assert "loan admin" in await team.asks(trix, "!loan approve 1", "#1")
            await nickserv(trix, f"IDENTIFY trix {passwords['trix']}", "now identified")
            assert await team.asks(trix, "#topic Three", "Topic:") == "Topic: Three"
            await team.asks(trix, "!loan approve 1", "Loan #1 is approved")

    run(scenario())


def test_a_chair_named_before_they_speak_keeps_the_chair_when_their_nick_is_taken(
        services, passwords, synapse, tmp_path, captured):
    async def scenario() -> None:
        bob, ada = everyone = await people(services, passwords, "bob", "ada")
        async with sigbot_on(services, synapse, tmp_path, everyone) as team:
            await team.asks(bob, "#startmeeting services", "started")
            await team.asks(bob, "#chair ada", "Current chairs")
            await ada.quit()
            impostor = await connected(services, "ada")  # no account
            await impostor.join(team.channel)
            answer = await team.asks(impostor, "#topic Hijacked", "")
            await impostor.quit()
            assert "Only the chairs can use #topic" in answer

    run(scenario())


def test_chairing_someone_binds_the_account_behind_the_nick_now_not_its_first_speaker(
        services, passwords, synapse, tmp_path, captured):
    async def scenario() -> None:
        (bob,) = everyone = await people(services, passwords, "bob")
        async with sigbot_on(services, synapse, tmp_path, everyone) as team:
            await team.asks(bob, "#startmeeting services", "started")
            impostor = await connected(services, "ada")  # no account; speaks first, then leaves
            await impostor.join(team.channel)
            await team.asks(impostor, "#topic Early", "Only the chairs can use #topic")
            await impostor.quit()
            (ada,) = await people(services, passwords, "ada")
            everyone.append(ada)
            await ada.join(team.channel)
            await team.asks(bob, "#chair ada", "Current chairs")
            answer = await team.asks(ada, "#topic Mine", "opic")  # "Topic: Mine", or the refusal naming #topic
            assert answer == "Topic: Mine"

    run(scenario())


def test_the_bots_nick_held_at_connect_is_ghosted_through_nickserv_and_taken_back(
        services, passwords, synapse, tmp_path, captured):
    holders: list[IrcClient] = []

    async def hold_the_nick(team: Team) -> None:
        holders.append(await connected(services, team.nick))  # before the bot starts: its nick is taken

    async def scenario() -> None:
        bob = await connected(services, "bob")
        async with sigbot_on(services, synapse, tmp_path, [bob], before_start=hold_the_nick) as team:
            change = await bob.expect(lambda m: m.command == "NICK" and m.nick == team.nick + "_", 60)
            assert change.params[0] == team.nick
            await holders[0].wait_closed(WAIT)  # ghosted
            await team.asks(bob, "!help startmeeting", "startmeeting")  # and the bot works on as before
            await holders[0].close()

    run(scenario())
    said = "\n".join(captured.lines)
    assert "is held by someone else; asking NickServ to REGAIN it for account sigbot" in said
    assert "NickServ has no REGAIN; asking it to GHOST" in said
    assert "took our nick back" in said
