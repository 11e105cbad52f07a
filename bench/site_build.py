"""Benchmark: building the archive site, beside plain markdown-it-py rendering (the floor).

Generates, in a temporary folder (never in the repository), 10 years of
bi-weekly meetings for 5 teams (about 1,300 meetings of a few hundred log lines
each, written by sigbot's own engine and renderer), then measures in the same
run:

- floor: markdown-it-py rendering every meeting's Markdown (already in memory);
- full build: `build_site` into an empty folder;
- incremental build: one new meeting added, then `build_site` again.

Targets: full build within 2x the floor, incremental under 300 ms. Writes
bench/results-site.md.

    .venv/bin/python bench/site_build.py [--runs 3] [--years 10] [--teams 5]
"""

from __future__ import annotations

import argparse
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.message import LineKind  # noqa: E402
from bot.meeting.engine import fold  # noqa: E402
from bot.meeting.minutes import build_minutes  # noqa: E402
from bot.meeting.model import LogLine  # noqa: E402
from bot.meeting.paths import meeting_dir  # noqa: E402
from bot.meeting.render import RenderContext, write_notes  # noqa: E402
from bot.registry import build_registry  # noqa: E402
from bot.site.build import build_site  # noqa: E402

TEAMS = ["ai-ml", "rocm", "pytorch-accel", "rust-ml", "farm-ops"]
NICKS = ["trix", "jsteffan", "tflink", "zeshengzong", "fffrog", "alice", "bob", "carol", "dave", "erin"]
WORDS = ("rocm hipblas pytorch cuda kernel package review build rawhide spec wheel test farm gpu driver "
         "memory triton compiler release branch patch upstream downstream ci runner flaky bisect "
         "benchmark profile rccl nccl mi300 h100 w7900 gfx1100 python rust candle burn onnx").split()


def meeting_lines(rng: random.Random, started: datetime, n_lines: int) -> list[LogLine]:
    chair = rng.choice(NICKS)
    said = [(chair, "#startmeeting weekly sync")]
    for _ in range(n_lines):
        nick = rng.choice(NICKS)
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14)))
        roll = rng.random()
        if roll < 0.03:
            said.append((chair, f"#topic {text}"))
        elif roll < 0.08:
            said.append((nick, f"#info {text}"))
        elif roll < 0.11:
            said.append((nick, f"#action {rng.choice(NICKS)} to {text}"))
        elif roll < 0.13:
            said.append((chair, f"#agreed {text}"))
        elif roll < 0.15:
            said.append((nick, f"#link https://example.org/{rng.choice(WORDS)}/{rng.randint(1, 9999)} {text}"))
        else:
            said.append((nick, text))
    said.append((chair, "#endmeeting"))
    return [LogLine(i, started + timedelta(seconds=10 * i), nick, nick, LineKind.SAID, text)
            for i, (nick, text) in enumerate(said, 1)]


def write_meeting(notes: Path, team: str, started: datetime, rng: random.Random) -> Path:
    state = fold(meeting_lines(rng, started, rng.randint(200, 400)), f"#{team}", REGISTRY)
    minutes = build_minutes(state)
    return write_notes(minutes, meeting_dir(notes, team, minutes.started), RenderContext(team, "Europe/Berlin"))


REGISTRY = build_registry()
FIRST = datetime(2015, 1, 6, 15, 0, tzinfo=timezone.utc)


def generate(notes: Path, years: int, teams: int) -> int:
    rng = random.Random(8)
    count = 0
    for t, team in enumerate(TEAMS[:teams]):
        day = FIRST + timedelta(days=t, hours=t)
        while day < FIRST + timedelta(days=365 * years):
            write_meeting(notes, team, day, rng)
            day += timedelta(days=14)
            count += 1
    return count


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--teams", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-site.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sigbot-site-bench-") as tmp:
        notes = Path(tmp) / "notes"
        took = timed(lambda: generate(notes, args.years, args.teams))
        mds = [p.read_text(encoding="utf-8") for p in sorted(notes.rglob("*.md"))]
        logs = sorted(notes.rglob("*.log.txt"))
        lines = sum(len(p.read_text().splitlines()) for p in logs)
        print(f"generated {len(mds)} meetings, {lines} log lines in {took:.1f} s", flush=True)

        floors, fulls, incrementals = [], [], []
        for run in range(args.runs):
            md = MarkdownIt("commonmark", {"html": False})
            floors.append(timed(lambda md=md: [md.render(text) for text in mds]))
            site = Path(tmp) / "site"
            shutil.rmtree(site, ignore_errors=True)
            fulls.append(timed(lambda site=site: build_site(notes, site)))
            # the next meeting after the archive's last: it joins the newest search segment
            new_day = FIRST + timedelta(days=365 * args.years, hours=run)
            write_meeting(notes, TEAMS[0], new_day, random.Random(run))
            report = None

            def incremental(site=site):
                nonlocal report
                report = build_site(notes, site)
            incrementals.append(timed(incremental))
            print(f"run {run + 1}: floor {floors[-1]:.2f} s, full {fulls[-1]:.2f} s, "
                  f"incremental {incrementals[-1] * 1000:.0f} ms ({len(report.written)} files)", flush=True)

    floor, full, inc = (statistics.median(v) for v in (floors, fulls, incrementals))
    table = [
        "| measure | median | target |",
        "|---|---|---|",
        f"| plain markdown-it-py rendering of all minutes (floor) | {floor:.2f} s | |",
        f"| full build | {full:.2f} s | ≤ 2x floor |",
        f"| ratio full build / floor | {full / floor:.2f} | ≤ 2.00 |",
        f"| incremental build after one new meeting | {inc * 1000:.0f} ms | < 300 ms |",
    ]
    text = "\n".join([
        "# Archive site build",
        "",
        f"`.venv/bin/python bench/site_build.py --runs {args.runs}`: {len(mds)} meetings "
        f"({args.teams} teams, {args.years} years, bi-weekly), {lines} log lines; median of {args.runs} runs.",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, shared 2-core VM.",
        "",
        *table,
        "",
    ])
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
