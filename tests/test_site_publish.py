"""Publishing after a meeting: the dispatcher's hook, the rebuild, a commit, a push to a real
(local, bare) git remote, and a retry when the remote cannot be reached."""

from __future__ import annotations

import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from bot.config import parse_config
from bot.core.message import Message, Network
from bot.dispatch import Dispatcher
from bot.registry import build_registry
from bot.site.config import SiteSettings
from bot.site.publish import Publisher, is_notes_repository
from bot.storage import open_store
from site_samples import simple_meeting

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
