"""After each meeting: rebuild the site, commit the notes repository, push it.

The dispatcher calls `Publisher.notify` (one of its `notes_written` hooks) right
after it writes a meeting's notes; that only queues the meeting and wakes the
publishing service, so chat handling never waits for a build or for git. The
service does the work in a thread: an incremental build, then, when the notes
folder is itself a git repository (never a parent repository, such as a
checkout of sigbot that happens to contain notes/), `git add -A` and one commit
`Minutes: <team> <date> <name>`, then a push when `[site] git_push` is set. A
push that fails is tried again after `retry_minutes`, and with the next meeting.

Between meetings the site must not go stale: `!done` rewrites actions.json, an
agent report rewrites farm/status.json, a loan changes loans.json. Every
WATCH_SECONDS the service compares the (size, mtime) of every published file
and of the team and year folders (sources.published_stamp: stat calls only)
with those of the last build, and rebuilds incrementally when any differ, so a
page is at most WATCH_SECONDS plus one build behind its data. Such a rebuild
commits nothing: the notes repository gets one commit per meeting, which then
carries every published file as it is, not one per farm report.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.meeting.minutes import Minutes
from bot.site.apart import build_apart
from bot.site.config import BuildReport, SiteOptions, SiteSettings, site_settings
from bot.site.sources import published_stamp

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

GIT_TIMEOUT = 120  # seconds; a hung push must not hold the publisher forever
WATCH_SECONDS = 30.0  # how often the published files are compared with the last build


@dataclass
class PublishResult:
    built: BuildReport
    committed: str | None = None  # the commit's subject
    pushed: bool = False
    push_error: str | None = None


def commit_subject(team: str, started: datetime, name: str) -> str:
    return f"Minutes: {team} {started:%Y-%m-%d} {' '.join(name.split())}"


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT,
                          stdin=subprocess.DEVNULL, env=None)


def is_notes_repository(notes: Path) -> bool:
    """Whether `notes` is the top of its own git repository."""
    if not (notes / ".git").exists():
        return False
    try:
        top = _git(notes, "rev-parse", "--show-toplevel")
    except (OSError, subprocess.TimeoutExpired):
        return False
    return top.returncode == 0 and Path(top.stdout.strip()).resolve() == notes.resolve()


def commit_notes(notes: Path, subjects: list[str]) -> str | None:
    """Commit everything changed under `notes`; returns the subject, or None when nothing changed."""
    _git(notes, "add", "-A", ".").check_returncode()
    if _git(notes, "diff", "--cached", "--quiet").returncode == 0:
        return None
    subject = subjects[0] if subjects else "Notes: published files updated"
    if len(subjects) > 1:
        subject += f" (+{len(subjects) - 1} more)"
    message = "\n".join([subject, "", *subjects[1:]]) if len(subjects) > 1 else subject
    identity = []
    if not _git(notes, "config", "user.email").stdout.strip():
        identity = ["-c", "user.name=sigbot", "-c", "user.email=sigbot@localhost"]
    result = _git(notes, *identity, "commit", "-q", "--no-verify", "-m", message)
    if result.returncode != 0:
        raise RuntimeError(f"git commit failed: {result.stderr.strip() or result.stdout.strip()}")
    return subject


def push_notes(notes: Path, remote: str, branch: str) -> str | None:
    """Push HEAD to `remote`'s `branch`; returns None on success, else git's reason."""
    try:
        result = _git(notes, "push", "-q", remote, f"HEAD:refs/heads/{branch}")
    except subprocess.TimeoutExpired:
        return f"git push timed out after {GIT_TIMEOUT} s"
    if result.returncode == 0:
        return None
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"git push exited with {result.returncode}"


class Publisher:
    """Queued meetings in, build + commit + push out. `notify` is safe from any thread."""

    def __init__(self, notes: Path, settings: SiteSettings, public_url: str | None = None):
        self.notes = notes
        self.settings = settings
        self.options = SiteOptions(title=settings.title, public_url=public_url)
        self.wake: Callable[[], object] = lambda: None  # what it returns is not used
        self.retry_at: datetime | None = None  # when a failed push is due again
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._unpushed = False
        self._stamp: dict[str, Any] | None = None  # published_stamp() taken just before the last build

    def stale(self) -> bool:
        """Whether a published file or a meeting folder changed since the last build."""
        return published_stamp(self.notes) != self._stamp

    def rebuild(self) -> BuildReport:
        """An incremental build of the site alone (no commit): what the watch does when the site is stale.
        Built in a child process (bot/site/apart.py): the bot does not keep the builder in memory."""
        stamp = published_stamp(self.notes)  # before: a file changed during the build is seen next time
        report = build_apart(self.notes, self.settings.out, self.options)
        self._stamp = stamp
        return report

    def notify(self, team: str, path: Path, minutes: Minutes) -> None:
        with self._lock:
            self._pending.append(commit_subject(team, minutes.started, minutes.name or minutes.room))
        self.wake()

    def seconds_until_retry(self, now: datetime) -> float | None:
        if self.retry_at is None:
            return None
        return max(0.0, (self.retry_at - now).total_seconds())

    def run_once(self, now: datetime) -> PublishResult:
        """Build, commit what is new, push when asked to; never raises for a failed push."""
        with self._lock:
            subjects, self._pending = self._pending, []
        try:
            result = PublishResult(built=self.rebuild())
            if not is_notes_repository(self.notes):
                return result
            result.committed = commit_notes(self.notes, subjects)
        except Exception:
            with self._lock:  # keep the subjects for the next attempt
                self._pending[:0] = subjects
            raise
        self._unpushed = self._unpushed or result.committed is not None
        if not self.settings.git_push or not self._unpushed:
            return result
        if result.committed is None and self.retry_at is not None and now < self.retry_at:
            return result  # nothing new; wait for the retry time
        result.push_error = push_notes(self.notes, self.settings.remote, self.settings.branch)
        if result.push_error is None:
            result.pushed, self._unpushed, self.retry_at = True, False, None
        else:
            self.retry_at = now + timedelta(minutes=self.settings.retry_minutes)
            log.warning("pushing the notes to %s failed (%s); trying again at %s", self.settings.remote,
                        result.push_error, f"{self.retry_at:%H:%M} UTC")
        return result


async def publish_service(rt: Runtime, stop: asyncio.Event) -> None:
    """SERVICES entry: build the site at start, then after every meeting (and retry failed pushes), and
    whenever the published files change (checked every WATCH_SECONDS)."""
    settings = site_settings(rt.config)
    if not settings.publish:
        return
    publisher = Publisher(rt.config.notes_dir, settings, rt.config.web_public_url)
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    publisher.wake = lambda: loop.call_soon_threadsafe(wake.set)
    rt.state["site_publisher"] = publisher
    rt.dispatcher.notes_written.append(publisher.notify)
    wake.set()  # the first build, so `sigbot run` serves an up-to-date site
    try:
        while not stop.is_set():
            waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
            retry = publisher.seconds_until_retry(rt.now())
            await asyncio.wait(waiters, timeout=WATCH_SECONDS if retry is None else min(retry, WATCH_SECONDS),
                               return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if stop.is_set():
                break
            due = publisher.seconds_until_retry(rt.now()) == 0
            if not wake.is_set() and not due:
                try:
                    if await asyncio.to_thread(publisher.stale):
                        report = await asyncio.to_thread(publisher.rebuild)
                        log.info("site rebuilt: published files changed (%d files written)", len(report.written))
                except Exception:
                    log.exception("rebuilding the site after a change failed; trying again in %g s", WATCH_SECONDS)
                continue
            wake.clear()
            try:
                result = await asyncio.to_thread(publisher.run_once, rt.now())
            except Exception:
                log.exception("publishing the notes failed; trying again with the next meeting")
                continue
            if result.committed:
                log.info("published %s (%d files rebuilt)", result.committed, len(result.built.written))
    finally:
        rt.dispatcher.notes_written.remove(publisher.notify)
