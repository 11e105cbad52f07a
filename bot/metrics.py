"""Prometheus metrics of the running bot, served at /metrics by bot/web/server.py.

Counters live here and are bumped where things happen; gauges that describe
the current state (queue depth, age of the last sync) are read from the
runtime when scraped.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from bot import __version__

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from bot.runtime import Runtime

REGISTRY = CollectorRegistry(auto_describe=True)
# Named by Prometheus' conventions (https://prometheus.io/docs/practices/naming/):
# counters end in _total (prometheus_client adds it), units in the name.
ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes, process_open_fds, ...
PlatformCollector(registry=REGISTRY)  # python_info
BUILD_INFO = Gauge("sigbot_build_info", "Always 1; the running sigbot's version as a label", ["version"],
                   registry=REGISTRY)
BUILD_INFO.labels(__version__).set(1)

EVENTS = Counter("sigbot_events_handled", "Lines and events handled, by network", ["network"], registry=REGISTRY)
COMMANDS = Counter("sigbot_commands", "Commands run, by name", ["command"], registry=REGISTRY)
SEND_FAILURES = Counter("sigbot_send_failures", "Messages that could not be sent after all retries, by network",
                        ["network"], registry=REGISTRY)
REMINDERS = Counter("sigbot_reminders_sent", "Reminders posted or sent, by kind", ["kind"], registry=REGISTRY)

# A sync older than this is not "synced": the long poll returns within 30 s even on a quiet homeserver.
SYNCED_WITHIN = timedelta(seconds=90)


class RuntimeCollector:
    """Gauges (and the IRC client's own counter) read from the live runtime at scrape time."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        age = GaugeMetricFamily("sigbot_matrix_last_sync_age_seconds",
                                "Seconds since the last successful Matrix sync (absent before the first)")
        synced = GaugeMetricFamily("sigbot_matrix_synced",
                                   f"1 when the last Matrix sync is younger than {SYNCED_WITHIN.seconds} s")
        last = getattr(self.rt.state.get("matrix"), "last_sync", None)
        seconds = None if last is None else max(0.0, (self.rt.now() - last).total_seconds())
        if seconds is not None:
            age.add_metric([], seconds)
        synced.add_metric([], int(seconds is not None and seconds < SYNCED_WITHIN.total_seconds()))
        yield age
        yield synced
        irc = self.rt.state.get("irc")
        if irc is None:  # no [irc] section: no IRC metrics at all, rather than a misleading 0
            return
        connected = GaugeMetricFamily("sigbot_irc_connected", "1 while registered on the IRC server")
        connected.add_metric([], int(bool(getattr(irc, "connected", False))))
        depth = GaugeMetricFamily("sigbot_relay_queue_depth", "IRC lines waiting to be sent")
        depth.add_metric([], getattr(irc, "queue_depth", 0))
        dropped = CounterMetricFamily("sigbot_relay_dropped", "IRC lines dropped because the queue was full")
        dropped.add_metric([], getattr(irc, "dropped", 0))
        yield connected
        yield depth
        yield dropped
