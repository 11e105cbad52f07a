"""/metrics follows Prometheus' naming conventions and says what an operator alerts on."""

import asyncio
from datetime import datetime, timedelta, timezone

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot import __version__
from bot.config import parse_config
from bot.dispatch import Dispatcher
from bot.registry import build_registry
from bot.runtime import Runtime
from bot.storage import open_store
from bot.web.server import build_app, start_web

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


class FakeMatrix:
    """Stands in for the adapter's status field only; the adapter itself is tested on Synapse."""
    last_sync = None
    storage_error = None


class FakeIrc:
    """Stands in for the IRC client's status fields only; the client itself is tested on ngIRCd."""
    connected = False
    queue_depth = 3
    dropped = 7


def scrape(rt: Runtime) -> dict:
    async def go():
        runner = await start_web(build_app(rt, routes=[]), "127.0.0.1:0")
        try:
            async with aiohttp.ClientSession() as http, http.get(rt.state["web_url"] + "/metrics") as r:
                return await r.text()
        finally:
            await runner.cleanup()

    return {f.name: f for f in text_string_to_metric_families(asyncio.run(go()))}


def runtime(tmp_path) -> Runtime:
    config = parse_config({"bot": {"data_dir": str(tmp_path)}, "teams": [{"name": "wg", "matrix_room": "!r:x"}]})
    return Runtime(config, Dispatcher(config, open_store(":memory:"), build_registry()), now=lambda: NOW)


def value(family, **labels) -> float:
    return next(s.value for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items()))


def test_every_metric_is_named_by_the_conventions(tmp_path):
    rt = runtime(tmp_path)
    rt.state["matrix"], rt.state["irc"] = FakeMatrix(), FakeIrc()
    families = scrape(rt)
    ours = {name: f for name, f in families.items() if name.startswith("sigbot_")}
    assert ours, families.keys()
    for name, family in ours.items():
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), name
        else:
            assert not name.endswith("_total"), f"{name} is a {family.type} named like a counter"
    assert families["sigbot_relay_dropped"].type == "counter"  # it counts: a gauge would hide resets


def test_build_info_process_and_connection_state_are_exported(tmp_path):
    rt = runtime(tmp_path)
    matrix, irc = FakeMatrix(), FakeIrc()
    rt.state["matrix"], rt.state["irc"] = matrix, irc
    families = scrape(rt)
    assert value(families["sigbot_build_info"], version=__version__) == 1
    assert value(families["process_resident_memory_bytes"]) > 10 * 2**20
    assert value(families["process_open_fds"]) > 0
    assert value(families["sigbot_matrix_synced"]) == 0  # never synced
    assert value(families["sigbot_irc_connected"]) == 0
    assert value(families["sigbot_relay_queue_depth"]) == 3
    assert value(families["sigbot_relay_dropped"]) == 7

    matrix.last_sync, irc.connected = NOW - timedelta(seconds=20), True
    families = scrape(rt)
    assert value(families["sigbot_matrix_synced"]) == 1
    assert value(families["sigbot_irc_connected"]) == 1
    matrix.last_sync = NOW - timedelta(minutes=5)  # a stuck sync loop is not "synced"
    assert value(scrape(rt)["sigbot_matrix_synced"]) == 0


def test_without_irc_there_are_no_irc_metrics(tmp_path):
    rt = runtime(tmp_path)
    rt.state["matrix"] = FakeMatrix()
    families = scrape(rt)
    assert "sigbot_irc_connected" not in families and "sigbot_relay_dropped" not in families
