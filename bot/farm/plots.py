"""SVG plots of the farm's history, written directly as text (standard library only).

Per machine: utilization, memory used and temperature of each GPU over the
last day and the last week.  Per team: CI pass rate per platform per day.

Why no plotting library: matplotlib was most of the installed size and cost
about a second and 65 MB at import, for three kinds of line chart.  What the
files promise, each checked in tests/test_farm_plots.py:
- the same data gives the same bytes (fixed number formats, sorted order, no
  ids or dates), so an unchanged plot is not rewritten;
- every text from a report (host and platform names) is escaped and stripped
  of characters XML forbids, so an SVG cannot carry markup;
- a viewBox, so the image scales down on a phone;
- colours with at least 3:1 contrast on white and on near-black (#121212),
  text at about 4:1 or more on both, and a transparent background, so the
  plot reads on a light page and a dark one;
- lines thinned to a few points per pixel column, so a day of one-minute
  samples from eight GPUs stays small.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from itertools import pairwise

from bot.core.record import record
from bot.farm.store import CiRun, Sample

WIDTH = 640  # a phone shows it at about half size: text stays legible
LEFT, RIGHT = 44, 14
PLOT_WIDTH = WIDTH - LEFT - RIGHT
INK = "#767676"  # 4.5:1 on white, 4.1:1 on #121212 (WCAG relative luminance)
GRID = "#888888"
# Every colour has a relative luminance between 0.14 and 0.27: at least 3:1 on
# white and on #121212.  After ten series the colours repeat with a dash.
PALETTE = ("#1f77b4", "#e6550d", "#2ca02c", "#d62728", "#9467bd",
           "#8c6d31", "#e7298a", "#0f9d9a", "#b8860b", "#7f7f7f")
DASHES = ("", "7 3", "2 3", "7 3 2 3")
BUCKET_PX = 2  # keep the lowest and highest point of each 2-pixel column
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Characters XML 1.0 does not allow (escaping cannot make them valid).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@record
class _Panel:
    label: str
    top: float
    height: float
    low: float
    high: float
    ticks: tuple[float, ...]

    def y(self, value: float) -> float:
        value = min(max(value, self.low), self.high)  # a value out of range stays inside its panel
        return self.top + self.height * (self.high - value) / (self.high - self.low)


def host_plot(host: str, samples: list[Sample], start: datetime, end: datetime) -> bytes:
    span = "last day" if end - start <= timedelta(days=1) else "last week"
    title = f"{_clip(host, 36)}: {span} (UTC)"  # the title's 17 px letters fit the width
    by_gpu: dict[int, list[Sample]] = defaultdict(list)
    for s in sorted(samples, key=lambda s: (s.gpu, s.time)):
        if start <= s.time <= end:
            by_gpu[s.gpu].append(s)
    gpus = sorted(by_gpu)
    legend, legend_height = _legend([f"GPU {g}" for g in gpus], 46)
    getters: tuple[tuple[str, Callable[[Sample], float | None]], ...] = (
        ("utilization %", lambda s: s.util),
        ("memory used %", lambda s: None if not s.mem_total or s.mem_used is None
         else 100 * s.mem_used / s.mem_total),
        ("temperature °C", lambda s: s.temp))
    temps = [s.temp for rows in by_gpu.values() for s in rows if s.temp is not None]
    top, height, step = 46 + legend_height + 22, 140, 172
    panels = [_Panel(label, top + i * step, height, 0, 100, (0, 25, 50, 75, 100))
              for i, (label, _) in enumerate(getters[:2])]
    panels.append(_Panel(getters[2][0], top + 2 * step, height, *_temperature_range(temps)))
    x = _x_scale(start, end)
    ticks = _time_ticks(start, end)
    body = [_title(title), *legend]
    for i, (panel, (_, get)) in enumerate(zip(panels, getters, strict=True)):
        body += _frame(panel, ticks, x, time_labels=i == len(panels) - 1)
        for n, gpu in enumerate(gpus):
            rows = by_gpu[gpu]
            segments = _segments([(s.time, get(s)) for s in rows], _gap(rows, end - start))
            body.append(_line(segments, x, panel, n, f"GPU {gpu}, {panel.label}"))
    if not gpus:
        body.append(_note(panels[1], "no reports yet"))
    return _document(title, panels[-1].top + panels[-1].height + 34, body)


def ci_plot(runs_by_platform: dict[str, list[CiRun]], start: datetime, end: datetime) -> bytes:
    title = "CI pass rate per platform, per day (UTC)"
    rates: dict[str, list[tuple[datetime, int, int]]] = {}
    for platform, runs in sorted(runs_by_platform.items()):
        days: dict[datetime, list[bool]] = defaultdict(list)
        for r in runs:
            if start <= r.finished <= end and r.result in ("passed", "failed", "error"):
                noon = r.finished.astimezone(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
                # Today's point sits at the plot's end, not past it at noon.
                days[min(max(noon, start), end)].append(r.result == "passed")
        if days:
            rates[platform] = [(d, sum(days[d]), len(days[d])) for d in sorted(days)]
    legend, legend_height = _legend(list(rates), 46)
    panel = _Panel("pass rate %", 46 + legend_height + 22, 200, -5, 105, (0, 25, 50, 75, 100))
    x = _x_scale(start, end)
    body = [_title(title), *legend, *_frame(panel, _time_ticks(start, end), x, time_labels=True)]
    for n, (platform, points) in enumerate(rates.items()):
        colour, dash = _style(n)
        body.append(_path([[(x(d), panel.y(100 * ok / total)) for d, ok, total in points]], colour, dash,
                          name=platform))
        name = _text(platform)
        body += [f'<circle cx="{x(d):.1f}" cy="{panel.y(100 * ok / total):.1f}" r="3.5" fill="{colour}">'
                 f'<title>{name}, {_date(d)}: {ok}/{total} passed</title></circle>' for d, ok, total in points]
    if not rates:
        body.append(_note(panel, "no finished runs in this period"))
    return _document(title, panel.top + panel.height + 34, body)


# --- the data -----------------------------------------------------------------

def _gap(rows: list[Sample], span: timedelta) -> timedelta:
    """How far apart two samples may be and still be joined by a line: three
    reporting intervals (the median step), or 1/100 of the plot (a week's
    history is hourly means, older than a day, followed by raw samples)."""
    steps = sorted(b.time - a.time for a, b in pairwise(rows))
    mid = len(steps) // 2
    typical = timedelta(0) if not steps else steps[mid] if len(steps) % 2 else (steps[mid - 1] + steps[mid]) / 2
    return max(3 * typical, span / 100)


def _segments(points: list[tuple[datetime, float | None]], gap: timedelta) -> list[list[tuple[datetime, float]]]:
    """Split a series where a value is missing or two samples are far apart."""
    segments: list[list[tuple[datetime, float]]] = []
    current: list[tuple[datetime, float]] = []
    last: datetime | None = None
    for t, v in points:
        if v is None or (last is not None and t - last > gap):
            if current:
                segments.append(current)
            current = []
        if v is not None:
            current.append((t, v))
        last = t
    if current:
        segments.append(current)
    return segments


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The lowest and highest point of each pixel column, in time order: the
    drawn line looks the same, the file holds a few points per column."""
    out: list[tuple[float, float]] = []
    column: list[tuple[float, float]] = []
    for p in points:
        if column and int(p[0] // BUCKET_PX) != int(column[0][0] // BUCKET_PX):
            out += _extremes(column)
            column = []
        column.append(p)
    return out + _extremes(column) if column else out


def _extremes(column: list[tuple[float, float]]) -> list[tuple[float, float]]:
    low = min(range(len(column)), key=lambda i: column[i][1])
    high = max(range(len(column)), key=lambda i: column[i][1])
    return [column[i] for i in sorted({low, high})]


def _temperature_range(temps: list[float]) -> tuple[float, float, tuple[float, ...]]:
    # A broken sensor's reading (a billion degrees) must not stretch the axis
    # or make millions of ticks: the axis spans at most 0 to 150 °C.
    temps = [min(max(t, 0.0), 150.0) for t in temps]
    low = min(temps, default=30.0) // 10 * 10
    high = max(-(-max(temps, default=80.0) // 10) * 10, low + 30)
    step = 10 if high - low <= 60 else 20
    return low, high, tuple(range(int(low), int(high) + 1, step))


# --- the time axis --------------------------------------------------------------

def _x_scale(start: datetime, end: datetime) -> Callable[[datetime], float]:
    seconds = max((end - start).total_seconds(), 1)
    return lambda t: LEFT + PLOT_WIDTH * (t - start).total_seconds() / seconds


def _time_ticks(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """At most eight ticks on whole UTC hours (a day: hours, midnight as the
    date) or on midnights (a week: dates; a month: Mondays)."""
    hours = (end - start).total_seconds() / 3600
    step = next((h for h in (1, 2, 3, 6, 12, 24, 48, 168) if hours / h <= 8), 24 * 28)
    first = start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    if step >= 24:
        first = first.replace(hour=0)
    ticks = []
    t = first
    while t <= end:
        aligned = t.hour % step == 0 if step < 24 else (t.toordinal() - 1) % (step // 24) == 0
        if t >= start and aligned:
            ticks.append((t, _date(t) if t.hour == 0 else f"{t.hour:02d}:00"))
        t += timedelta(hours=1 if step < 24 else 24)
    return ticks


def _date(t: datetime) -> str:
    """English names from tables: strftime would follow the process locale."""
    return f"{WEEKDAYS[t.weekday()]} {t.day} {MONTHS[t.month - 1]}"


# --- SVG text -----------------------------------------------------------------------

def _clip(value: str, limit: int) -> str:
    """A report's text on one line, without what XML forbids, at most `limit` characters."""
    value = " ".join(_NOT_XML.sub("", value).split())
    return value[:limit - 1] + "…" if len(value) > limit else value


def _text(value: str, limit: int = 40) -> str:
    return html.escape(_clip(value, limit))


def _num(v: float) -> str:
    return f"{v:.1f}".removesuffix(".0")


def _tenths(n: int) -> str:
    return f"{n / 10:g}"


def _style(n: int) -> tuple[str, str]:
    return PALETTE[n % len(PALETTE)], DASHES[n // len(PALETTE) % len(DASHES)]


def _title(title: str) -> str:
    return f'<text x="{LEFT}" y="26" font-size="17" font-weight="bold">{_text(title, 80)}</text>'


def _legend(names: list[str], top: float) -> tuple[list[str], float]:
    """One swatch and name per series, wrapped into rows; returns (elements, height)."""
    out, x, row = [], float(LEFT), 0
    for n, name in enumerate(names):
        label = _clip(name, 32)
        width = 30 + 7.5 * len(label) + 18  # about 7.5 px a character at 13 px
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, row = float(LEFT), row + 1
        y = top + row * 20
        colour, dash = _style(n)
        out.append(_path([[(x, y - 4), (x + 24, y - 4)]], colour, dash, width=3))
        out.append(f'<text x="{_num(x + 30)}" y="{_num(y)}" font-size="13">{html.escape(label)}</text>')
        x += width
    return out, (row + 1) * 20 if names else 0


def _frame(panel: _Panel, ticks: list[tuple[datetime, str]], x: Callable[[datetime], float],
           time_labels: bool) -> list[str]:
    bottom = panel.top + panel.height
    out = [f'<text x="{LEFT}" y="{_num(panel.top - 8)}" font-size="13" font-weight="bold">{panel.label}</text>',
           f'<rect x="{LEFT}" y="{_num(panel.top)}" width="{PLOT_WIDTH}" height="{_num(panel.height)}" '
           f'fill="none" stroke="{GRID}" stroke-opacity="0.6"/>']
    for v in panel.ticks:
        y = _num(panel.y(v))
        out.append(f'<path d="M{LEFT} {y}h{PLOT_WIDTH}" stroke="{GRID}" stroke-opacity="0.3"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y}" dy="4" text-anchor="end" font-size="12">{_num(v)}</text>')
    for t, label in ticks:
        tx = _num(x(t))
        out.append(f'<path d="M{tx} {_num(panel.top)}V{_num(bottom)}" stroke="{GRID}" stroke-opacity="0.3"/>')
        if time_labels:
            # A label centred on a tick near the right edge would be cut off by the viewBox.
            anchor = "end" if x(t) + 4 * len(label) > WIDTH else "middle"
            out.append(f'<text x="{tx}" y="{_num(bottom + 17)}" text-anchor="{anchor}" font-size="12">{label}</text>')
    return out


def _note(panel: _Panel, text: str) -> str:
    return (f'<text x="{LEFT + PLOT_WIDTH / 2:g}" y="{_num(panel.top + panel.height / 2 + 5)}" '
            f'text-anchor="middle" font-size="15">{text}</text>')


def _line(segments: list[list[tuple[datetime, float]]], x: Callable[[datetime], float], panel: _Panel,
          n: int, name: str) -> str:
    colour, dash = _style(n)
    return _path([_thin([(x(t), panel.y(v)) for t, v in seg]) for seg in segments], colour, dash, name=name)


def _path(segments: list[list[tuple[float, float]]], colour: str, dash: str, width: float = 1.5,
          name: str = "") -> str:
    """One path per series, its name shown on hover; a segment of one point is drawn as a dot (a zero-length
    subpath with round caps)."""
    d = []
    for seg in segments:
        # Tenths of a pixel; after the first point each step is relative ("l dx dy ..."),
        # taken between rounded points so that rounding never accumulates.
        pts = [(round(px * 10), round(py * 10)) for px, py in seg]
        steps = " ".join(f"{_tenths(b[0] - a[0])} {_tenths(b[1] - a[1])}" for a, b in pairwise(pts))
        d.append(f"M{_tenths(pts[0][0])} {_tenths(pts[0][1])}" + (f"l{steps}" if steps else "h0"))
    if not d:
        return ""
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    attributes = (f'd="{"".join(d)}" fill="none" stroke="{colour}" stroke-width="{width:g}"{dashed} '
                  'stroke-linecap="round" stroke-linejoin="round"')
    return f"<path {attributes}><title>{_text(name, 80)}</title></path>" if name else f"<path {attributes}/>"


def _document(title: str, height: float, body: list[str]) -> bytes:
    h = _num(height)
    head = (f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
            f'width="{WIDTH}" height="{h}" viewBox="0 0 {WIDTH} {h}" font-family="DejaVu Sans, Verdana, sans-serif" '
            f'fill="{INK}" role="img">\n<title>{_text(title, 80)}</title>\n')
    return (head + "\n".join(b for b in body if b) + "\n</svg>\n").encode()
