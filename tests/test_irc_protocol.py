"""The IRC protocol as a pure unit (bot/chat/irc_state.py): server lines in, lines and events out.

No socket, no event loop, no clock: each test plays a server's lines, in the
shapes Solanum (Libera.Chat), InspIRCd and Atheme send them, into
`IrcProtocol` with the time it chooses, and reads what the bot would write
and tell the relay. Three sessions recorded from the real InspIRCd + Atheme
network (tests/fixtures/irc/, made with tests/servers/services.py) are
replayed line for line: the protocol must write exactly what the bot wrote
there. The same protocol is driven live against real servers in
tests/test_irc_client.py.
"""

from __future__ import annotations

import ast
import base64
import importlib.util
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chat.irc_state import MAINTAIN_EVERY, Closed, IrcEvent, IrcProtocol, Output, Send

WALL = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)
BOT = "sigbot"
HOST = "user/sigbot"
ME = f"{BOT}!~{BOT}@{HOST}"


class Server:
    """Plays lines into a protocol and keeps what it answered; time moves only when told."""

    def __init__(self, protocol: IrcProtocol, password: str | None = None):
        self.protocol = protocol
        self.now = 0.0
        self.out: list[Output] = list(protocol.connect(self.now, password))

    def says(self, *lines: str | bytes) -> list[Output]:
        got: list[Output] = []
        for line in lines:
            got += self.protocol.receive(line if isinstance(line, bytes) else line.encode(), self.now,
                                         WALL + timedelta(seconds=self.now))
        self.out += got
        return got

    def wait(self, seconds: float) -> list[Output]:
        self.now += seconds
        got = self.protocol.tick(self.now)
        self.out += got
        return got

    def sent(self) -> list[str]:
        """Every line the bot wrote so far, as text; then forgotten."""
        lines = [o.line().decode() for o in self.out if isinstance(o, Send)]
        self.out = [o for o in self.out if not isinstance(o, Send)]
        return lines

    def events(self) -> list[IrcEvent]:
        events = [o for o in self.out if isinstance(o, IrcEvent)]
        self.out = [o for o in self.out if not isinstance(o, IrcEvent)]
        return events


def lines_of(outputs: list[Output]) -> list[str]:
    return [o.line().decode() for o in outputs if isinstance(o, Send)]


def bot(channels: tuple[str, ...] = ("#sig",), **kw: Any) -> IrcProtocol:
    return IrcProtocol(BOT, BOT, "sigbot relay bot, admin: ops@example.org", channels, rng=random.Random(1), **kw)


def registered(caps: str = "", isupport: str = "CASEMAPPING=rfc1459 WHOX", **kw: Any) -> Server:
    """A bot through CAP (acking ``caps``), 001 and 005, in #sig with nobody else."""
    server = Server(bot(**kw))
    server.says(f":srv CAP * LS :{caps}")
    if caps:
        server.says(f":srv CAP * ACK :{caps}")
    server.says(f":srv 001 {BOT} :Welcome to the Libera.Chat Internet Relay Chat Network {ME}",
                f":srv 005 {BOT} {isupport} :are supported by this server",
                f":{ME} JOIN #sig", f":srv 353 {BOT} = #sig :@{BOT}", f":srv 366 {BOT} #sig :End of /NAMES list.")
    server.sent(), server.events()
    return server


# --- registration, CAP and SASL --------------------------------------------------------


def test_sasl_plain_negotiates_the_offered_caps_logs_in_then_ends_cap_and_joins() -> None:
    server = Server(bot(sasl="PLAIN", sasl_account="sigacct"), password="s3cret")
    assert server.sent() == ["CAP LS 302", f"NICK {BOT}", f"USER {BOT} 0 * :sigbot relay bot, admin: ops@example.org"]
    server.says(":srv CAP * LS * :account-notify away-notify chghost extended-join invite-notify",
                ":srv CAP * LS :multi-prefix sasl=PLAIN,EXTERNAL,SCRAM-SHA-512 server-time tls")
    assert server.sent() == ["CAP REQ :account-notify away-notify chghost extended-join multi-prefix sasl server-time"]
    server.says(":srv CAP * ACK :account-notify away-notify chghost extended-join multi-prefix sasl server-time")
    assert server.sent() == ["AUTHENTICATE PLAIN"]
    server.says("AUTHENTICATE +")
    [payload] = [line.split()[1] for line in server.sent()]
    assert base64.b64decode(payload) == b"sigacct\0sigacct\0s3cret"
    server.says(f":srv 900 {BOT} {ME} sigacct :You are now logged in as sigacct",
                f":srv 903 {BOT} :SASL authentication successful")
    assert server.sent() == ["CAP END"]
    assert not server.protocol.registered and server.protocol.account == "sigacct"
    server.says(f":srv 001 {BOT} :Welcome to the Libera.Chat Internet Relay Chat Network {ME}")
    assert server.sent() == ["JOIN #sig"]
    assert server.protocol.registered and server.protocol.caps >= {"sasl", "server-time", "account-notify"}
    assert (server.protocol.user, server.protocol.host) == (f"~{BOT}", HOST)


