"""The farm's published state: one `FarmView` built from the store, and status.json.

`notes/<team>/farm/status.json` follows docs/extending.md; the plots lie
beside it.  Files are written atomically and only when their content changed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config.model import Team
from bot.core.files import write_json_if_changed
from bot.core.record import record
from bot.farm.alerts import HostSnapshot, Snapshot
from bot.farm.config import FarmSettings, Machine
from bot.farm.host.report import HostReport
from bot.farm.store import CiJob, CiRun, FarmStore

RUNS_SHOWN = 20


def farm_dir(team: Team) -> Path:
    return team.notes_dir / "farm"


def plot_name(host: str, span: str) -> str:
    """File name of a host's plot; host names are checked by the config (letters, digits, . - _)."""
    return f"{host}-{span}.svg"


@record
class HostView:
    machine: Machine
    last_seen: datetime | None
    report: HostReport | None
    online: bool
    busy_pct: float = 10.0
    running: tuple[CiJob, ...] = ()  # CI jobs running on this machine's runner(s)

    @property
    def busy(self) -> bool:
        """Running a CI job, or any GPU running a process or above busy_pct utilization."""
        if not self.online:
            return False
        if self.running:
            return True
        return self.report is not None and any(
            g.processes or (g.utilization_pct or 0) >= self.busy_pct for g in self.report.gpus)


def runs_on(job: CiJob, machine: Machine) -> bool:
    """A self-hosted runner is named after its host: "gpu1", or "gpu1-2" for a second runner on it."""
    runner = (job.runner or "").lower()
    name = machine.name.lower()
    return runner == name or (runner.startswith(name) and not runner[len(name)].isalnum())


@record
class QueueView:
    """The CI queue: jobs waiting for a runner, jobs running, per platform."""

    jobs: tuple[CiJob, ...]
    now: datetime

    @property
    def waiting(self) -> tuple[CiJob, ...]:
        return tuple(j for j in self.jobs if j.state == "queued")

    @property
    def running(self) -> tuple[CiJob, ...]:
        return tuple(j for j in self.jobs if j.state == "in_progress")

    def oldest_wait(self) -> timedelta | None:
        waits = [self.now - j.since for j in self.waiting]
        return max(waits) if waits else None

    def per_platform(self) -> list[tuple[str, int, int]]:
        """(platform, waiting, running), the longest queue first."""
        names = sorted({j.platform for j in self.jobs})
        rows = [(p, sum(j.platform == p for j in self.waiting), sum(j.platform == p for j in self.running))
                for p in names]
        return sorted(rows, key=lambda r: (-r[1], -r[2], r[0]))


@record
class PlatformView:
    platform: str
    runs: tuple[CiRun, ...]  # newest first

    @property
    def latest(self) -> CiRun:
        return self.runs[0]


@record
class FarmView:
    team: str
    settings: FarmSettings
    hosts: tuple[HostView, ...]
    platforms: tuple[PlatformView, ...]
    alerts: tuple[dict[str, Any], ...]  # active alerts from the alert state (bot/farm/alerts.py)
    now: datetime
    queue: QueueView

    def snapshot(self) -> Snapshot:
        main = self.settings.main_branch
        return Snapshot(
            hosts=tuple(HostSnapshot(h.machine, h.last_seen, h.report) for h in self.hosts),
            ci_main=tuple((p.platform, tuple(r.result for r in p.runs if r.branch == main)[:2])
                          for p in self.platforms))


def farm_view(store: FarmStore, team: str, settings: FarmSettings, now: datetime) -> FarmView:
    seen = {h.host: h for h in store.hosts(team)}
    limit = timedelta(seconds=settings.interval_seconds * settings.offline_after_intervals)
    jobs = store.jobs(team, now)
    # With machines declared, the queue is their jobs (a repository's jobs on
    # GitHub's own runners are not the farm's); without, every job counts.
    queue = QueueView(tuple(j for j in jobs if j.matched or not settings.machines), now)
    hosts = []
    for m in settings.machines:
        h = seen.get(m.name)
        hosts.append(HostView(m, h.last_seen if h else None, h.report if h else None,
                              h is not None and now - h.last_seen <= limit, settings.busy_pct,
                              tuple(j for j in queue.running if runs_on(j, m))))
    platforms = tuple(PlatformView(p, tuple(store.runs(team, p, RUNS_SHOWN))) for p in store.platforms(team))
    alerts = tuple(sorted(store.alert_state(team).get("active", {}).values(), key=lambda a: a["since"]))
    return FarmView(team, settings, tuple(hosts), tuple(p for p in platforms if p.runs), alerts, now, queue)


def status_json(view: FarmView, plots: list[dict[str, str]]) -> dict[str, Any]:
    hosts = []
    for h in view.hosts:
        r = h.report
        hosts.append({
            "host": h.machine.name, "online": h.online, "busy": h.busy,
            "ci_jobs": [{"name": j.name, "platform": j.platform, "url": j.url} for j in h.running],
            "last_seen": h.last_seen.isoformat() if h.last_seen else None,
            "expected_gpus": h.machine.gpus, "labels": list(h.machine.labels),
            "gpus": [g.to_json() for g in r.gpus] if r else [],
            "driver_version": r.driver_version if r else None,
            "cuda_version": r.cuda_version if r else None,
            "rocm_version": r.rocm_version if r else None,
        })
    ci = [{
        "platform": p.platform, "runs": len(p.runs), "passed": p.latest.passed, "failed": p.latest.failed,
        "skipped": p.latest.skipped, "failing": list(p.latest.failing), "url": p.latest.url,
        "result": p.latest.result, "finished": p.latest.finished.isoformat(),
        "pass_rate": round(sum(r.result == "passed" for r in p.runs) / len(p.runs), 3),
    } for p in view.platforms]
    return {
        "team": view.team, "updated": view.now.isoformat(timespec="seconds"), "hosts": hosts,
        "alerts": [{"kind": a["kind"], "host": a["subject"], "since": a["since"], "text": a["text"]}
                   for a in view.alerts],
        "ci": ci, "queue": queue_json(view.queue), "plots": plots,
    }


def queue_json(queue: QueueView) -> dict[str, Any]:
    oldest = queue.oldest_wait()
    return {"waiting": len(queue.waiting), "running": len(queue.running),
            "oldest_wait_s": int(oldest.total_seconds()) if oldest is not None else None,
            "platforms": [{"platform": p, "waiting": w, "running": r} for p, w, r in queue.per_platform()]}


def write_status(folder: Path, status: dict[str, Any]) -> bool:
    return write_json_if_changed(folder / "status.json", status)
