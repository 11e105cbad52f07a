"""The farm's background work: alerts, published status and plots, the daily digest.

`watch` (in SERVICES) calls `tick` every TICK_SECONDS with `rt.now()`; tests
call `tick` and `publish` directly with an injected time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.config.model import Team
from bot.core.files import write_if_changed
from bot.core.message import Effect, Reply
from bot.farm import plots, render
from bot.farm.alerts import evaluate
from bot.farm.config import FarmSettings
from bot.farm.publish import farm_dir, farm_view, plot_name, status_json, write_status
from bot.farm.store import FarmStore
from bot.runtime import Runtime, ticks

log = logging.getLogger(__name__)
TICK_SECONDS = 15
PUBLISH_EVERY = timedelta(minutes=5)


def farm_teams(rt: Runtime) -> list[tuple[Team, FarmSettings]]:
    return [(t, t.sections["farm"]) for t in rt.config.teams
            if isinstance(t.sections.get("farm"), FarmSettings) and t.sections["farm"].enabled]


def base_url(rt: Runtime) -> str | None:
    return rt.config.web_public_url or rt.state.get("web_url")


def tick(rt: Runtime, now: datetime) -> list[Effect]:
    """Evaluate every team's alerts once; return the posts; post the digest when due."""
    store = FarmStore(rt.store.db)
    effects: list[Effect] = []
    for team, settings in farm_teams(rt):
        view = farm_view(store, team.name, settings, now)
        with rt.store.transaction():
            state, events = evaluate(store.alert_state(team.name), view.snapshot(), settings, now)
            store.set_alert_state(team.name, state)
        effects += [Reply(team.home, render.alert_text(e)) for e in events]
        if digest_due(rt, team, settings, now):
            effects.append(Reply(team.home, render.digest(farm_view(store, team.name, settings, now), base_url(rt))))
    return effects


def digest_due(rt: Runtime, team: Team, settings: FarmSettings, now: datetime) -> bool:
    """True once a day, at the first tick at or after `digest_time` in the team's zone."""
    if settings.digest_time is None:
        return False
    local = now.astimezone(ZoneInfo(team.timezone))
    if local.time() < settings.digest_time:
        return False
    key = f"farm-digest:{team.name}"
    if rt.store.get_value(key) == local.date().isoformat():
        return False
    rt.store.set_value(key, local.date().isoformat())
    return True


def publish_jobs(rt: Runtime, now: datetime) -> list[Callable[[], object]]:
    """Fold old history and read what to publish (here, on the caller's thread: the
    database connection is shared); the returned jobs only draw and write files."""
    store = FarmStore(rt.store.db)
    store.compact(now)
    jobs: list[Callable[[], object]] = []
    for team, settings in farm_teams(rt):
        folder = farm_dir(team)
        listed = []
        for m in settings.machines:
            for span, days in (("day", 1), ("week", 7)):
                start = now - timedelta(days=days)
                samples = store.samples(team.name, m.name, start)
                path = folder / plot_name(m.name, span)
                jobs.append(partial(_write_plot, path, plots.host_plot, m.name, samples, start, now))
                listed.append({"title": f"{m.name}, last {span}", "file": plot_name(m.name, span)})
        runs = {p: store.runs(team.name, p) for p in store.platforms(team.name)}
        if runs:
            start = now - timedelta(days=30)
            jobs.append(partial(_write_plot, folder / "ci-pass-rate.svg", plots.ci_plot, runs, start, now))
            listed.append({"title": "CI pass rate per platform", "file": "ci-pass-rate.svg"})
        jobs.append(partial(write_status, folder, status_json(farm_view(store, team.name, settings, now), listed)))
    return jobs


def _write_plot(path: Path, draw: Callable[..., bytes], *args: Any) -> None:
    write_if_changed(path, draw(*args))


def publish(rt: Runtime, now: datetime) -> None:
    _run_jobs(publish_jobs(rt, now))


def _run_jobs(jobs: list[Callable[[], object]]) -> None:
    for job in jobs:
        job()


async def watch(rt: Runtime, stop: asyncio.Event) -> None:
    if not farm_teams(rt):
        return
    last_publish: datetime | None = None
    async for _ in ticks(stop, TICK_SECONDS):
        now = rt.now()
        try:
            rt.deliver(tick(rt, now))
            if last_publish is None or now - last_publish >= PUBLISH_EVERY:
                jobs = publish_jobs(rt, now)
                # Plotting and writing files take a while on a big farm: off the event loop.
                await asyncio.to_thread(_run_jobs, jobs)
                last_publish = now
        except Exception:
            log.exception("the farm watch failed")
