"""The web server shared by every feature: safety headers, limits, one answer for errors, /healthz.

Features add their routes through bot/runtime.py's WEB_ROUTES. Every response
carries a strict Content-Security-Policy (no inline scripts, nothing from
elsewhere); a handler that needs to accept a large body checks it itself.

A handler answers bad input with a 4xx and a short reason itself. Anything it
did not expect is caught here, once: the log gets the traceback, the client
one line (500). The body is read before any handler runs, within
`[web] body_timeout` (else 408); a client that hangs up halfway is not an
error. Slow and numerous clients: see limits.py. Routes, the middleware chain
and file responses on aiohttp's low-level server: see app.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

from aiohttp.web_exceptions import HTTPBadRequest, HTTPException
from aiohttp.web_protocol import RequestPayloadError
from aiohttp.web_response import Response, StreamResponse, json_response

from bot import metrics
from bot.config.model import WebLimits
from bot.core.targets import load
from bot.runtime import WEB_ROUTES, Runtime
from bot.web.app import App, Handler, Request
from bot.web.limits import CappedServer, QuietRefusals, Tally, check_open_files, quiet_accept_failures

log = logging.getLogger(__name__)
# aiohttp's own messages about connections (malformed requests), rate-limited by QuietRefusals.
http_log = logging.getLogger("bot.web.http")
http_log.addFilter(QuietRefusals())

HEALTHY_SYNC_AGE = 180.0
# After answering before the whole body came (413, 408), aiohttp reads and drops the rest for this long
# so that the client sees the answer rather than a reset; its default of 10 s is long for a slow client.
LINGERING_TIME = 2.0
SHUTDOWN_TIMEOUT = 5.0  # seconds a request in progress may take to finish when the bot stops

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def _secure(response: StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")


async def _security_headers(request: Request, handler: Handler) -> StreamResponse:
    """On every answer, a raised 404 or redirect too (aiohttp sends a raised HTTPException as the response)."""
    try:
        response = await handler(request)
    except HTTPException as refusal:
        _secure(refusal)
        raise
    _secure(response)
    return response


async def _errors(request: Request, handler: Handler) -> StreamResponse:
    """The one place where an unexpected error becomes a log entry with its traceback and a one-line 500."""
    try:
        return await handler(request)
    except HTTPException:
        raise
    except ConnectionError:
        if request.transport is None or request.transport.is_closing():
            # The client hung up (mid-body, say): nobody to answer, nothing wrong with the bot.
            log.debug("%s %s: the client went away", request.method, request.path[:200])
            raise HTTPBadRequest(text="incomplete request\n") from None
        log.exception("%s %s failed", request.method, request.path[:200])
    except Exception:
        log.exception("%s %s failed", request.method, request.path[:200])
    return Response(status=500, text="internal error (the bot's log has the details)\n")


def _read_body(limits: WebLimits) -> Callable[[Request, Handler], Awaitable[StreamResponse]]:
    slow = Tally("request bodies too slow, answered 408")

    async def read_body(request: Request, handler: Handler) -> StreamResponse:
        """The whole body, within body_timeout, before the handler runs (aiohttp keeps it for request.read())."""
        if request.body_exists:
            try:
                async with asyncio.timeout(limits.body_timeout):
                    await request.read()  # over MAX_BODY (bot/web/app.py): 413
            except TimeoutError:
                slow.note(f"last from {request.remote}")
                return _closing(408, "request body too slow")
            except RequestPayloadError as exc:  # a broken chunk, gzip that does not decompress
                reason = str(exc.__cause__ or exc).splitlines()[-1].strip()  # aiohttp's text starts "400, message:"
                return _closing(400, f"malformed request body: {reason[:100]}")
        return await handler(request)

    return read_body


def _closing(status: int, why: str) -> Response:
    """An answer after which the connection is closed: what is left of the body is not worth reading."""
    response = Response(status=status, text=why + "\n")
    response.force_close()
    return response


def build_app(rt: Runtime, routes: list[str] | None = None) -> App:
    limits = rt.config.web_limits if rt.config is not None else WebLimits()
    app = App([_security_headers, _errors, _read_body(limits)], limits, rt.state)

    async def healthz(request: Request) -> Response:
        """200 while the bot is in touch with its homeserver (synced within 3 minutes), else 503."""
        matrix = rt.state.get("matrix")
        last = getattr(matrix, "last_sync", None)
        age = (rt.now() - last).total_seconds() if last else None
        storage_error = getattr(matrix, "storage_error", None)
        ok = (matrix is None or (age is not None and age < HEALTHY_SYNC_AGE)) and not storage_error
        body = {"ok": ok, "matrix_last_sync_age_s": None if age is None else round(age, 1),
                "storage_error": storage_error}
        return json_response(body, status=200 if ok else 503)

    async def scrape(request: Request) -> Response:
        return Response(body=metrics.exposition(rt).encode(), headers={"Content-Type": metrics.CONTENT_TYPE})

    app.add_get("/healthz", healthz)
    app.add_get("/metrics", scrape)
    for target in WEB_ROUTES if routes is None else routes:
        load(target)(rt, app)
    return app


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class Listening:
    """A started web server: where it listens, and how it stops."""

    def __init__(self, server: CappedServer, url: str):
        self.server, self.url = server, url

    async def cleanup(self) -> None:
        """Stop listening, let requests in progress finish (at most SHUTDOWN_TIMEOUT), close every connection."""
        await self.server.stop(SHUTDOWN_TIMEOUT)


async def start_web(app: App, listen: str) -> Listening:
    """Serve `app` on `listen` ("host:port"; port 0 picks a free one, logged and kept in app.state["web_url"])."""
    limits = app.limits
    # keepalive_timeout is also how long aiohttp waits for a whole request head: our header timeout.
    server = app.server(access_log=None, logger=http_log, keepalive_timeout=limits.header_timeout,
                        lingering_time=LINGERING_TIME)
    host, port = parse_listen(listen)
    quiet_accept_failures()
    check_open_files(limits.max_connections)
    capped = CappedServer(server, limits.max_connections)
    try:
        bound = await capped.start(host, port)
    except OSError as exc:  # a busy port, an address not on this machine: one line for the operator
        why = os.strerror(exc.errno) if exc.errno else str(exc)  # asyncio's message repeats the address
        raise RuntimeError(f"the web server cannot listen on {host}:{port}: {why} "
                           "(see [web] listen in the config)") from None
    url = f"http://{host}:{bound}"
    app.state["web_url"] = url
    log.info("web server on %s/", url)
    return Listening(capped, url)
