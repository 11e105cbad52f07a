"""The IRC connection (bot/chat/irc.py) against a real ngIRCd, and its pure parts.

People on IRC are played by the raw test client (tests/servers/irc_client.py),
which keeps every line's bytes, so byte limits are checked as the server
relays them. SASL, WHOX and most IRCv3 capabilities cannot be tested on ngIRCd
26.1 (it offers only multi-prefix and has no SASL): those run against the
Libera-like network with services (tests/servers/services.py) where the real
thing matters (NickServ GHOST, SASL EXTERNAL), and against small scripted
servers in this file for what that network cannot show (REGAIN, failures).
Every wait is on a condition, bounded. The same decisions without any socket,
line by line, are tested on the pure protocol in tests/test_irc_protocol.py.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from servers.irc_client import IrcClient
from servers.ircd import IrcServer
from servers.services import ServicesNetwork, make_certificate, nickserv

from bot.chat import irc_handlers
from bot.chat.irc import IrcConnection, IrcEvent, hashed_ca_dir, realname_for
from bot.chat.irc_proto import (
    build_line,
    casefold,
    decode_line,
    parse_line,
    parse_server_time,
    sasl_payloads,
    split_utf8,
)
from bot.chat.irc_tracker import Tracker
from bot.chat.token_bucket import TokenBucket
from bot.config import ConfigError, IrcSettings, parse_config
from bot.config.model import Secret

LINE_LIMIT = 512
WAIT = 10.0
Say = Callable[[str | bytes], None]  # a scripted server's voice
Script = Callable[[str, Say], None]  # how it answers each line it reads


class Events:
    """What the connection handed to on_event, with a bounded wait."""

    def __init__(self) -> None:
        self.seen: list[IrcEvent] = []
        self._cond = asyncio.Condition()

    def __call__(self, event: IrcEvent) -> None:
        self.seen.append(event)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def expect(self, predicate: Callable[[IrcEvent], bool], timeout: float = WAIT) -> IrcEvent:
        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(lambda: any(map(predicate, self.seen))), timeout)
        return next(e for e in self.seen if predicate(e))


async def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait for a condition on the connection's state (checked every 20 ms, bounded)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


def settings_for(host: str, port: int, nick: str, **kw: object) -> IrcSettings:
    return replace(IrcSettings(host=host, port=port, tls=False, nick=nick, username=nick[:9]), **kw)


@asynccontextmanager
async def running(
    settings: IrcSettings, channels: list[str], **kw: object
) -> AsyncIterator[tuple[IrcConnection, Events]]:
    """An IrcConnection running in the background; stopped (QUIT) afterwards."""
    events = Events()
    conn = IrcConnection(settings, channels, realname_for("@admin:example.org (IRC: admin)"), events,
                         rng=random.Random(4), **kw)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(conn.run(stop))
    try:
        yield conn, events
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT)


@asynccontextmanager
async def person(server: IrcServer, nick: str, channel: str | None = None) -> AsyncIterator[IrcClient]:
    client = IrcClient(server.host, server.port)
    await client.connect(nick)
    if channel:
        await client.join(channel)
    try:
        yield client
    finally:
        await client.quit()


def bot_joined(nick: str, channel: str) -> Callable:
    return lambda m: m.command == "JOIN" and m.nick == nick and (m.params[0].lower() == channel)


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 45))


# --- against ngIRCd ---------------------------------------------------------------


def test_bot_joins_and_hears_messages_actions_notices_and_parts(ircd: IrcServer) -> None:
    async def scenario() -> None:
        async with person(ircd, "alice_ev", "#ev-room") as alice:
            async with running(settings_for(ircd.host, ircd.port, "evbot"), ["#ev-room"]) as (conn, events):
                await alice.expect(bot_joined("evbot", "#ev-room"))
                assert conn.connected and conn.nick == "evbot"
                await alice.privmsg("#ev-room", "hello from IRC ✓")
                said = await events.expect(lambda e: e.kind == "privmsg")
                assert (said.nick, said.user, said.host) == ("alice_ev", "~alice_ev", "127.0.0.1")
                assert (said.target, said.text, said.account) == ("#ev-room", "hello from IRC ✓", None)
                assert said.time.tzinfo is not None and said.tags == {}

                await alice.privmsg("evbot", "a private word")
                private = await events.expect(lambda e: e.text == "a private word")
                assert (private.kind, private.target) == ("privmsg", "evbot")

                await alice.action("#ev-room", "waves")
                action = await events.expect(lambda e: e.kind == "action")
                assert (action.text, action.target) == ("waves", "#ev-room")

                await alice.send_raw("NOTICE #ev-room :heads up")
                notice = await events.expect(lambda e: e.kind == "notice")
                assert notice.text == "heads up"

                await alice.send_raw("WHOIS evbot")
                whois = await alice.expect(lambda m: m.command == "311")
                assert "bot" in (whois.text or "") and "@admin:example.org" in (whois.text or "")

                await alice.send_raw("PART #ev-room :lunch")
                part = await events.expect(lambda e: e.kind == "part")
                assert (part.nick, part.target, part.text) == ("alice_ev", "#ev-room", "lunch")

    run(scenario())


def test_a_burst_is_paced_and_arrives_complete_and_in_order(ircd: IrcServer) -> None:
    lines, burst, interval = 30, 4, 0.05

    async def scenario() -> None:
        async with person(ircd, "alice_burst", "#burst-room") as alice:
            settings = settings_for(ircd.host, ircd.port, "burstbot")
            async with running(settings, ["#burst-room"], burst=burst, interval=interval) as (conn, _):
                await alice.expect(bot_joined("burstbot", "#burst-room"))
                conn.send("#burst-room", "line with\r\nbreaks and a\0nul")
                first = await alice.wait_for_privmsg("#burst-room", from_nick="burstbot")
                assert first.text == "line with breaks and anul"
                await until(lambda: conn.queue_depth == 0)
                start = time.monotonic()
                for i in range(lines):
                    conn.send("#burst-room", f"line {i}")
                for i in range(lines):
                    got = await alice.wait_for_privmsg("#burst-room", from_nick="burstbot")
                    assert got.text == f"line {i}"
                # A floor, not a timing figure: the bucket cannot let them out sooner.
                assert time.monotonic() - start >= (lines - burst - 1) * interval
                assert conn.dropped == 0

    run(scenario())


def test_lines_at_the_byte_budget_are_never_cut_by_the_server(ircd: IrcServer) -> None:
    text = "ü€😀 " * 120  # 2, 3 and 4-byte characters around every split

    async def scenario() -> None:
        async with person(ircd, "alice_long", "#long-room") as alice:
            async with running(settings_for(ircd.host, ircd.port, "longbot"), ["#long-room"]) as (conn, _):
                joined = await alice.expect(bot_joined("longbot", "#long-room"))
                budget = conn.text_budget("#long-room")
                # Our real prefix, as the server shows it, is what the budget leaves room for.
                assert budget == LINE_LIMIT - len(f":{joined.prefix} PRIVMSG #long-room :".encode()) - 2
                pieces = split_utf8(text.replace(" ", ""), budget)
                for piece in pieces:
                    conn.send("#long-room", piece)
                conn.send("#long-room", "😀" * 200, action=True)  # too long: split when sent
                for piece in pieces:
                    got = await alice.wait_for_privmsg("#long-room", from_nick="longbot")
                    assert got.params_raw[-1] == piece.encode() and b"[CUT]" not in got.raw
                    assert len(got.raw) + 2 <= LINE_LIMIT
                assert len(pieces) > 1 and len(pieces[0].encode()) > budget - 4  # full lines, not short ones
                actions = []
                while sum(len(a) for a in actions) < 200:
                    got = await alice.wait_for_privmsg("#long-room", from_nick="longbot")
                    assert len(got.raw) + 2 <= LINE_LIMIT and got.action is not None
                    actions.append(got.action)
                assert "".join(actions) == "😀" * 200

    run(scenario())


def test_server_restart_reconnects_rejoins_and_delivers_queued_lines(
    ircd_factory: Callable[..., IrcServer],
) -> None:
    server = ircd_factory()

    async def scenario() -> None:
        async with running(settings_for(server.host, server.port, "restartbot"), ["#restart-room"]) as (conn, _):
            async with person(server, "alice_rs", "#restart-room") as alice:
                await alice.expect(bot_joined("restartbot", "#restart-room"))
                await asyncio.to_thread(server.stop)
                await until(lambda: not conn.connected)
                for i in range(5):
                    conn.send("#restart-room", f"said while down {i}")
                assert conn.queue_depth == 5
            # The bot waits 1 to 2 s (backoff) before it tries again: time for
            # alice to be back in the channel before the queue is flushed.
            await asyncio.to_thread(server.start)
            async with person(server, "alice_rs2", "#restart-room") as alice:
                await alice.expect(bot_joined("restartbot", "#restart-room"))
                for i in range(5):
                    got = await alice.wait_for_privmsg("#restart-room", from_nick="restartbot")
                    assert got.text == f"said while down {i}"
                assert conn.connected and conn.queue_depth == 0

    run(scenario())


def test_nick_in_use_takes_an_alternate_then_regains_the_nick(ircd: IrcServer) -> None:
    async def scenario() -> None:
        async with person(ircd, "peer_nick", "#nick-room") as peer:
            holder = IrcClient(ircd.host, ircd.port)
            await holder.connect("clashbot")
            await holder.join("#nick-room")
            async with running(settings_for(ircd.host, ircd.port, "clashbot"), ["#nick-room"]) as (conn, _):
                await peer.expect(bot_joined("clashbot_", "#nick-room"))
                assert conn.nick == "clashbot_"
                await holder.quit()  # the bot sees the QUIT and takes its nick back
                change = await peer.expect(lambda m: m.command == "NICK" and m.nick == "clashbot_")
                assert change.params[0] == "clashbot"
                await until(lambda: conn.nick == "clashbot")

    run(scenario())


def test_a_held_nick_is_ghosted_through_atheme_and_taken_back(
        services: ServicesNetwork, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Atheme 7.2 (InspIRCd 3) answers REGAIN with "Invalid command": the bot falls back to GHOST."""
    caplog.set_level(logging.INFO, logger="bot.chat.irc")
    nick, password = f"held{uuid.uuid4().hex[:6]}", "pw-" + uuid.uuid4().hex
    monkeypatch.setenv("SIGBOT_TEST_HELD", password)

    async def scenario() -> None:
        await services.register(nick, password)
        holder = services.client()
        await holder.connect(nick)  # not logged in: anyone may take a nick for a while
        settings = settings_for(services.host, services.port, nick, sasl_account=nick,
                                sasl_password=Secret(env="SIGBOT_TEST_HELD"))
        async with running(settings, ["#held-room"]) as (conn, _):
            await holder.wait_closed(timeout=30)  # ghosted by NickServ
            await until(lambda: conn.nick == nick, timeout=30)
            assert conn.account == nick
        await holder.close()

    run(scenario())
    said = [r.getMessage() for r in caplog.records if r.name == "bot.chat.irc"]
    assert any(f"our nick {nick} is held by someone else; asking NickServ to REGAIN" in m for m in said)
    assert any("NickServ has no REGAIN; asking it to GHOST" in m for m in said)
    assert any(f"took our nick back: {nick}_ is now {nick}" in m for m in said)