def test_a_refused_sasl_password_quits_and_closes_without_joining() -> None:
    server = Server(bot(sasl="PLAIN", sasl_account="sigacct"), password="wrong")
    server.says(":srv CAP * LS :sasl=PLAIN", ":srv CAP * ACK :sasl", "AUTHENTICATE +")
    server.sent()
    got = server.says(f":srv 904 {BOT} :SASL authentication failed")
    assert lines_of(got) == ["QUIT :SASL failed"]
    assert got[-1] == Closed("904 SASL authentication failed", auth_failed=True)
    assert not server.protocol.registered


@pytest.mark.parametrize("offer, reason", [
    ((":srv CAP * LS :multi-prefix", ":srv CAP * ACK :multi-prefix"), "the server offers no SASL"),
    ((":srv 421 * CAP :Unknown command", f":srv 001 {BOT} :Welcome"),
     "the server registered us without SASL (it does not support CAP)"),
], ids=["when-the-server-offers-no-sasl", "when-the-server-has-no-cap-at-all"])
def test_configured_sasl_never_registers_unauthenticated(offer: tuple[str, str], reason: str) -> None:
    server = Server(bot(sasl="EXTERNAL"))
    got = server.says(*offer)
    assert Closed(reason, auth_failed=True) in got
    assert not any(line.startswith(("JOIN", "CAP END")) for line in server.sent())


def test_sasl_external_sends_an_empty_response_for_the_certificate() -> None:
    server = Server(bot(sasl="EXTERNAL"))
    server.says(":srv CAP * LS :sasl=EXTERNAL", ":srv CAP * ACK :sasl", "AUTHENTICATE +",
                f":srv 903 {BOT} :SASL authentication successful")
    assert server.sent()[3:] == ["CAP REQ sasl", "AUTHENTICATE EXTERNAL", "AUTHENTICATE +", "CAP END"]


def test_sasl_plain_without_a_password_is_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="password"):
        bot(sasl="PLAIN", sasl_account="sigacct").connect(0.0)
    with pytest.raises(ValueError):
        bot(sasl="PLAIN")


def test_a_server_without_cap_registers_us_and_no_cap_is_assumed() -> None:
    server = Server(bot())
    server.says(":srv 421 * CAP :Unknown command", f":srv 001 {BOT} :Welcome {ME}")
    assert server.sent()[3:] == ["JOIN #sig"] and server.protocol.caps == set()


def test_cap_new_and_del_follow_what_the_server_offers_later() -> None:
    server = registered(caps="multi-prefix")
    server.says(":srv CAP sigbot NEW :account-tag unknown-cap")
    assert server.sent() == ["CAP REQ account-tag"]
    server.says(":srv CAP sigbot ACK :account-tag", ":srv CAP sigbot DEL :account-tag")
    assert server.protocol.caps == {"multi-prefix"} and server.sent() == []


# --- nicks ------------------------------------------------------------------------------


def held_nick(nickserv_account: str | None) -> Server:
    """Registered as sigbot_ because sigbot was taken; logged in to ``nickserv_account`` or not."""
    server = Server(bot())
    server.says(f":srv 433 * {BOT} :Nickname is already in use.")
    assert server.sent()[-1] == f"NICK {BOT}_"
    server.says(":srv CAP * LS :")
    if nickserv_account:
        server.protocol.account = nickserv_account  # as a 900 during SASL would have set it
    server.says(f":srv 001 {BOT}_ :Welcome {BOT}_!~{BOT}@{HOST}", f":{BOT}_!~{BOT}@{HOST} JOIN #sig")
    return server


