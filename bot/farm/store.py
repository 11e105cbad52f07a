"""The farm's tables: latest report per host, sample history, CI runs, alert state.

History is bounded: raw samples (at most one per host every MIN_SAMPLE_SECONDS)
are kept for a day, then folded into hourly means kept for a month; older rows
are dropped.  CI runs are kept for a month, at most MAX_RUNS per platform;
the jobs of the CI queue until a day after they finish.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from bot.core.record import record
from bot.farm.host.report import HostReport

MIGRATIONS = Migrations("sigbot-farm")

RAW_KEEP = timedelta(days=1)
HOURLY_KEEP = timedelta(days=31)
# GitHub cancels a job queued for 24 h, and a self-hosted job may run for 5
# days; a job whose later events were lost is forgotten after that.
JOB_KEEP = timedelta(days=5)
DONE_KEEP = timedelta(days=1)  # finished jobs are remembered against late "queued" events
MIN_SAMPLE_SECONDS = 5
MAX_RUNS = 200
MAX_FAILING = 50  # failing test names kept per run


@MIGRATIONS()
def m001_farm_tables(db: Database) -> None:
    db.table("farm_hosts").create({"team": str, "host": str, "last_seen": str, "last_sample": str, "source": str,
                             "report": str},
                            pk=("team", "host"))
    sample = {"team": str, "host": str, "gpu": int, "time": str, "util": float, "mem_used": float,
              "mem_total": float, "temp": float, "power": float}
    db.table("farm_samples").create(sample)
    db.table("farm_samples").create_index(["team", "host", "time"])
    db.table("farm_hourly").create({**sample, "n": int}, pk=("team", "host", "gpu", "time"))
    db.table("farm_ci_runs").create(
        {"id": int, "team": str, "platform": str, "source": str, "run_key": str, "branch": str,
         "finished": str, "result": str, "passed": int, "failed": int, "skipped": int,
         "failing": str, "url": str},
        pk="id",
    )
    db.table("farm_ci_runs").create_index(["team", "source", "run_key"], unique=True)
    db.table("farm_ci_runs").create_index(["team", "platform", "finished"])
    db.table("farm_alert_state").create({"team": str, "state": str}, pk="team")


@MIGRATIONS()
def m002_ci_queue(db: Database) -> None:
    """GitHub Actions jobs not yet finished: the CI queue of `!farm`."""
    db.table("farm_ci_jobs").create({"team": str, "job_id": str, "platform": str, "state": str, "since": str,
                               "runner": str, "name": str, "url": str, "matched": int,
                               "updated": str}, pk=("team", "job_id"))


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="seconds")


@record
class HostSeen:
    host: str
    last_seen: datetime
    source: str
    report: HostReport


@record
class Sample:
    host: str
    gpu: int
    time: datetime
    util: float | None
    mem_used: float | None
    mem_total: float | None
    temp: float | None
    power: float | None


@record
class CiRun:
    platform: str
    source: str  # github | junit | testing-farm
    run_key: str  # unique per source: the job id, an upload's hash, the request id
    branch: str | None
    finished: datetime
    result: str  # passed | failed | skipped | cancelled | error
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failing: tuple[str, ...] = ()
    url: str | None = None


# GitHub's actions, in the order a job goes through them ("waiting": held for
# an environment's approval, not yet queued for a runner).
JOB_STATES = {"waiting": 0, "queued": 0, "in_progress": 1, "completed": 2}


@record
class CiJob:
    """One GitHub Actions job as the CI queue sees it."""

    job_id: str
    platform: str
    state: str  # queued | in_progress | completed
    since: datetime  # queued: created_at; in_progress: started_at; completed: completed_at
    runner: str | None = None
    name: str | None = None
    url: str | None = None
    matched: bool = False  # a label of the job names one of the team's machines


class FarmStore:
    def __init__(self, db: Database):
        self.db = db

    # --- hosts and samples ------------------------------------------------

    def record_report(self, team: str, report: HostReport, now: datetime, source: str) -> None:
        rows = list(self.db.query("SELECT last_sample FROM farm_hosts WHERE team = ? AND host = ?",
                                  [team, report.host]))
        last = datetime.fromisoformat(rows[0]["last_sample"]) if rows and rows[0]["last_sample"] else None
        # History is bounded however often a host reports: one sample per MIN_SAMPLE_SECONDS.
        sample = last is None or (now - last).total_seconds() >= MIN_SAMPLE_SECONDS
        self.db.table("farm_hosts").upsert(
            {
                "team": team,
                "host": report.host,
                "last_seen": _iso(now),
                "source": source,
                "report": json.dumps(report.to_json()),
                "last_sample": _iso(now) if sample or last is None else _iso(last),
            },
            pk=("team", "host"),
        )
        if sample:
            self.db.table("farm_samples").insert_all(
                {"team": team, "host": report.host, "gpu": g.index, "time": _iso(now),
                 "util": g.utilization_pct, "mem_used": g.memory_used_mib, "mem_total": g.memory_total_mib,
                 "temp": g.temperature_c, "power": g.power_w}
                for g in report.gpus)

    def host(self, team: str, host: str) -> HostSeen | None:
        rows = list(self.db.query("SELECT * FROM farm_hosts WHERE team = ? AND host = ?", [team, host]))
        return _host(rows[0]) if rows else None

    def hosts(self, team: str) -> list[HostSeen]:
        return [_host(r) for r in self.db.query("SELECT * FROM farm_hosts WHERE team = ? ORDER BY host", [team])]

    def samples(self, team: str, host: str, since: datetime) -> list[Sample]:
        """Raw samples and hourly means since `since`, oldest first."""
        rows = self.db.query(
            "SELECT host, gpu, time, util, mem_used, mem_total, temp, power FROM farm_hourly"
            " WHERE team = ? AND host = ? AND time >= ?"
            " UNION ALL SELECT host, gpu, time, util, mem_used, mem_total, temp, power FROM farm_samples"
            " WHERE team = ? AND host = ? AND time >= ? ORDER BY time",
            [team, host, _iso(since), team, host, _iso(since)])
        return [Sample(r["host"], r["gpu"], datetime.fromisoformat(r["time"]), r["util"], r["mem_used"],
                       r["mem_total"], r["temp"], r["power"]) for r in rows]

    def compact(self, now: datetime) -> None:
        """Fold raw samples older than a day into hourly means; drop what is older than a month."""
        cutoff = _iso(now - RAW_KEEP)
        with self.db.atomic():
            # substr(time, 1, 13) is "YYYY-MM-DDTHH": times are stored in UTC, one format.
            self.db.execute(
                "INSERT INTO farm_hourly (team, host, gpu, time, util, mem_used, mem_total, temp, power, n)"
                " SELECT team, host, gpu, substr(time, 1, 13) || ':00:00+00:00', avg(util), avg(mem_used),"
                " avg(mem_total), avg(temp), avg(power), count(*) FROM farm_samples WHERE time < ?"
                " GROUP BY team, host, gpu, substr(time, 1, 13)"
                " ON CONFLICT (team, host, gpu, time) DO UPDATE SET"
                " util = (util * n + excluded.util * excluded.n) / (n + excluded.n),"
                " mem_used = (mem_used * n + excluded.mem_used * excluded.n) / (n + excluded.n),"
                " mem_total = excluded.mem_total,"
                " temp = (temp * n + excluded.temp * excluded.n) / (n + excluded.n),"
                " power = (power * n + excluded.power * excluded.n) / (n + excluded.n),"
                " n = n + excluded.n", [cutoff])
            self.db.execute("DELETE FROM farm_samples WHERE time < ?", [cutoff])
            self.db.execute("DELETE FROM farm_hourly WHERE time < ?", [_iso(now - HOURLY_KEEP)])
            self.db.execute("DELETE FROM farm_ci_runs WHERE finished < ?", [_iso(now - HOURLY_KEEP)])
            self.db.execute("DELETE FROM farm_ci_jobs WHERE (state = 'completed' AND updated < ?) OR updated < ?",
                            [_iso(now - DONE_KEEP), _iso(now - JOB_KEEP)])

    def counts(self) -> dict[str, int]:
        return {t: self.db[t].count for t in ("farm_samples", "farm_hourly", "farm_ci_runs", "farm_ci_jobs")}

    # --- CI -----------------------------------------------------------------

    def record_run(self, team: str, run: CiRun) -> bool:
        """Store a finished run; False when this run was stored already (a redelivered webhook)."""
        exists = list(self.db.query("SELECT 1 FROM farm_ci_runs WHERE team = ? AND source = ? AND run_key = ?",
                                    [team, run.source, run.run_key]))
        if exists:
            return False
        with self.db.atomic():
            self.db.table("farm_ci_runs").insert(
                {"team": team, "platform": run.platform, "source": run.source, "run_key": run.run_key,
                 "branch": run.branch, "finished": _iso(run.finished), "result": run.result,
                 "passed": run.passed, "failed": run.failed, "skipped": run.skipped,
                 "failing": json.dumps(list(run.failing[:MAX_FAILING])), "url": run.url})
            self.db.execute(
                "DELETE FROM farm_ci_runs WHERE team = ? AND platform = ? AND id NOT IN"
                " (SELECT id FROM farm_ci_runs WHERE team = ? AND platform = ? ORDER BY finished DESC, id DESC"
                " LIMIT ?)", [team, run.platform, team, run.platform, MAX_RUNS])
        return True

    def runs(self, team: str, platform: str | None = None, limit: int = MAX_RUNS) -> list[CiRun]:
        """Newest first."""
        where, args = ("team = ?", [team]) if platform is None else ("team = ? AND platform = ?", [team, platform])
        rows = self.db.query(f"SELECT * FROM farm_ci_runs WHERE {where} ORDER BY finished DESC, id DESC LIMIT ?",
                             [*args, limit])
        return [_run(r) for r in rows]

    def platforms(self, team: str) -> list[str]:
        return [r["platform"] for r in self.db.query(
            "SELECT DISTINCT platform FROM farm_ci_runs WHERE team = ? ORDER BY platform", [team])]

    def record_job(self, team: str, job: CiJob, now: datetime) -> bool:
        """Move a job forward in the queue; False for an event older than what is stored.

        Webhooks may arrive out of order or twice: a job never goes back from
        in_progress to queued, nor from completed to anything.
        """
        rows = list(self.db.query("SELECT state FROM farm_ci_jobs WHERE team = ? AND job_id = ?",
                                  [team, job.job_id]))
        if rows and JOB_STATES[rows[0]["state"]] >= JOB_STATES[job.state]:
            return False
        self.db.table("farm_ci_jobs").upsert(
            {"team": team, "job_id": job.job_id, "platform": job.platform, "state": job.state,
             "since": _iso(job.since),
             "runner": job.runner, "name": job.name, "url": job.url, "matched": int(job.matched),
             "updated": _iso(now)}, pk=("team", "job_id"))
        return True

    def jobs(self, team: str, now: datetime) -> list[CiJob]:
        """Queued and running jobs, oldest first (a job silent for JOB_KEEP is not counted)."""
        rows = self.db.query("SELECT * FROM farm_ci_jobs WHERE team = ? AND state != 'completed' AND updated >= ?"
                             " ORDER BY since, job_id", [team, _iso(now - JOB_KEEP)])
        return [CiJob(job_id=r["job_id"], platform=r["platform"], state=r["state"],
                      since=datetime.fromisoformat(r["since"]), runner=r["runner"], name=r["name"], url=r["url"],
                      matched=bool(r["matched"])) for r in rows]

    # --- alert state ----------------------------------------------------------

    def alert_state(self, team: str) -> dict[str, Any]:
        rows = list(self.db.query("SELECT state FROM farm_alert_state WHERE team = ?", [team]))
        return json.loads(rows[0]["state"]) if rows else {}

    def set_alert_state(self, team: str, state: dict[str, Any]) -> None:
        self.db.table("farm_alert_state").upsert({"team": team, "state": json.dumps(state)}, pk="team")


def _host(row: dict[str, Any]) -> HostSeen:
    return HostSeen(row["host"], datetime.fromisoformat(row["last_seen"]), row["source"],
                    HostReport.from_json(json.loads(row["report"])))


def _run(row: dict[str, Any]) -> CiRun:
    return CiRun(platform=row["platform"], source=row["source"], run_key=row["run_key"], branch=row["branch"],
                 finished=datetime.fromisoformat(row["finished"]), result=row["result"], passed=row["passed"],
                 failed=row["failed"], skipped=row["skipped"], failing=tuple(json.loads(row["failing"] or "[]")),
                 url=row["url"])