@pytest.mark.parametrize("with_account_tag", [True, False], ids=["from-account-tag", "from-join-and-account-notify"])
def test_accounts_follow_services_logins_and_logouts_on_atheme(
        services: ServicesNetwork, monkeypatch: pytest.MonkeyPatch, with_account_tag: bool) -> None:
    """Who is logged in as what, from account-tag or, without it, from extended-join and account-notify."""
    if not with_account_tag:  # as on a server that has no account-tag: the tracker must keep up alone
        monkeypatch.setattr(irc_handlers, "WANTED_CAPS", irc_handlers.WANTED_CAPS - {"account-tag"})
    account, password = f"acct{uuid.uuid4().hex[:6]}", "pw-" + uuid.uuid4().hex
    channel = f"#acct-{uuid.uuid4().hex[:6]}"

    async def scenario() -> None:
        await services.register(account, password)
        async with running(settings_for(services.host, services.port, f"bot{uuid.uuid4().hex[:6]}"), [channel]) as (
                conn, events):
            person = services.client(account, password)
            await person.connect(f"{account}_nick")
            await until(lambda: conn.tracker.is_in(channel))
            await person.join(channel)
            joined = await events.expect(lambda e: e.kind == "join")
            assert joined.account == account
            said = []
            for step, command, answer in (("in", None, None), ("out", "LOGOUT", "logged out"),
                                          ("back", f"IDENTIFY {account} {password}", "now identified")):
                if command:
                    await nickserv(person, command, answer)
                await person.privmsg(channel, step)
                said.append((await events.expect(lambda e, step=step: e.text == step)).account)
            assert said == [account, None, account]
            assert ("account-tag" in conn.caps) is with_account_tag
            await person.quit()

    run(scenario())


