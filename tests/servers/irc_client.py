"""A small raw asyncio IRC client for the test suite (no IRC library).

It speaks just enough of RFC 1459/2812 to stand in for a person on IRC:
register (NICK/USER, optional ``CAP LS 302``), answer PINGs, join channels,
send PRIVMSGs and CTCP ACTIONs, and wait for what the server sends back.

Every line is kept as the raw bytes the server sent (``IrcMessage.raw``,
without CR LF) besides the UTF-8 decoding (``errors="replace"``), so tests can
check how long texts were split or cut byte by byte. IRCv3 message tags are
parsed when present (ngIRCd 26 sends none).

Waiting is done on conditions only, each bounded by a timeout: ``expect()``
returns (and removes from the backlog) the first received message that a
predicate accepts; messages it skips stay in the backlog for later waits.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 10.0
CTCP_DELIM = "\x01"
_TAG_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_JOIN_ERRORS = {"403", "405", "471", "473", "474", "475", "476", "477"}
_REGISTRATION_ERRORS = {"432", "433", "436", "437", "464", "465"}


@dataclass(frozen=True)
class IrcMessage:
    """One parsed line from the server."""

    raw: bytes  # the line as received, without the trailing CR LF
    command: str  # upper-cased: "PRIVMSG", "001", ...
    params: tuple[str, ...] = ()
    params_raw: tuple[bytes, ...] = ()
    prefix: str | None = None  # "nick!user@host" or a server name
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def nick(self) -> str | None:
        """The nick (or server name) of the prefix."""
        return self.prefix.split("!", 1)[0] if self.prefix else None

    @property
    def target(self) -> str | None:
        return self.params[0] if self.params else None

    @property
    def text(self) -> str | None:
        """The last (trailing) parameter, e.g. a PRIVMSG's text."""
        return self.params[-1] if self.params else None

    @property
    def action(self) -> str | None:
        """The text of a CTCP ACTION (``/me``), else None."""
        text = self.text or ""
        head = CTCP_DELIM + "ACTION "
        if self.command != "PRIVMSG" or not text.startswith(head):
            return None
        return text[len(head) :].rstrip(CTCP_DELIM)


def parse_line(raw: bytes) -> IrcMessage:
    """Parse ``[@tags] [:prefix] COMMAND [params] [:trailing]`` (no CR LF)."""
    rest = raw
    tags: dict[str, str] = {}
    if rest.startswith(b"@"):
        tag_part, _, rest = rest[1:].partition(b" ")
        tags = parse_tags(tag_part.decode("utf-8", "replace"))
    prefix = None
    rest = rest.lstrip(b" ")
    if rest.startswith(b":"):
        prefix_raw, _, rest = rest[1:].partition(b" ")
        prefix = prefix_raw.decode("utf-8", "replace")
    command, _, rest = rest.lstrip(b" ").partition(b" ")
    params = _split_params(rest)
    return IrcMessage(
        raw=raw,
        command=command.decode("ascii", "replace").upper(),
        params=tuple(p.decode("utf-8", "replace") for p in params),
        params_raw=tuple(params),
        prefix=prefix,
        tags=tags,
    )


def _split_params(rest: bytes) -> list[bytes]:
    # Middle params are separated by spaces (servers may send several); a
    # param starting with ":" is the trailing one and may contain spaces.
    params: list[bytes] = []
    while rest := rest.lstrip(b" "):
        if rest.startswith(b":"):
            params.append(rest[1:])
            break
        param, _, rest = rest.partition(b" ")
        params.append(param)
    return params


def parse_tags(text: str) -> dict[str, str]:
    """IRCv3 message tags: ``a=1;b;c=x\\sy`` -> {"a": "1", "b": "", "c": "x y"}."""
    tags = {}
    for item in filter(None, text.split(";")):
        key, _, value = item.partition("=")
        tags[key] = _unescape_tag_value(value)
    return tags


def _unescape_tag_value(value: str) -> str:
    out, chars = [], iter(value)
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(chars, "")  # a lone trailing backslash is dropped
        out.append(_TAG_ESCAPES.get(nxt, nxt))
    return "".join(out)


