"""The IRC connection: one bot connection to one network, kept up forever.

Our own small asyncio client rather than pydle: pydle splits long lines by
characters rather than bytes, has no send pacing and stops reconnecting after
a few attempts (../shared/REFERENCE.md), and these are the parts that matter
for a relay.

Every decision of the protocol is in the pure `IrcProtocol`
(bot/chat/irc_state.py): CAP LS 302 and the IRCv3 capabilities the server
offers, SASL PLAIN or EXTERNAL (on failure it joins nothing and we retry
later), an alternate nick and regaining the configured one (through NickServ
REGAIN, else GHOST, when logged in to the account that owns it), PING when
idle and giving up when silent, rejoining, and services accounts from
account-tag, extended-join, account-notify and WHOX. This module only moves
bytes: TLS with verification (plain TCP only when configured), feeding each
line to the protocol, writing what it returns, one paced send queue (token
bucket) that keeps order and holds lines while disconnected, jittered
exponential backoff, and handing each `IrcEvent` to `on_event`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from bot.chat.backoff import Backoff
from bot.chat.irc_handlers import SaslFailed
from bot.chat.irc_proto import clean
from bot.chat.irc_state import WORST_HOST, Closed, IrcEvent, IrcProtocol, Output, Send
from bot.chat.irc_tracker import Tracker
from bot.chat.token_bucket import TokenBucket
from bot.config import ConfigError, IrcSettings
from bot.core.timing import within
from bot.runtime import sleep_or_stop

__all__ = ["WORST_HOST", "IrcConnection", "IrcEvent", "SaslFailed", "realname_for"]

log = logging.getLogger(__name__)

FIRST_RETRY = 2.0  # seconds; the backoff doubles from here up to reconnect_cap_seconds
HEALTHY_AFTER = 120.0  # seconds registered after which the backoff starts over
CONNECT_TIMEOUT = 30.0
READ_LIMIT = 1 << 16  # tags may take 8191 bytes, the rest 512
_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")  # OpenSSL's name for a certificate in a CA directory


def realname_for(admin_contact: str, configured: str | None = None) -> str:
    """The realname (gecos): says it is a bot and who runs it, as Libera asks of bots."""
    name = configured or "sigbot relay bot"
    if admin_contact and admin_contact not in name:
        name = f"{name}, admin: {admin_contact}"
    return clean(name)


def sasl_mechanism(settings: IrcSettings) -> str | None:
    """EXTERNAL with a client certificate over TLS, else PLAIN with an account and password, else none."""
    if settings.client_cert and settings.tls:
        return "EXTERNAL"
    if settings.sasl_account and settings.sasl_password:
        return "PLAIN"
    return None


class IrcConnection:
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
        self.realname = clean(realname)
        self.on_event = on_event
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.protocol = IrcProtocol(
            settings.nick, settings.username, self.realname, channels, sasl=sasl_mechanism(settings),
            sasl_account=settings.sasl_account, ping_interval=settings.ping_interval,
            silence_timeout=settings.silence_timeout, rng=rng or random.Random())
        self.bucket = TokenBucket(burst or settings.burst, interval or settings.line_interval, time.monotonic())
        self.queue_limit = queue_limit
        self._queue: deque[tuple[str, str, str, bool]] = deque()  # command, target, text, action
        self._overflowing = False
        self.dropped = 0
        self._writer: asyncio.StreamWriter | None = None
        self._wake = asyncio.Event()

    # --- what the relay uses --------------------------------------------------

    @property
    def nick(self) -> str:
        return self.protocol.nick

    @property
    def connected(self) -> bool:
        """Registered (001 received) on a connection that is still open."""
        return self.protocol.registered and self._writer is not None

    @property
    def account(self) -> str | None:
        return self.protocol.account

    @property
    def caps(self) -> set[str]:
        return self.protocol.caps

    @property
    def tracker(self) -> Tracker:
        return self.protocol.tracker

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
        return self.protocol.text_budget(target, action)

    # --- the connection loop ----------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, register, authenticate, join; reconnect with backoff until ``stop`` is set."""
        backoff = Backoff(self.protocol.rng, first=FIRST_RETRY, cap=self.settings.reconnect_cap_seconds)
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
                registered_at = self.protocol.registered_at
                if registered_at is not None and time.monotonic() - registered_at >= HEALTHY_AFTER:
                    backoff.healthy()
                self.protocol.disconnected()
                self._writer = None
            if stop.is_set():
                break
            delay = backoff.next_delay()
            log.info("irc: reconnecting to %s in %.1f s", where, delay)
            await sleep_or_stop(stop, delay)

    async def _session(self, stop: asyncio.Event) -> None:
        s = self.settings
        # Read before connecting: a missing secret is a config error, not a failed login.
        password = s.sasl_password.get() if self.protocol.sasl == "PLAIN" and s.sasl_password else None
        context = self._tls_context() if s.tls else None
        connecting = asyncio.create_task(within(
            CONNECT_TIMEOUT, asyncio.open_connection(s.host, s.port, ssl=context, limit=READ_LIMIT)))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([connecting, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not connecting.done():  # stopped while connecting
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            return
        reader, self._writer = connecting.result()
        self._carry_out(self.protocol.connect(time.monotonic(), password))
        tasks = [asyncio.create_task(coro) for coro in (self._read_loop(reader), self._send_loop(), stop.wait())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises what ended the session
            if stop.is_set() and self._writer is not None:
                self._carry_out(self.protocol.quit("sigbot stopping"))
                await within(5, self._writer.drain())
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._writer.close()
            with contextlib.suppress(OSError, ConnectionError, TimeoutError, ssl.SSLError):
                await within(5, self._writer.wait_closed())

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(capath=hashed_ca_dir())  # None: the default, the whole bundle
        if not self.settings.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.settings.client_cert:
            context.load_cert_chain(self.settings.client_cert)  # cert and key in one PEM
        return context

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        """Feed each line to the protocol; between lines, wake it when its timers are due."""
        while True:
            wait = self.protocol.wake_in(time.monotonic())
            try:
                raw = await within(wait, reader.readline()) if wait > 0 else None
            except TimeoutError:
                raw = None
            except ValueError:  # a line over READ_LIMIT: asyncio dropped it
                log.warning("irc: skipped an over-long line from the server")
                continue
            if raw is None:
                self._carry_out(self.protocol.tick(time.monotonic()))
                continue
            if not raw.endswith(b"\n"):
                raise ConnectionError("the server closed the connection")
            self._carry_out(self.protocol.receive(raw, time.monotonic(), self.now()))
            if self.connected and self._queue:
                self._wake.set()  # the send queue may go now; the server handles our JOINs first

    def _carry_out(self, outputs: list[Output]) -> None:
        """Write the protocol's lines at once, hand on its events, end on `Closed`.

        Protocol lines skip the token bucket: a PONG must not wait behind chat,
        and they are few (registration, a JOIN and a WHO per channel)."""
        for output in outputs:
            if isinstance(output, Send):
                self._write(output)
            elif isinstance(output, Closed):
                raise SaslFailed(output.reason) if output.auth_failed else TimeoutError(output.reason)
            else:
                self._deliver(output)

    def _deliver(self, event: IrcEvent) -> None:
        try:
            self.on_event(event)
        except Exception:
            log.exception("irc: the event handler failed on a %s from %s", event.kind, event.nick)

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
                self._write(Send(command, (target, piece)))
            self._queue.popleft()
            await self._writer.drain()

    def _pieces(self, target: str, text: str, action: bool) -> list[str]:
        return self.protocol.pieces(target, text, action)

    def _write(self, line: Send) -> None:
        if self._writer is None:
            return
        data = line.line()
        log.debug("irc: >> %s", data[:80] if line.command != "AUTHENTICATE" else b"AUTHENTICATE ...")
        self._writer.write(data + b"\r\n")


def hashed_ca_dir() -> str | None:
    """The system's CA directory, when it holds OpenSSL's hashed names (Debian, Ubuntu, Alpine, the container).

    Verifying from it, OpenSSL reads only the certificates a handshake needs; the
    default context parses the whole bundle up front, about 0.5 MiB resident for
    its 140-odd certificates for as long as the connection lasts (memory, issue
    14). The directory and the bundle hold the same authorities there. None (the
    default context) where there is no such directory, or where SSL_CERT_FILE
    names a bundle of the operator's own.
    """
    capath = ssl.get_default_verify_paths().capath  # SSL_CERT_DIR when set
    if os.environ.get("SSL_CERT_FILE") or not capath:
        return None
    try:
        return capath if any(_HASHED_NAME.fullmatch(name) for name in os.listdir(capath)) else None
    except OSError:
        return None