def test_sasl_external_logs_in_with_a_client_certificate_on_atheme(services: ServicesNetwork) -> None:
    """Over InspIRCd's TLS port, the certificate's fingerprint is the login (NickServ CERT ADD).

    The server's certificate is self-signed here, so the bot runs with
    tls_verify = false; verification itself is tested above on a scripted server.
    """
    account, password = f"cert{uuid.uuid4().hex[:6]}", "pw-" + uuid.uuid4().hex
    certificate = make_certificate(services.work_dir / account, account)

    async def scenario() -> None:
        await services.register(account, password)
        await services.add_certificate(account, password, certificate)
        settings = replace(settings_for(services.host, services.tls_port, account), tls=True, tls_verify=False,
                           client_cert=certificate)
        async with running(settings, ["#cert-room"]) as (conn, _):
            await until(lambda: conn.connected, timeout=30)
            assert conn.account == account

    run(scenario())


# --- scripted servers: what ngIRCd cannot show --------------------------------------


@dataclass
class Scripted:
    """A tiny IRC server in the test; ``answer(line, say)`` scripts its replies."""

    answer: Script
    connections: list[list[str]] = field(default_factory=list)
    port: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    peer_certs: list[dict] = field(default_factory=list)  # the client certificate of each connection (TLS)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received: list[str] = []
        self.connections.append(received)
        self.peer_certs.append(writer.get_extra_info("peercert") or {})
        self.changed.set()
        try:
            while raw := await reader.readline():
                received.append(raw.decode().rstrip("\r\n"))
                self.changed.set()
                self.answer(received[-1], lambda text: writer.write(_encoded(text) + b"\r\n"))
        finally:
            received.append("<closed>")
            self.changed.set()
            writer.close()

    async def wait(self, condition: Callable[[], bool], timeout: float = WAIT) -> None:
        async def loop() -> None:
            while not condition():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(loop(), timeout)


