"""The web server shared by every feature: safety headers, limits, one answer for errors, /healthz.

Features add their routes through bot/runtime.py's WEB_ROUTES. Every response
carries a strict Content-Security-Policy (no inline scripts, nothing from
elsewhere); a handler that needs to accept a large body checks it itself.

A handler answers bad input with a 4xx and a short reason itself. Anything it
did not expect is caught here, once: the log gets the traceback, the client
one line (500). The body is read before any handler runs, within
`[web] body_timeout` (else 408); a client that hangs up halfway is not an
error. Slow and numerous clients: see limits.py.
"""

from __future__ import annotations

import asyncio
import logging
import os

from aiohttp import web
from aiohttp.typedefs import Handler

from bot import metrics
from bot.config.model import WebLimits
from bot.core.targets import load
from bot.runtime import WEB_ROUTES, Runtime
from bot.web.limits import CappedSite, QuietRefusals, Tally, check_open_files, quiet_accept_failures

log = logging.getLogger(__name__)
# aiohttp's own messages about connections (malformed requests), rate-limited by QuietRefusals.
http_log = logging.getLogger("bot.web.http")
http_log.addFilter(QuietRefusals())

MAX_BODY = 1024 * 1024  # larger request bodies get 413 before a handler sees them
RUNTIME = web.AppKey("runtime", Runtime)
LIMITS = web.AppKey("limits", WebLimits)
SLOW_BODIES = web.AppKey("slow_bodies", Tally)
HEALTHY_SYNC_AGE = 180.0
# After answering before the whole body came (413, 408), aiohttp reads and drops the rest for this long
# so that the client sees the answer rather than a reset; its default of 10 s is long for a slow client.
LINGERING_TIME = 2.0

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place where an unexpected error becomes a log entry with its traceback and a one-line 500."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except ConnectionError:
        if request.transport is None or request.transport.is_closing():
            # The client hung up (mid-body, say): nobody to answer, nothing wrong with the bot.
            log.debug("%s %s: the client went away", request.method, request.path[:200])
            raise web.HTTPBadRequest(text="incomplete request\n") from None
        log.exception("%s %s failed", request.method, request.path[:200])
    except Exception:
        log.exception("%s %s failed", request.method, request.path[:200])
    return web.Response(status=500, text="internal error (the bot's log has the details)\n")


@web.middleware
async def _read_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The whole body, within body_timeout, before the handler runs (aiohttp keeps it for request.read())."""
    if request.body_exists:
        try:
            async with asyncio.timeout(request.app[LIMITS].body_timeout):
                await request.read()  # over client_max_size: 413
        except TimeoutError:
            request.app[SLOW_BODIES].note(f"last from {request.remote}")
            return _closing(408, "request body too slow")
        except web.RequestPayloadError as exc:  # a broken chunk, gzip that does not decompress
            reason = str(exc.__cause__ or exc).splitlines()[-1].strip()  # aiohttp's text starts "400, message:"
            return _closing(400, f"malformed request body: {reason[:100]}")
    return await handler(request)


def _closing(status: int, why: str) -> web.Response:
    """An answer after which the connection is closed: what is left of the body is not worth reading."""
    response = web.Response(status=status, text=why + "\n")
    response.force_close()
    return response


async def _healthz(request: web.Request) -> web.Response:
    """200 while the bot is in touch with its homeserver (synced within 3 minutes), else 503."""
    rt = request.app[RUNTIME]
    matrix = rt.state.get("matrix")
    last = getattr(matrix, "last_sync", None)
    age = (rt.now() - last).total_seconds() if last else None
    storage_error = getattr(matrix, "storage_error", None)
    ok = (matrix is None or (age is not None and age < HEALTHY_SYNC_AGE)) and not storage_error
    body = {"ok": ok, "matrix_last_sync_age_s": None if age is None else round(age, 1),
            "storage_error": storage_error}
    return web.json_response(body, status=200 if ok else 503)


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(body=metrics.exposition(request.app[RUNTIME]).encode(),
                        headers={"Content-Type": metrics.CONTENT_TYPE})


def build_app(rt: Runtime, routes: list[str] | None = None) -> web.Application:
    app = web.Application(middlewares=[_security_headers, _errors, _read_body], client_max_size=MAX_BODY)
    app[RUNTIME] = rt
    app[LIMITS] = rt.config.web_limits if rt.config is not None else WebLimits()
    app[SLOW_BODIES] = Tally("request bodies too slow, answered 408")
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    for target in WEB_ROUTES if routes is None else routes:
        load(target)(rt, app)
    return app


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


async def start_web(app: web.Application, listen: str) -> web.AppRunner:
    """Serve `app` on `listen` ("host:port"; port 0 picks a free one, logged and kept in rt.state["web_url"])."""
    limits = app[LIMITS]
    # keepalive_timeout is also how long aiohttp waits for a whole request head: our header timeout.
    runner = web.AppRunner(app, access_log=None, logger=http_log, keepalive_timeout=limits.header_timeout,
                           lingering_time=LINGERING_TIME)
    await runner.setup()
    host, port = parse_listen(listen)
    quiet_accept_failures()
    check_open_files(limits.max_connections)
    try:
        await CappedSite(runner, host, port, limits.max_connections).start()
    except OSError as exc:  # a busy port, an address not on this machine: one line for the operator
        await runner.cleanup()
        why = os.strerror(exc.errno) if exc.errno else str(exc)  # asyncio's message repeats the address
        raise RuntimeError(f"the web server cannot listen on {host}:{port}: {why} "
                           "(see [web] listen in the config)") from None
    bound = runner.addresses[0][1] if runner.addresses else port
    url = f"http://{host}:{bound}"
    app[RUNTIME].state["web_url"] = url
    log.info("web server on %s/", url)
    return runner