def test_a_nick_collision_then_ghost_where_nickserv_has_no_regain() -> None:
    """Atheme 7.2 answers REGAIN with "Invalid command"; GHOST frees the nick, then NICK takes it."""
    server = held_nick("sigacct")
    assert server.sent()[-2:] == ["JOIN #sig", f"PRIVMSG NickServ :REGAIN {BOT}"]
    server.says(f":NickServ!NickServ@services.int NOTICE {BOT}_ :Invalid command. Use \x02/msg NickServ help\x02 "
                "for a command listing.")
    assert server.sent() == [f"PRIVMSG NickServ :GHOST {BOT}"]
    server.says(f":NickServ!NickServ@services.int NOTICE {BOT}_ :\x02{BOT}\x02 has been ghosted.")
    assert server.sent() == [f"NICK {BOT}"]
    server.says(f":{BOT}_!~{BOT}@{HOST} NICK :{BOT}")
    assert server.protocol.nick == BOT and not any(e.kind == "nick" for e in server.events())
    assert server.wait(MAINTAIN_EVERY) == []  # nothing left to regain


def test_where_nickserv_has_regain_the_services_rename_us() -> None:
    server = held_nick("sigacct")
    server.sent()
    server.says(f":{BOT}_!~{BOT}@{HOST} NICK :{BOT}",
                f":NickServ!NickServ@services.libera.chat NOTICE {BOT} :\x02{BOT}\x02 has been regained.")
    assert server.protocol.nick == BOT and server.sent() == []


def test_without_an_account_the_nick_is_retried_every_minute_and_taken_when_its_holder_quits() -> None:
    server = held_nick(None)
    assert not any("NickServ" in line for line in server.sent())
    server.wait(MAINTAIN_EVERY)
    assert server.sent() == [f"NICK {BOT}"]
    server.says(f":srv 433 {BOT}_ {BOT} :Nickname is already in use.")
    assert server.sent() == [] and server.protocol.nick == f"{BOT}_"  # no third nick once registered
    server.says(f":{BOT}!~other@elsewhere QUIT :Client Quit")
    assert server.sent() == [f"NICK {BOT}"]


def test_a_third_refusal_tries_a_numbered_nick() -> None:
    server = Server(bot())
    for _ in range(3):
        server.says(":srv 433 * x :Nickname is already in use.")
    assert server.sent()[3:5] == [f"NICK {BOT}_", f"NICK {BOT}__"]
    assert server.protocol.nick.startswith(BOT) and server.protocol.nick[len(BOT):].isdigit()


# --- accounts, WHOX and events -----------------------------------------------------------


def test_accounts_follow_extended_join_account_notify_and_logouts_without_account_tag() -> None:
    server = registered(caps="extended-join account-notify")
    server.says(":al!~al@host/al JOIN #sig alacct :Al Person", ":al!~al@host/al PRIVMSG #sig :logged in")
    server.says(":al!~al@host/al ACCOUNT *", ":al!~al@host/al PRIVMSG #sig :logged out")
    server.says(":al!~al@host/al ACCOUNT alnew", ":al!~al@host/al PRIVMSG #sig :back as another")
    server.says(":al!~al@host/al NICK al2", ":al2!~al@host/al PRIVMSG #sig :renamed")
    events = server.events()
    assert [(e.kind, e.text, e.account) for e in events] == [
        ("join", "", "alacct"), ("privmsg", "logged in", "alacct"), ("privmsg", "logged out", None),
        ("privmsg", "back as another", "alnew"), ("nick", "al2", "alnew"), ("privmsg", "renamed", "alnew")]


def test_with_account_tag_a_line_without_the_tag_is_from_someone_logged_out() -> None:
    server = registered(caps="account-tag extended-join")
    server.says("@account=alacct :al!~al@host/al JOIN #sig alacct :Al",
                ":al!~al@host/al PRIVMSG #sig :no tag now")
    assert [e.account for e in server.events()] == ["alacct", None]


