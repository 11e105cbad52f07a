"""What the notes folder holds, read cheaply enough to rebuild after every meeting.

A meeting is `<team>/[<YYYY>/]<YYYY-MM-DD>-<HHMM>-<slug>.{md,log.txt,json}`
(bot/meeting/paths.py). Only names of that exact shape are read, and team
folders only when their name is safe as it is in a URL (letters, digits, `-`
and `_`: the bot writes slugs, imported Fedora archives use `fedora_ai_ml`), so
no file or folder name can steer an output path outside the site. A folder
holding meetings under any other name is refused with a line naming it.

Every input is identified by its content hash; the hash is recomputed only when
the file's size or modification time changed (the `InputCache`, kept in the
build manifest), so a build after one new meeting reads one meeting.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_MEETING_FILE = re.compile(r"^(\d{4})-\d{2}-\d{2}-\d{4}-[a-z0-9-]{1,60}\.(md|log\.txt|json)$")
_YEAR = re.compile(r"^\d{4}$")
# No dot: "index.html" or "calendar.ics" as a folder would collide with the site's own files.
_TEAM_FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_RESERVED = ("search", "static")  # the site's own folders
PUBLISHED = ("calendar.ics", "schedule.json", "actions.json", "loans.json", "farm/status.json")
MAX_PUBLISHED_BYTES = 4 * 1024 * 1024  # a published file larger than this is ignored, not rendered


@dataclass
class MeetingFiles:
    team: str
    rel: str  # "<team>/<YYYY>/<stem>" relative to the notes folder, no extension
    md: str | None = None  # paths as plain strings: there are thousands, read on every build
    log: str | None = None
    json: str | None = None

    @property
    def stem(self) -> str:
        return self.rel.rsplit("/", 1)[-1]

    @property
    def year(self) -> str:
        return self.stem[:4]


class InputCache:
    """Content hashes by absolute path, recomputed only for files whose size or mtime changed."""

    def __init__(self, root: Path, saved: dict[str, list[Any]] | None = None):
        self.root = root
        self.saved = saved or {}
        self.current: dict[str, list[Any]] = {}

    def digest(self, path: Path | str) -> str:
        key = os.fspath(path)  # plain strings: this runs for every file of the archive on every build
        st = os.stat(key)
        old = self.saved.get(key)
        if old and old[0] == st.st_size and old[1] == st.st_mtime_ns:
            self.current[key] = old
            sha: str = old[2]  # saved as [size, mtime_ns, sha] by this class
            return sha
        with open(key, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()[:32]
        self.current[key] = [st.st_size, st.st_mtime_ns, sha]
        return sha


def published_stamp(notes: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every published file and of every team and year folder (a new or removed meeting
    changes its folder's mtime): what the publish service compares every WATCH_SECONDS to know whether
    the site is stale. A few hundred stat calls, never a read."""
    stamp: dict[str, tuple[int, int]] = {}

    def add(path: str) -> None:
        try:
            st = os.stat(path)
        except OSError:
            return
        stamp[path] = (st.st_size, st.st_mtime_ns)

    add(os.path.join(notes, "calendar.ics"))
    for team_dir in _subdirs(notes):
        add(os.fspath(team_dir))
        for name in PUBLISHED:
            add(os.path.join(team_dir, name))
        for year_dir in _subdirs(team_dir):
            if _YEAR.match(year_dir.name):
                add(os.fspath(year_dir))
    return stamp


def scan_meetings(notes: Path) -> tuple[dict[str, list[MeetingFiles]], list[str]]:
    """Meetings by team folder name, oldest first; and a line for each folder of meetings refused."""
    teams: dict[str, list[MeetingFiles]] = {}
    refused: list[str] = []
    for team_dir in sorted(_subdirs(notes)):
        team = team_dir.name
        found: dict[str, MeetingFiles] = {}
        _collect(team_dir, team, team, found)
        for year_dir in _subdirs(team_dir):
            if _YEAR.match(year_dir.name):
                _collect(year_dir, team, f"{team}/{year_dir.name}", found)
        meetings = sorted((m for m in found.values() if m.md and m.json), key=lambda m: (m.stem, m.rel))
        if _TEAM_FOLDER.match(team) and team.lower() not in _RESERVED:
            teams[team] = meetings
        elif meetings:  # a folder without meetings (the site's own output, say) is no team
            refused.append(f"{str(team_dir)!r}: skipped {len(meetings)} meeting(s): a team folder name has letters, "
                           f"digits, '-' and '_' only, and is not {' or '.join(_RESERVED)}; rename the folder")
            log.warning("%s", refused[-1])
    return teams, refused


def _subdirs(folder: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)
                and not e.name.startswith(".")]
    except FileNotFoundError:
        return []


def _collect(folder: Path, team: str, prefix: str, found: dict[str, MeetingFiles]) -> None:
    for entry in os.scandir(folder):
        match = _MEETING_FILE.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        ext = match.group(2)
        stem = entry.name[: -len(ext) - 1]
        meeting = found.setdefault(f"{prefix}/{stem}", MeetingFiles(team, f"{prefix}/{stem}"))
        setattr(meeting, {"md": "md", "log.txt": "log", "json": "json"}[ext], entry.path)


def meeting_summary(data: Any, files: MeetingFiles) -> dict[str, Any]:
    """What the team page, feed and home page show of a meeting, from its `.json`."""
    data = data if isinstance(data, dict) else {}
    topics = [t for t in _list(data.get("topics")) if isinstance(t, dict)]
    items = [i for t in topics for i in _list(t.get("items")) if isinstance(i, dict)]
    return {
        "rel": files.rel,
        "stem": files.stem,
        "year": files.year,
        "title": _text(data.get("name")) or _text(data.get("channel")) or files.stem[16:],
        "started": _text(data.get("started")) or f"{files.stem[:10]}T{files.stem[11:13]}:{files.stem[13:15]}:00Z",
        "ended": _text(data.get("ended")),
        "decisions": sum(1 for i in items if i.get("kind") in ("agreed", "rejected")),
        "actions": len(_list(data.get("actions"))),
        "topics": [_text(t.get("title")) for t in topics if t.get("title")][:20],
        "people": len(_list(data.get("attendees"))),
        "has_log": files.log is not None,
        "series": files.stem[16:],  # the slug: meetings of one name are one series
        "rooms": _rooms(data),
    }


def _rooms(data: dict[str, Any]) -> list[str]:
    """The names of the rooms a meeting was held in (alias, IRC channels; the bare id only when it is all)."""
    room = data["room"] if isinstance(data.get("room"), dict) else {}
    names = [_text(room.get("alias"))] + [_text(c) for c in _list(room.get("irc_channels"))[:20]]
    names = [n[:100] for n in names if n]
    channel = _text(data.get("channel"))[:100]
    if channel and channel not in names and (not names or not channel.startswith("!")):
        names.insert(0, channel)
    return names or ["(no room)"]


def read_text(path: Path | str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def read_json(path: Path | str) -> Any:
    """A published file's JSON, or None when it is absent, too large or not JSON (logged)."""
    try:
        if os.stat(path).st_size > MAX_PUBLISHED_BYTES:
            log.warning("%s is larger than %d bytes; not shown", path, MAX_PUBLISHED_BYTES)
            return None
        return json.loads(read_text(path))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def records(data: Any, key: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """`data[key]` as a list of dicts holding only `fields` (anything else, private or not, is dropped)."""
    if not isinstance(data, dict):
        return []
    out = []
    for row in _list(data.get(key))[:1000]:
        if isinstance(row, dict):
            out.append({f: row.get(f) for f in fields})
    return out
