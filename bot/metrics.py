"""Prometheus metrics of the running bot, served at /metrics by bot/web/server.py.

Counters live here and are bumped where things happen; gauges that describe
the current state (queue depth, age of the last sync) and the process
metrics are read when scraped.

The text exposition format (version 0.0.4) is written here rather than by
prometheus_client: a dozen series do not need the library, and importing it
(with http.server, wsgiref, gzip and more) cost the resident bot about
1.3 MiB. tests/test_metrics.py reads every scrape back with prometheus_client's
own parser, so the format is checked by the reference implementation.
Names follow Prometheus' conventions (https://prometheus.io/docs/practices/naming/):
counters end in _total, units are in the name.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot import __version__

if TYPE_CHECKING:
    from bot.runtime import Runtime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A sync older than this is not "synced": the long poll returns within 30 s even on a quiet homeserver.
SYNCED_WITHIN = timedelta(seconds=90)

Labels = tuple[tuple[str, str], ...]


def _escape(text: str, quote: bool = False) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if quote else text


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def family(name: str, kind: str, help_text: str, samples: list[tuple[Labels, float]]) -> Iterator[str]:
    """One metric family in the text format; a counter's samples are named NAME_total."""
    sample_name = f"{name}_total" if kind == "counter" else name
    yield f"# HELP {sample_name} {_escape(help_text)}"
    yield f"# TYPE {sample_name} {kind}"
    for labels, value in samples:
        pairs = ",".join(f'{key}="{_escape(val, quote=True)}"' for key, val in labels)
        yield f"{sample_name}{{{pairs}}} {_number(value)}" if pairs else f"{sample_name} {_number(value)}"


class Counter:
    """A counter with labels: `COUNTER.labels("matrix").inc()`; only goes up, resets when the bot restarts."""

    def __init__(self, name: str, help_text: str, label_names: tuple[str, ...]) -> None:
        self.name, self.help, self.label_names = name, help_text, label_names
        self.values: dict[tuple[str, ...], float] = {}
        COUNTERS.append(self)

    def labels(self, *values: str) -> _Child:
        if len(values) != len(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {values}")
        return _Child(self, tuple(str(v) for v in values))

    def lines(self) -> Iterator[str]:
        samples = [(tuple(zip(self.label_names, key, strict=True)), value)
                   for key, value in sorted(self.values.items())]
        yield from family(self.name, "counter", self.help, samples)


class _Child:
    def __init__(self, counter: Counter, key: tuple[str, ...]) -> None:
        self.counter, self.key = counter, key

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        self.counter.values[self.key] = self.counter.values.get(self.key, 0) + amount


COUNTERS: list[Counter] = []
EVENTS = Counter("sigbot_events_handled", "Lines and events handled, by network", ("network",))
COMMANDS = Counter("sigbot_commands", "Commands run, by name", ("command",))
SEND_FAILURES = Counter("sigbot_send_failures", "Messages that could not be sent after all retries, by network",
                        ("network",))
REMINDERS = Counter("sigbot_reminders_sent", "Reminders posted or sent, by kind", ("kind",))


def _process() -> Iterator[str]:
    """The standard process_* metrics (as every Prometheus client library names them), read from /proc."""
    try:
        stat = Path("/proc/self/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text(encoding="ascii").splitlines()
                    if line.startswith("btime "))
        fds = len(os.listdir("/proc/self/fd"))
        limits = Path("/proc/self/limits").read_text(encoding="ascii").splitlines()
    except (OSError, StopIteration, IndexError):  # not Linux: no process metrics rather than wrong ones
        return
    ticks, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
    # Fields of /proc/self/stat after the command name: utime 11, stime 12, starttime 19, vsize 20, rss 21.
    yield from family("process_cpu_seconds", "counter", "Total user and system CPU time spent in seconds.",
                      [((), (int(stat[11]) + int(stat[12])) / ticks)])
    yield from family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                      [((), int(stat[20]))])
    yield from family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                      [((), int(stat[21]) * page)])
    yield from family("process_start_time_seconds", "gauge",
                      "Start time of the process since unix epoch in seconds.", [((), boot + int(stat[19]) / ticks)])
    yield from family("process_open_fds", "gauge", "Number of open file descriptors.", [((), fds)])
    soft = next((line.split()[3] for line in limits if line.startswith("Max open files")), "unlimited")
    if soft.isdigit():
        yield from family("process_max_fds", "gauge", "Maximum number of open file descriptors.",
                          [((), int(soft))])


def _static() -> Iterator[str]:
    major, minor, patch = (str(n) for n in sys.version_info[:3])
    implementation = {"cpython": "CPython", "pypy": "PyPy"}.get(sys.implementation.name, sys.implementation.name)
    yield from family("python_info", "gauge", "Python platform information", [(
        (("implementation", implementation), ("major", major), ("minor", minor), ("patchlevel", patch),
         ("version", f"{major}.{minor}.{patch}")), 1)])
    yield from family("sigbot_build_info", "gauge", "Always 1; the running sigbot's version as a label",
                      [((("version", __version__),), 1)])


def _runtime(rt: Runtime) -> Iterator[str]:
    """Gauges (and the IRC client's own counter) read from the live runtime."""
    last = getattr(rt.state.get("matrix"), "last_sync", None)
    seconds = None if last is None else max(0.0, (rt.now() - last).total_seconds())
    yield from family("sigbot_matrix_last_sync_age_seconds", "gauge",
                      "Seconds since the last successful Matrix sync (absent before the first)",
                      [] if seconds is None else [((), seconds)])
    synced = seconds is not None and seconds < SYNCED_WITHIN.total_seconds()
    yield from family("sigbot_matrix_synced", "gauge",
                      f"1 when the last Matrix sync is younger than {SYNCED_WITHIN.seconds} s", [((), int(synced))])
    irc = rt.state.get("irc")
    if irc is None:  # no [irc] section: no IRC metrics at all, rather than a misleading 0
        return
    yield from family("sigbot_irc_connected", "gauge", "1 while registered on the IRC server",
                      [((), int(bool(getattr(irc, "connected", False))))])
    yield from family("sigbot_relay_queue_depth", "gauge", "IRC lines waiting to be sent",
                      [((), getattr(irc, "queue_depth", 0))])
    yield from family("sigbot_relay_dropped", "counter", "IRC lines dropped because the queue was full",
                      [((), getattr(irc, "dropped", 0))])


def exposition(rt: Runtime) -> str:
    """Everything /metrics answers, in Prometheus' text format."""
    lines = [*_process(), *_static()]
    for counter in COUNTERS:
        lines.extend(counter.lines())
    lines.extend(_runtime(rt))
    return "\n".join(lines) + "\n"

