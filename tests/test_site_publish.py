"""Publishing after a meeting: the dispatcher's hook, the rebuild, a commit, a push to a real
(local, bare) git remote, and a retry when the remote cannot be reached."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
from site_samples import simple_meeting

from bot.config import parse_config
from bot.core.message import Message, Network
from bot.dispatch import Dispatcher
from bot.farm.publish import write_status
from bot.registry import build_registry
from bot.runtime import Runtime
from bot.site.apart import build_apart
from bot.site.config import SiteOptions, SiteSettings, site_settings
from bot.site.publish import Publisher, is_notes_repository, publish_service
from bot.storage import open_store
from bot.web.server import build_app, start_web

NOW = datetime(2024, 5, 2, 16, 0, tzinfo=timezone.utc)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def notes_repo(tmp_path: Path, remote: Path) -> Path:
    notes = tmp_path / "notes"
    notes.mkdir()
    git(notes, "init", "-q", "-b", "main")
    git(notes, "remote", "add", "origin", str(remote))
    return notes


def test_a_meeting_is_built_committed_and_pushed_to_the_remote(tmp_path):
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    notes = notes_repo(tmp_path, remote)
    publisher = Publisher(notes, SiteSettings(out=tmp_path / "site", git_push=True))
    md = simple_meeting(notes, "rocm", date(2024, 5, 2), "ROCm packaging")
    minutes = type("M", (), {"started": datetime(2024, 5, 2, 15, 0, tzinfo=timezone.utc), "name": "ROCm packaging",
                             "room": "#rocm"})()
    publisher.notify("rocm", md, minutes)
    result = publisher.run_once(NOW)
    assert result.committed == "Minutes: rocm 2024-05-02 ROCm packaging" and result.pushed
    assert git(remote, "log", "--format=%s", "main").splitlines() == ["Minutes: rocm 2024-05-02 ROCm packaging"]
    assert "rocm/2024/2024-05-02-1500-rocm-packaging.md" in git(remote, "ls-tree", "-r", "--name-only", "main")
    assert (tmp_path / "site" / "rocm/2024/2024-05-02-1500-rocm-packaging.html").is_file()
    assert publisher.run_once(NOW).committed is None  # nothing new: no empty commit


def test_a_failed_push_is_retried_later_and_then_lands(tmp_path):
    remote = tmp_path / "later.git"  # not there yet: the push fails
    notes = notes_repo(tmp_path, remote)
    publisher = Publisher(notes, SiteSettings(out=tmp_path / "site", git_push=True, retry_minutes=10))
    md = simple_meeting(notes, "wg", date(2024, 5, 2))
    publisher.notify("wg", md, type("M", (), {"started": NOW, "name": None, "room": "#wg"})())
    first = publisher.run_once(NOW)
    assert first.committed == "Minutes: wg 2024-05-02 #wg" and not first.pushed and first.push_error
    assert publisher.seconds_until_retry(NOW) == 600
    assert publisher.run_once(NOW + timedelta(minutes=5)).push_error is None  # not due: not tried
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    retried = publisher.run_once(NOW + timedelta(minutes=10))
    assert retried.pushed and publisher.retry_at is None
    assert git(remote, "log", "--format=%s", "main").splitlines() == ["Minutes: wg 2024-05-02 #wg"]


def test_notes_inside_another_repository_are_never_committed(tmp_path):
    outer = tmp_path / "checkout"
    (outer / "notes").mkdir(parents=True)
    git(outer, "init", "-q")
    assert not is_notes_repository(outer / "notes")
    simple_meeting(outer / "notes", "wg", date(2024, 5, 2))
    result = Publisher(outer / "notes", SiteSettings(out=tmp_path / "site")).run_once(NOW)
    assert result.built.meetings == 1 and result.committed is None
    assert subprocess.run(["git", "-C", str(outer), "rev-parse", "HEAD"], capture_output=True).returncode != 0


def test_the_dispatcher_calls_its_notes_hooks_when_a_meeting_ends(tmp_path):
    config = parse_config({"bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
                           "teams": [{"name": "wg", "matrix_room": "!wg:localhost"}]}, tmp_path / "sigbot.toml")
    dispatcher = Dispatcher(config, open_store(config.database), build_registry())
    calls = []
    dispatcher.notes_written.append(lambda team, path, minutes: calls.append((team, path.name, minutes.name)))
    dispatcher.notes_written.append(lambda *args: 1 / 0)  # a broken hook loses nothing
    for n, text in enumerate(["#startmeeting Sync", "#info hello", "#endmeeting"]):
        dispatcher.handle(Message(Network.MATRIX, "!wg:localhost", "@a:localhost", "a", text,
                                  NOW + timedelta(seconds=n), event_id=f"$e{n}"))
    assert calls == [("wg", "2024-05-02-1600-sync.md", "Sync")]
    assert (tmp_path / "notes/wg/2024/2024-05-02-1600-sync.md").is_file()


def farm_team_config(tmp_path: Path):
    return parse_config({"bot": {"data_dir": str(tmp_path / "var"), "notes_dir": str(tmp_path / "notes")},
                         "site": {"out": str(tmp_path / "site")},
                         "teams": [{"name": "ml", "matrix_room": "#ml:example.org", "farm": {
                             "machines": [{"name": "vm", "gpus": 1, "secret_env": "T_SITE_VM"}]}}]},
                        tmp_path / "sigbot.toml")


def farm_status(online: bool, seen: str) -> dict:
    return {"team": "ml", "updated": seen, "alerts": [], "ci": [], "plots": [], "queue": None,
            "hosts": [{"host": "vm", "online": online, "busy": False, "last_seen": seen, "expected_gpus": 1,
                       "gpus": [], "ci_jobs": []}]}


def test_a_changed_published_file_makes_the_site_stale_and_an_incremental_rebuild_shows_it(tmp_path):
    config = farm_team_config(tmp_path)
    team = config.teams[0]
    publisher = Publisher(config.notes_dir, site_settings(config))
    simple_meeting(config.notes_dir, "ml", date(2024, 5, 2))
    actions = team.notes_dir / "actions.json"
    actions.write_text(json.dumps({"open": [{"n": 1, "owner": "bob", "text": "bob to file the review request"}]}))
    publisher.rebuild()
    assert not publisher.stale()
    assert "bob to file the review request" in (tmp_path / "site/ml/index.html").read_text()
    actions.write_text(json.dumps({"open": []}))  # `!done 1`
    assert publisher.stale()
    report = publisher.rebuild()
    assert "ml/index.html" in report.written and not any(w.endswith(".md") for w in report.written)
    assert "bob to file the review request" not in (tmp_path / "site/ml/index.html").read_text()
    assert not publisher.stale()
    write_status(team.notes_dir / "farm", farm_status(True, "2026-12-01T05:42:00+00:00"))  # a first farm report
    assert publisher.stale()


def test_the_farm_address_leads_to_the_one_farm_page_built_from_the_latest_report(tmp_path):
    config = farm_team_config(tmp_path)
    team = config.teams[0]
    rt = Runtime(config, Dispatcher(config, open_store(config.database), build_registry()))
    publisher = Publisher(config.notes_dir, site_settings(config))
    write_status(team.notes_dir / "farm", farm_status(False, "2026-12-01T05:37:00+00:00"))
    publisher.rebuild()

    async def fetch() -> tuple[str, str]:
        runner = await start_web(build_app(rt), "127.0.0.1:0")
        try:
            async with aiohttp.ClientSession() as http, http.get(rt.state["web_url"] + "/farm/ml/") as response:
                assert response.status == 200 and response.history[0].status == 302
                return str(response.url.path), await response.text()
        finally:
            await runner.cleanup()

    path, page = asyncio.run(fetch())
    assert path == "/ml/farm.html" and "offline" in page and 'datetime="2026-12-01T05:37:00Z"' in page
    write_status(team.notes_dir / "farm", farm_status(True, "2026-12-01T05:42:00+00:00"))
    assert publisher.stale()
    publisher.rebuild()
    path, page = asyncio.run(fetch())
    assert "online · idle" in page and "offline" not in page and 'datetime="2026-12-01T05:42:00Z"' in page


def test_the_publish_service_rebuilds_when_a_published_file_changes_without_a_meeting(tmp_path, monkeypatch):
    monkeypatch.setattr("bot.site.publish.WATCH_SECONDS", 0.05)  # 30 s in service; the wait is what is tested
    config = farm_team_config(tmp_path)
    team = config.teams[0]
    rt = Runtime(config, Dispatcher(config, open_store(config.database), build_registry()))
    page = tmp_path / "site/ml/farm.html"

    async def scenario() -> None:
        stop = asyncio.Event()
        service = asyncio.create_task(publish_service(rt, stop))
        try:
            write_status(team.notes_dir / "farm", farm_status(False, "2026-12-01T05:37:00+00:00"))
            await _until(lambda: page.is_file() and "offline" in page.read_text())
            write_status(team.notes_dir / "farm", farm_status(True, "2026-12-01T05:42:00+00:00"))
            await _until(lambda: "online · idle" in page.read_text())
        finally:
            stop.set()
            await asyncio.wait_for(service, 10)

    asyncio.run(scenario())


async def _until(condition, limit: float = 20.0) -> None:
    """Wait for the service to act (a deadline, not a sleep standing in for time that must pass)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, "the site was not rebuilt in time"
        await asyncio.sleep(0.02)


