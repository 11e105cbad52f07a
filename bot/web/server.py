"""The web server shared by every feature: safety headers, body limits, /healthz.

Features add their routes through bot/runtime.py's WEB_ROUTES. Every response
carries a strict Content-Security-Policy (no inline scripts, nothing from
elsewhere); a handler that needs to accept a large body checks it itself.
"""

from __future__ import annotations

import logging

from aiohttp import web

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from bot.core.targets import load
from bot.metrics import REGISTRY, RuntimeCollector
from bot.runtime import WEB_ROUTES, Runtime

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # larger request bodies get 413 before a handler sees them
RUNTIME = web.AppKey("runtime", Runtime)
RUNTIME_METRICS = web.AppKey("runtime_metrics", CollectorRegistry)
HEALTHY_SYNC_AGE = 180.0

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


@web.middleware
async def _security_headers(request: web.Request, handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
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
    text = generate_latest(REGISTRY) + generate_latest(request.app[RUNTIME_METRICS])
    return web.Response(body=text, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(rt: Runtime, routes: list[str] | None = None) -> web.Application:
    app = web.Application(middlewares=[_security_headers], client_max_size=MAX_BODY)
    app[RUNTIME] = rt
    gauges = CollectorRegistry(auto_describe=True)
    gauges.register(RuntimeCollector(rt))
    app[RUNTIME_METRICS] = gauges
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
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = parse_listen(listen)
    await web.TCPSite(runner, host, port).start()
    bound = runner.addresses[0][1] if runner.addresses else port
    url = f"http://{host}:{bound}"
    app[RUNTIME].state["web_url"] = url
    log.info("web server on %s/", url)
    return runner
