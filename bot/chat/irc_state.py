"""The IRC protocol without I/O: received lines in, events and lines to send out.

Shaped like matrix-nio's client core: `IrcProtocol` owns every decision of a
session (CAP negotiation, SASL, registration, nick collisions and their
NickServ recovery, who holds which account, channel joins, PING/PONG,
keepalive) and never touches a socket or a clock. The connection
(bot/chat/irc.py) feeds it the bytes of each line with the time, calls
`tick` when `wake_in` says something is due, writes the `Send`s it returns
and hands the `IrcEvent`s to the relay; a `Closed` tells it to hang up.
What each received line does is in the `_on_<command>` handlers of
bot/chat/irc_handlers.py, a part of this class split off by size.

This module imports nothing that does I/O (tests/test_irc_protocol.py checks it).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import field
from datetime import datetime

from bot.chat.irc_handlers import SaslFailed, ServerLines
from bot.chat.irc_proto import (
    ACTION_OVERHEAD,
    BODY_LIMIT,
    CTCP,
    Line,
    build_line,
    casefold,
    decode_line,
    parse_line,
    parse_server_time,
    privmsg_overhead,
    split_utf8,
)
from bot.chat.irc_tracker import Tracker
from bot.core.record import record

log = logging.getLogger("bot.chat.irc")  # one logger for the IRC client, whichever module speaks

WORST_HOST = 63  # HOSTLEN of Solanum (Libera) and most servers: the longest host a server shows
MAINTAIN_EVERY = 60.0  # seconds between tries to regain the nick and rejoin lost channels
KEEPALIVE = "sigbot-keepalive"


@record
class IrcEvent:
    """Something said or done on IRC that the relay may care about."""

    kind: str  # "privmsg" | "action" | "notice" | "join" | "part" | "quit" | "nick" | "kick"
    nick: str
    user: str | None
    host: str | None
    account: str | None  # services account when known, else None
    target: str  # channel, or our nick for a private message; for quit/nick each shared channel
    text: str  # message, reason; for "nick" the new nick
    time: datetime  # server-time when offered, else receive time (UTC, aware)
    tags: Mapping[str, str] = field(default_factory=dict)
    other_nick: str | None = None  # "kick": who was kicked; "nick": the new nick


@record
class Send:
    """One line to write to the server now (protocol lines; chat lines are paced by the connection)."""

    command: str
    params: tuple[str, ...] = ()

    def line(self) -> bytes:
        """The line's bytes, without CR LF (`build_line` keeps it single and within 510 bytes)."""
        return build_line(self.command, *self.params)


@record
class Closed:
    """The session is over: the connection closes the socket and reconnects after its backoff."""

    reason: str
    auth_failed: bool = False  # SASL was configured and did not succeed: never join unauthenticated


Output = IrcEvent | Send | Closed


def send(command: str, *params: str) -> Send:
    return Send(command, params)