def test_the_running_bot_builds_in_a_child_and_holds_no_builder_and_a_failed_build_says_why(tmp_path, caplog):
    """bot/site/apart.py: the bot's builds run in a child process (issue 14: memory); the parent never
    imports the builder, and a child that fails is one clear line, not a silent stale site."""
    probe = ("import sys; from pathlib import Path; from bot.site.apart import build_apart; "
             "from bot.site.config import SiteOptions; "
             f"r = build_apart(Path({str(tmp_path / 'notes')!r}), Path({str(tmp_path / 'site')!r}), SiteOptions()); "
             "print('index.html' in r.written, 'jinja2' in sys.modules, 'bot.site.build' in sys.modules)")
    (tmp_path / "notes").mkdir()
    out = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True False False", out
    simple_meeting(tmp_path / "notes", "search", date(2024, 5, 2))  # a team folder the site cannot publish
    with caplog.at_level(logging.WARNING, logger="bot.site.apart"):
        build_apart(tmp_path / "notes", tmp_path / "site", SiteOptions())
    assert any("site build: " in r.getMessage() and "skipped 1 meeting(s)" in r.getMessage() for r in caplog.records)
    (tmp_path / "blocked").write_text("a file where the site's folder should be")
    with pytest.raises(RuntimeError, match="the site build exited with 1: .*blocked"):
        build_apart(tmp_path / "notes", tmp_path / "blocked", SiteOptions())
