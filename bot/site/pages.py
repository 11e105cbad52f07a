"""What the team, loans and farm pages show, from the files other features publish.

Those files are read as untrusted: a missing key, a wrong type or an unknown
extra field never breaks the build, and only the fields named here reach a page
(a loans.json that carried an address by mistake would still not show it).
Shapes: docs/extending.md, "Published data".
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timezone
from typing import Any

from bot.site.sources import records

MAX_SCHEDULE = 5
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_utc(value: Any) -> str | None:
    """An ISO-8601 time as "YYYY-MM-DDTHH:MM:SSZ" in UTC, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    t = t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def schedule_entries(data: Any) -> list[dict[str, Any]]:
    """The next occurrences (schedule.json "next") with checked times; cancelled ones keep their reason."""
    out: list[dict[str, Any]] = []
    for row in records(data, "next", ("series", "title", "start", "end", "location", "cancelled", "reason")):
        start = iso_utc(row["start"])
        if start is None:
            continue
        out.append({"title": _s(row["title"]) or _s(row["series"]) or "Meeting", "start": start,
                    "end": iso_utc(row["end"]), "location": _s(row["location"]),
                    "cancelled": row["cancelled"] is True, "reason": _s(row["reason"])})
    return sorted(out, key=lambda r: r["start"])[:MAX_SCHEDULE]


def open_actions(data: Any, known: dict[str, str]) -> list[dict[str, Any]]:
    """actions.json "open"; `minutes` links only to a meeting that exists (`known`: "YYYY/stem" -> rel)."""
    out = []
    for row in records(data, "open", ("n", "owner", "text", "meeting", "minutes")):
        minutes = _s(row["minutes"])
        rel = known.get(minutes[:-3]) if minutes.endswith(".md") else None
        out.append({"n": _s(row["n"]), "owner": _s(row["owner"]), "text": _s(row["text"]),
                    "meeting": _s(row["meeting"]), "url": rel.split("/", 1)[1] + ".html" if rel else None})
    return out


def year_groups(meetings: list[dict[str, Any]], team: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """Meetings newest first, grouped by year, with URLs relative to the team page."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for m in reversed(meetings):
        groups.setdefault(m["year"], []).append({**m, "url": m["rel"][len(team) + 1:] + ".html"})
    return list(groups.items())


def loans_context(data: Any) -> dict[str, Any]:
    return {
        "updated": iso_utc(data.get("updated")) if isinstance(data, dict) else None,
        "inventory": _texts(records(data, "inventory", ("tag", "kind", "vendor", "model", "target", "memory",
                                                          "status"))),
        "queue": _texts(records(data, "queue", ("n", "requester", "target", "status", "position", "submitted"))),
    }


_GPU_FIELDS = ("index", "name", "vendor", "target", "memory_used_mib", "memory_total_mib", "utilization_pct",
               "temperature_c", "power_w", "power_limit_w")


def farm_context(data: Any) -> dict[str, Any]:
    hosts = []
    for host in records(data, "hosts", ("host", "online", "busy", "last_seen", "expected_gpus", "gpus", "ci_jobs",
                                        "driver_version", "cuda_version", "rocm_version")):
        gpus = _texts(records({"gpus": host["gpus"]}, "gpus", _GPU_FIELDS))
        jobs = [{**job, "url": job["url"] if job["url"].startswith(("http://", "https://")) else ""}
                for job in _texts(records({"jobs": host["ci_jobs"]}, "jobs", ("name", "platform", "url")))]
        hosts.append({**_texts([host])[0], "online": host["online"] is True, "busy": host["busy"] is True,
                      "gpus": gpus, "last_seen": iso_utc(host["last_seen"]), "ci_jobs": jobs})
    queue = data.get("queue") if isinstance(data, dict) else None
    return {
        "updated": iso_utc(data.get("updated")) if isinstance(data, dict) else None,
        "hosts": hosts,
        "alerts": _texts(records(data, "alerts", ("kind", "host", "since", "text"))),
        "ci": [_ci_row(row) for row in records(data, "ci", ("platform", "runs", "passed", "failed", "skipped",
                                                             "failing", "url"))],
        "plots": _texts(records(data, "plots", ("title", "file"))),
        "queue": _texts(records(queue, "platforms", ("platform", "waiting", "running"))),
        "oldest_wait": _wait(queue.get("oldest_wait_s") if isinstance(queue, dict) else None),
    }


def _wait(seconds: Any) -> str:
    """"1 h 5 min" from the queue's oldest_wait_s; "" when there is none or it is no number."""
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
        return ""
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _ci_row(row: dict[str, Any]) -> dict[str, Any]:
    failing = [_s(f) for f in row["failing"][:50]] if isinstance(row["failing"], list) else []
    url = row["url"] if isinstance(row["url"], str) and row["url"].startswith(("http://", "https://")) else None
    counts = _texts([{k: row[k] for k in ("platform", "runs", "passed", "failed", "skipped")}])[0]
    return {**counts, "failing": failing, "url": url}


def _texts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every value as short display text (numbers as written, None as ""); flags and lists stay."""
    return [
        {key: value if key in ("gpus", "online", "cancelled", "ci_jobs") else _s(value) for key, value in row.items()}
        for row in rows
    ]


def _s(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)[:500]


def month_grids(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events ({"day": "YYYY-MM-DD", ...}) as month grids, newest month first: each month a list of weeks
    (Monday first), each day None (outside the month) or {"n": day, "events": [...]}."""
    by_day: dict[str, list[dict[str, Any]]] = {}
    for e in sorted(events, key=lambda e: (e["day"], e["time"])):
        if _DAY.fullmatch(e["day"]) and 1 <= int(e["day"][5:7]) <= 12:  # a hand-edited record may say anything
            by_day.setdefault(e["day"], []).append(e)
    months = sorted({d[:7] for d in by_day}, reverse=True)
    out = []
    for month in months:
        year, mon = int(month[:4]), int(month[5:7])
        weeks = [[None if n == 0 else {"n": n, "events": by_day.get(f"{month}-{n:02d}", [])} for n in week]
                 for week in calendar.Calendar().monthdayscalendar(year, mon)]
        out.append({"id": month, "name": f"{calendar.month_name[mon]} {year}", "weeks": weeks,
                    "count": sum(len(by_day.get(f"{month}-{n:02d}", [])) for n in range(1, 32))})
    return out