class IrcProtocol(ServerLines):
    """One bot's IRC session as pure state; `now` is a monotonic clock in seconds, `wall` the receive time.

    ``sasl`` is "PLAIN" (with ``sasl_account``, and the password given to
    `connect`), "EXTERNAL" (the server reads a client certificate over TLS) or
    None. Everything returns the lines to send; nothing raises on bad input.
    """

    def __init__(
        self,
        nick: str,
        username: str,
        realname: str,
        channels: Sequence[str],
        sasl: str | None = None,
        sasl_account: str | None = None,
        ping_interval: float = 100.0,
        silence_timeout: float = 300.0,
        rng: random.Random | None = None,
    ):
        if sasl not in (None, "PLAIN", "EXTERNAL") or (sasl == "PLAIN" and not sasl_account):
            raise ValueError(f"SASL {sasl!r} needs PLAIN with an account, or EXTERNAL")
        self.wanted_nick = nick
        self.username = username
        self.realname = realname
        self.channels = list(channels)
        self.sasl = sasl
        self.sasl_account = sasl_account
        self.ping_interval = ping_interval
        self.silence_timeout = silence_timeout
        self.rng = rng or random.Random()
        self._password: str | None = None
        self._reset(0.0)

    def _reset(self, now: float) -> None:
        """A fresh session: nothing is known of the server, nobody is tracked."""
        self.nick = self.wanted_nick
        self.registered = False  # 001 received
        self.registered_at: float | None = None
        self.account: str | None = None  # ours, after SASL
        self.caps: set[str] = set()
        self.isupport: dict[str, str] = {}
        self.tracker = Tracker()
        self.user: str | None = None  # our user@host as the server shows it
        self.host: str | None = None
        self._offered: dict[str, str] = {}
        self._negotiating = True
        self._sasl_done = False
        self._nick_tries = 0
        self._recovering: str | None = None  # what we asked NickServ for our nick: "REGAIN", "GHOST" or None
        self._last_heard = now
        self._pinged = False
        self._maintain_at: float | None = None
        self._out: list[Output] = []
        self._wall: datetime | None = None

    # --- entry points ---------------------------------------------------------------

    def connect(self, now: float, password: str | None = None) -> list[Output]:
        """The first lines of a new connection: CAP LS 302 (IRCv3 capability negotiation), NICK, USER."""
        if self.sasl == "PLAIN" and not password:
            raise ValueError("SASL PLAIN needs the account's password")
        self._reset(now)
        self._password = password
        return [send("CAP", "LS", "302"), send("NICK", self.nick), send("USER", self.username, "0", "*", self.realname)]

    def receive(self, raw: bytes, now: float, wall: datetime) -> list[Output]:
        """What one received line (without CR LF) makes us send and say; never raises."""
        self._last_heard, self._pinged, self._wall = now, False, wall
        line = parse_line(decode_line(raw.rstrip(b"\r\n")))
        self._out = []
        try:
            self._handle(line)
            if self.registered and self.registered_at is None:
                self.registered_at, self._maintain_at = now, now + MAINTAIN_EVERY
        except SaslFailed as exc:
            self._send("QUIT", "SASL failed")
            self._out.append(Closed(str(exc), auth_failed=True))
        except Exception:  # one odd line must not end the session
            log.exception("irc: could not handle a %s line", line.command or "malformed")
        out, self._out = self._out, []
        return out

    def tick(self, now: float) -> list[Output]:
        """What is due at ``now``: a keepalive PING, giving up on a silent server, regaining our nick."""
        self._out = []
        idle = now - self._last_heard
        if idle >= self.silence_timeout:
            self._out.append(Closed(f"nothing received for {idle:.0f} s"))
        elif idle >= self.ping_interval and not self._pinged:
            self._send("PING", KEEPALIVE)
            self._pinged = True
        if self.registered and self._maintain_at is not None and now >= self._maintain_at:
            self._maintain_at = now + MAINTAIN_EVERY
            self._regain_nick()
            for channel in self.channels:
                if not self.tracker.is_in(channel):
                    self._send("JOIN", channel)
        out, self._out = self._out, []
        return out

    def wake_in(self, now: float) -> float:
        """Seconds until `tick` has something to do (0 when it has now)."""
        deadline = self._last_heard + (self.silence_timeout if self._pinged else self.ping_interval)
        if self.registered and self._maintain_at is not None:
            deadline = min(deadline, self._maintain_at)
        return max(0.0, deadline - now)

    def quit(self, reason: str) -> list[Output]:
        return [send("QUIT", reason)]

    def disconnected(self) -> None:
        self.registered = False

    # --- what chat lines may hold -----------------------------------------------------

    def text_budget(self, target: str, action: bool = False) -> int:
        """Bytes of text that fit one PRIVMSG to ``target`` once the server adds our prefix."""
        user = self.user or "~" + self.username
        host = self.host or "x" * WORST_HOST
        overhead = privmsg_overhead(f"{self.nick}!{user}@{host}", "PRIVMSG", target)
        return BODY_LIMIT + 2 - overhead - (ACTION_OVERHEAD if action else 0)

    def pieces(self, target: str, text: str, action: bool) -> list[str]:
        """``text`` split to fit our prefix as it is now; an action framed as CTCP ACTION."""
        parts = split_utf8(text, self.text_budget(target, action))
        return [f"{CTCP}ACTION {p}{CTCP}" for p in parts] if action else parts

    # --- what the handlers use ------------------------------------------------------

    def _send(self, command: str, *params: str) -> None:
        self._out.append(Send(command, params))

    def _sasl_password(self) -> str:
        assert self._password is not None  # connect() refuses PLAIN without one
        return self._password

    def _fold(self, name: str) -> str:
        return casefold(name, self.isupport.get("CASEMAPPING", "rfc1459"))

    def _regain_nick(self) -> None:
        if self._fold(self.nick) != self._fold(self.wanted_nick):
            self._send("NICK", self.wanted_nick)

    def _emit(self, kind: str, line: Line, target: str, text: str, other: str | None = None) -> None:
        if "account-tag" in self.caps:  # then a line without the tag is from someone logged out
            account = line.tags.get("account") or None
        else:
            account = self.tracker.account(line.nick)
        when = parse_server_time(line.tags.get("time")) or self._wall
        assert when is not None  # set by receive(), the only caller of the handlers
        self._out.append(IrcEvent(kind, line.nick, line.user, line.host, account, target, text, when,
                                  dict(line.tags), other))
