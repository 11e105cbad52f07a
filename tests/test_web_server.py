"""sigbot's web server: safety headers, body limits, /healthz and /metrics, on a real socket."""

import asyncio
from datetime import datetime, timedelta, timezone

import aiohttp
from aiohttp import web

from bot.config import parse_config
from bot.core.message import Message, Network
from bot.registry import build_registry
from bot.dispatch import Dispatcher
from bot.runtime import Runtime
from bot.storage import open_store
from bot.web.server import CSP, build_app, start_web

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def runtime(tmp_path) -> Runtime:
    config = parse_config({"bot": {"data_dir": str(tmp_path)}, "teams": [{"name": "wg", "matrix_room": "!r:x"}]})
    return Runtime(config, Dispatcher(config, open_store(":memory:"), build_registry()), now=lambda: NOW)


class FakeMatrix:
    """Stands in for the adapter's two status fields only; the adapter itself is tested on Synapse."""
    last_sync = None
    storage_error = None


async def serve(rt, routes, body):
    def echo_routes(rt_, app):
        async def post(request):
            return web.json_response({"size": len(await request.read())})
        app.router.add_post("/echo", post)

    app = build_app(rt, routes=routes)
    echo_routes(rt, app)
    runner = await start_web(app, "127.0.0.1:0")
    try:
        async with aiohttp.ClientSession() as http:
            return await body(http, rt.state["web_url"])
    finally:
        await runner.cleanup()


def test_health_metrics_headers_and_limits(tmp_path):
    rt = runtime(tmp_path)

    async def body(http, url):
        async with http.get(url + "/healthz") as r:
            assert r.status == 200  # `sigbot serve`: no chat to be out of touch with
            assert r.headers["Content-Security-Policy"] == CSP
        rt.state["matrix"] = matrix = FakeMatrix()
        async with http.get(url + "/healthz") as r:
            assert r.status == 503  # not synced yet
        matrix.last_sync = NOW - timedelta(seconds=5)
        async with http.get(url + "/healthz") as r:
            assert r.status == 200 and (await r.json())["matrix_last_sync_age_s"] == 5.0
        matrix.storage_error = "database or disk is full"
        async with http.get(url + "/healthz") as r:
            assert r.status == 503 and (await r.json())["storage_error"] == "database or disk is full"
        rt.dispatcher.handle(Message(Network.MATRIX, "!r:x", "@a:x", "a", "!help", NOW, event_id="$1"))
        async with http.get(url + "/metrics") as r:
            text = await r.text()
            assert 'sigbot_commands_total{command="help"}' in text
            assert "sigbot_matrix_last_sync_age_seconds 5.0" in text
            assert 'sigbot_events_handled_total{network="matrix"}' in text
        async with http.post(url + "/echo", data=b"x" * (2 * 1024 * 1024)) as r:
            assert r.status == 413
        async with http.post(url + "/echo", data=b"x" * 1000) as r:
            assert (await r.json()) == {"size": 1000}

    asyncio.run(serve(rt, [], body))