def _encoded(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode()


@asynccontextmanager
async def scripted(answer: Script, tls: ssl.SSLContext | None = None) -> AsyncIterator[Scripted]:
    script = Scripted(answer)
    server = await asyncio.start_server(script.handle, "127.0.0.1", 0, ssl=tls)
    script.port = server.sockets[0].getsockname()[1]
    try:
        yield script
    finally:
        server.close()


def sasl_server(password_ok: str) -> Callable[[str, Say], None]:
    """Offers SASL, server-time, echo-message, extended-join and WHOX, as Libera-like servers do."""

    def answer(line: str, say: Say) -> None:
        msg = parse_line(line)
        if line == "CAP LS 302":
            say(":srv CAP * LS * :sasl=PLAIN,EXTERNAL multi-prefix")
            say(":srv CAP * LS :server-time echo-message extended-join unknown-cap")
        elif msg.command == "CAP" and msg.param(0) == "REQ":
            say(f":srv CAP * ACK :{msg.param(-1)}")
        elif line == "AUTHENTICATE PLAIN":
            say("AUTHENTICATE +")
        elif msg.command == "AUTHENTICATE":
            ok = base64.b64decode(msg.param(0)) == f"acct\0acct\0{password_ok}".encode()
            say(":srv 900 saslbot saslbot!u@h acct :You are now logged in as acct" if ok else
                ":srv 904 * :SASL authentication failed")
            if ok:
                say(":srv 903 saslbot :SASL authentication successful")
        elif line == "CAP END":
            say(":srv 001 saslbot :Welcome saslbot!~saslbot@cloak/sigbot")
            say(":srv 005 saslbot WHOX CASEMAPPING=rfc1459 :are supported")
        elif msg.command == "JOIN":
            say(f":saslbot!~saslbot@cloak/sigbot JOIN {msg.param(0)} acct :bot")
            say(f":srv 353 saslbot = {msg.param(0)} :saslbot @quiet")
            say(f":srv 366 saslbot {msg.param(0)} :End of NAMES")
        elif msg.command == "WHO":
            say(":srv 354 saslbot 152 ~q quiet.host quiet H quietacct")
            say(":peer!~p@peer.host JOIN #sasl-room peeracct :Peer Person")
            say("@time=2024-05-01T10:00:00.500Z :peer!~p@peer.host PRIVMSG #sasl-room :from peer")
            say(":quiet!~q@quiet.host PRIVMSG #sasl-room :from quiet")
            say(":saslbot!~saslbot@cloak/sigbot PRIVMSG #sasl-room :our own echo")
            say(":anon!~a@anon.host PRIVMSG #sasl-room :from anon")

    return answer


def sasl_settings(port: int, password_env: str) -> IrcSettings:
    return settings_for("127.0.0.1", port, "saslbot", sasl_account="acct", sasl_password=Secret(env=password_env))


def test_sasl_plain_then_join_with_accounts_from_extended_join_and_whox(monkeypatch: pytest.MonkeyPatch) -> None:
    """ngIRCd has no SASL (nor WHOX, extended-join, server-time): a scripted server plays Libera."""
    monkeypatch.setenv("SIGBOT_TEST_SASL", "right")

    async def scenario() -> None:
        async with scripted(sasl_server("right")) as server:
            async with running(sasl_settings(server.port, "SIGBOT_TEST_SASL"), ["#sasl-room"]) as (conn, events):
                anon = await events.expect(lambda e: e.nick == "anon")
                lines = server.connections[0]
                assert lines[:3] == ["CAP LS 302", "NICK saslbot", f"USER saslbot 0 * :{conn.realname}"]
                assert lines[3] == "CAP REQ :echo-message extended-join multi-prefix sasl server-time"
                assert (
                    lines.index("CAP END") < lines.index("JOIN #sasl-room") < lines.index("WHO #sasl-room %tnuhaf,152")
                )
                assert conn.caps == {"echo-message", "extended-join", "multi-prefix", "sasl", "server-time"}
                assert conn.account == "acct" and conn.connected
                joined = await events.expect(lambda e: e.kind == "join")
                assert (joined.nick, joined.account) == ("peer", "peeracct")
                peer = await events.expect(lambda e: e.text == "from peer")
                assert peer.account == "peeracct"
                assert peer.time == datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=timezone.utc)
                quiet = await events.expect(lambda e: e.text == "from quiet")
                assert quiet.account == "quietacct"  # from WHOX
                assert anon.account is None
                assert not any(e.text == "our own echo" for e in events.seen)
                # Our host is now the cloak: the budget follows it.
                assert conn.text_budget("#sasl-room") == 510 - len(
                    ":saslbot!~saslbot@cloak/sigbot PRIVMSG #sasl-room :"
                )

    run(scenario())


