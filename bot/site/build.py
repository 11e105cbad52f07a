"""Build the archive site from the notes folder, re-rendering only what changed.

Every output file has a *signature*: a hash of everything it is made from
(input hashes, the summaries it lists, the templates and this package's code).
The manifest `.sigbot-site.json` in the output folder keeps the signatures of
the last build and the input hashes (by size and mtime, see sources.py), so a
build after one new meeting renders that meeting, its neighbours (prev/next
links), its team's page and feed, the home page and the newest search segment,
and leaves the rest alone. Outputs whose input disappeared are removed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import posixpath
import re
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from bot.core.files import write_atomic
from bot.meeting.paths import contained
from bot.meeting.render import DEFAULT_TEMPLATES
from bot.site import search
from bot.site.config import BuildReport, SiteOptions
from bot.site.markup import MinutesRenderer, item_lines, log_html
from bot.site.pages import (
    farm_context,
    iso_utc,
    loans_context,
    month_grids,
    open_actions,
    schedule_entries,
    year_groups,
)
from bot.site.sources import InputCache, MeetingFiles, meeting_summary, read_json, read_text, scan_meetings

log = logging.getLogger(__name__)

TEMPLATES = DEFAULT_TEMPLATES / "site"
MANIFEST = ".sigbot-site.json"
MANIFEST_VERSION = 2  # 2: summaries carry series and rooms
FEED_ENTRIES = 20
RECENT_ON_HOME = 10
_PLOT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.(png|svg|jpg|jpeg|webp|gif)$")


def _sig(*parts: Any) -> str:
    # repr, not json.dumps: several times faster, and stable for the plain values passed here
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:24]


def _code_signature() -> str:
    """Templates, static files and this package's code: a change re-renders everything."""
    h = hashlib.sha1(str(MANIFEST_VERSION).encode())
    for folder in (TEMPLATES, Path(__file__).parent):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in (".j2", ".css", ".js", ".py"):
                h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:24]


