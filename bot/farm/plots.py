"""SVG plots of the farm's history, drawn with matplotlib's Agg/SVG backend.

Per machine: utilization, memory used and temperature of each GPU over the
last day and the last week.  Per team: CI pass rate per platform per day.
Text is drawn as paths (matplotlib's default ``svg.fonttype = "path"``), the
date and hash salt are fixed, so the same data gives the same bytes and an
SVG cannot carry markup from a report.
"""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import datetime, timedelta

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)

from bot.farm.store import CiRun, Sample  # noqa: E402

matplotlib.rcParams["svg.hashsalt"] = "sigbot-farm"


def _svg(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def host_plot(host: str, samples: list[Sample], start: datetime, end: datetime) -> bytes:
    fig = Figure(figsize=(8, 6.5), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    by_gpu: dict[int, list[Sample]] = defaultdict(list)
    for s in samples:
        by_gpu[s.gpu].append(s)
    panels = (("utilization %", lambda s: s.util),
              ("memory used %", lambda s: None if not s.mem_total or s.mem_used is None
               else 100 * s.mem_used / s.mem_total),
              ("temperature °C", lambda s: s.temp))
    for ax, (title, get) in zip(axes, panels):
        for gpu, rows in sorted(by_gpu.items()):
            points = [(s.time, get(s)) for s in rows if get(s) is not None]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], label=f"GPU {gpu}", linewidth=1)
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
        if title != "temperature °C":
            ax.set_ylim(0, 100)
    axes[0].set_xlim(start, end)
    axes[0].set_title(f"{host}: {'last day' if end - start <= timedelta(days=1) else 'last week'} (UTC)")
    if by_gpu:
        axes[0].legend(loc="upper left", fontsize="small", ncols=min(len(by_gpu), 8))
    else:
        axes[1].text(0.5, 0.5, "no reports yet", ha="center", transform=axes[1].transAxes)
    fig.autofmt_xdate()
    return _svg(fig)


def ci_plot(runs_by_platform: dict[str, list[CiRun]], start: datetime, end: datetime) -> bytes:
    fig = Figure(figsize=(8, 3.5), layout="constrained")
    ax = fig.subplots()
    for platform, runs in sorted(runs_by_platform.items()):
        days: dict[datetime, list[bool]] = defaultdict(list)
        for r in runs:
            if r.finished >= start and r.result in ("passed", "failed", "error"):
                day = r.finished.replace(hour=12, minute=0, second=0, microsecond=0)
                days[day].append(r.result == "passed")
        if days:
            xs = sorted(days)
            ax.plot(xs, [100 * sum(days[d]) / len(days[d]) for d in xs], marker="o", label=platform)
    ax.set_xlim(start, end)
    ax.set_ylim(-5, 105)
    ax.set_ylabel("CI pass rate %")
    ax.set_title("CI pass rate per platform, per day (UTC)")
    ax.grid(alpha=0.3)
    if runs_by_platform:
        ax.legend(loc="lower left", fontsize="small")
    fig.autofmt_xdate()
    return _svg(fig)
