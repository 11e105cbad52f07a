"""/metrics follows Prometheus' naming conventions and says what an operator alerts on."""

import asyncio
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import __version__
from bot.config import parse_config
from bot.core.message import Message, Network
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


def test_counters_count_and_any_label_value_reads_back_exactly(tmp_path):
    """The exposition is written by bot/metrics.py; prometheus_client's parser is the referee."""
    from bot import metrics

    hostile = 'quote" back\\slash\nnewline {a="b"} # HELP'
    counter = metrics.Counter("sigbot_test_things", "Help with a back\\slash\nand a newline", ("what",))
    try:
        counter.labels(hostile).inc()
        counter.labels(hostile).inc(2)
        counter.labels("plain").inc()
        families = scrape(runtime(tmp_path))
        things = families["sigbot_test_things"]
        assert things.type == "counter"
        assert things.documentation == "Help with a back\\slash\nand a newline"
        assert value(things, what=hostile) == 3 and value(things, what="plain") == 1
        assert [s.name for s in things.samples] == ["sigbot_test_things_total"] * 2
    finally:
        metrics.COUNTERS.remove(counter)
    assert "sigbot_test_things" not in scrape(runtime(tmp_path))


def test_a_counter_refuses_to_go_down_or_a_wrong_number_of_labels():
    from bot import metrics

    with pytest.raises(ValueError):
        metrics.EVENTS.labels("matrix").inc(-1)
    with pytest.raises(ValueError):
        metrics.EVENTS.labels("matrix", "irc")


def test_commands_run_are_counted_by_name(tmp_path):
    rt = runtime(tmp_path)
    before = scrape(rt)["sigbot_commands"]
    start = next((s.value for s in before.samples if s.labels.get("command") == "help"), 0)
    assert rt.dispatcher.handle(Message(Network.MATRIX, "!r:x", "@a:x", "Alice", "!help", NOW))
    assert value(scrape(rt)["sigbot_commands"], command="help") == start + 1
