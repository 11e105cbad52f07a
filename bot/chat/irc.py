"""The IRC connection: one bot connection to one network, kept up forever.

Our own small asyncio client rather than pydle: pydle splits long lines by
characters rather than bytes, has no send pacing and stops reconnecting after
a few attempts (../shared/REFERENCE.md), and these are the parts that matter
for a relay. Parsing and building lines is pure (bot/chat/irc_proto.py).

What it does: TLS with verification (plain TCP only when configured), CAP LS
302 and the IRCv3 capabilities the server offers, SASL PLAIN or EXTERNAL (on
failure it joins nothing and retries later), an alternate nick and regaining
the configured one (through NickServ REGAIN, else GHOST, when logged in to
the account that owns it), PING when idle and reconnect when silent, jittered
exponential backoff, rejoin, one paced send queue (token bucket) that keeps
order and holds lines while disconnected, and services accounts from
account-tag, extended-join, account-notify and WHOX. What it reads becomes an
`IrcEvent` handed to `on_event`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from bot.chat.backoff import Backoff
from bot.chat.irc_handlers import SaslFailed, ServerLines
from bot.chat.irc_proto import (
    ACTION_OVERHEAD, BODY_LIMIT, CTCP, Line, build_line, casefold, clean, decode_line, parse_line,
    parse_server_time, privmsg_overhead, split_utf8,
)
from bot.chat.irc_tracker import Tracker
from bot.chat.token_bucket import TokenBucket
from bot.config import ConfigError, IrcSettings
from bot.runtime import sleep_or_stop

log = logging.getLogger(__name__)

WORST_HOST = 63  # HOSTLEN of Solanum (Libera) and most servers: the longest host a server shows
FIRST_RETRY = 2.0  # seconds; the backoff doubles from here up to reconnect_cap_seconds
HEALTHY_AFTER = 120.0  # seconds registered after which the backoff starts over
MAINTAIN_EVERY = 60.0  # seconds between tries to regain the nick and rejoin lost channels
CONNECT_TIMEOUT = 30.0
READ_LIMIT = 1 << 16  # tags may take 8191 bytes, the rest 512


@dataclass(frozen=True)
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


def realname_for(admin_contact: str, configured: str | None = None) -> str:
    """The realname (gecos): says it is a bot and who runs it, as Libera asks of bots."""
    name = configured or "sigbot relay bot"
    if admin_contact and admin_contact not in name:
        name = f"{name}, admin: {admin_contact}"
    return clean(name)


class IrcConnection(ServerLines):
    """One connection; `run()` keeps it up, `send()` queues lines for it."""

    def __init__(
        self,
        settings: IrcSettings,
        channels: Sequence[str],
        realname: str,
        on_event: Callable[[IrcEvent], None],
        rng: random.Random | None = None,
        burst: int | None = None,
        interval: float | None = None,
        queue_limit: int = 1000,
        now: Callable[[], datetime] | None = None,
    ):
        self.settings = settings
        self.channels = list(channels)
        self.realname = clean(realname)
        self.on_event = on_event
        self.rng = rng or random.Random()
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.bucket = TokenBucket(burst or settings.burst, interval or settings.line_interval, time.monotonic())
        self.queue_limit = queue_limit
        self._queue: deque[tuple[str, str, str, bool]] = deque()  # command, target, text, action
        self._overflowing = False
        self.dropped = 0
        self.nick = settings.nick
        self.connected = False  # registered (001 received)
        self.last_activity: datetime | None = None
        self.caps: set[str] = set()
        self.isupport: dict[str, str] = {}
        self.account: str | None = None  # ours, after SASL
        self.tracker = Tracker()
        self._user: str | None = None  # our user@host as the server shows it
        self._host: str | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._wake = asyncio.Event()
        self._offered: dict[str, str] = {}
        self._negotiating = False
        self._sasl_done = False
        self._registered_at: float | None = None
        self._nick_tries = 0
        self._recovering: str | None = None

    # --- what the relay uses --------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def send(self, target: str, text: str, action: bool = False, notice: bool = False) -> None:
        """Queue one line for ``target``; never blocks. An action is always a PRIVMSG.

        The text should fit `text_budget(target)`; if our prefix grew since,
        it is split again when sent, so nothing is cut by the server.
        """
        if not target or any(c in target for c in " ,\r\n\0"):
            raise ValueError(f"not an IRC target: {target!r}")
        text = clean(text)
        if not text:
            return
        if len(self._queue) >= self.queue_limit:
            self.dropped += 1
            if not self._overflowing:
                log.warning("irc: send queue full (%d lines); dropping new lines until it drains", self.queue_limit)
                self._overflowing = True
            return
        command = "NOTICE" if notice and not action else "PRIVMSG"
        self._queue.append((command, target, text, action))
        self._wake.set()

    def text_budget(self, target: str, action: bool = False) -> int:
        """Bytes of text that fit one PRIVMSG to ``target`` once the server adds our prefix."""
        user = self._user or "~" + self.settings.username
        host = self._host or "x" * WORST_HOST
        overhead = privmsg_overhead(f"{self.nick}!{user}@{host}", "PRIVMSG", target)
        return BODY_LIMIT + 2 - overhead - (ACTION_OVERHEAD if action else 0)

    # --- the connection loop ----------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, register, authenticate, join; reconnect with backoff until ``stop`` is set."""
        backoff = Backoff(self.rng, first=FIRST_RETRY, cap=self.settings.reconnect_cap_seconds)
        where = f"{self.settings.host}:{self.settings.port}"
        while not stop.is_set():
            try:
                await self._session(stop)
            except SaslFailed as exc:
                log.error("irc: SASL authentication on %s failed: %s; not joining channels", where, exc)
            except (OSError, ConnectionError, TimeoutError, ConfigError) as exc:
                log.warning("irc: connection to %s lost: %s", where, exc or type(exc).__name__)
            except Exception:  # a bug must not end the relay for good: log it, back off, go on
                log.exception("irc: unexpected error on %s", where)
            finally:
                if self._registered_at is not None and time.monotonic() - self._registered_at >= HEALTHY_AFTER:
                    backoff.healthy()
                self._disconnected()
            if stop.is_set():
                break
            delay = backoff.next_delay()
            log.info("irc: reconnecting to %s in %.1f s", where, delay)
            await sleep_or_stop(stop, delay)

    async def _session(self, stop: asyncio.Event) -> None:
        s = self.settings
        context = self._tls_context() if s.tls else None
        connecting = asyncio.create_task(asyncio.wait_for(
            asyncio.open_connection(s.host, s.port, ssl=context, limit=READ_LIMIT), CONNECT_TIMEOUT))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([connecting, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not connecting.done():  # stopped while connecting
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            return
        reader, self._writer = connecting.result()
        self._begin()
        self._write("CAP", "LS", "302")
        self._write("NICK", self.nick)
        self._write("USER", s.username, "0", "*", self.realname)
        tasks = [asyncio.create_task(coro) for coro in
                 (self._read_loop(reader), self._send_loop(), self._maintain(), stop.wait())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises what ended the session
            if stop.is_set() and self._writer is not None:
                self._write("QUIT", "sigbot stopping")
                await asyncio.wait_for(self._writer.drain(), 5)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._writer.close()
            with contextlib.suppress(OSError, ConnectionError, TimeoutError, ssl.SSLError):
                await asyncio.wait_for(self._writer.wait_closed(), 5)

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.settings.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.settings.client_cert:
            context.load_cert_chain(self.settings.client_cert)  # cert and key in one PEM
        return context

    def _begin(self) -> None:
        self.nick = self.settings.nick
        self.caps.clear()
        self.isupport.clear()
        self.tracker = Tracker()
        self._user = self._host = None
        self._offered = {}
        self._negotiating = True
        self._sasl_done = False
        self._registered_at = None
        self._nick_tries = 0
        self._recovering = None

    def _disconnected(self) -> None:
        self.connected = False
        self._writer = None
        self._registered_at = None

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        """Read lines; PING after ``ping_interval`` of silence, give up after ``silence_timeout``."""
        last = time.monotonic()
        pinged = False
        while True:
            idle = time.monotonic() - last
            if idle >= self.settings.silence_timeout:
                raise TimeoutError(f"nothing received for {idle:.0f} s")
            if idle >= self.settings.ping_interval and not pinged:
                self._write("PING", "sigbot-keepalive")
                pinged = True
            limit = self.settings.silence_timeout if pinged else self.settings.ping_interval
            try:
                raw = await asyncio.wait_for(reader.readline(), limit - idle)
            except TimeoutError:
                continue
            except ValueError:  # a line over READ_LIMIT: asyncio dropped it
                log.warning("irc: skipped an over-long line from the server")
                continue
            if not raw.endswith(b"\n"):
                raise ConnectionError("the server closed the connection")
            last, pinged = time.monotonic(), False
            self.last_activity = self.now()
            line = parse_line(decode_line(raw.rstrip(b"\r\n")))
            try:
                self._handle(line)
            except SaslFailed:
                self._write("QUIT", "SASL failed")
                raise
            except Exception:  # one odd line must not end the connection
                log.exception("irc: could not handle a %s line", line.command)

    async def _send_loop(self) -> None:
        """Send queued lines in order, paced by the token bucket, once registered."""
        while True:
            if not self.connected or not self._queue or self._writer is None:
                if not self._queue:
                    self._overflowing = False
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = self.bucket.delay(time.monotonic())
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            command, target, text, action = self._queue[0]
            for piece in self._pieces(target, text, action):
                self.bucket.take(time.monotonic())
                self._write(command, target, piece)
            self._queue.popleft()
            await self._writer.drain()

    def _pieces(self, target: str, text: str, action: bool) -> list[str]:
        pieces = split_utf8(text, self.text_budget(target, action))
        return [f"{CTCP}ACTION {p}{CTCP}" for p in pieces] if action else pieces

    async def _maintain(self) -> None:
        """Now and then: take the configured nick back, rejoin channels we lost."""
        while True:
            await asyncio.sleep(MAINTAIN_EVERY)
            if self.connected:
                self._regain_nick()
                for channel in self.channels:
                    if not self.tracker.is_in(channel):
                        self._write("JOIN", channel)

    def _write(self, command: str, *params: str) -> None:
        if self._writer is None:
            return
        data = build_line(command, *params)
        log.debug("irc: >> %s", data[:80] if command != "AUTHENTICATE" else b"AUTHENTICATE ...")
        self._writer.write(data + b"\r\n")

    def _regain_nick(self) -> None:
        if self._fold(self.nick) != self._fold(self.settings.nick):
            self._write("NICK", self.settings.nick)

    def _fold(self, name: str) -> str:
        return casefold(name, self.isupport.get("CASEMAPPING", "rfc1459"))

    def _emit(self, kind: str, line: Line, target: str, text: str, other: str | None = None) -> None:
        if "account-tag" in self.caps:  # then a line without the tag is from someone logged out
            account = line.tags.get("account") or None
        else:
            account = self.tracker.account(line.nick)
        event = IrcEvent(kind, line.nick, line.user, line.host, account, target, text,
                         parse_server_time(line.tags.get("time")) or self.now(), dict(line.tags), other)
        try:
            self.on_event(event)
        except Exception:
            log.exception("irc: the event handler failed on a %s from %s", kind, line.nick)
