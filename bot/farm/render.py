"""Chat text for the farm: `!farm`, `!farm HOST`, alert posts, the daily digest.

Replies are Markdown (rendered to HTML on Matrix, to IRC text by the relay,
where a table becomes aligned columns) and short enough for IRC.  Every value
that came from a report or a webhook (GPU and process names, versions, test
names) goes through `md_escape`, so nobody can inject links or markup through
a farm host.
"""

from __future__ import annotations

from datetime import timedelta

from bot.farm.alerts import AlertEvent
from bot.farm.publish import FarmView, HostView, PlatformView, QueueView, plot_name
from bot.meeting.render import md_escape

MAX_LIST = 3  # names listed before "+N more"


def _some(items: list[str], limit: int = MAX_LIST) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" +{len(items) - limit} more" if len(items) > limit else "")


def _platform(p: PlatformView) -> str:
    r = p.latest
    mark = {"passed": "ok", "failed": "FAILED", "error": "ERROR"}.get(r.result, r.result)
    passed = sum(x.result == "passed" for x in p.runs)
    text = f"{md_escape(p.platform)} {mark}"
    if r.failed and r.failing:
        text += f" ({md_escape(_some(list(r.failing), 2))})"
    return text + f" [{passed}/{len(p.runs)} passed]"


def duration(span: timedelta) -> str:
    """A wait as people say it: "under a minute", "12 min", "3 h 5 min", "2 d 4 h"."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _queue_head(queue: QueueView) -> str:
    if not queue.jobs:
        return "CI queue empty"
    text = f"{len(queue.waiting)} CI job(s) waiting"
    oldest = queue.oldest_wait()
    if oldest is not None:
        text += f" (longest {duration(oldest)})"
    return text + f", {len(queue.running)} running"


def _queue_row(platform: str, waiting: int, running: int) -> str:
    parts = [f"{waiting} waiting"] * bool(waiting) + [f"{running} running"] * bool(running)
    return f"{md_escape(platform)} {' + '.join(parts)}"


def farm_url(base: str | None, team: str) -> str | None:
    return f"{base.rstrip('/')}/farm/{team}/" if base else None


def summary(view: FarmView, base_url: str | None, table: bool = False) -> str:
    """`!farm`: at most six lines (plus, on Matrix, a table of the machines)."""
    online = [h for h in view.hosts if h.online]
    offline = [md_escape(h.machine.name) for h in view.hosts if not h.online]
    busy = [h for h in online if h.busy]
    lines = [f"**Farm {md_escape(view.team)}**: {len(online)}/{len(view.hosts)} machines online, "
             f"{len(busy)} busy, {_queue_head(view.queue)}, {len(view.alerts)} alert(s)"]
    if offline:
        lines.append("Offline: " + _some(offline))
    if view.alerts:
        lines.append("Alerts: " + _some([md_escape(a["text"]) for a in view.alerts], 2))
    if view.platforms:
        lines.append("CI: " + "; ".join(_platform(p) for p in view.platforms[:4]))
    if view.queue.jobs:
        lines.append("Queue: " + _some([_queue_row(*row) for row in view.queue.per_platform()]))
    if table and view.hosts:
        lines += ["", "| machine | state | GPUs | util | max temp |", "|---|---|---|---|---|"]
        # A blank line ends the table: Markdown would read the next line as one more row.
        lines += [_row(h) for h in view.hosts] + [""]
    url = farm_url(base_url, view.team)
    lines.append("Details: !farm HOST" + (f" · plots: {url}" if url else ""))
    return "\n".join(lines)


def _row(h: HostView) -> str:
    r = h.report
    gpus = f"{len(r.gpus) if r else 0}/{h.machine.gpus if h.machine.gpus is not None else '?'}"
    utils = [g.utilization_pct for g in r.gpus if g.utilization_pct is not None] if r else []
    temps = [g.temperature_c for g in r.gpus if g.temperature_c is not None] if r else []
    state = "offline" if not h.online else "busy" if h.busy else "idle"
    util = f"{sum(utils) / len(utils):.0f} %" if utils else "-"
    temp = f"{max(temps):g} °C" if temps else "-"
    return f"| {md_escape(h.machine.name)} | {state} | {gpus} | {util} | {temp} |"


def _value(v: float | int | None, unit: str) -> str:
    return "?" if v is None else f"{v:g}{unit}"


def host_detail(view: FarmView, host: HostView, base_url: str | None) -> str:
    """`!farm HOST`: one line for the machine, one per GPU (at most 8), the plot links."""
    m, r = host.machine, host.report
    seen = host.last_seen.strftime("%Y-%m-%d %H:%M UTC") if host.last_seen else "never"
    head = f"**{md_escape(m.name)}**: {'online' if host.online else 'offline'}, last report {seen}"
    if host.running:
        head += " · CI: " + _some([md_escape(f"{j.name or 'job'} ({j.platform})") for j in host.running], 2)
    if r is None:
        return head
    versions = [f"{k} {md_escape(v)}" for k, v in (("driver", r.driver_version), ("CUDA", r.cuda_version),
                                                   ("ROCm", r.rocm_version)) if v]
    if versions:
        head += " · " + ", ".join(versions)
    lines = [head]
    for g in r.gpus[:8]:
        procs = [md_escape(p.name or str(p.pid)) for p in g.processes]
        lines.append(
            f"GPU {g.index} {md_escape(g.name or '?')}: {_value(g.utilization_pct, ' %')} util, "
            f"{_value(g.memory_used_mib, '')}/{_value(g.memory_total_mib, ' MiB')}, "
            f"{_value(g.temperature_c, ' °C')}, {_value(g.power_w, ' W')}"
            + (f", running {_some(procs, 2)}" if procs else ""))
    if len(r.gpus) > 8:
        lines.append(f"… and {len(r.gpus) - 8} more GPUs")
    url = farm_url(base_url, view.team)
    if url:
        lines.append(f"Plots: {url}{plot_name(m.name, 'day')} · {url}{plot_name(m.name, 'week')}")
    return "\n".join(lines)


def alert_text(event: AlertEvent) -> str:
    if event.kind == "suppressed":
        return md_escape(event.text)
    return ("🔴 " if event.started else "✅ ") + md_escape(event.text)


def digest(view: FarmView, base_url: str | None) -> str:
    return "Daily farm digest\n" + summary(view, base_url)