class _Output:
    """Writes a file only when its signature changed; remembers what this build produced."""

    def __init__(self, root: Path, old: dict[str, str], report: BuildReport):
        self.root = root
        self._root = os.fspath(root)
        self.old = old
        self.pages: dict[str, str] = {}
        self.report = report

    def stale(self, rel: str, sig: str) -> bool:
        self.pages[rel] = sig
        return self.old.get(rel) != sig or not os.path.exists(f"{self._root}/{rel}")

    def write(self, rel: str, text: str) -> None:
        write_atomic(contained(self.root, rel), text)
        self.report.written.append(rel)

    def copy(self, rel: str, source: Path | str) -> None:
        path = contained(self.root, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(path)
        self.report.written.append(rel)

    def put(self, rel: str, sig: str, render: Callable[[], str]) -> None:
        if self.stale(rel, sig):
            self.write(rel, render())


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """One per process: compiling the templates costs more than an incremental build (auto_reload still
    notices an edited template)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["utc"] = _utc_text
    return env


def _utc_text(iso: str) -> str:
    """"2024-05-01T15:00:00Z" as "2024-05-01 15:00 UTC" (what readers without scripts see)."""
    try:
        t = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return str(iso)
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    return f"{t:%Y-%m-%d %H:%M} UTC"


def _updated(data: Any) -> str | None:
    """A published file's own `updated` time (UTC, checked), or None."""
    return iso_utc(data.get("updated")) if isinstance(data, dict) else None


def _root(rel: str) -> str:
    return "../" * rel.count("/")


def _relative(page: str, target: str) -> str:
    """The URL of site path `target` from the page at site path `page`."""
    here, there = posixpath.dirname(page), posixpath.dirname(target)
    if here == there:
        return target[len(there) + 1:] if there else target
    return posixpath.relpath(target, here or ".")


class SiteBuilder:
    def __init__(self, notes: Path, out: Path, options: SiteOptions | None = None):
        self.notes = notes.resolve()
        self.out = out.resolve()
        self.options = options or SiteOptions()
        self.env = _environment()
        self.renderer = MinutesRenderer()

    def build(self) -> BuildReport:
        report = BuildReport()
        manifest = self._load_manifest()
        code = _code_signature()
        old_pages = manifest.get("pages", {}) if manifest.get("code") == code else {}
        cache = InputCache(self.notes, manifest.get("inputs"))
        out = _Output(self.out, old_pages, report)
        old_summaries: dict[str, dict[str, Any]] = manifest.get("summaries", {})
        summaries: dict[str, dict[str, Any]] = {}

        teams, report.refused = scan_meetings(self.notes)
        if self._out_inside_notes():
            teams.pop(self.out.relative_to(self.notes).parts[0], None)
        self._static(out, code)
        all_meetings: list[tuple[MeetingFiles, dict[str, Any], dict[str, str]]] = []
        team_pages = []
        for team, meetings in teams.items():
            rows = []
            for files in meetings:
                assert files.json is not None, "scan_meetings() lists only meetings with a .json"
                hashes = {kind: cache.digest(p) for kind, p in
                          (("md", files.md), ("log", files.log), ("json", files.json)) if p is not None}
                saved = old_summaries.get(files.rel)
                if saved and saved.get("_json") == hashes["json"]:
                    summary = saved
                else:
                    summary = meeting_summary(read_json(files.json), files)
                    summary["_json"] = hashes["json"]
                summaries[files.rel] = summary
                rows.append((files, summary, hashes))
            series: dict[str, list[tuple[MeetingFiles, dict[str, Any], dict[str, str]]]] = {}
            for row in rows:
                series.setdefault(row[1]["series"], []).append(row)
            for same in series.values():  # prev/next: the meetings of the same series
                for i, (files, summary, hashes) in enumerate(same):
                    prev = same[i - 1][1] if i > 0 else None
                    nxt = same[i + 1][1] if i + 1 < len(same) else None
                    self._meeting(out, code, files, summary, hashes, prev, nxt)
                self._latest(out, code, team, same[-1][1])
            all_meetings += rows
            team_pages.append(self._team(out, code, cache, team, [r[1] for r in rows]))
            report.meetings += len(rows)
        self._home(out, code, cache, team_pages, [r[1] for r in all_meetings])
        self._channels(out, code, [r[1] for r in all_meetings])
        self._calendar(out, code, team_pages, [r[1] for r in all_meetings])
        self._search(out, code, all_meetings)

        for rel in set(old_pages) - set(out.pages):
            try:
                contained(self.out, rel).unlink()
                report.removed.append(rel)
            except (FileNotFoundError, ValueError):
                pass
        self._save_manifest({"version": MANIFEST_VERSION, "code": code, "inputs": cache.current,
                             "summaries": summaries, "pages": out.pages})
        return report

    # --- pages ----------------------------------------------------------------

    def _page(self, template: str, rel: str, **ctx: Any) -> str:
        ctx.setdefault("updated", None)
        return self.env.get_template(template).render(root=_root(rel), site_title=self.options.title, **ctx)

    def _static(self, out: _Output, code: str) -> None:
        for path in sorted((TEMPLATES / "static").iterdir()):
            out.put(f"static/{path.name}", code, path.read_text)

    def _meeting(self, out: _Output, code: str, files: MeetingFiles, summary: dict[str, Any], hashes: dict[str, str],
                 prev: dict[str, Any] | None, nxt: dict[str, Any] | None) -> None:
        rel = files.rel
        for kind, ext in (("md", ".md"), ("log", ".log.txt"), ("json", ".json")):
            source = getattr(files, kind)
            if source is not None and out.stale(rel + ext, hashes[kind]):
                out.copy(rel + ext, source)
        neighbours = tuple(s and {"url": _relative(rel, s["rel"] + ".html"), "title": s["title"],
                                  "started": s["started"]} for s in (prev, nxt))
        sig = _sig(code, hashes, neighbours, summary["title"], self.options.title)

        def render() -> str:
            assert files.md is not None
            log_text = read_text(files.log) if files.log else ""
            record = read_json(files.json) if files.json else None
            minutes = self.renderer.render(read_text(files.md),
                                           files.stem + ".log.txt",
                                           item_lines(record) if isinstance(record, dict) else None)
            return self._page("meeting.html.j2", rel + ".html", m=summary, team=files.team,
                              minutes=Markup(minutes), log=Markup(log_html(log_text)) if log_text else None,
                              prev=neighbours[0], next=neighbours[1], stem=files.stem,
                              latest=_relative(rel, f"{files.team}/latest/{summary['series']}.html"),
                              updated=summary["ended"] or summary["started"])

        out.put(rel + ".html", sig, render)

    def _team(
        self, out: _Output, code: str, cache: InputCache, team: str, meetings: list[dict[str, Any]]
    ) -> dict[str, Any]:
        folder = self.notes / team
        published = {name: self._published(cache, folder / name) for name in
                     ("calendar.ics", "schedule.json", "actions.json", "loans.json", "farm/status.json")}
        schedule = schedule_entries(read_json(folder / "schedule.json")) if published["schedule.json"] else []
        if published["calendar.ics"] and out.stale(f"{team}/calendar.ics", published["calendar.ics"]):
            out.copy(f"{team}/calendar.ics", folder / "calendar.ics")
        known = {m["rel"].split("/", 1)[1]: m["rel"] for m in meetings}
        listing = [{k: m[k] for k in ("rel", "title", "started", "_json")} for m in meetings]
        # "Updated": the newest of the last meeting and the `updated` times the published files carry
        # (content, not mtimes: the same notes build the same bytes on every machine)
        changed = [_updated(read_json(folder / name)) for name in ("schedule.json", "actions.json", "loans.json",
                                                                   "farm/status.json") if published[name]]
        last = meetings[-1] if meetings else None
        updated = max([t for t in changed if t] + ([last["ended"] or last["started"]] if last else []), default=None)
        info = {"name": team, "count": len(meetings), "last": last, "updated": updated,
                "schedule": schedule, "loans": bool(published["loans.json"]),
                "farm": bool(published["farm/status.json"]), "calendar": bool(published["calendar.ics"])}
        newest: dict[str, dict[str, Any]] = {}
        for m in meetings:
            newest[m["series"]] = m
        series = sorted(({"name": m["title"], "url": f"latest/{key}.html", "started": m["started"]}
                         for key, m in newest.items()), key=lambda x: x["started"], reverse=True)

        def team_page() -> str:
            actions = open_actions(read_json(folder / "actions.json"), known) if published["actions.json"] else []
            return self._page("team.html.j2", f"{team}/index.html", team=info, years=year_groups(meetings, team),
                              actions=actions, webcal=self._webcal(f"{team}/calendar.ics"), series=series,
                              updated=updated)

        out.put(f"{team}/index.html", _sig(code, listing, published, self.options.public_url, updated, series,
                                           self.options.title), team_page)
        recent = listing[-FEED_ENTRIES:]
        out.put(f"{team}/atom.xml", _sig(code, recent, self.options.public_url),
                lambda: self._page("atom.xml.j2", f"{team}/atom.xml", team=team, entries=list(reversed(
                    meetings[-FEED_ENTRIES:])), base=(self.options.public_url or "").rstrip("/")))
        if published["loans.json"]:
            def loans_page() -> str:
                loans = loans_context(read_json(folder / "loans.json"))
                return self._page("loans.html.j2", f"{team}/loans.html", team=team, loans=loans,
                                  updated=loans["updated"])

            out.put(f"{team}/loans.html", _sig(code, published["loans.json"]), loans_page)
        if published["farm/status.json"]:
            farm = farm_context(read_json(folder / "farm" / "status.json"))
            plots = [
                p for p in farm["plots"] if _PLOT.match(str(p["file"])) and (folder / "farm" / p["file"]).is_file()
            ]
            for plot in plots:
                rel = f"{team}/farm/{plot['file']}"
                if out.stale(rel, cache.digest(folder / "farm" / plot["file"])):
                    out.copy(rel, folder / "farm" / plot["file"])
            farm["plots"] = plots
            out.put(f"{team}/farm.html", _sig(code, published["farm/status.json"], plots),
                    lambda: self._page("farm.html.j2", f"{team}/farm.html", team=team, farm=farm,
                                       updated=farm["updated"]))
        return info

    def _home(
        self, out: _Output, code: str, cache: InputCache, teams: list[dict[str, Any]], meetings: list[dict[str, Any]]
    ) -> None:
        recent = sorted(meetings, key=lambda m: m["started"], reverse=True)[:RECENT_ON_HOME]
        calendar = self._published(cache, self.notes / "calendar.ics")
        if calendar and out.stale("calendar.ics", calendar):
            out.copy("calendar.ics", self.notes / "calendar.ics")
        updated = max([t["updated"] for t in teams if t["updated"]], default=None)
        sig = _sig(code, teams, [m["rel"] for m in recent], calendar, self.options.title)
        out.put("index.html", sig, lambda: self._page("home.html.j2", "index.html", teams=teams, recent=recent,
                                                      calendar=bool(calendar), webcal=self._webcal("calendar.ics"),
                                                      updated=updated))
        names = sorted(t["name"] for t in teams)
        years = sorted({m["started"][:4] for m in meetings}, reverse=True)
        out.put("search.html", _sig(code, self.options.title, names, years),
                lambda: self._page("search.html.j2", "search.html", teams=names, years=years))

    def _search(
        self, out: _Output, code: str, meetings: list[tuple[MeetingFiles, dict[str, Any], dict[str, str]]]
    ) -> None:
        ordered = sorted(meetings, key=lambda r: (r[1]["started"], r[0].rel))
        shards: dict[str, list[str]] = {}
        spans: dict[str, tuple[str, str]] = {}
        old_index = self._old_index()
        size = search.SEGMENT_SIZE
        for first in range(0, len(ordered), size):
            segment, rows = f"s{first // size:04d}", ordered[first:first + size]
            spans[segment] = (rows[0][1]["started"][:10], rows[-1][1]["started"][:10])
            sig = _sig(code, [(f.rel, h.get("log"), s["title"], s["started"]) for f, s, h in rows])
            if not out.stale(f"search/{segment}/docs.json", sig) and segment in old_index:
                shards[segment] = old_index[segment]
                for key in [*shards[segment], search.VOCABULARY[:-5]]:
                    out.pages[f"search/{segment}/{key}.json"] = sig
                continue
            docs = (search.SearchDoc(f.rel + ".html", s["title"], f.team, s["started"][:10],
                                     f.rel + ".log.txt" if f.log else "",
                                     read_text(f.log) if f.log else "")
                    for f, s, h in rows)
            files = search.build_segment(docs)
            shards[segment] = search.shard_names(files)
            for name, text in files.items():
                out.pages[f"search/{segment}/{name}"] = sig
                out.write(f"search/{segment}/{name}", text)
        index = search.index_json(shards, spans)
        out.put("search/index.json", _sig(index), lambda: index)

    def _latest(self, out: _Output, code: str, team: str, newest: dict[str, Any]) -> None:
        """`<team>/latest/<series>.html`: a stable address that always leads to the series' newest meeting
        (a static host cannot redirect, so the page refreshes to it and links it)."""
        rel = f"{team}/latest/{newest['series']}.html"
        target = _relative(rel, newest["rel"] + ".html")
        out.put(rel, _sig(code, target, newest["title"], self.options.title),
                lambda: self._page("latest.html.j2", rel, m=newest, team=team, target=target))

    def _channels(self, out: _Output, code: str, meetings: list[dict[str, Any]]) -> None:
        """channels.html: every room (Matrix alias, IRC channel) with its teams' series, newest first."""
        rooms: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        for m in meetings:
            team = m["rel"].split("/", 1)[0]
            for room in m.get("rooms") or ["(no room)"]:
                entry = rooms.setdefault(room, {}).setdefault((team, m["series"]), {"count": 0})
                entry.update(count=entry["count"] + 1, team=team, title=m["title"], started=m["started"],
                             latest=f"{team}/latest/{m['series']}.html")
        index = [(room, sorted(series.values(), key=lambda e: e["started"], reverse=True))
                 for room, series in sorted(rooms.items(), key=lambda kv: kv[0].lower())]
        out.put("channels.html", _sig(code, index, self.options.title),
                lambda: self._page("channels.html.j2", "channels.html", rooms=index))

    def _calendar(self, out: _Output, code: str, teams: list[dict[str, Any]], meetings: list[dict[str, Any]]) -> None:
        """calendar.html: month grids of past meetings (linked) and coming ones (from the schedules)."""
        events = [{"day": m["started"][:10], "time": m["started"][11:16], "title": m["title"],
                   "team": m["rel"].split("/", 1)[0], "url": m["rel"] + ".html", "coming": False, "cancelled": False}
                  for m in meetings]
        events += [{"day": e["start"][:10], "time": e["start"][11:16], "title": e["title"], "team": t["name"],
                    "url": None, "coming": True, "cancelled": e["cancelled"]}
                   for t in teams for e in t["schedule"]]
        months = month_grids(events)
        out.put("calendar.html", _sig(code, months, self.options.title),
                lambda: self._page("calendar.html.j2", "calendar.html", months=months))

    # --- helpers --------------------------------------------------------------

    def _published(self, cache: InputCache, path: Path) -> str | None:
        """The content hash of a feature's published file, None when it is absent."""
        try:
            return cache.digest(path) if path.is_file() else None
        except OSError:
            return None

    def _webcal(self, rel: str) -> str | None:
        url = self.options.public_url
        if not url or not url.startswith(("http://", "https://")):
            return None
        return "webcal://" + url.split("://", 1)[1].rstrip("/") + "/" + rel

    def _out_inside_notes(self) -> bool:
        return self.out != self.notes and self.notes in self.out.parents

    def _old_index(self) -> dict[str, list[str]]:
        try:
            index = json.loads((self.out / "search" / "index.json").read_text())
            return index["segments"] if index.get("version") == search.INDEX_VERSION else {}
        except (OSError, ValueError, KeyError, AttributeError):
            return {}

    def _load_manifest(self) -> dict[str, Any]:
        try:
            data = json.loads((self.out / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) and data.get("version") == MANIFEST_VERSION else {}

    def _save_manifest(self, data: dict[str, Any]) -> None:
        write_atomic(self.out / MANIFEST, json.dumps(data, separators=(",", ":")))


def build_site(notes: Path, out: Path, options: SiteOptions | None = None) -> BuildReport:
    """Render `notes` into the static site `out` (incrementally when `out` holds an earlier build)."""
    return SiteBuilder(notes, out, options).build()