class IrcClient:
    """One raw connection to an IRC server, driven from a test's event loop."""

    def __init__(self, host: str, port: int, *, history: int = 10_000) -> None:
        self.host, self.port = host, port
        self.nick: str | None = None
        self.server_caps: set[str] = set()  # what CAP LS offered, if asked
        self.history: deque[IrcMessage] = deque(maxlen=history)  # all lines
        self._backlog: list[IrcMessage] = []  # lines no expect() took yet
        self._cond = asyncio.Condition()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._eof = False

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._eof

    async def connect(
        self,
        nick: str,
        *,
        user: str | None = None,
        realname: str = "sigbot test client",
        caps: Iterable[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> IrcMessage:
        """Open the socket and register; return the 001 welcome.

        With ``caps`` (even empty) the client first asks ``CAP LS 302``,
        records the offer in ``server_caps`` and requests those it offers.
        """
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=1 << 20), timeout
        )
        self._eof = False
        self.nick = nick
        self._read_task = asyncio.create_task(self._read_loop(), name=f"irc-read-{nick}")
        if caps is not None:
            await self.send_raw("CAP LS 302")
        await self.send_raw(f"NICK {nick}")
        await self.send_raw(f"USER {user or nick} 0 * :{realname}")
        if caps is not None:
            await self._negotiate_caps(set(caps), timeout)
        welcome = await self.expect(
            lambda m: m.command == "001" or m.command in _REGISTRATION_ERRORS
            or m.command == "ERROR",
            timeout,
        )
        if welcome.command != "001":
            raise ConnectionError(f"registration of {nick} refused: {welcome.raw!r}")
        return welcome

    async def _negotiate_caps(self, wanted: set[str], timeout: float) -> None:
        # CAP LS 302 replies may span lines: "CAP * LS * :a b" then "CAP * LS :c".
        # While CAP negotiation is open the server holds back registration.
        while True:
            reply = await self.expect(lambda m: _is_cap(m, "LS"), timeout)
            self.server_caps.update(c.split("=", 1)[0] for c in (reply.text or "").split())
            if reply.params[2:3] != ("*",):
                break
        request = sorted(wanted & self.server_caps)
        if request:
            await self.send_raw("CAP REQ :" + " ".join(request))
            await self.expect(lambda m: _is_cap(m, "ACK") or _is_cap(m, "NAK"), timeout)
        await self.send_raw("CAP END")

    async def join(self, channel: str, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """Join and wait for the end of NAMES; return the member nicks."""
        await self.send_raw(f"JOIN {channel}")
        key = channel.lower()  # ngIRCd uses CASEMAPPING=ascii
        joined = await self.expect(
            lambda m: (m.command == "JOIN" and m.nick == self.nick
                and (m.target or "").lower() == key)
            or (m.command in _JOIN_ERRORS and m.params[1:2] == (channel,)),
            timeout,
        )
        if joined.command != "JOIN":
            raise ConnectionError(f"{self.nick} could not join {channel}: {joined.raw!r}")
        names: list[str] = []
        while True:
            msg = await self.expect(
                lambda m: m.command in ("353", "366") and key in (p.lower() for p in m.params),
                timeout,
            )
            if msg.command == "366":
                return names
            # Names carry their status prefixes ("@alice", "+bob").
            names.extend(n.lstrip("~&@%+") for n in (msg.text or "").split())

    async def privmsg(self, target: str, text: str) -> None:
        await self.send_raw(f"PRIVMSG {target} :{text}")

    async def action(self, target: str, text: str) -> None:
        """Send a CTCP ACTION, what ``/me text`` sends."""
        await self.privmsg(target, f"{CTCP_DELIM}ACTION {text}{CTCP_DELIM}")

    async def send_raw(self, line: str | bytes) -> None:
        """Send one line; CR LF is appended. Embedded CR/LF are refused."""
        data = line.encode("utf-8") if isinstance(line, str) else line
        if b"\r" in data or b"\n" in data:
            raise ValueError(f"line contains CR or LF: {data!r}")
        if self._writer is None:
            raise ConnectionError("not connected")
        self._writer.write(data + b"\r\n")
        await self._writer.drain()

    async def expect(
        self, predicate: Callable[[IrcMessage], bool], timeout: float = DEFAULT_TIMEOUT
    ) -> IrcMessage:
        """Return and remove the first backlog message that ``predicate`` accepts."""
        found: list[IrcMessage] = []

        def ready() -> bool:
            for i, msg in enumerate(self._backlog):
                if predicate(msg):
                    found.append(self._backlog.pop(i))
                    return True
            return self._eof

        try:
            async with self._cond:
                await asyncio.wait_for(self._cond.wait_for(ready), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{self.nick}: nothing matched within {timeout}s; last lines: {self._tail()}"
            ) from None
        if not found:
            raise ConnectionError(f"{self.nick}: connection closed; last lines: {self._tail()}")
        return found[0]

    async def wait_for_privmsg(
        self,
        channel: str,
        from_nick: str | None = None,
        contains: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> IrcMessage:
        """Wait for a PRIVMSG (ACTIONs included) to ``channel``, optionally filtered."""

        def match(m: IrcMessage) -> bool:
            return (
                m.command == "PRIVMSG"
                and (m.target or "").lower() == channel.lower()
                and (from_nick is None or m.nick == from_nick)
                and (contains is None or contains in (m.text or ""))
            )

        return await self.expect(match, timeout)

    async def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the server has closed the connection."""
        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(lambda: self._eof), timeout)

    def clear(self) -> None:
        """Forget the backlog (``history`` keeps everything)."""
        self._backlog.clear()

    async def quit(self, message: str = "bye", timeout: float = DEFAULT_TIMEOUT) -> None:
        """Send QUIT, wait for the server to close, and release the socket."""
        try:
            if self.connected:
                await self.send_raw(f"QUIT :{message}")
                await self.wait_closed(timeout)
        except (ConnectionError, TimeoutError):
            pass  # the server is gone already, or slow: close our end anyway
        finally:
            await self.close()

    async def close(self) -> None:
        """Drop the connection without QUIT (as a crash would)."""
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except ConnectionError:
                pass
        if self._read_task is not None:
            self._read_task.cancel()
            await asyncio.gather(self._read_task, return_exceptions=True)
        self._writer = self._read_task = None
        self._eof = True

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while line := await self._reader.readline():
                await self._handle(parse_line(line.rstrip(b"\r\n")))
        except ConnectionError:
            pass  # a reset counts as closed, like EOF
        finally:
            async with self._cond:
                self._eof = True
                self._cond.notify_all()

    async def _handle(self, msg: IrcMessage) -> None:
        if msg.command == "PING":
            # Servers drop clients that do not answer PING within PongTimeout.
            await self.send_raw("PONG :" + (msg.text or ""))
        async with self._cond:
            self.history.append(msg)
            self._backlog.append(msg)
            self._cond.notify_all()

    def _tail(self, n: int = 5) -> list[bytes]:
        return [m.raw for m in list(self.history)[-n:]]


def _is_cap(msg: IrcMessage, sub: str) -> bool:
    return msg.command == "CAP" and msg.params[1:2] == (sub,)
