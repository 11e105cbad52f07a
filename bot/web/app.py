"""sigbot's web application: its routes, its middlewares and its files, on aiohttp's low-level server.

The HTTP itself stays aiohttp's: the parser, keep-alive, the body limit, lingering
close (web_server.Server, the documented "low level server"), and so do requests,
responses and HTTP exceptions. What aiohttp.web adds above that (Application, its
URL dispatcher, AppRunner, FileResponse with its MIME table) is 1.3 MiB resident
in every running bot (issue 14), for what sigbot uses as a list of routes, a chain
of three middlewares and a file read. Those are here.

Routes: `app.add_get(path, handler)` (HEAD too) and `app.add_post(path, handler)`.
A path is literal text with `{name}` (one segment) or `{name:regex}` parts, read
by the handler from `request.match_info`. The decoded path is matched, so a
`%2F` cannot smuggle a slash into `{name}`. Routes with the longest literal start
are tried first: `/farm/agent.pyz` before `/farm/{team}/`, and the site's
catch-all `/{path:.*}` after everything. A path that a route matches for
another method answers 405 with `Allow`; no route, 404.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from email.utils import formatdate
from pathlib import Path
from stat import S_ISREG
from typing import Any

from aiohttp import hdrs
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_exceptions import HTTPException, HTTPFound, HTTPMethodNotAllowed, HTTPNotFound
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import Response, StreamResponse, json_response
from aiohttp.web_server import Server

from bot.config.model import WebLimits

# What the features' route modules use, as `from bot.web import app as web`: web.Request, web.Response...
__all__ = ["App", "HTTPException", "HTTPFound", "HTTPNotFound", "Handler", "Request", "Response", "StreamResponse",
           "file_response", "json_response"]

MAX_BODY = 1024 * 1024  # larger request bodies get 413 before a handler sees them


class Request(BaseRequest):
    """aiohttp's request with the values its route's pattern matched."""

    ATTRS = BaseRequest.ATTRS | frozenset(["match_info"])
    match_info: dict[str, str]


Handler = Callable[[Request], Awaitable[StreamResponse]]
Middleware = Callable[[Request, Handler], Awaitable[StreamResponse]]

_PART = re.compile(r"\{(\w+)(?::([^}]*))?\}")


class _Route:
    def __init__(self, method: str, path: str, handler: Handler):
        self.method, self.path, self.handler = method, path, handler
        pattern, start = "", 0
        for part in _PART.finditer(path):
            pattern += re.escape(path[start:part.start()]) + f"(?P<{part[1]}>{part[2] or '[^{}/]+'})"
            start = part.end()
        self.pattern = re.compile(pattern + re.escape(path[start:]))
        self.literal = len(path.split("{", 1)[0])


class App:
    """The routes of sigbot's web server and the middlewares every request goes through, outermost first."""

    def __init__(self, middlewares: Iterable[Middleware] = (), limits: WebLimits | None = None,
                 state: dict[str, Any] | None = None):
        self.middlewares = list(middlewares)
        self.limits = limits or WebLimits()
        self.state = {} if state is None else state  # start_web puts "web_url" here (a Runtime's state)
        self.routes: list[_Route] = []

    def add_get(self, path: str, handler: Handler) -> None:
        self._add(hdrs.METH_GET, path, handler)

    def add_post(self, path: str, handler: Handler) -> None:
        self._add(hdrs.METH_POST, path, handler)

    def _add(self, method: str, path: str, handler: Handler) -> None:
        self.routes.append(_Route(method, path, handler))
        self.routes.sort(key=lambda route: -route.literal)  # stable: equal starts keep their order

    def resolve(self, request: Request) -> Handler:
        """The handler for the request's method and path; one that raises 404 or 405 when there is none."""
        method = hdrs.METH_GET if request.method == hdrs.METH_HEAD else request.method
        allowed: set[str] = set()
        for route in self.routes:
            found = route.pattern.fullmatch(request.path)
            if found is None:
                continue
            if route.method == method:
                request.match_info = found.groupdict()
                return route.handler
            allowed.add(route.method)
        if allowed:
            allow = allowed | ({hdrs.METH_HEAD} if hdrs.METH_GET in allowed else set())
            return functools.partial(_refuse, HTTPMethodNotAllowed(request.method, sorted(allow)))
        return functools.partial(_refuse, HTTPNotFound(text="Not found.\n"))

    async def handle(self, request: BaseRequest) -> StreamResponse:
        assert isinstance(request, Request)
        request.match_info = {}
        handler = self.resolve(request)
        for middleware in reversed(self.middlewares):
            handler = _through(middleware, handler)
        return await handler(request)

    def server(self, **options: Any) -> Server:
        """aiohttp's protocol factory serving this app (`options`: RequestHandler's, keepalive_timeout...)."""
        def request(message: RawRequestMessage, payload: StreamReader, protocol: RequestHandler,
                    writer: AbstractStreamWriter, task: asyncio.Task[None]) -> BaseRequest:
            return Request(message, payload, protocol, writer, task, asyncio.get_running_loop(),
                           client_max_size=MAX_BODY)

        return Server(self.handle, request_factory=request, **options)


def _through(middleware: Middleware, handler: Handler) -> Handler:
    async def handle(request: Request) -> StreamResponse:
        return await middleware(request, handler)
    return handle


async def _refuse(refusal: Exception, request: Request) -> StreamResponse:
    raise refusal


async def file_response(request: BaseRequest, path: Path, content_type: str,
                        headers: dict[str, str] | None = None, missing: str = "Not found.\n") -> Response:
    """A file of the site or a published feed: read off the event loop, with ETag and Last-Modified,
    answered 304 when the client's copy (If-None-Match, else If-Modified-Since) is current.

    A path that is not a regular file (none, or a folder) answers 404 with `missing`.
    Whole files only: sigbot serves pages and feeds, not media, so Range is not offered."""
    try:
        stat = await asyncio.to_thread(os.stat, path)
        if not S_ISREG(stat.st_mode):  # a folder, a FIFO (whose read would wait forever): no file to send
            raise HTTPNotFound(text=missing)
        body = None if _current(request, stat) else await asyncio.to_thread(path.read_bytes)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):  # none, or gone since the stat
        raise HTTPNotFound(text=missing) from None
    head = {**(headers or {}), "Content-Type": content_type, "ETag": f'"{_etag(stat)}"',
            "Last-Modified": formatdate(stat.st_mtime, usegmt=True)}
    return Response(status=304, headers=head) if body is None else Response(body=body, headers=head)


def _etag(stat: os.stat_result) -> str:
    return f"{stat.st_mtime_ns:x}-{stat.st_size:x}"


def _current(request: BaseRequest, stat: os.stat_result) -> bool:
    """Whether the client's copy is this version: If-None-Match when sent, else If-Modified-Since."""
    if request.if_none_match is not None:
        return any(tag.value in (_etag(stat), "*") for tag in request.if_none_match)
    since = request.if_modified_since
    return since is not None and int(stat.st_mtime) <= since.timestamp()
