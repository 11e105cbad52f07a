"""The farm's SVG plots, written without a plotting library: valid, deterministic,
escaped, with gaps where data is missing, and small."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bot.farm import plots
from bot.farm.plots import ci_plot, host_plot
from bot.farm.store import CiRun, Sample

NS = {"svg": "http://www.w3.org/2000/svg"}
GOLDEN = Path(__file__).resolve().parent / "golden"
END = datetime(2026, 12, 2, 7, 13, tzinfo=timezone.utc)
DAY, WEEK = END - timedelta(days=1), END - timedelta(days=7)
HOSTILE = "<script>alert(1)</script>&amp;\x00\x1b]]><img src=x onerror=alert(2)>"


def minutes(gpu: int, first: int, last: int, util: float = 50.0, host: str = "h100") -> list[Sample]:
    return [Sample(host, gpu, END - timedelta(minutes=m), util, 20_000, 80_000, 60.0, 300.0)
            for m in range(last, first - 1, -1)]


def parse(svg: bytes) -> ET.Element:
    assert svg.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(svg)


def line(root: ET.Element, name: str) -> str:
    """The path data of the series whose hover title is `name`."""
    found = [p.get("d") for p in root.iterfind(".//svg:path", NS) if p.findtext("svg:title", None, NS) == name]
    assert len(found) == 1, (name, found)
    return found[0]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iterfind(".//svg:text", NS)]


def test_a_host_plot_is_valid_svg_with_a_viewbox_three_panels_and_a_title():
    root = parse(host_plot("h100", minutes(0, 0, 120) + minutes(1, 0, 120), DAY, END))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert root.findtext("svg:title", None, NS) == "h100: last day (UTC)"
    assert {"utilization %", "memory used %", "temperature °C", "GPU 0", "GPU 1"} <= set(texts(root))
    assert line(root, "GPU 1, temperature °C").startswith("M")


def test_the_same_data_gives_the_same_bytes_whatever_the_order_it_comes_in():
    samples = minutes(0, 0, 300) + minutes(1, 0, 300, util=70) + minutes(2, 100, 200)
    shuffled = samples[:]
    random.Random(4).shuffle(shuffled)
    assert host_plot("h100", samples, DAY, END) == host_plot("h100", shuffled, DAY, END)
    runs = {p: [CiRun(p, "github", str(i), "main", END - timedelta(hours=7 * i), "passed" if i % 3 else "failed")
                for i in range(20)] for p in ("cuda", "rocm")}
    backwards = {p: runs[p][::-1] for p in reversed(runs)}
    assert ci_plot(runs, END - timedelta(days=30), END) == ci_plot(backwards, END - timedelta(days=30), END)


def test_hostile_host_and_platform_names_are_text_never_markup():
    svg = host_plot(HOSTILE, minutes(0, 0, 10, host=HOSTILE), DAY, END)
    ci = ci_plot({HOSTILE: [CiRun(HOSTILE, "junit", "1", None, END - timedelta(hours=1), "passed")]},
                 END - timedelta(days=30), END)
    for doc in (svg, ci):
        root = parse(doc)  # control characters XML forbids are gone, or this would raise
        tags = {e.tag.split("}")[1] for e in root.iter()}
        assert tags <= {"svg", "title", "text", "path", "rect", "circle"}
        assert b"<script" not in doc and b"<img" not in doc and b"\x00" not in doc and b"\x1b" not in doc
    title = parse(svg).findtext("svg:title", None, NS)
    assert title == "<script>alert(1)</script>&amp;]]><i…: last day (UTC)"  # the text it was, shortened
    assert any(t.startswith("<script>") for t in texts(parse(ci)))


def test_a_long_host_name_is_shortened_to_fit_the_title():
    title = parse(host_plot("dgx-b200-rack4-" + "x" * 60, [], WEEK, END)).findtext("svg:title", None, NS)
    assert title == "dgx-b200-rack4-" + "x" * 20 + "…: last week (UTC)"


def test_a_line_breaks_where_a_machine_stopped_reporting_or_a_value_is_missing():
    # GPU 0 reports for an hour, stops for an hour, reports again: two pieces.
    # GPU 1 reports every minute but had no temperature for ten of them: two pieces there only.
    gpu1 = [s if not 30 <= i < 40 else Sample(s.host, 1, s.time, s.util, s.mem_used, s.mem_total, None, None)
            for i, s in enumerate(minutes(1, 0, 180))]
    root = parse(host_plot("h100", minutes(0, 0, 60) + minutes(0, 120, 180) + gpu1, DAY, END))
    assert line(root, "GPU 0, utilization %").count("M") == 2
    assert line(root, "GPU 1, utilization %").count("M") == 1
    assert line(root, "GPU 1, temperature °C").count("M") == 2


def test_a_week_of_hourly_means_followed_by_a_day_of_minutes_is_one_unbroken_line():
    hourly = [Sample("h100", 0, END - timedelta(hours=h), 40.0, 1, 2, 50.0, 1.0) for h in range(167, 24, -1)]
    root = parse(host_plot("h100", hourly + minutes(0, 0, 24 * 60 - 1), WEEK, END))
    assert root.findtext("svg:title", None, NS) == "h100: last week (UTC)"
    assert line(root, "GPU 0, utilization %").count("M") == 1


def test_a_single_sample_between_gaps_is_still_drawn_as_a_dot():
    root = parse(host_plot("h100", minutes(0, 0, 30) + minutes(0, 300, 300), DAY, END))
    assert "h0" in line(root, "GPU 0, memory used %")


def test_a_machine_without_reports_says_so():
    root = parse(host_plot("gpu3", [], DAY, END))
    assert "no reports yet" in texts(root)
    assert root.findtext("svg:title", None, NS) == "gpu3: last day (UTC)"
    assert not [p for p in root.iterfind(".//svg:path", NS) if p.find("svg:title", NS) is not None]


def test_a_day_is_labelled_in_hours_and_a_week_in_dates():
    day = texts(parse(host_plot("h100", minutes(0, 0, 10), DAY, END)))
    assert [t for t in day if t.endswith(":00")] == ["09:00", "12:00", "15:00", "18:00", "21:00", "03:00", "06:00"]
    assert "Wed 2 Dec" in day  # midnight shows the date
    week = texts(parse(host_plot("h100", minutes(0, 0, 10), WEEK, END)))
    assert [t for t in week if t[:3] in plots.WEEKDAYS] == [
        "Thu 26 Nov", "Fri 27 Nov", "Sat 28 Nov", "Sun 29 Nov", "Mon 30 Nov", "Tue 1 Dec", "Wed 2 Dec"]


def test_sixteen_gpus_get_sixteen_distinct_styles_and_a_legend_that_fits():
    samples = [s for g in range(16) for s in minutes(g, 0, 60)]
    root = parse(host_plot("dgx", samples, DAY, END))
    width = float(root.get("width"))
    styles = {(p.get("stroke"), p.get("stroke-dasharray")) for p in root.iterfind(".//svg:path", NS)
              if (p.findtext("svg:title", "", NS)).endswith("utilization %")}
    assert len(styles) == 16
    legend = [t for t in root.iterfind("svg:text", NS) if (t.text or "").startswith("GPU ")]
    assert [t.text for t in legend] == [f"GPU {g}" for g in range(16)]
    assert all(0 < float(t.get("x")) + 7.5 * len(t.text) < width for t in legend)


def test_values_out_of_range_stay_inside_their_panel():
    wild = [Sample("h100", 0, END - timedelta(minutes=m), 250.0 if m % 2 else -40.0, 90, 80, 60.0, 1.0)
            for m in range(20)]
    root = parse(host_plot("h100", wild, DAY, END))
    rect = root.find("svg:rect", NS)  # the first panel's frame
    top, bottom = float(rect.get("y")), float(rect.get("y")) + float(rect.get("height"))
    d = line(root, "GPU 0, utilization %")
    y, steps = float(d[1:].split("l")[0].split()[1]), [float(v) for v in d.split("l")[1].split()][1::2]
    for dy in steps:
        y += dy
        assert top - 0.05 <= y <= bottom + 0.05


def test_absurd_temperatures_keep_the_axis_readable():
    broken = [Sample("h100", 0, END - timedelta(minutes=m), 50.0, 1, 2, 1e9 if m % 2 else -273.0, 1.0)
              for m in range(10)]
    labels = texts(parse(host_plot("h100", broken, DAY, END)))
    panel = labels[labels.index("temperature °C") + 1:]
    assert [t for t in panel if t.isdigit()] == ["0", "20", "40", "60", "80", "100", "120", "140"]


def test_a_day_of_one_minute_samples_from_eight_gpus_stays_small():
    samples = [Sample("h100", g, END - timedelta(minutes=m), (m * 37 + g * 11) % 100, 1000 + m, 80_000,
                      40 + (m * 13) % 50, 1.0) for g in range(8) for m in range(1440)]
    svg = host_plot("h100", samples, DAY, END)
    parse(svg)
    assert len(svg) < 200_000  # matplotlib wrote about 160 kB for half as many GPUs
    # At most two points (the lowest and the highest) per two-pixel column.
    points = len(line(parse(svg), "GPU 3, utilization %").split()) // 2
    assert points <= plots.PLOT_WIDTH // plots.BUCKET_PX * 2 + 2 < 1440


def test_ci_plot_shows_each_days_pass_rate_and_ignores_skipped_and_cancelled_runs():
    def run(i, hours, result):
        return CiRun("rocm", "github", str(i), "main", END - timedelta(hours=hours), result)
    runs = {"rocm": [run(1, 20, "passed"), run(2, 21, "passed"), run(3, 22, "passed"), run(4, 23, "failed"),
                     run(5, 20, "skipped"), run(6, 20, "cancelled"), run(7, 2, "error")],
            "cuda": []}
    root = parse(ci_plot(runs, END - timedelta(days=30), END))
    tips = [c.findtext("svg:title", None, NS) for c in root.iterfind(".//svg:circle", NS)]
    assert tips == ["rocm, Tue 1 Dec: 3/4 passed", "rocm, Wed 2 Dec: 0/1 passed"]
    assert "cuda" not in texts(root)  # no finished run, no legend entry
    width = float(root.get("width"))
    assert all(float(c.get("cx")) <= width - plots.RIGHT for c in root.iterfind(".//svg:circle", NS))
    assert "no finished runs in this period" in texts(parse(ci_plot({"cuda": []}, END - timedelta(days=30), END)))


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    low, high = sorted((_luminance(a), _luminance(b)))
    return (high + 0.05) / (low + 0.05)


def test_lines_and_text_read_on_a_light_page_and_on_a_dark_one():
    for background in ("#ffffff", "#121212"):
        assert all(_contrast(c, background) >= 3 for c in plots.PALETTE), background
        assert _contrast(plots.INK, background) >= 4
    root = parse(host_plot("h100", minutes(0, 0, 10), DAY, END))
    assert root.get("fill") == plots.INK
    assert all(r.get("fill") == "none" for r in root.iterfind(".//svg:rect", NS))  # transparent: the page shows


def test_importing_the_plots_loads_no_plotting_library():
    # (numpy may appear while it is installed: sqlite-utils imports it when it can.)
    code = ("import sys, bot.farm.plots, bot.farm.service; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'PIL')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "[]"
    imports = re.compile(r"^\s*(import|from)\s+matplotlib", re.MULTILINE)
    assert not [p for p in (Path(__file__).parent.parent / "bot").rglob("*.py") if imports.search(p.read_text())]


def _golden(name: str, svg: bytes) -> None:
    """Compare with tests/golden/NAME; SIGBOT_UPDATE_GOLDEN=1 rewrites it (look at it in a browser first)."""
    if os.environ.get("SIGBOT_UPDATE_GOLDEN"):
        (GOLDEN / name).write_bytes(svg)
    assert svg == (GOLDEN / name).read_bytes(), f"{name} differs from tests/golden/{name}"


def test_a_day_of_two_gpus_draws_as_the_golden_file():
    samples = [Sample("h100", g, END - timedelta(minutes=10 * i), (i * 7 + 40 * g) % 100,
                      20_000 + 300 * i if i % 30 else None, 81_559, 45 + (i * 3 + 20 * g) % 40, 300.0)
               for g in range(2) for i in range(144) if not (g == 1 and 50 <= i < 60)]
    _golden("farm-host-day.svg", host_plot("h100", samples, DAY, END))


def test_a_month_of_ci_runs_draws_as_the_golden_file():
    runs = {p: [CiRun(p, "github", str(i), "main", END - timedelta(hours=9 * i),
                      "passed" if (i + k) % (k + 3) else "failed") for i in range(80)]
            for k, p in enumerate(["cuda-12 H100", "rocm-7 MI300X", "xpu Max 1550"])}
    _golden("farm-ci-pass-rate.svg", ci_plot(runs, END - timedelta(days=30), END))
