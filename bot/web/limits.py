"""How the web server stays up under slow and numerous clients: a connection cap and quiet refusals.

aiohttp by itself accepts every connection and waits for each for an hour:
1,100 slow clients against a bot allowed 1,024 open files left asyncio
failing `accept()` (EMFILE) and logging it tens of thousands of times.  So:

* `CappedServer` listens like `loop.create_server`, but past `max_connections`
  open connections a new one is answered ``503`` and closed at once, before
  a byte of its request is read.  The cap is what keeps the bot below its
  open-file limit, which `check_open_files` compares it with at start.
* The head of a request must arrive within `header_timeout` (aiohttp's
  keep-alive timer, which only stops once a whole request head is parsed:
  web_protocol.py `_process_keepalive`); the body within `body_timeout`
  (server.py's middleware).
* Refusals are logged by `Tally`: one line at most per minute per kind, with
  how many there were, never a traceback.  That covers the connections over
  the cap, malformed HTTP (which aiohttp logs with a traceback per request)
  and asyncio's accept() failures.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Callable

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from aiohttp.web_server import Server

log = logging.getLogger(__name__)

EVERY = 60.0  # seconds between two log lines about the same kind of refusal
SPARE_FILES = 128  # open files the bot needs besides its web clients: database, Matrix, IRC, site files
LINGER = 1.0  # seconds a refused connection stays open so that the client reads the 503 (no RST)
MAX_LINGERING = 64  # past this many refused connections lingering at once, new ones are cut without a 503
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Retry-After: 10\r\nConnection: close\r\nContent-Length: 37\r\n\r\n"
        b"too many connections, try again later\n")


class Tally:
    """Counts one kind of refusal; logs the first, then at most one line per `every` seconds with the count."""

    def __init__(self, what: str, every: float = EVERY, clock: Callable[[], float] = time.monotonic):
        self.what, self.every, self.clock = what, every, clock
        self.count = 0  # since the last line
        self.last: float | None = None

    def line(self, detail: str = "") -> str | None:
        """Note one refusal; the line to log now, or None while the last one is recent."""
        self.count += 1
        now = self.clock()
        if self.last is not None and now - self.last < self.every:
            return None
        text = f"{self.what}: {self.count} in the last {round(now - self.last)} s" if self.last is not None \
            else self.what
        self.count, self.last = 0, now
        return f"{text} ({detail})" if detail else text

    def note(self, detail: str = "") -> None:
        if (text := self.line(detail)) is not None:
            log.warning("%s", text)


class QuietRefusals(logging.Filter):
    """On aiohttp's server logger: malformed HTTP as one rate-limited line instead of a traceback each.

    Any other record (a real error inside aiohttp) passes unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.tally = Tally("malformed HTTP requests refused with 400")

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        # A body that does not decode fails again while aiohttp drains it after our 400 (lingering close).
        if isinstance(exc, RequestPayloadError) and isinstance(exc.__cause__, HttpProcessingError):
            exc = exc.__cause__
        if not isinstance(exc, HttpProcessingError):
            return True
        text = self.tally.line(f"last: {str(exc.message).strip()[:80]!r}")
        if text is None:
            return False
        record.msg, record.args, record.exc_info, record.exc_text = "%s", (text,), None, None
        if record.levelno > logging.WARNING:  # aiohttp says ERROR; a stranger's bad request is no error of ours
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class QuietAccept(logging.Filter):
    """On asyncio's logger: its accept() failures (EMFILE) once a minute, with the count; its retries
    of accept() that fire after the server closed, not at all."""

    def __init__(self) -> None:
        super().__init__()
        self.tally = Tally("socket.accept() failed (out of open files?)")

    def filter(self, record: logging.LogRecord) -> bool:
        if _late_retry(record):
            return False
        if not str(record.msg).startswith("socket.accept() out of system resource"):
            return True
        text = self.tally.line()
        if text is None:
            return False
        record.msg, record.args, record.exc_info, record.exc_text = "%s", (text,), None, None
        return True


def _late_retry(record: logging.LogRecord) -> bool:
    """asyncio's retry of accept() firing after the server closed (ValueError: the socket's fd is -1).

    After EMFILE, asyncio (3.11) schedules a retry a second later for each failed accept of the
    burst, up to the backlog; those still pending when the bot stops its web server each log a
    traceback. Nothing is lost: the server is closed on purpose."""
    exc = record.exc_info[1] if record.exc_info else None
    return isinstance(exc, ValueError) and str(record.msg).startswith(
        "Exception in callback BaseSelectorEventLoop._start_serving")


def quiet_accept_failures() -> None:
    """Put `QuietAccept` on asyncio's logger once per process."""
    logger = logging.getLogger("asyncio")
    if not any(isinstance(f, QuietAccept) for f in logger.filters):
        logger.addFilter(QuietAccept())


class _Busy(asyncio.Protocol):
    """A connection past the cap: 503, end of our side, closed once the client ends its side or after LINGER."""

    def __init__(self, capped: CappedServer):
        self.capped = capped
        self.closer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.capped.refused.note(f"over the cap of {self.capped.max_connections}")
        if self.capped.lingering >= MAX_LINGERING:
            transport.abort()
            return
        self.capped.lingering += 1
        transport.write(BUSY)
        if transport.can_write_eof():
            transport.write_eof()
        # Closing with unread request bytes would send a reset that can destroy the 503 on its way.
        self.closer = asyncio.get_running_loop().call_later(LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        pass  # the request is not read

    def eof_received(self) -> bool:
        return False  # the client is done too: close

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closer is not None:
            self.closer.cancel()
            self.capped.lingering -= 1


class CappedServer:
    """Listens for aiohttp's low-level `Server` with a cap on open connections (aiohttp has none)."""

    def __init__(self, server: Server, max_connections: int):
        self.server, self.max_connections = server, max_connections
        self.refused = Tally("connections refused with 503")
        self.lingering = 0  # refused connections not closed yet
        self.listener: asyncio.Server | None = None

    def _protocol(self) -> asyncio.Protocol:
        if len(self.server.connections) >= self.max_connections:
            return _Busy(self)
        return self.server()

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port; the port bound (port 0 picks a free one)."""
        self.listener = await asyncio.get_running_loop().create_server(
            self._protocol, host, port, reuse_address=True)
        return int(self.listener.sockets[0].getsockname()[1])

    async def stop(self, timeout: float) -> None:
        """Stop listening, let requests in progress finish within `timeout`, close every connection."""
        if self.listener is None:
            return
        self.listener.close()
        self.server.pre_shutdown()
        await self.server.shutdown(timeout)
        await self.listener.wait_closed()
        self.listener = None


def check_open_files(max_connections: int) -> None:
    """Warn when the cap does not leave the bot enough of its open-file limit (RLIMIT_NOFILE)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + MAX_LINGERING + SPARE_FILES
    if soft != resource.RLIM_INFINITY and needed > soft:
        log.warning("web.max_connections = %d needs about %d open files, but only %d are allowed: "
                    "raise LimitNOFILE or lower max_connections", max_connections, needed, soft)
