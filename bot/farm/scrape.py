"""Prometheus as a source: scrape an exporter's /metrics, or ask a Prometheus server.

For machines configured with ``prometheus = URL`` (dcgm-exporter on :9400,
AMD device-metrics-exporter on :5000, Intel XPU Manager) or with
``prometheus_server`` + ``prometheus_selector``.  A server's answer
(https://prometheus.io/docs/prometheus/latest/querying/api/#instant-queries,
an instant vector) is turned back into exposition text so the one parser,
bot/farm/prometheus.py, reads both.  The report is stored under the
machine's configured name, whatever hostname label the exporter uses.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime

import aiohttp

from bot.farm.config import Machine
from bot.farm.host.report import HostReport
from bot.farm.host.values import shorten
from bot.farm.prometheus import parse_prometheus
from bot.farm.service import farm_teams
from bot.farm.store import FarmStore
from bot.runtime import Runtime, ticks

log = logging.getLogger(__name__)
MAX_SCRAPE = 8 * 1024 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=15)
GPU_METRICS = '__name__=~"DCGM_FI_.*|gpu_.*|amd_gpu_.*|xpum_.*"'


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def vector_to_text(answer: object) -> str:
    """A /api/v1/query instant-vector answer -> Prometheus exposition text."""
    if not isinstance(answer, dict) or answer.get("status") != "success":
        raise ValueError("prometheus server: the query did not succeed")
    data = answer.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        raise ValueError("prometheus server: expected an instant vector")
    lines = []
    for item in data["result"]:
        metric, value = item.get("metric") if isinstance(item, dict) else None, item.get("value")
        if not isinstance(metric, dict) or not isinstance(value, list) or len(value) != 2:
            raise ValueError("prometheus server: malformed vector sample")
        name = metric.get("__name__")
        if not isinstance(name, str) or not name.replace("_", "a").replace(":", "a").isalnum():
            continue
        labels = ",".join(f'{k}="{_label(str(v))}"' for k, v in metric.items()
                          if k != "__name__" and isinstance(k, str) and k.replace("_", "a").isalnum())
        lines.append(f"{name}{{{labels}}} {value[1]}")
    return "\n".join(lines) + "\n"


def pick_report(reports: list[HostReport], machine: Machine, collected_at: str) -> HostReport:
    """The machine's report: the only one, or the one whose hostname label is the machine's name."""
    if len(reports) != 1:
        named = [r for r in reports if r.host == machine.name]
        if len(named) != 1:
            hosts = ", ".join(r.host for r in reports[:5])
            raise ValueError(f"{len(reports)} hosts in the answer ({hosts}); narrow the selector")
        reports = named
    r = reports[0]
    return HostReport(host=machine.name, gpus=r.gpus, driver_version=r.driver_version,
                      cuda_version=r.cuda_version, rocm_version=r.rocm_version, collected_at=collected_at)


async def fetch(session: aiohttp.ClientSession, machine: Machine, now: datetime) -> HostReport:
    if machine.prometheus:
        url, params = machine.prometheus, None
    else:
        server, selector = machine.prometheus_server, machine.prometheus_selector
        # A scraped machine names an exporter, or a server and its selector (bot/farm/config.py).
        assert server is not None and selector is not None, f"{machine.name} names no Prometheus to scrape"
        url = server.rstrip("/") + "/api/v1/query"
        params = {"query": "{" + GPU_METRICS + "," + selector + "}"}
    async with session.get(url, params=params) as response:
        if response.status != 200:
            raise ValueError(f"HTTP {response.status}")
        body = await response.content.read(MAX_SCRAPE + 1)
        if len(body) > MAX_SCRAPE:
            raise ValueError("answer larger than 8 MiB")
    text = body.decode("utf-8", "replace")
    if not machine.prometheus:
        try:
            text = vector_to_text(json.loads(text))
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"not a query answer: {shorten(exc, 80)}") from None
    stamp = now.isoformat(timespec="seconds")
    return pick_report(parse_prometheus(text, default_host=machine.name, collected_at=stamp), machine, stamp)


async def scrape(rt: Runtime, stop: asyncio.Event) -> None:
    """Scrape every Prometheus-reporting machine once per its team's interval."""
    targets = [(team.name, settings.interval_seconds, m) for team, settings in farm_teams(rt)
               for m in settings.machines if m.scraped]
    if not targets:
        return
    store = FarmStore(rt.store.db)
    period = min(interval for _, interval, _ in targets)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        async for _ in ticks(stop, period):
            await scrape_once(session, store, targets, rt.now(), rt)


async def scrape_once(session: aiohttp.ClientSession, store: FarmStore, targets: list[tuple[str, int, Machine]],
                      now: datetime, rt: Runtime) -> int:
    """One round; returns how many machines answered.  A machine that fails is logged, and
    goes offline by itself after its missed intervals."""
    answered = 0
    for team, _, machine in targets:
        try:
            report = await fetch(session, machine, now)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            log.warning("farm: scraping %s failed: %s", machine.name, shorten(exc, 200))
            continue
        with rt.store.transaction():
            store.record_report(team, report, now, "prometheus")
        answered += 1
    return answered
