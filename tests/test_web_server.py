"""sigbot's web server: safety headers, limits, errors, /healthz and /metrics, on a real socket."""

import asyncio
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import aiohttp
from aiohttp import web

import bot
from bot.config import parse_config
from bot.core.message import Message, Network
from bot.dispatch import Dispatcher
from bot.registry import build_registry
from bot.runtime import Runtime
from bot.storage import open_store
from bot.web.limits import Tally
from bot.web.server import CSP, build_app, start_web

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def runtime(tmp_path, web: dict | None = None) -> Runtime:
    config = parse_config({"bot": {"data_dir": str(tmp_path)}, "web": web or {},
                           "teams": [{"name": "wg", "matrix_room": "!r:x"}]})
    return Runtime(config, Dispatcher(config, open_store(":memory:"), build_registry()), now=lambda: NOW)


class FakeMatrix:
    """Stands in for the adapter's two status fields only; the adapter itself is tested on Synapse."""
    last_sync = None
    storage_error = None


async def serve(rt, routes, body):
    def echo_routes(rt_, app):
        async def post(request):
            return web.json_response({"size": len(await request.read())})

        async def broken(request):
            raise KeyError("a bug")
        app.add_post("/echo", post)
        app.add_get("/broken", broken)

    app = build_app(rt, routes=routes)
    echo_routes(rt, app)
    runner = await start_web(app, "127.0.0.1:0")
    try:
        async with aiohttp.ClientSession() as http:
            return await body(http, rt.state["web_url"])
    finally:
        await runner.cleanup()


async def raw(url: str, data: bytes, close: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A socket to the server that has sent `data` (half a request, say), and hung up if `close`."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    if close:
        writer.close()
    return reader, writer


async def answer(reader: asyncio.StreamReader, within: float = 10.0, ending: bytes | None = None) -> bytes:
    """Everything the server sends until it closes the connection (or up to `ending`)."""
    return await asyncio.wait_for(reader.readuntil(ending) if ending else reader.read(), within)


async def until(condition, within: float = 10.0) -> None:
    """Wait for the server to get somewhere (a connection closed on its side), not for time to pass."""
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.01)