def test_whox_after_names_gives_the_accounts_of_those_already_there_and_our_own_host() -> None:
    server = registered(isupport="CASEMAPPING=rfc1459 WHOX PREFIX=(ov)@+")
    server.says(f":srv 353 {BOT} = #Room :@{BOT} +quiet other", f":srv 366 {BOT} #Room :End of /NAMES list.")
    assert server.sent() == ["WHO #Room %tnuhaf,152"]
    server.says(f":srv 354 {BOT} 152 ~q quiet.host quiet H quietacct",
                f":srv 354 {BOT} 152 ~o other.host other H 0",
                f":srv 354 {BOT} 152 ~{BOT} cloak/sigbot {BOT} H@ sigacct",
                f":srv 354 {BOT} 999 ~x x.host quiet H someone-else",  # another client's token: not ours
                f":srv 315 {BOT} #Room :End of /WHO list.",
                ":quiet!~q@quiet.host PRIVMSG #Room :hi", ":other!~o@other.host PRIVMSG #Room :hey")
    assert [(e.nick, e.account) for e in server.events()] == [("quiet", "quietacct"), ("other", None)]
    assert server.protocol.text_budget("#Room") == 510 - len(f":{BOT}!~{BOT}@cloak/sigbot PRIVMSG #Room :")


def test_without_whox_no_who_is_sent() -> None:
    server = registered(isupport="CASEMAPPING=ascii")
    server.says(f":srv 366 {BOT} #sig :End of /NAMES list.")
    assert server.sent() == []


def test_each_chat_line_becomes_the_event_the_relay_reads() -> None:
    server = registered(caps="echo-message")
    server.says(":al!~al@h JOIN #sig", ":bo!~bo@h JOIN #sig",
                ":al!~al@h PRIVMSG #sig :hello", f":al!~al@h PRIVMSG {BOT} :private",
                ":al!~al@h PRIVMSG #sig :\x01ACTION waves\x01", ":al!~al@h NOTICE #sig :heads up",
                ":al!~al@h PRIVMSG #sig :\x01VERSION\x01",  # a CTCP query is not chat
                f":{ME} PRIVMSG #sig :our own echo",  # echo-message: our line coming back
                ":srv NOTICE * :*** Looking up your hostname...",  # a server notice
                ":al!~al@h NICK :al_", ":op!~op@h KICK #sig bo :flooding",
                ":al_!~al@h PART #sig :lunch", ":op!~op@h QUIT :Ping timeout: 240 seconds")
    got = [(e.kind, e.nick, e.target, e.text, e.other_nick) for e in server.events()]
    assert got == [
        ("join", "al", "#sig", "", None), ("join", "bo", "#sig", "", None),
        ("privmsg", "al", "#sig", "hello", None), ("privmsg", "al", BOT, "private", None),
        ("action", "al", "#sig", "waves", None), ("notice", "al", "#sig", "heads up", None),
        ("nick", "al", "#sig", "al_", "al_"), ("kick", "op", "#sig", "flooding", "bo"),
        ("part", "al_", "#sig", "lunch", None), ("quit", "op", "", "Ping timeout: 240 seconds", None)]


def test_a_quit_or_nick_change_is_one_event_per_shared_channel() -> None:
    server = registered(channels=("#a", "#b"))
    server.says(f":{ME} JOIN #b", ":al!~al@h JOIN #a", ":al!~al@h JOIN #b")
    server.events()
    server.says(":al!~al@h NICK al2", ":al2!~al@h QUIT :bye")
    assert [(e.kind, e.target) for e in server.events()] == [("nick", "#b"), ("nick", "#a"),
                                                            ("quit", "#b"), ("quit", "#a")]  # as first seen


def test_server_time_is_the_event_time_and_otherwise_the_receive_time() -> None:
    server = registered(caps="server-time message-tags")
    server.now = 42.0
    server.says("@time=2024-05-01T10:00:00.500Z;msgid=abc :al!~al@h PRIVMSG #sig :then",
                "@time=garbage :al!~al@h PRIVMSG #sig :bad time", ":al!~al@h PRIVMSG #sig :now")
    then, bad, now = server.events()
    assert then.time == datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=timezone.utc)
    assert then.tags == {"time": "2024-05-01T10:00:00.500Z", "msgid": "abc"}
    assert bad.time == now.time == WALL + timedelta(seconds=42)


# --- PING, keepalive and rejoining ---------------------------------------------------------


def test_a_ping_is_answered_with_its_token() -> None:
    server = registered()
    server.says("PING :irc.libera.chat", "PING")
    assert server.sent() == ["PONG irc.libera.chat", "PONG sigbot"]


