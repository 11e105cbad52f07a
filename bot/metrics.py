"""Prometheus metrics of the running bot, served at /metrics by bot/web/server.py.

Counters live here and are bumped where things happen; gauges that describe
the current state (queue depth, age of the last sync) are read from the
runtime when scraped.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS = Counter("sigbot_events_handled", "Lines and events handled, by network", ["network"], registry=REGISTRY)
COMMANDS = Counter("sigbot_commands", "Commands run, by name", ["command"], registry=REGISTRY)
SEND_FAILURES = Counter("sigbot_send_failures", "Messages that could not be sent after all retries, by network",
                        ["network"], registry=REGISTRY)
REMINDERS = Counter("sigbot_reminders_sent", "Reminders posted or sent, by kind", ["kind"], registry=REGISTRY)


class RuntimeCollector:
    """Gauges read from the live runtime at scrape time."""

    def __init__(self, rt) -> None:
        self.rt = rt

    def collect(self):
        age = GaugeMetricFamily("sigbot_matrix_last_sync_age_seconds",
                                "Seconds since the last successful Matrix sync (absent before the first)")
        matrix = self.rt.state.get("matrix")
        last = getattr(matrix, "last_sync", None)
        if last is not None:
            age.add_metric([], max(0.0, (self.rt.now() - last).total_seconds()))
        yield age
        depth = GaugeMetricFamily("sigbot_relay_queue_depth", "IRC lines waiting to be sent")
        dropped = GaugeMetricFamily("sigbot_relay_dropped", "IRC lines dropped because the queue was full")
        irc = self.rt.state.get("irc")
        if irc is not None:
            depth.add_metric([], getattr(irc, "queue_depth", 0))
            dropped.add_metric([], getattr(irc, "dropped", 0))
        yield depth
        yield dropped