def log_lines(caplog) -> list[logging.LogRecord]:
    """What the log says about clients: warnings and up ("web server on ..." aside)."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


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


HALF = b"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: slow"  # the head never ends


def test_past_the_connection_cap_clients_get_503_at_once_and_the_slow_ones_are_dropped(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    rt = runtime(tmp_path, {"max_connections": 5, "header_timeout": 1, "body_timeout": 1})

    async def body(http, url):
        held = [await raw(url, HALF) for _ in range(5)]
        over = [await raw(url, HALF) for _ in range(20)]
        refused = [await answer(reader) for reader, _ in over]
        # The first five had their whole header_timeout to finish their request; they did not.
        dropped = [await answer(reader) for reader, _ in held]
        async with http.get(url + "/healthz") as r:
            healthy = r.status
        for _, writer in held + over:
            writer.close()
        return refused, dropped, healthy

    refused, dropped, healthy = asyncio.run(serve(rt, [], body))
    assert all(r.startswith(b"HTTP/1.1 503 ") and r.endswith(b"too many connections, try again later\n")
               for r in refused), refused[:2]
    assert dropped == [b""] * 5 and healthy == 200
    assert [r.getMessage() for r in log_lines(caplog) if r.name.startswith("bot.web.limits")] == \
        ["connections refused with 503 (over the cap of 5)"]  # one line for twenty refusals
    assert not [r for r in caplog.records if r.exc_info]


def test_a_client_that_announces_a_body_and_hangs_up_leaves_no_traceback(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="bot.web.server")
    rt = runtime(tmp_path)

    def gone() -> int:
        return sum(r.getMessage() == "POST /echo: the client went away" for r in caplog.records)

    async def body(http, url):
        for _ in range(3):
            await raw(url, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789", close=True)
        await until(lambda: gone() == 3)  # the server has seen all three hang up
        async with http.post(url + "/echo", data=b"x" * 10) as r:
            return await r.json()

    assert asyncio.run(serve(rt, [], body)) == {"size": 10}
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]


def test_a_body_sent_too_slowly_gets_408_and_one_line_in_the_log(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    rt = runtime(tmp_path, {"body_timeout": 0.5})

    async def body(http, url):
        slow = [await raw(url, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
                for _ in range(4)]
        # aiohttp then lingers (lingering_time) reading what is left of the body before it closes.
        answers = [await answer(reader, ending=b"slow\n") for reader, _ in slow]
        for _, writer in slow:
            writer.close()
        return answers

    answers = asyncio.run(serve(rt, [], body))
    assert all(a.startswith(b"HTTP/1.1 408 ") and a.endswith(b"request body too slow\n") for a in answers)
    lines = [r.getMessage() for r in log_lines(caplog)]
    assert len(lines) == 1 and lines[0].startswith("request bodies too slow, answered 408"), lines


def test_malformed_requests_get_400_without_a_traceback_and_a_bounded_log(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="bot.web.http")
    rt = runtime(tmp_path)

    async def body(http, url):
        bad = [b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
               b"POST /echo HTTP/1.1\r\nContent-Length: x\r\n\r\n",
               b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcdeXX\r\n0\r\n\r\n",
               # A body that does not decompress reaches the handler's read(): still a 400, not a 500.
               b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nabcde"] * 6
        sockets = [await raw(url, request) for request in bad]  # the writers are kept: dropping one closes it
        return [await answer(reader) for reader, _ in sockets]

    answers = asyncio.run(serve(rt, [], body))
    assert all(a.startswith((b"HTTP/1.0 400 ", b"HTTP/1.1 400 ")) for a in answers), answers[:5]
    assert answers[4].endswith(b"malformed request body: Can not decode content-encoding: gzip\n")
    assert not [r for r in caplog.records if r.exc_info]
    assert len([r for r in caplog.records if r.name == "bot.web.http"]) <= 1  # thirty refusals, one line a minute


def test_an_unexpected_error_is_one_line_for_the_client_and_one_traceback_in_the_log(tmp_path, caplog):
    rt = runtime(tmp_path)

    async def body(http, url):
        async with http.get(url + "/broken") as r:
            return r.status, await r.text(), r.headers.get("Content-Security-Policy")

    status, text, csp = asyncio.run(serve(rt, [], body))
    assert (status, text, csp) == (500, "internal error (the bot's log has the details)\n", CSP)
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage() == "GET /broken failed" and record.exc_info[0] is KeyError


def test_refusals_are_logged_once_then_at_most_once_a_minute_with_their_count():
    clock = [100.0]
    tally = Tally("connections refused", clock=lambda: clock[0])
    lines = []
    for second in range(0, 150):
        clock[0] = 100.0 + second
        lines.append(tally.line("over the cap"))
        lines.append(tally.line("over the cap"))
    assert [line for line in lines if line] == [
        "connections refused (over the cap)",
        "connections refused: 120 in the last 60 s (over the cap)",
        "connections refused: 120 in the last 60 s (over the cap)",
    ]


def test_the_web_limits_are_checked_with_the_rest_of_the_config(tmp_path):
    from bot.config import ConfigError
    try:
        runtime(tmp_path, {"header_timeout": 0, "body_timeout": "slow", "max_connections": 0, "max_conns": 5})
    except ConfigError as exc:
        assert exc.errors == [
            "web.max_conns: unknown key (allowed: body_timeout, header_timeout, listen, max_connections, public_url)",
            "web.body_timeout: must be float, not str",
            "web.header_timeout: must be more than 0 and at most 3600 seconds",
            "web.max_connections: must be at least 1",
        ]
    else:
        raise AssertionError("bad [web] limits were accepted")
    assert runtime(tmp_path).config.web_limits.max_connections == 256


# The bot with 64 open files allowed and the default cap of 256: accept() is bound to fail (EMFILE).
OUT_OF_FILES = """
import asyncio, logging, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
from bot.runtime import Runtime
from bot.web.server import build_app, start_web

