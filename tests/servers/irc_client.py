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
import contextlib
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 10.0
CTCP_DELIM = "\x01"
_TAG_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_JOIN_ERRORS = {"403", "405", "471", "473", "474", "475", "476", "477"}
# 001 (welcome) or why not: erroneous nick, nick in use, banned, ERROR.
_REGISTRATION_ENDS = {"001", "432", "433", "436", "437", "464", "465", "ERROR"}


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
        text, head = self.text or "", CTCP_DELIM + "ACTION "
        is_action = self.command == "PRIVMSG" and text.startswith(head)
        return text[len(head) :].rstrip(CTCP_DELIM) if is_action else None


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
    params = tuple(_split_params(rest))
    decoded = tuple(p.decode("utf-8", "replace") for p in params)
    name = command.decode("ascii", "replace").upper()
    return IrcMessage(raw, name, decoded, params, prefix, tags)


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
    # "\:" is ";", "\s" a space, "\\" a backslash, "\r"/"\n" CR/LF; any other
    # escaped char stands for itself; a lone trailing backslash is dropped.
    return re.sub(r"\\(.?)", lambda m: _TAG_ESCAPES.get(m[1], m[1]), value, flags=re.S)


class IrcClient:
    """One raw connection to an IRC server, driven from a test's event loop."""

    def __init__(self, host: str, port: int, *, history: int = 10_000) -> None:
        self.host, self.port = host, port
        self.nick: str | None = None
        self.server_caps: set[str] = set()  # what CAP LS offered, if asked
        self.history: deque[IrcMessage] = deque(maxlen=history)  # all lines
        self._backlog: list[IrcMessage] = []  # lines no expect() took yet
        self._cond = asyncio.Condition()
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
        if self.connected:
            raise ConnectionError(f"already connected as {self.nick}")
        reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=1 << 20), timeout
        )
        self._eof = False
        self._backlog.clear()  # a reconnect starts afresh; history keeps all
        self.nick = nick
        self._read_task = asyncio.create_task(self._read_loop(reader), name=f"irc-read-{nick}")
        if caps is not None:
            await self.send_raw("CAP LS 302")
        await self.send_raw(f"NICK {nick}")
        await self.send_raw(f"USER {user or nick} 0 * :{realname}")
        if caps is not None:
            await self._negotiate_caps(set(caps), timeout)
        welcome = await self.expect(lambda m: m.command in _REGISTRATION_ENDS, timeout)
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
        key = channel.lower()  # ngIRCd announces CASEMAPPING=ascii
        joined = await self.expect(lambda m: _is_join_reply(m, self.nick, key), timeout)
        if joined.command != "JOIN":
            raise ConnectionError(f"{self.nick} could not join {channel}: {joined.raw!r}")
        names: list[str] = []
        while True:
            msg = await self.expect(lambda m: _is_names_reply(m, key), timeout)
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
                and _about(m, channel.lower(), 0)
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
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        if self._read_task is not None:
            self._read_task.cancel()
            await asyncio.gather(self._read_task, return_exceptions=True)
        self._writer = self._read_task = None
        self._eof = True

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            with contextlib.suppress(ConnectionError):  # a reset counts as EOF
                while line := await reader.readline():
                    await self._handle(parse_line(line.rstrip(b"\r\n")))
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

    def _tail(self) -> list[bytes]:
        return [m.raw for m in list(self.history)[-5:]]


def _is_cap(msg: IrcMessage, sub: str) -> bool:
    return msg.command == "CAP" and msg.params[1:2] == (sub,)


def _is_join_reply(msg: IrcMessage, nick: str | None, channel: str) -> bool:
    """Our own JOIN echoed (":me!u@h JOIN #chan") or a join error ("474 me #chan")."""
    if msg.command == "JOIN":
        return msg.nick == nick and _about(msg, channel, 0)
    return msg.command in _JOIN_ERRORS and _about(msg, channel, 1)


def _is_names_reply(msg: IrcMessage, channel: str) -> bool:
    """NAMES lines: "353 me = #chan :@alice bob", then "366 me #chan :End of ..."."""
    if msg.command == "353":
        return _about(msg, channel, 2)
    return msg.command == "366" and _about(msg, channel, 1)


def _about(msg: IrcMessage, lowered_name: str, index: int) -> bool:
    """Whether param ``index`` names ``lowered_name`` (a channel), any case."""
    return len(msg.params) > index and msg.params[index].lower() == lowered_name