def test_silence_brings_a_keepalive_ping_then_the_end_of_the_session() -> None:
    server = registered(ping_interval=100.0, silence_timeout=300.0)
    assert server.protocol.wake_in(server.now) == 60.0  # the minute's rejoin check comes first
    assert server.wait(60.0) == []
    assert server.protocol.wake_in(server.now) == 40.0
    assert lines_of(server.wait(40.0)) == ["PING sigbot-keepalive"]
    assert server.wait(10.0) == [] and server.protocol.wake_in(server.now) == 10.0  # the next minute's check
    server.says(":srv PONG srv :sigbot-keepalive")  # anything heard resets the silence
    assert lines_of(server.wait(110.0)) == ["PING sigbot-keepalive"]
    assert server.wait(189.0) == []
    assert server.wait(1.0) == [Closed("nothing received for 300 s")]


def test_a_channel_we_were_kicked_from_is_joined_again_a_minute_later() -> None:
    server = registered()
    server.says(f":op!~op@h KICK #sig {BOT} :out")
    assert server.sent() == [] and not server.protocol.tracker.is_in("#sig")
    assert lines_of(server.wait(MAINTAIN_EVERY)) == ["JOIN #sig"]


# --- recorded sessions with a real network -----------------------------------------------

RECORDINGS = Path(__file__).parent / "fixtures" / "irc"
REALNAME = "sigbot relay bot, admin: @admin:example.org (IRC: admin)"


def replay(name: str, nick: str, password: str, channel: str) -> tuple[IrcProtocol, list[str], list[str], list[Output]]:
    """Feed a recorded session's server lines to a fresh protocol, one second apart.

    Returns the protocol, what it wrote, what the bot wrote in the recording
    (without the QUIT the connection sends when stopped) and the other outputs.
    """
    recorded = [line for line in (RECORDINGS / f"{name}.txt").read_text().splitlines() if not line.startswith("#")]
    protocol = IrcProtocol(nick, nick, REALNAME, [channel], sasl="PLAIN", sasl_account=nick)
    outputs = protocol.connect(0.0, password)
    for i, line in enumerate(recorded):
        if line.startswith("S: "):
            outputs += protocol.receive(line[3:].encode(), float(i), WALL)
    wrote = [line[3:] for line in recorded if line.startswith("C: ") and line != "C: QUIT :sigbot stopping"]
    return protocol, lines_of(outputs), wrote, [o for o in outputs if not isinstance(o, Send)]


def test_a_recorded_sasl_login_with_whox_and_account_changes_replays_line_for_line() -> None:
    protocol, sent, wrote, outputs = replay("sasl_plain_whox_and_accounts", "recbot", "pw-recbot", "#rec")
    assert sent == wrote
    events = [o for o in outputs if isinstance(o, IrcEvent)]
    assert [(e.kind, e.nick, e.text, e.account) for e in events] == [  # the services' server notice is no event
        ("join", "ada", "", "ada"), ("privmsg", "ada", "in", "ada"), ("privmsg", "ada", "out", None),
        ("privmsg", "ada", "back", "ada"), ("action", "ada", "waves", "ada"), ("part", "ada", "lunch", "ada")]
    assert events[1].time == datetime(2026, 12, 2, 8, 13, 2, 854000, tzinfo=timezone.utc)  # server-time
    assert protocol.registered and protocol.account == "recbot" and protocol.tracker.is_in("#REC")
    assert protocol.text_budget("#rec") == 510 - len(":recbot!recbot@127.0.0.1 PRIVMSG #rec :")


def test_a_recorded_refused_password_replays_to_a_quit_and_no_join() -> None:
    protocol, sent, wrote, outputs = replay("sasl_refused", "recbot", "not-the-password", "#rec")
    assert sent == wrote and wrote[-1] == "QUIT :SASL failed"
    assert outputs == [Closed("904 SASL authentication failed", auth_failed=True)] and not protocol.registered


def test_a_recorded_held_nick_replays_through_regain_ghost_and_nick() -> None:
    protocol, sent, wrote, outputs = replay("nick_held_then_ghosted", "heldrec", "pw-heldrec", "#held")
    assert sent == wrote
    assert [x for x in sent if "NickServ" in x or x.startswith("NICK")] == [
        "NICK heldrec", "NICK heldrec_", "PRIVMSG NickServ :REGAIN heldrec", "PRIVMSG NickServ :GHOST heldrec",
        "NICK heldrec"]
    assert protocol.nick == "heldrec" and protocol.account == "heldrec"
    assert not any(isinstance(o, IrcEvent) and o.kind == "nick" for o in outputs)  # our own rename is no event


# --- bad input --------------------------------------------------------------------------