def test_failed_sasl_joins_nothing_and_retries_later(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ngIRCd has no SASL: a scripted server refuses the password (904)."""
    monkeypatch.setenv("SIGBOT_TEST_SASL", "wrong")

    async def scenario() -> None:
        async with scripted(sasl_server("right")) as server:
            async with running(sasl_settings(server.port, "SIGBOT_TEST_SASL"), ["#sasl-room"]) as (conn, _):
                conn.send("#sasl-room", "must wait for a good login")
                await server.wait(lambda: len(server.connections) >= 2)  # the backoff's retry
                first = server.connections[0]
                assert "<closed>" in first and first[-2].startswith("QUIT")
                assert not any(x.startswith(("JOIN", "CAP END", "PRIVMSG")) for x in first)
                assert not conn.connected and conn.queue_depth == 1

    run(scenario())
    assert "SASL authentication" in caplog.text and "904" in caplog.text


def test_sasl_configured_but_not_offered_joins_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server without CAP (this script ignores it) must not get an unauthenticated bot."""
    monkeypatch.setenv("SIGBOT_TEST_SASL", "right")

    def no_caps(line: str, say: Say) -> None:
        if line.startswith("USER"):
            say(":srv 001 saslbot :Welcome")

    async def scenario() -> None:
        async with scripted(no_caps) as server:
            async with running(sasl_settings(server.port, "SIGBOT_TEST_SASL"), ["#sasl-room"]) as (conn, _):
                await server.wait(lambda: "<closed>" in server.connections[0] if server.connections else False)
                assert not any(x.startswith("JOIN") for x in server.connections[0])
                assert not conn.connected

    run(scenario())


def held_nick_server(nickserv_knows_regain: bool, logged_in: bool = True) -> Callable[[str, Say], None]:
    """Our nick "heldbot" is taken at connect; NickServ knows REGAIN (Libera) or only GHOST."""

    def answer(line: str, say: Say) -> None:
        msg = parse_line(line)
        if line == "CAP LS 302":
            say(":srv CAP * LS :sasl=PLAIN")
        elif msg.command == "CAP" and msg.param(0) == "REQ":
            say(f":srv CAP * ACK :{msg.param(-1)}")
        elif line == "AUTHENTICATE PLAIN":
            say("AUTHENTICATE +")
        elif msg.command == "AUTHENTICATE":
            if logged_in:
                say(":srv 900 * *!u@h acct :You are now logged in as acct")
            say(":srv 903 * :SASL authentication successful")
        elif line == "NICK heldbot":
            say(":srv 433 * heldbot :Nickname is already in use")
        elif line == "CAP END":
            say(":srv 001 heldbot_ :Welcome heldbot_!u@h")
        elif line == "PRIVMSG NickServ :REGAIN heldbot" and nickserv_knows_regain:
            say(":heldbot_!u@h NICK :heldbot")  # the services rename us themselves
            say(":NickServ!NickServ@services. NOTICE heldbot :\x02heldbot\x02 has been regained.")
        elif line == "PRIVMSG NickServ :REGAIN heldbot":
            say(":NickServ!NickServ@services. NOTICE heldbot_ :Invalid command. Use \x02/msg NickServ help\x02")

    return answer


def test_where_nickserv_has_regain_the_bot_regains_its_nick_in_one_step(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Libera's NickServ has REGAIN: no GHOST is sent and the services rename the bot."""
    monkeypatch.setenv("SIGBOT_TEST_SASL", "right")
    caplog.set_level(logging.INFO, logger="bot.chat.irc")

    async def scenario() -> None:
        async with scripted(held_nick_server(nickserv_knows_regain=True)) as server:
            settings = replace(sasl_settings(server.port, "SIGBOT_TEST_SASL"), nick="heldbot")
            async with running(settings, []) as (conn, _):
                asked = "PRIVMSG NickServ :REGAIN heldbot"
                await server.wait(lambda: any(asked in lines for lines in server.connections))
                await until(lambda: conn.nick == "heldbot")  # it was heldbot_ when it asked
                await until(lambda: "NickServ says" in caplog.text)
                assert not any("GHOST" in x for x in server.connections[0])

    run(scenario())
    assert "took our nick back: heldbot_ is now heldbot" in caplog.text
    assert "NickServ says: heldbot has been regained." in caplog.text


def test_a_bot_not_logged_in_asks_nickserv_nothing_and_says_so(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Without an account NickServ would refuse: the bot stays on its alternate nick and logs why."""
    monkeypatch.setenv("SIGBOT_TEST_SASL", "right")
    caplog.set_level(logging.INFO, logger="bot.chat.irc")

    async def scenario() -> None:
        async with scripted(held_nick_server(nickserv_knows_regain=True, logged_in=False)) as server:
            settings = replace(sasl_settings(server.port, "SIGBOT_TEST_SASL"), nick="heldbot")
            async with running(settings, ["#held"]) as (conn, _):
                await server.wait(lambda: any("JOIN #held" in lines for lines in server.connections))
                assert conn.nick == "heldbot_" and conn.account is None
                assert not any("NickServ" in x for x in server.connections[0])

    run(scenario())
    assert "not logged in to services; staying heldbot_" in caplog.text


def test_a_silent_server_is_pinged_then_dropped_and_reconnected() -> None:
    """A listener that accepts and never answers (a stalled link) is detected by keepalive."""

    async def scenario() -> None:
        async with scripted(lambda line, say: None) as server:
            settings = settings_for("127.0.0.1", server.port, "stallbot", ping_interval=0.2, silence_timeout=0.6)
            async with running(settings, ["#x"]):
                await server.wait(lambda: len(server.connections) >= 2)
                first = server.connections[0]
                assert "PING :sigbot-keepalive" in first or "PING sigbot-keepalive" in first
                assert first[-1] == "<closed>"

    run(scenario())


def test_works_with_a_server_offering_no_caps() -> None:
    def plain(line: str, say: Say) -> None:
        if line == "CAP LS 302":
            say(":srv 421 * CAP :Unknown command")
        elif line.startswith("USER"):
            say(":srv 001 plainbot :Welcome plainbot!~plainbot@h")
        elif line.startswith("JOIN"):
            say(":plainbot!~plainbot@h JOIN :#plain")
            say(":x!~x@h PRIVMSG #plain :hi")
            say(b":x!~x@h PRIVMSG #plain :caf\xe9")  # latin-1, as old clients send

    async def scenario() -> None:
        async with scripted(plain) as server:
            async with running(settings_for("127.0.0.1", server.port, "plainbot"), ["#plain"]) as (conn, events):
                await events.expect(lambda e: e.text == "café")
                assert [e.text for e in events.seen] == ["hi", "café"]
                assert conn.caps == set() and conn.connected

    run(scenario())


def self_signed(folder: Path, name: str) -> Path:
    """A certificate and key for 127.0.0.1 in one PEM file (openssl, one day)."""
    key, cert = folder / f"{name}.key", folder / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    both = folder / f"{name}.pem"
    both.write_text(cert.read_text() + key.read_text())
    return both


def external_server(line: str, say: Say) -> None:
    """SASL EXTERNAL: the server takes the identity from the client's certificate."""
    msg = parse_line(line)
    if line == "CAP LS 302":
        say(":srv CAP * LS :sasl=EXTERNAL")
    elif msg.command == "CAP" and msg.params == ("REQ", "sasl"):
        say(":srv CAP * ACK :sasl")
    elif line == "AUTHENTICATE EXTERNAL":
        say("AUTHENTICATE +")
    elif line == "AUTHENTICATE +":
        say(":srv 903 tlsbot :SASL authentication successful")
    elif line == "CAP END":
        say(":srv 001 tlsbot :Welcome tlsbot!~tlsbot@h")


def test_tls_verifies_the_server_certificate_by_default(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(self_signed(tmp_path, "server"))

    async def scenario() -> None:
        async with scripted(lambda line, say: None, tls=server_tls) as server:
            settings = replace(settings_for("127.0.0.1", server.port, "tlsbot"), tls=True)
            assert settings.tls_verify
            async with running(settings, ["#tls"]) as (conn, _):
                await until(lambda: "CERTIFICATE_VERIFY_FAILED" in caplog.text)
                assert server.connections == [] and not conn.connected

    run(scenario())


def test_tls_trusts_a_server_signed_by_an_authority_in_the_hashed_ca_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the system has OpenSSL's hashed CA directory, sigbot verifies from it (certificates read as a
    handshake needs them, not the whole bundle up front: memory, issue 14). Here the directory is the test's
    own (SSL_CERT_DIR) holding the server's self-signed certificate under its hashed name: the connection is
    trusted, and the context parsed no certificate ahead of it."""
    server_pem = self_signed(tmp_path, "server")
    authorities = tmp_path / "certs"
    authorities.mkdir()
    subject_hash = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(tmp_path / "server.crt")],
                                  check=True, capture_output=True, text=True).stdout.strip()
    (authorities / f"{subject_hash}.0").symlink_to(tmp_path / "server.crt")
    monkeypatch.setenv("SSL_CERT_DIR", str(authorities))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    assert hashed_ca_dir() == str(authorities)
    assert ssl.create_default_context(capath=hashed_ca_dir()).cert_store_stats()["x509"] == 0  # nothing parsed yet
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(server_pem)

    async def scenario() -> None:
        async with scripted(external_server, tls=server_tls) as server:
            settings = replace(settings_for("127.0.0.1", server.port, "tlsbot"), tls=True)
            assert settings.tls_verify
            async with running(settings, ["#tls"]) as (conn, _):
                await until(lambda: conn.connected)

    run(scenario())


def test_without_a_hashed_ca_directory_or_with_the_operators_own_bundle_tls_uses_the_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    (tmp_path / "ca-bundle.crt").write_text("")  # Fedora's layout: a bundle and no hashed names
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    assert hashed_ca_dir() is None
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "missing"))
    assert hashed_ca_dir() is None
    (tmp_path / "0a1b2c3d.0").write_text("")
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    assert hashed_ca_dir() == str(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca-bundle.crt"))
    assert hashed_ca_dir() is None


def test_sasl_external_presents_the_client_certificate_over_tls(tmp_path: Path) -> None:
    """ngIRCd has neither SASL nor TLS here: a scripted TLS server checks the certificate."""
    client_pem = self_signed(tmp_path, "client")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(self_signed(tmp_path, "server"))
    server_tls.verify_mode = ssl.CERT_OPTIONAL
    server_tls.load_verify_locations(tmp_path / "client.crt")

    async def scenario() -> None:
        async with scripted(external_server, tls=server_tls) as server:
            settings = replace(settings_for("127.0.0.1", server.port, "tlsbot"), tls=True, tls_verify=False,
                               client_cert=client_pem)
            async with running(settings, ["#tls"]) as (conn, _):
                await until(lambda: conn.connected)
                await server.wait(lambda: "JOIN #tls" in server.connections[0])
                lines = server.connections[0]
                assert lines.index("AUTHENTICATE EXTERNAL") < lines.index("AUTHENTICATE +") < lines.index("CAP END")
                assert server.peer_certs[0]["subject"] == ((("commonName", "client"),),)

    run(scenario())


# --- pure parts ---------------------------------------------------------------------


def _rebuild_ok(text: str, pieces: list[str]) -> bool:
    """Whether ``pieces`` are ``text`` in order with only single split spaces left out."""
    at = 0
    for i, piece in enumerate(pieces):
        if not text.startswith(piece, at):
            return False
        at += len(piece)
        if i < len(pieces) - 1 and text.startswith(" ", at) and not text.startswith(pieces[i + 1], at):
            at += 1
    return at == len(text)


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=400), st.integers(4, 120))
def test_split_utf8_pieces_fit_and_lose_only_split_spaces(text: str, budget: int) -> None:
    pieces = split_utf8(text, budget)
    assert all(len(p.encode()) <= budget for p in pieces)
    assert _rebuild_ok(text, pieces)
    assert all(p.encode().decode() == p for p in pieces)
    assert len("".join(pieces)) >= len(text) - max(0, len(pieces) - 1)


def test_split_utf8_prefers_spaces_and_keeps_graphemes_whole() -> None:
    assert split_utf8("hello wide world", 11) == ["hello wide", "world"]
    assert split_utf8("abcdefghij", 4) == ["abcd", "efgh", "ij"]
    assert split_utf8("", 10) == []
    family = "👩\u200d👩\u200d👧"  # one grapheme of 18 bytes
    assert split_utf8("ab" + family, 19) == ["ab", family]
    assert split_utf8("e\u0301" * 5, 5) == ["e\u0301", "e\u0301", "e\u0301", "e\u0301", "e\u0301"]
    assert split_utf8("🇩🇪🇫🇷", 12) == ["🇩🇪", "🇫🇷"]
    with pytest.raises(ValueError):
        split_utf8("x", 3)


def test_build_line_strips_breaks_and_refuses_oversized_lines() -> None:
    assert build_line("PRIVMSG", "#c", "a\r\nb\0c") == b"PRIVMSG #c :a bc"
    assert build_line("NICK", "bot") == b"NICK bot"
    assert build_line("PRIVMSG", "#c", ":-)") == b"PRIVMSG #c ::-)"
    with pytest.raises(ValueError, match="510"):
        build_line("PRIVMSG", "#c", "x" * 500)
    with pytest.raises(ValueError, match="last"):
        build_line("PRIVMSG", "#a b", "x")


def test_parse_line_unescapes_tags_and_decodes_latin1_per_line() -> None:
    msg = parse_line(decode_line(b"@time=2024-05-01T10:00:00Z;msgid=a\\sb\\:c;account=al :al!u@h PRIVMSG #c :hi there"))
    assert msg.tags == {"time": "2024-05-01T10:00:00Z", "msgid": "a b;c", "account": "al"}
    assert (msg.nick, msg.user, msg.host, msg.params) == ("al", "u", "h", ("#c", "hi there"))
    assert parse_line(decode_line(b":x!u@h PRIVMSG #c :caf\xe9")).params[1] == "café"
    assert parse_line(decode_line("caf\u00e9".encode())).command == "CAFÉ"
    assert parse_server_time("2024-05-01T10:00:00.250Z") == datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=timezone.utc)
    assert parse_server_time("garbage") is None


@given(st.text(max_size=300))
def test_parse_line_never_raises(text: str) -> None:
    parse_line(text)


def test_sasl_payloads_end_with_plus_on_a_400_byte_boundary() -> None:
    assert sasl_payloads(b"") == ["+"]
    assert sasl_payloads(b"a\0a\0pw") == [base64.b64encode(b"a\0a\0pw").decode()]
    assert sasl_payloads(b"x" * 300) == [base64.b64encode(b"x" * 300).decode(), "+"]  # 400 chars
    assert [len(p) for p in sasl_payloads(b"x" * 301)] == [400, 4]


def test_casemapping_and_tracker_follow_nicks_and_accounts() -> None:
    assert casefold("Nick[]\\~") == "nick{}|^"
    assert casefold("Nick[]", "ascii") == "nick[]"
    t = Tracker()
    t.join("#Room", "us", us=True)
    t.join("#room", "Al")
    t.set_account("al", "alacct")
    assert t.rename("AL", "al2") == ["#Room"] and t.account("Al2") == "alacct"
    t.set_account("al2", "*")
    assert t.account("al2") is None
    assert t.quit("al2") == ["#Room"] and t.quit("al2") == []
    assert t.is_in("#ROOM")
    t.part("#room", "us", us=True)
    assert not t.is_in("#room")


@given(st.lists(st.floats(0, 5), min_size=1, max_size=60))
def test_token_bucket_never_allows_more_than_burst_plus_rate(gaps: list[float]) -> None:
    burst, interval = 4, 2.0
    bucket, now, sent = TokenBucket(burst, interval, 0.0), 0.0, []
    for gap in gaps:
        now += gap
        now += bucket.delay(now)
        assert bucket.delay(now) == 0
        bucket.take(now)
        sent.append(now)
    for i, start in enumerate(sent):  # any window holds at most burst + window / interval lines
        in_window = [t for t in sent[i:] if t - start <= 10.0]
        assert len(in_window) <= burst + 10.0 / interval + 1e-9


def test_a_full_queue_drops_new_lines_and_counts_them(caplog: pytest.LogCaptureFixture) -> None:
    conn = IrcConnection(settings_for("127.0.0.1", 1, "qbot"), [], "bot", lambda e: None, queue_limit=3)
    for i in range(6):
        conn.send("#c", f"line {i}")
    conn.send("#c", "")  # nothing to send
    assert (conn.queue_depth, conn.dropped) == (3, 3)
    assert caplog.text.count("send queue full") == 1
    with pytest.raises(ValueError):
        conn.send("#a b", "x")
    assert conn.text_budget("#c") == 510 - len(":qbot!~qbot@" + "x" * 63 + " PRIVMSG #c :")
    assert realname_for("ops@example.org").endswith("admin: ops@example.org")


def test_irc_pacing_keepalive_and_realname_come_from_the_config() -> None:
    team = {"name": "t", "irc_channels": ["#t"]}
    irc = {"host": "irc.example.org", "realname": "ai-ml relay", "ping_interval": 60, "silence_timeout": 180,
           "reconnect_cap_seconds": 600, "burst": 5, "line_interval": 1.5}
    settings = parse_config({"teams": [team], "irc": irc}).irc
    assert settings is not None and (settings.tls, settings.tls_verify, settings.port) == (True, True, 6697)
    assert (settings.ping_interval, settings.silence_timeout, settings.burst, settings.line_interval) == (
        60,
        180,
        5,
        1.5,
    )
    assert realname_for("ops@example.org", settings.realname) == "ai-ml relay, admin: ops@example.org"
    with pytest.raises(ConfigError) as bad:
        parse_config({"teams": [team], "irc": {**irc, "silence_timeout": 30, "burst": 0}})
    assert any("irc.silence_timeout" in e for e in bad.value.errors) and any("irc.burst" in e for e in bad.value.errors)
