"""Every published file is a function of its input: the same bytes in any process.

`publish_everything()` drives the real bot over a fresh database (a meeting said
through the Dispatcher, schedule changes, a loan, a farm report, a site build);
the test runs it in two processes with different PYTHONHASHSEED values, so a set
or a dict keyed by strings that decides an order shows as a difference, and
compares every file under notes/ and the built site byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bot.site.build import MANIFEST

ROOT = Path(__file__).resolve().parents[1]
ROOM = "!wg:localhost"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
SEEDS = ("1", "5")  # these two put a set of the team's zone names in different orders (checked below)
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Shanghai")


def publish_everything(base: Path) -> None:
    """Publish one of each file sigbot publishes into base/notes and base/site (the clock is fixed)."""
    from bot.config import parse_config
    from bot.core.message import Message, Network
    from bot.farm.host.nvidia import parse_nvidia_smi_csv
    from bot.farm.service import publish as publish_farm
    from bot.farm.store import CiRun, FarmStore
    from bot.registry import build_registry
    from bot.runtime import Runtime
    from bot.schedule.publish import publish as publish_schedule
    from bot.schedule.store import ScheduleStore
    from bot.site.build import build_site
    from bot.storage import open_store

    series = [  # one team, series in three zones (two with daylight saving) and an ended one
        {"id": "wg", "title": "Accelerator WG", "first": "2026-03-05T15:00", "every_weeks": 2,  # Europe/Berlin
         "chairs": ["@chair:localhost"]},
        {"id": "amer", "title": "Americas sync", "timezone": "America/New_York", "first": "2026-03-06T11:00",
         "monthly": "first friday"},
        {"id": "apac", "title": "APAC sync", "timezone": "Asia/Shanghai", "first": "2026-03-03T09:00",
         "every_weeks": 1, "until": "2026-12-31"},
    ]
    farm = {"interval_seconds": 60, "machines": [{"name": "h100", "gpus": 1, "secret_env": "UNUSED"},
                                                 {"name": "mi300", "gpus": 8, "secret_env": "UNUSED"}]}
    config = parse_config({
        "bot": {"data_dir": str(base / "var"), "notes_dir": str(base / "notes")},
        "web": {"public_url": "https://sig.example.org"},
        "teams": [{"name": "wg", "matrix_room": ROOM, "timezone": "Europe/Berlin", "admins": ["@admin:localhost"],
                   "schedule": {"series": series}, "loans": {"admins": ["@admin:localhost"]}, "farm": farm},
                  {"name": "ml", "matrix_room": "!ml:localhost", "timezone": "UTC",
                   "schedule": {"series": [{"id": "ml", "first": "2026-03-04T17:00", "every_weeks": 4}]}}],
    }, base / "sigbot.toml")
    from bot.dispatch import Dispatcher

    rt = Runtime(config, Dispatcher(config, open_store(config.database), build_registry()), now=lambda: T0)
    clock = T0

    def say(who: str, text: str) -> None:
        nonlocal clock
        clock += timedelta(minutes=1)
        rt.dispatcher.handle(Message(Network.MATRIX, ROOM, f"@{who}:localhost", who.capitalize(), text, clock,
                                     event_id=f"${clock.timestamp()}"))

    for who, text in [
        ("admin", "!cancel wg 2026-03-19 holiday"), ("admin", "!move amer 2026-04-03 2026-04-02T11:00"),
        ("admin", "!extra apac 2026-03-12T10:00 Extra APAC sync"),
        ("admin", '!hw add w7900-1 gpu vendor=AMD model="Radeon PRO W7900" target=gfx1100 memory=48GB'),
        ("admin", "!hw add mi210-1 gpu vendor=AMD model=MI210 target=gfx90a memory=64GB"),
        ("ada", "!loan request gfx1100 for rocBLAS CI"), ("bob", "!loan request gfx90a for MIOpen"),
        ("admin", "#startmeeting Accelerator WG"), ("admin", "#chair bob ada"), ("admin", "#topic CI"),
        ("bob", "#info the runners are back"), ("ada", "#agreed keep the nightly job"),
        ("admin", "#action bob ada to write the guide"), ("admin", "#action ada to file the review"),
        ("bob", "#link https://example.org/ci notes"), ("admin", "#endmeeting"),
    ]:
        say(who, text)
    publish_schedule(config, ScheduleStore(rt.store.db), clock)

    fixtures = ROOT / "tests" / "farm" / "fixtures" / "nvidia"
    store = FarmStore(rt.store.db)
    report = parse_nvidia_smi_csv((fixtures / "h100-load-wide.csv").read_text(), host="h100",
                                  apps_text=(fixtures / "h100-load-apps.csv").read_text())
    for minute in range(5):
        store.record_report("wg", report, clock + timedelta(minutes=minute), "agent")
    store.record_run("wg", CiRun("rocm-gfx1100", "junit", "a", "main", clock, "failed", 10, 2, 1,
                                 ("test_b", "test_a"), "https://ci.example/1"))
    publish_farm(rt, clock + timedelta(minutes=6))

    sys.path.insert(0, str(ROOT / "tests"))
    from site_samples import replay_samples  # the two bundled MeetBot logs as a second team's minutes

    replay_samples(config.notes_dir, "ai-ml")
    build_site(config.notes_dir, base / "site")


def published(base: Path) -> dict[str, bytes]:
    """Every file under notes/ and site/ but the site builder's own state (`.sigbot-site.json`: the
    inputs' paths and mtimes, for incremental builds), which is no page and never the same twice."""
    return {str(p.relative_to(base)): p.read_bytes() for folder in ("notes", "site")
            for p in sorted((base / folder).rglob("*")) if p.is_file() and p.name != MANIFEST}


def run_in_process(base: Path, seed: str) -> dict[str, bytes]:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    code = "import sys, pathlib, test_stable_outputs as t; t.publish_everything(pathlib.Path(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", code, str(base)], cwd=ROOT / "tests", env=env, check=True, timeout=300)
    return published(base)


def test_the_two_hash_seeds_order_a_set_of_the_zones_differently():
    code = f"print(list(set({ZONES!r})))"
    orders = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                             capture_output=True, text=True, check=True).stdout for seed in SEEDS}
    assert len(orders) == 2


def test_every_published_file_is_byte_identical_across_processes_with_other_hash_seeds(tmp_path):
    first, second = (run_in_process(tmp_path / f"seed-{seed}", seed) for seed in SEEDS)
    kinds = {Path(name).name for name in first}
    for expected in ("calendar.ics", "schedule.json", "actions.json", "loans.json", "status.json", "index.html"):
        assert expected in kinds, f"nothing published a {expected}: the test would prove nothing about it"
    assert any(name.endswith(".svg") for name in first) and any(name.endswith(".md") for name in first)
    assert sorted(first) == sorted(second)
    differing = [name for name in first if first[name] != second[name]]
    assert differing == []