async def main():
    runner = await start_web(build_app(Runtime(None, None), routes=[]), "127.0.0.1:0")
    print(runner.url.rsplit(":", 1)[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the test closes stdin
    await runner.cleanup()
asyncio.run(main())
"""


def test_a_bot_out_of_open_files_logs_its_failing_accepts_once_and_recovers():
    """Issue 18: asyncio logged `socket.accept() out of system resource` 73,739 times in 25 s."""
    async def main():
        env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(bot.__file__))}
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-c", OUT_OF_FILES, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env)
        try:
            url = f"http://127.0.0.1:{int(await asyncio.wait_for(server.stdout.readline(), 60))}"
            clients = [await raw(url, b"GET / HTTP/1.1\r\n") for _ in range(100)]
            # Without the filter this window held about 1,000 lines; with it, one.
            await asyncio.sleep(2)
            for _, writer in clients:
                writer.close()
            async with aiohttp.ClientSession() as http:
                async with asyncio.timeout(20):
                    while True:  # the bot accepts again once the clients are gone
                        try:
                            async with http.get(url + "/healthz") as r:
                                healthy = r.status
                                break
                        except aiohttp.ClientError:
                            await asyncio.sleep(0.2)
        finally:
            server.stdin.close()
            err = await asyncio.wait_for(server.stderr.read(), 30)
            await server.wait()
        return healthy, err.decode().splitlines()

    healthy, lines = asyncio.run(main())
    assert healthy == 200
    assert "needs about 448 open files, but only 64 are allowed" in lines[0]
    accept = [line for line in lines if "accept()" in line]
    assert accept == ["ERROR asyncio: socket.accept() failed (out of open files?)"], lines[:5]
    assert len(lines) <= 4, lines


def test_routes_are_matched_by_their_longest_literal_start_whatever_order_they_were_added_in(tmp_path):
    """The router is sigbot's own (bot/web/app.py): what aiohttp's dispatcher did for us is attacked here."""
    rt = runtime(tmp_path)

    async def body(http, url):
        app_url = url
        async with http.get(app_url + "/farm/agent.pyz") as r:
            assert (r.status, await r.text()) == (200, "agent")  # the catch-alls were added first
        async with http.get(app_url + "/farm/wg/x.svg") as r:
            assert await r.text() == "team wg file x.svg"
        async with http.get(app_url + "/farm/a%2Fb/x.svg") as r:
            assert await r.text() == "anything farm/a/b/x.svg"  # %2F is a slash: no `{team}` holds one
        async with http.get(app_url + "/deep/er/path") as r:
            assert await r.text() == "anything deep/er/path"
        async with http.head(app_url + "/farm/agent.pyz") as r:
            assert r.status == 200 and r.headers["Content-Length"] == "5" and await r.read() == b""
        async with http.post(app_url + "/farm/wg/x.svg", data=b"") as r:
            assert r.status == 405 and r.headers["Allow"] == "GET,HEAD"
            assert r.headers["Content-Security-Policy"] == CSP  # a raised refusal is dressed like any answer
        async with http.delete(app_url + "/healthz") as r:
            assert r.status == 405
        async with http.get(app_url + "/redirect", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/farm/agent.pyz"
            assert r.headers["X-Content-Type-Options"] == "nosniff"

    async def scenario():
        app = build_app(rt, routes=[])

        def text(value):
            async def handler(request):
                return web.Response(text=value.format(**request.match_info))
            return handler

        async def redirect(request):
            raise web.HTTPFound("/farm/agent.pyz")

        app.add_get("/{path:.*}", text("anything {path}"))
        app.add_get("/farm/{team}/{name}", text("team {team} file {name}"))
        app.add_get("/farm/agent.pyz", text("agent"))
        app.add_get("/redirect", redirect)
        runner = await start_web(app, "127.0.0.1:0")
        try:
            async with aiohttp.ClientSession() as http:
                await body(http, runner.url)
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_a_served_file_is_answered_304_while_the_client_has_it_and_404_once_it_is_gone(tmp_path):
    from bot.web.app import App, file_response

    page = tmp_path / "page.html"
    page.write_text("<p>one</p>")

    async def scenario():
        app = App()

        async def serve(request):
            return await file_response(request, page, "text/html; charset=utf-8", {"Cache-Control": "no-cache"})
        app.add_get("/page.html", serve)
        runner = await start_web(app, "127.0.0.1:0")
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(runner.url + "/page.html") as r:
                    assert (r.status, await r.text()) == (200, "<p>one</p>")
                    assert r.headers["Cache-Control"] == "no-cache"
                    etag, modified = r.headers["ETag"], r.headers["Last-Modified"]
                async with http.get(runner.url + "/page.html", headers={"If-None-Match": etag}) as r:
                    assert r.status == 304 and await r.read() == b""
                async with http.get(runner.url + "/page.html", headers={"If-Modified-Since": modified}) as r:
                    assert r.status == 304
                page.write_text("<p>two</p>")
                os.utime(page, (page.stat().st_atime, page.stat().st_mtime + 5))  # a later second
                for stale in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
                    async with http.get(runner.url + "/page.html", headers=stale) as r:
                        assert (r.status, await r.text()) == (200, "<p>two</p>")
                page.unlink()
                async with http.get(runner.url + "/page.html") as r:
                    assert r.status == 404
                page.mkdir()  # a folder where the file was is no file, even to a client that says "any version"
                async with http.get(runner.url + "/page.html", headers={"If-None-Match": "*"}) as r:
                    assert (r.status, await r.text()) == (404, "Not found.\n")
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
