"""Notes folders for the archive site's tests: real minutes (replayed MeetBot logs), hostile
meetings and the files other features publish, in the shapes docs/extending.md gives."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from bot.core.message import LineKind
from bot.meeting.engine import fold
from bot.meeting.minutes import build_minutes
from bot.meeting.model import LogLine
from bot.meeting.paths import meeting_dir
from bot.meeting.render import RenderContext, write_notes
from bot.meeting.replay import channel_from_name, date_from_name, replay
from bot.registry import build_registry

SAMPLES = Path(__file__).resolve().parents[1] / "bot" / "samples"


def replay_samples(notes: Path, team: str = "ai-ml") -> list[Path]:
    """The two bundled MeetBot logs as `notes/<team>/<YYYY>/...` minutes."""
    paths = []
    for log in sorted(SAMPLES.glob("*.log.txt")):
        minutes = replay(log.read_text(encoding="utf-8"), date_from_name(log), channel_from_name(log),
                         build_registry())
        paths.append(write_notes(minutes, meeting_dir(notes, team, minutes.started),
                                 RenderContext(team, "Europe/Berlin")))
    return paths


def write_meeting(notes: Path, team: str, started: datetime, lines: list[tuple[str, str]],
                  room: str = "#wg", ctx: RenderContext | None = None) -> Path:
    """A meeting from (nick, text) lines said a minute apart; nicks may be anything (Matrix names)."""
    log = [LogLine(n, started + timedelta(minutes=n - 1), nick, nick, LineKind.SAID, text)
           for n, (nick, text) in enumerate(lines, 1)]
    state = fold(log, room, build_registry())
    assert state is not None
    minutes = build_minutes(state)
    return write_notes(minutes, meeting_dir(notes, team, minutes.started), ctx or RenderContext(team, "UTC"))


def simple_meeting(notes: Path, team: str, day: date, name: str = "Weekly sync") -> Path:
    started = datetime(day.year, day.month, day.day, 15, 0, tzinfo=timezone.utc)
    return write_meeting(notes, team, started, [
        ("alice", f"#startmeeting {name}"),
        ("alice", "#topic Packaging"),
        ("bob", "#info hipBLAS builds on rawhide"),
        ("alice", "#agreed ship it"),
        ("bob", "#action bob to file the review request"),
        ("alice", "#endmeeting"),
    ])


def publish_feature_files(team_dir: Path) -> None:
    """schedule.json, actions.json, loans.json, farm/status.json (+ a plot) and calendar.ics."""
    team = team_dir.name
    team_dir.mkdir(parents=True, exist_ok=True)
    (team_dir / "calendar.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//sigbot//EN\r\nEND:VCALENDAR\r\n"
    )
    _json(team_dir / "schedule.json", {"team": team, "timezone": "Europe/Berlin", "updated": "2030-01-01T00:00:00Z",
                                       "next": [
        {"series": "weekly", "title": "Weekly sync", "start": "2030-01-08T15:00:00Z", "end": "2030-01-08T16:00:00Z",
         "location": "#wg:example.org", "cancelled": False, "reason": None},
        {"series": "weekly", "title": "Weekly sync", "start": "2030-01-15T15:00:00Z", "end": "2030-01-15T16:00:00Z",
         "location": "#wg:example.org", "cancelled": True, "reason": "FOSDEM"},
    ]})
    _json(team_dir / "actions.json", {"team": team, "updated": "2030-01-01T00:00:00Z", "open": [
        {"n": 7, "owner": "tflink", "text": "tflink to ask about the beaker test farm", "meeting": "2023-07-31",
         "minutes": "2023/2023-07-31-1500-fedora-ai-ml-sig.md"},
        {"n": 8, "owner": "trix", "text": "write a hardware lending policy", "meeting": "2021-01-01", "minutes": None},
    ]})
    _json(team_dir / "loans.json", {"team": team, "updated": "2030-01-01T00:00:00Z", "inventory": [
        {"tag": "gpu-7", "kind": "gpu", "vendor": "amd", "model": "Radeon PRO W7900", "target": "gfx1100",
         "memory": "48 GiB", "status": "on loan", "address": "PRIVATE-ADDRESS 1 Main St", "serial": "PRIVATE-SN"},
    ], "queue": [
        {"n": 3, "requester": "Tom R.", "target": "gfx1100", "status": "waiting", "position": 1,
         "submitted": "2029-12-01", "email": "PRIVATE-EMAIL@example.org"},
    ]})
    (team_dir / "farm").mkdir(exist_ok=True)
    (team_dir / "farm" / "gpu-util.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>')
    _json(team_dir / "farm" / "status.json", {"team": team, "updated": "2030-01-01T00:00:00Z", "hosts": [
        {"host": "h100-1", "online": True, "last_seen": "2030-01-01T00:00:00Z", "expected_gpus": 1,
         "gpus": [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "vendor": "nvidia", "memory_total_mib": 81559,
                   "memory_used_mib": 1, "utilization_pct": 0.0, "temperature_c": 31.0, "power_w": 71.5,
                   "uuid": "GPU-PRIVATE", "processes": [{"pid": 1, "name": "/home/PRIVATE/train.py"}]}],
         "driver_version": "550.54", "cuda_version": "12.4", "rocm_version": None},
    ], "alerts": [{"kind": "offline", "host": "mi300-2", "since": "2029-12-31T00:00:00Z", "text": "no report for 2 h"}],
       "ci": [{"platform": "rocm-6.1", "runs": 10, "passed": 9, "failed": 1, "skipped": 0,
               "failing": ["test_conv2d"], "url": "https://ci.example.org/run/1"}],
       "plots": [{"title": "GPU utilization", "file": "gpu-util.svg"},
                 {"title": "escape", "file": "../../../etc/passwd"}]})


def _json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2))