MALFORMED = [b"", b" ", b":", b"@", b"@;;= :", b":srv", b"PRIVMSG", b":al!~al@h PRIVMSG", b":al!~al@h JOIN",
             b":al!~al@h KICK #sig", b":srv 001", b":srv 354 sigbot 152", b":srv CAP", b":srv CAP * ACK",
             b"AUTHENTICATE", b":srv 005", b":srv 353", b"\xff\xfe\x00\x01", b"PING :" + b"x" * 600,
             b":NickServ!N@s NOTICE", b"@time=\\ :a!b@c PRIVMSG #sig :\x01ACTION", b":!@ QUIT", b":al!@ NICK :"]


@pytest.mark.parametrize("raw", MALFORMED, ids=[repr(m)[:30] for m in MALFORMED])
def test_a_malformed_line_never_raises_and_leaves_the_session_going(raw: bytes) -> None:
    server = registered()
    out = server.says(raw)
    assert all(isinstance(o, (Send, IrcEvent)) for o in out)
    server.says(":al!~al@h PRIVMSG #sig :still here")
    assert server.events()[-1].text == "still here" and server.protocol.registered


RECORDED = [":srv CAP * LS :sasl=PLAIN account-tag extended-join", ":srv CAP * ACK :account-tag extended-join",
            f":srv 001 {BOT} :Welcome {ME}", f":srv 005 {BOT} WHOX CASEMAPPING=ascii :are supported",
            f":{ME} JOIN #sig * :bot", f":srv 353 {BOT} = #sig :@{BOT} al", f":srv 366 {BOT} #sig :End",
            f":srv 354 {BOT} 152 ~al h al H alacct", ":al!~al@h PRIVMSG #sig :x", ":al!~al@h ACCOUNT *",
            ":al!~al@h NICK al2", f":srv 433 {BOT} {BOT} :in use", "PING :x", f":{ME} PART #sig",
            f":NickServ!N@s NOTICE {BOT} :Invalid command", ":srv 904 * :failed", ":srv 396 sigbot cloak :is now"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(RECORDED).map(str.encode) | st.binary(max_size=80), max_size=25),
       st.lists(st.floats(0, 400), max_size=25))
def test_any_sequence_of_lines_and_junk_gives_only_lines_that_fit_and_well_formed_outputs(
        lines: list[bytes], gaps: list[float]) -> None:
    server = Server(bot())
    for i, raw in enumerate(lines):
        out = server.says(raw) + (server.wait(gaps[i]) if i < len(gaps) else [])
        for o in out:
            assert isinstance(o, (Send, IrcEvent, Closed))
            if isinstance(o, Send):
                assert len(o.line()) <= 510 and b"\r" not in o.line() and b"\n" not in o.line()


# --- no I/O -------------------------------------------------------------------------------

IO_MODULES = {"asyncio", "socket", "ssl", "selectors", "subprocess", "aiohttp", "nio", "time"}


def _imports(module: str) -> set[str]:
    """Every module ``module`` imports when run, following bot's own modules (TYPE_CHECKING blocks skipped)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None or not name.startswith("bot."):
            continue
        tree = ast.parse(Path(spec.origin).read_text())
        for node in tree.body:
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import):
                    todo += [alias.name for alias in sub.names]
                elif isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                    todo.append(sub.module)
    return seen


def test_the_protocol_imports_nothing_that_does_io() -> None:
    reached = _imports("bot.chat.irc_state")
    assert {"bot.chat.irc_handlers", "bot.chat.irc_proto", "bot.chat.irc_tracker"} <= reached
    assert not {name.partition(".")[0] for name in reached} & IO_MODULES
    # Of the rest of sigbot it shares only @record (bot/core/record.py: frozen value classes, no I/O).
    assert {name for name in reached if name.startswith("bot.") and not name.startswith("bot.chat.irc_")} == {
        "bot.core.record"}
    # And at run time: importing it loads no event loop and no TLS (socket itself comes
    # with importlib.metadata, which the package's __init__ uses for its version).
    loaded = subprocess.run(
        [sys.executable, "-c", ("import sys, bot; before = set(sys.modules); import bot.chat.irc_state; "
                                "print(' '.join(sorted(set(sys.modules) - before)))")],
        capture_output=True, text=True, check=True).stdout.split()
    assert "bot.chat.irc_state" in loaded and not {"asyncio", "ssl", "socket"} & set(loaded)
